"""Errors reported to the user as one line; each builds its message from its fields."""

from collections.abc import Iterable, Sequence
from pathlib import Path


def flag(name: str) -> str:
    """Return the CLI flag for a copier.yml question name (`task_queue` -> `--task-queue`)."""
    return "--" + name.replace("_", "-")


def one_line(text: str) -> str:
    """Return `text` with line breaks and other unprintable characters escaped as in Python."""
    return "".join(
        char if char.isprintable() else char.encode("unicode_escape").decode("ascii")
        for char in text
    )


def quoted(value: object) -> str:
    """Return `value` in single quotes, on one line: `'a\\nb'` for a value with a line break."""
    return f"'{one_line(str(value))}'"


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
        super().__init__(f"{quoted(value)} is not a valid value for {flag(name)}: {reason}.")


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
        super().__init__(f"cannot use answers file {quoted(shown(path))}: {reason}.")


class DestinationNotEmptyError(FastscaffoldError):
    """The destination directory has files and --overwrite was not given."""

    def __init__(self, *, path: Path) -> None:
        self.path = path
        super().__init__(
            f"{quoted(shown(path))} is not empty; choose a new directory or pass --overwrite."
        )


class DestinationIsFileError(FastscaffoldError):
    """The destination exists and is not a directory."""

    def __init__(self, *, path: Path) -> None:
        self.path = path
        super().__init__(
            f"{quoted(shown(path))} is a file; choose a directory for the new project."
        )


class TemplateNotFoundError(FastscaffoldError):
    """Neither the installed package nor the checkout holds copier.yml."""

    def __init__(self, *, searched: Iterable[Path]) -> None:
        self.searched = tuple(searched)
        places = " or ".join(quoted(path) for path in self.searched)
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
        super().__init__(f"{quoted(step)} is not a check step; choose from {', '.join(steps)}.")


class ProjectNotFoundError(FastscaffoldError):
    """The path given to `check` is not a directory."""

    def __init__(self, *, path: Path) -> None:
        self.path = path
        super().__init__(
            f"{quoted(shown(path))} is not a directory; pass the generated project's path."
        )


class GitError(FastscaffoldError):
    """A git command that the update relies on failed."""

    def __init__(self, *, command: str, reason: str) -> None:
        self.command = command
        self.reason = reason
        super().__init__(f"{quoted(command)} failed: {reason}")


class NotAProjectError(FastscaffoldError):
    """The path holds no copier answers file, so no template version is recorded there."""

    def __init__(self, *, path: Path) -> None:
        self.path = path
        super().__init__(
            f"{quoted(shown(path))} has no .copier-answers.yml; pass the directory of a project "
            "made by fastscaffold new."
        )


class NotAGitRepoError(FastscaffoldError):
    """The project is not tracked by git, so an update could not keep the user's edits."""

    def __init__(self, *, path: Path) -> None:
        self.path = path
        super().__init__(
            f"{quoted(shown(path))} is not in a git repository; the update merges through git, "
            "so run `git init && git add -A && git commit -m 'Generated project'` there first."
        )


class DirtyProjectError(FastscaffoldError):
    """The project has uncommitted changes that an update could mix with its own."""

    def __init__(self, *, path: Path, files: Sequence[str]) -> None:
        self.path = path
        self.files = tuple(files)
        listed = ", ".join(quoted(name) for name in self.files[:5])
        more = f" and {len(self.files) - 5} more" if len(self.files) > 5 else ""
        super().__init__(
            f"{quoted(shown(path))} has uncommitted changes ({listed}{more}); commit or stash "
            "them, then run the command again."
        )


class UnknownProjectVersionError(FastscaffoldError):
    """The answers file does not say which template version the project came from."""

    def __init__(self, *, path: Path, reason: str) -> None:
        self.path = path
        self.reason = reason
        super().__init__(
            f"cannot tell which template version made {quoted(shown(path))}: {reason}."
        )


class VersionNotFoundError(UsageError):
    """`--to` names a version the template does not have."""

    def __init__(self, *, version: str, source: str, available: Sequence[str]) -> None:
        self.version = version
        self.source = source
        self.available = tuple(available)
        choices = ", ".join(self.available) or "none"
        super().__init__(
            f"{quoted(version)} is not a version of {source}; choose one of {choices}."
        )


class MissingHistoryError(FastscaffoldError):
    """The template version a project came from is not among the versions at hand."""

    def __init__(self, *, path: Path, version: str, source: str, available: Sequence[str]) -> None:
        self.path = path
        self.version = version
        self.available = tuple(available)
        super().__init__(
            f"{quoted(shown(path))} was made by template {version}, which {source} does not carry "
            f"(it has {', '.join(self.available) or 'no versions'}); pass --template with a git "
            f"clone of the template that has the tag v{version}."
        )


