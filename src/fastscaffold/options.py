"""The copier.yml questionnaire as data: load questions, then coerce and validate answers."""

from __future__ import annotations

import functools
from collections.abc import Mapping
from contextlib import suppress
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import yaml

from fastscaffold.errors import (
    AnswersFileError,
    InvalidAnswerError,
    TemplateNotFoundError,
    flag,
    quoted,
)

if TYPE_CHECKING:
    from jinja2 import Template
    from jinja2.sandbox import SandboxedEnvironment

try:
    from yaml import CSafeLoader as Loader
except ImportError:  # PyYAML built without libyaml
    from yaml import SafeLoader as Loader  # type: ignore[assignment]

Answer = str | int | float | bool | list[str]

_KINDS: dict[str, str] = {
    "str": "a string",
    "int": "an integer",
    "float": "a number",
    "bool": "true or false",
}
# Text questions that hold a count or one keyword (`workers: auto`): see _count.
_COUNTS = {"workers": "auto"}
_TRUE = {"true", "yes", "on", "1"}
_FALSE = {"false", "no", "off", "0"}


@dataclass(frozen=True)
class Question:
    """One copier.yml question; its name is the Jinja variable, answers key and CLI flag."""

    name: str
    type: str
    help: str
    default: Answer | None
    choices: tuple[str, ...] | None
    validator: str | None
    multiselect: bool = False

    @property
    def flag(self) -> str:
        """Return the CLI flag that answers this question."""
        return flag(self.name)


def template_root() -> Path:
    """Return the directory holding copier.yml: the wheel's data, else the source checkout."""
    installed = Path(__file__).parent / "_template"
    checkout = Path(__file__).resolve().parents[2]
    for root in (installed, checkout):
        if (root / "copier.yml").is_file():
            return root
    raise TemplateNotFoundError(searched=(installed, checkout))


@functools.cache
def questions() -> tuple[Question, ...]:
    """Return the questions copier asks, in copier.yml order (settings and computed skipped)."""
    config = yaml.load((template_root() / "copier.yml").read_text("utf-8"), Loader=Loader)
    return tuple(
        _question(name, spec)
        for name, spec in config.items()
        if not name.startswith("_") and not _never_asked(spec)
    )


def _never_asked(spec: object) -> bool:
    return isinstance(spec, dict) and str(spec.get("when", True)).lower() in _FALSE


def _question(name: str, spec: object) -> Question:
    # copier's short form `name: default` is a question too, typed by its default.
    details: dict[str, Any] = spec if isinstance(spec, dict) else {"default": spec}
    default = details.get("default")
    kind = details.get("type") or ("str" if default is None else type(default).__name__)
    choices = details.get("choices")
    if isinstance(choices, dict):
        choices = list(choices.values())
    return Question(
        name=name,
        type=kind if kind in _KINDS else "str",
        help=str(details.get("help", name)).strip(),
        default=default,
        choices=None if choices is None else tuple(str(choice) for choice in choices),
        validator=details.get("validator") or None,
        multiselect=bool(details.get("multiselect", False)),
    )


def question(name: str) -> Question:
    """Return the question called `name`."""
    return next(q for q in questions() if q.name == name)


def coerce(question: Question, raw: object) -> Answer:
    """Convert a flag, prompt or answers-file value to the question's type."""
    if question.multiselect:
        return _selection(question, raw)
    kind = question.type
    if kind == "bool":
        if isinstance(raw, bool):
            return raw
        if str(raw).strip().lower() in _TRUE | _FALSE:
            return str(raw).strip().lower() in _TRUE
    elif isinstance(raw, bool):
        pass  # YAML turns `yes` and `on` into booleans; never read them as text or numbers
    elif kind == "str" and question.name in _COUNTS and isinstance(raw, str | int):
        return _count(raw, _COUNTS[question.name])
    elif kind == "str" and isinstance(raw, str | int | float):
        return str(raw)
    elif kind == "int" and isinstance(raw, int | str):
        with suppress(ValueError):
            return int(raw)
    elif kind == "float" and isinstance(raw, int | float | str):
        with suppress(ValueError):
            return float(raw)
    raise InvalidAnswerError(name=question.name, value=raw, reason=f"must be {_KINDS[kind]}")


def _count(raw: str | int, keyword: str) -> str:
    """A count or its keyword, written the one way the template reads it.

    7, " 7 " and "007" become "7" ("007" would be a syntax error in Python source); "AUTO"
    becomes "auto". Anything else is returned as given, for the validator to refuse it.
    """
    text = str(raw).strip()
    if text.lower() == keyword:
        return keyword
    if text.isascii() and text.isdigit():
        return str(int(text))
    return str(raw)


