"""`fastscaffold new`: flags, an answers file and prompts become one set of answers; the
summary and the command that renders the same project again."""

from __future__ import annotations

import shlex
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path

from fastscaffold import options
from fastscaffold.errors import InvalidAnswerError, MissingAnswersError, flag, shown

# Asks one question: its text and the default as typed; returns what the user typed.
Prompt = Callable[[str, str | None], str]


@dataclass(frozen=True)
class Plan:
    """What `new` renders, and where."""

    answers: dict[str, object]
    target: Path
    template: str | None


def plan(
    flags: Mapping[str, object],
    *,
    dest: Path | None,
    answers_file: Path | None,
    yes: bool,
    template: str | None,
    ask: Callable[[dict[str, object]], dict[str, object]] | None,
) -> Plan:
    """Combine the answers file and the flags (flags win), then defaults (`yes`, or answers
    from a generated project) or `ask` for the rest; without either, a missing answer fails.
    """
    recorded = options.read_answers_file(answers_file) if answers_file else {}
    given = {name: value for name, value in recorded.items() if not name.startswith("_")}
    given.update((name, value) for name, value in flags.items() if value is not None)
    answers: dict[str, object] = {
        name: options.coerce(options.question(name), raw) for name, raw in given.items()
    }
    options.validate(answers)
    missing = [q.name for q in options.questions() if q.name not in answers]
    # A generated project's answers predate the questions added since: those take their
    # defaults, as they would on `fastscaffold update`.
    take_defaults = yes or "_src_path" in recorded
    if missing and take_defaults:
        answers = options.with_defaults(answers)
    elif missing and ask is not None:
        answers = ask(answers)
    elif missing:
        raise MissingAnswersError(names=missing)
    options.validate(answers)
    answers = {q.name: answers[q.name] for q in options.questions() if q.name in answers}
    target = dest if dest is not None else Path(str(answers["project_name"]))
    if template is not None:
        from fastscaffold.render import template_location

        # A fork's own defaults apply to what the user did not choose.
        answers = {k: v for k, v in answers.items() if not take_defaults or k in given}
        template = template_location(template)
    return Plan(answers, target, template)


def ask(
    answers: Mapping[str, object], prompt: Prompt, complain: Callable[[str], None]
) -> dict[str, object]:
    """Prompt for each unanswered question in copier.yml order, re-asking until valid."""
    complete = dict(answers)
    for q in options.questions():
        if q.name in complete:
            continue
        text = q.help if q.choices is None else f"{q.help} ({', '.join(q.choices)})"
        if q.type == "bool":
            text = f"{q.help} (yes/no)"
        default = options.default(q, complete)
        while True:
            raw = prompt(text, None if default is None else typed(default))
            try:
                value = options.coerce(q, raw)
                options.validate({**complete, q.name: value})
            except InvalidAnswerError as error:
                complain(f"Error: {error}")
                continue
            complete[q.name] = value
            break
    return complete


def summary(made: Plan, files: list[Path]) -> list[str]:
    """What was made, the next steps, and how to render the same project again."""
    tops = sorted({f"{file.parts[0]}/" if len(file.parts) > 1 else file.name for file in files})
    return [
        f"Created {len(files)} files in {shown(made.target)}:",
        *(f"  {entry}" for entry in tops),
        "",
        "Next steps:",
        f"  cd {shlex.quote(str(made.target))}",
        "  python -m venv .venv && .venv/bin/pip install -e '.[dev]'",
        "  .venv/bin/pytest",
        "  .venv/bin/python -m app",
        "",
        "To render the same project again:",
        f"  {replay_command(made)}",
    ]


def typed(value: object) -> str:
    """Return an answer as a user would type it at a prompt or after its flag."""
    if isinstance(value, bool):
        return "yes" if value else "no"
    return ",".join(value) if isinstance(value, list) else str(value)


def replay_command(made: Plan) -> str:
    """Return a shell command that renders the same project without asking anything."""
    args = ["fastscaffold", "new", str(made.target)]
    if made.template:
        args += ["--template", made.template]
    for name, value in made.answers.items():
        if isinstance(value, bool):
            args.append(flag(name) if value else f"--no-{flag(name)[2:]}")
        else:
            args += [flag(name), typed(value)]
    return shlex.join([*args, "--yes"])