class DowngradeError(FastscaffoldError):
    """The target version is older than the project's: updates only go forward."""

    def __init__(self, *, path: Path, current: str, target: str) -> None:
        self.path = path
        self.current = current
        self.target = target
        super().__init__(
            f"{quoted(shown(path))} is at template {current}, newer than {target}; updates only go "
            "forward, so install a newer fastscaffold or choose a newer --to."
        )


class InvalidDataError(UsageError):
    """A `--data KEY=VALUE` item is malformed or answers no question well."""

    def __init__(self, *, item: str, reason: str, what: str = "--data") -> None:
        self.item = item
        self.reason = reason
        super().__init__(f"{quoted(item)} is not a valid {what}: {reason}.")


class UnknownFeatureError(UsageError):
    """`add` or `remove` names no feature; a value of another question points to `set`."""

    def __init__(
        self, *, name: str, known: Sequence[str], question: str | None, add: bool = True
    ) -> None:
        if question is not None and add:
            hint = f"it is a {question}: change it with `fastscaffold set {question}={name}`"
        elif question is not None:
            hint = f"it is a {question}, changed but not removed: `fastscaffold set {question}=...`"
        else:
            hint = f"choose one of {', '.join(known)}, or change any answer with `fastscaffold set`"
        super().__init__(f"{quoted(name)} is not a feature to add or remove; {hint}.")


class FeatureRefusedError(UsageError):
    """The answers `add` or `remove` would give fail a question's validator."""

    def __init__(self, *, verb: str, names: Sequence[str], reason: str) -> None:
        listed = ", ".join(quoted(name) for name in names)
        super().__init__(f"cannot {verb} {listed}: {reason}.")


class FeatureClashError(UsageError):
    """`add` names a value of a one-choice question the project answered otherwise."""

    def __init__(self, *, feature: str, question: str, current: str, asked: bool = False) -> None:
        if asked:  # both named in one `add`
            super().__init__(
                f"cannot add {quoted(feature)} and {quoted(current)} together: a project has one "
                f"{question}; add one of them."
            )
            return
        super().__init__(
            f"cannot add {quoted(feature)}: the project's {question} is {current}; switch with "
            f"`fastscaffold set {question}={feature}` or `fastscaffold remove {current}` first."
        )


class UpdateError(FastscaffoldError):
    """Copier or git failed while updating; the reason says whether files were written."""

    def __init__(self, *, path: Path, reason: str) -> None:
        self.path = path
        self.reason = reason
        super().__init__(f"could not update {quoted(shown(path))}: {reason}")


class ConflictsError(FastscaffoldError):
    """The update finished but left conflict markers for the user to resolve."""

    def __init__(self, *, paths: Sequence[str], kept: Sequence[str] = ()) -> None:
        self.paths = tuple(paths)
        marked = [quoted(path) for path in self.paths if path not in kept]
        removed = [quoted(path) for path in self.paths if path in kept]
        steps = []
        if marked:
            steps.append(f"resolve the <<<<<<< markers in {', '.join(marked)} and `git add` them")
        if removed:
            them = "them" if len(removed) > 1 else "it"
            steps.append(
                f"`git rm` or `git add` {', '.join(removed)} (you changed {them}; the update "
                f"removes {them})"
            )
        super().__init__(
            f"the update left {len(self.paths)} conflict(s): {'; '.join(steps)}; then commit."
        )


class TemplateSourceError(UsageError):
    """`--template` names neither an existing directory nor a git URL."""

    def __init__(self, *, source: str) -> None:
        self.source = source
        super().__init__(
            f"{quoted(source)} is neither a directory nor a git URL; pass a copier template's "
            "directory or git URL to --template."
        )


class UnknownRouteError(UsageError):
    """--route named something the app's OpenAPI document does not declare."""

    def __init__(self, *, route: str, known: Sequence[str]) -> None:
        self.route = route
        listed = ", ".join(known[:12]) + (", ..." if len(known) > 12 else "")
        super().__init__(
            f"{quoted(route)} is not an operation of the app's OpenAPI document; "
            f"give METHOD /path as declared, e.g. one of: {listed or 'none'}."
        )


class RouteRefusedError(UsageError):
    """--route picked an operation that cannot be sent, or not to this database."""

    def __init__(self, *, route: str, reason: str) -> None:
        self.route = route
        super().__init__(f"cannot load {quoted(route)}: {reason}.")


class BudgetTooSmallError(UsageError):
    """--budget leaves no time to measure one setting."""

    def __init__(self, *, budget: float, needed: float, what: str) -> None:
        self.budget = budget
        super().__init__(
            f"--budget {budget:g} is too small to measure anything: {what} need about "
            f"{needed:.0f} s; give --budget {needed:.0f} or more."
        )


class TuneError(FastscaffoldError):
    """The project could not be installed, booted or loaded; the message says which."""

    def __init__(self, *, reason: str) -> None:
        self.reason = reason
        super().__init__(f"tune: {reason}")