def _selection(question: Question, raw: object) -> list[str]:
    """A multiselect answer: a list, or text separated by commas ('' or 'none' for nothing).

    The items of a list may be such text too, so a repeated flag accumulates:
    `["docker,compose", "kubernetes"]` is all three.
    """
    parts = [raw] if isinstance(raw, str) else raw
    if not isinstance(parts, list | tuple) or not all(isinstance(part, str) for part in parts):
        reason = "must be a comma-separated list"
        raise InvalidAnswerError(name=question.name, value=raw, reason=reason)
    items = [
        item.strip()
        for part in parts
        if part.strip() not in ("", "none")
        for item in part.split(",")
    ]
    choices = question.choices or ()
    for item in items:
        if item not in choices:
            reason = f"{item!r} is not one of {', '.join(choices)}"
            raise InvalidAnswerError(name=question.name, value=",".join(items), reason=reason)
    return [choice for choice in choices if choice in items]  # copier.yml order, no repeats


def validate(answers: Mapping[str, object]) -> None:
    """Check each given answer against its choices and its copier.yml validator."""
    for q in questions():
        if q.name not in answers:
            continue
        value = answers[q.name]
        if q.multiselect and isinstance(value, list):
            value = ",".join(value)  # quoted in messages as it is typed
        elif q.choices is not None and str(value) not in q.choices:
            reason = f"choose one of {', '.join(q.choices)}"
            raise InvalidAnswerError(name=q.name, value=value, reason=reason)
        if q.validator:
            try:
                reason = _compiled(q.validator).render(dict(answers)).strip()
            except Exception as error:  # copier also turns any validator failure into its reason
                reason = str(error)
            if reason:
                raise InvalidAnswerError(name=q.name, value=value, reason=reason)


def default(question: Question, answers: Mapping[str, object]) -> Answer | None:
    """Return the question's default, rendering it like copier when it is a Jinja string."""
    value = question.default
    if isinstance(value, str) and ("{{" in value or "{%" in value):
        value = _compiled(value).render(dict(answers))
    return None if value is None else coerce(question, value)


def with_defaults(answers: Mapping[str, object]) -> dict[str, object]:
    """Return `answers` with every missing question answered by its default."""
    complete = dict(answers)
    for q in questions():
        if q.name not in complete and (value := default(q, complete)) is not None:
            complete[q.name] = value
    return complete


def load_answers_file(path: Path) -> dict[str, object]:
    """Read a YAML mapping of question name to answer; `_`-prefixed keys are copier metadata."""
    data = read_answers_file(path)
    return {key: value for key, value in data.items() if not key.startswith("_")}


def read_answers_file(path: Path) -> dict[str, object]:
    """Read an answers file like `load_answers_file`, keeping copier's `_` metadata keys."""
    try:
        data = yaml.load(path.read_text("utf-8"), Loader=Loader)
    except OSError as error:
        raise AnswersFileError(path=path, reason=f"{error.strerror}; check the path") from None
    except UnicodeDecodeError:
        raise AnswersFileError(path=path, reason="not UTF-8 text; pass a YAML file") from None
    except yaml.YAMLError as error:
        mark = getattr(error, "problem_mark", None)
        where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        raise AnswersFileError(path=path, reason=f"invalid YAML{where}; fix it") from None
    if not isinstance(data, dict):
        reason = f"expected a mapping of question: answer, got {type(data).__name__}"
        raise AnswersFileError(path=path, reason=reason)
    known = {q.name for q in questions()}
    unknown = sorted(str(key) for key in data if str(key) not in known)
    unknown = [key for key in unknown if not key.startswith("_")]
    if unknown:
        names = ", ".join(quoted(key) for key in unknown)
        reason = f"unknown question {names}; known questions are {', '.join(sorted(known))}"
        raise AnswersFileError(path=path, reason=reason)
    return {str(key): value for key, value in data.items()}


def schema() -> list[dict[str, object]]:
    """Describe every question as JSON-able data for `fastscaffold options --json`."""
    return [
        {
            "name": q.name,
            "flag": q.flag,
            "type": q.type,
            "help": q.help,
            "choices": None if q.choices is None else list(q.choices),
            "multiselect": q.multiselect,
            "default": q.default,
        }
        for q in questions()
    ]


def table(rows: list[dict[str, object]]) -> str:
    """`schema()` as `fastscaffold options` prints it: aligned columns, help last."""
    lines = [["NAME", "FLAG", "CHOICES/TYPE", "DEFAULT", "HELP"]]
    for row in rows:
        choices = row["choices"]
        kind = "|".join(choices) if isinstance(choices, list) else row["type"]
        lines.append([str(cell) for cell in (row["name"], row["flag"], kind, row["default"])])
        lines[-1].append(str(row["help"]))
    widths = [max(len(line[col]) for line in lines) for col in range(4)]
    return "\n".join(
        "  ".join(
            [*(cell.ljust(width) for cell, width in zip(line, widths, strict=False)), line[4]]
        )
        for line in lines
    )


@functools.cache
def _compiled(source: str) -> Template:
    # Validators run for every candidate combination in `matrix`: compile each once.
    return _jinja().from_string(source)


@functools.cache
def _jinja() -> SandboxedEnvironment:
    # Imported here so `--help` and `options` never pay for Jinja.
    from jinja2.sandbox import SandboxedEnvironment

    return SandboxedEnvironment(extensions=["jinja2_ansible_filters.AnsibleCoreFiltersExtension"])
