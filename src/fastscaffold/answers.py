"""A generated project's answers file, and the `--data KEY=VALUE` answers that change it."""

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import yaml

from fastscaffold import options
from fastscaffold.errors import (
    InvalidAnswerError,
    InvalidDataError,
    NotAProjectError,
    ProjectNotFoundError,
    UnknownProjectVersionError,
)

ANSWERS = ".copier-answers.yml"


def read(project: Path) -> dict[str, Any]:
    """Read the project's answers file, refusing what is not a generated project."""
    if not project.is_dir():
        raise ProjectNotFoundError(path=project)
    path = project / ANSWERS
    if not path.is_file():
        raise NotAProjectError(path=project)
    try:
        answers = yaml.safe_load(path.read_text("utf-8"))
    except (OSError, UnicodeDecodeError, yaml.YAMLError) as error:
        reason = f"{ANSWERS} is unreadable: {error}"
        raise UnknownProjectVersionError(path=project, reason=reason) from None
    if not isinstance(answers, dict) or not answers.get("_src_path"):
        raise UnknownProjectVersionError(path=project, reason=f"{ANSWERS} has no _src_path")
    return answers


def parse_data(
    items: Sequence[str], last: Mapping[str, Any] | None, *, what: str = "--data"
) -> dict[str, object]:
    """Read `--data KEY=VALUE` items; with the built-in template's `last` answers, check them.

    A fork's questions are unknown here, so its values go to copier as text for it to check.
    `what` names the items in errors (`set` takes them as arguments).
    """
    given: dict[str, object] = {}
    for item in items:
        name, sep, raw = item.partition("=")
        if not sep or not name:
            reason = "write it as KEY=VALUE, e.g. server=gunicorn"
            raise InvalidDataError(item=item, reason=reason, what=what)
        if last is None:
            given[name] = raw
            continue
        known = [q.name for q in options.questions()]
        if name not in known:
            reason = f"'{name}' is not a question; choose one of {', '.join(known)}"
            raise InvalidDataError(item=item, reason=reason, what=what)
        try:
            given[name] = options.coerce(options.question(name), raw)
        except InvalidAnswerError as error:
            raise InvalidDataError(item=item, reason=error.reason, what=what) from None
    if last is not None and given:
        try:
            options.validate({**{k: v for k, v in last.items() if k[0] != "_"}, **given})
        except InvalidAnswerError as error:
            named = [i for i in items if i.startswith(f"{error.name}=")]
            reason = error.reason
            if not named:  # an answer given clashes with one the project has
                reason = f"the project's {error.name} is {text(last.get(error.name))}: {reason}"
            item = named[0] if named else " ".join(items)
            raise InvalidDataError(item=item, reason=reason, what=what) from None
    return given


def text(answer: object, *, as_yaml: bool = False) -> str:
    """An answer as `KEY=VALUE` takes it: `true`, `docker,compose` (`none` for no item), or,
    `as_yaml`, a list as copier reads a fork's multiselect answer (`[docker, compose]`)."""
    if isinstance(answer, list):
        if as_yaml:
            return f"[{', '.join(map(str, answer))}]"
        return ",".join(map(str, answer)) or "none"
    return str(answer).lower() if isinstance(answer, bool) else str(answer)
