"""Errors reported to the user as one line; each builds its message from its fields."""

from collections.abc import Iterable, Sequence
from pathlib import Path


def flag(name: str) -> str:
    """Return the CLI flag for a copier.yml question name (`task_queue` -> `--task-queue`)."""
    return "--" + name.replace("_", "-")


def shown(path: Path) -> str:
    """Return `path` the way a user would type it: `api` -> `./api`."""
    text = str(path)
    return text if path.is_absolute() or text.startswith(".") else f"./{text}"


class FastscaffoldError(Exception):
    """Base class: the CLI prints `Error: <message>` and exits with `exit_code`."""

    exit_code = 1


class UsageError(FastscaffoldError):
    """The command line or its answers were wrong; the user can fix them and retry."""

    exit_code = 2


class InvalidAnswerError(UsageError):
    """An answer has the wrong type, is not among the choices, or fails its validator."""

    def __init__(self, *, name: str, value: object, reason: str) -> None:
        self.name = name
        self.value = value
        self.reason = reason
        super().__init__(f"'{value}' is not a valid value for {flag(name)}: {reason}.")


class MissingAnswersError(UsageError):
    """Questions were left unanswered and there is no terminal to ask them on."""

    def __init__(self, *, names: Sequence[str]) -> None:
        self.names = tuple(names)
        flags = ", ".join(flag(name) for name in self.names)
        super().__init__(
            f"no answer for {flags}; pass them as options, use --answers-file FILE, "
            "or --yes to take the defaults."
        )


class AnswersFileError(FastscaffoldError):
    """The --answers-file could not be read or holds something other than answers."""

    def __init__(self, *, path: Path, reason: str) -> None:
        self.path = path
        self.reason = reason
        super().__init__(f"cannot use answers file '{shown(path)}': {reason}.")


class DestinationNotEmptyError(FastscaffoldError):
    """The destination directory has files and --overwrite was not given."""

    def __init__(self, *, path: Path) -> None:
        self.path = path
        super().__init__(
            f"'{shown(path)}' is not empty; choose a new directory or pass --overwrite."
        )


class DestinationIsFileError(FastscaffoldError):
    """The destination exists and is not a directory."""

    def __init__(self, *, path: Path) -> None:
        self.path = path
        super().__init__(f"'{shown(path)}' is a file; choose a directory for the new project.")


class TemplateNotFoundError(FastscaffoldError):
    """Neither the installed package nor the checkout holds copier.yml."""

    def __init__(self, *, searched: Iterable[Path]) -> None:
        self.searched = tuple(searched)
        places = " or ".join(f"'{path}'" for path in self.searched)
        super().__init__(f"no copier.yml in {places}; reinstall fastscaffold.")


class RenderError(FastscaffoldError):
    """Copier or the file system failed while rendering the project."""

    def __init__(self, *, reason: str) -> None:
        self.reason = reason
        super().__init__(f"could not render the project: {reason}")


class UnknownStepError(UsageError):
    """--skip or --only named a step `check` does not have."""

    def __init__(self, *, step: str, steps: Iterable[str]) -> None:
        self.step = step
        super().__init__(f"'{step}' is not a check step; choose from {', '.join(steps)}.")


class ProjectNotFoundError(FastscaffoldError):
    """The path given to `check` is not a directory."""

    def __init__(self, *, path: Path) -> None:
        self.path = path
        super().__init__(f"'{shown(path)}' is not a directory; pass the generated project's path.")
