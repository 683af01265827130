"""The command line: turn flags into answers, call the core, print results and errors."""

import json
import shlex
import sys
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, Literal

import typer
from typer.core import TyperCommand

from fastscaffold import __version__
from fastscaffold.errors import (
    FastscaffoldError,
    InvalidAnswerError,
    MissingAnswersError,
    UsageError,
    flag,
    one_line,
    quoted,
    shown,
)

# Imports stay minimal here: `--help` and `--version` must not load copier, Jinja or YAML.

if TYPE_CHECKING:
    from fastscaffold.update import Outcome

APP_EXAMPLES = """\b
Examples:
  fastscaffold new orders-api --project-name orders-api --server granian --yes
  fastscaffold new --answers-file answers.yml
  fastscaffold options --json
  fastscaffold update api --check
"""

NEW_EXAMPLES = """\b
Examples:
  fastscaffold new                  # asks each question on a terminal
  fastscaffold new --yes            # all defaults, into ./my-service
  fastscaffold new api --project-name orders-api --workers 4 --database none --yes
  fastscaffold new api --deployment docker --deployment kubernetes --database postgres --yes
  fastscaffold new api --answers-file answers.yml --server gunicorn --no-examples
  fastscaffold new api --answers-file old/.copier-answers.yml --overwrite
"""

app = typer.Typer(
    name="fastscaffold",
    help="Render a Copier template into a ready-to-run FastAPI project.",
    epilog=APP_EXAMPLES,
    no_args_is_help=True,
    add_completion=False,
    # Plain Click output keeps usage errors to a few unboxed lines, like our own errors.
    rich_markup_mode=None,
    pretty_exceptions_show_locals=False,
)


def _show_version(value: bool) -> None:
    if value:
        typer.echo(f"fastscaffold {__version__}")
        raise typer.Exit()


@app.callback()
def _root(
    version: Annotated[
        bool,
        typer.Option(
            "--version", callback=_show_version, is_eager=True, help="Show the version and exit."
        ),
    ] = False,
) -> None:
    """Render a Copier template into a ready-to-run FastAPI project."""


@contextmanager
def _reported(command: str) -> Iterator[None]:
    """Turn a FastscaffoldError into one `Error:` line on stderr and its exit code.

    A usage error's hint names `command`, the one that failed.
    """
    try:
        yield
    except FastscaffoldError as error:
        typer.echo(f"Error: {one_line(str(error))}", err=True)
        if isinstance(error, UsageError):
            typer.echo(f"Try 'fastscaffold {command} --help' for help.", err=True)
        raise typer.Exit(error.exit_code) from None


def _interactive() -> bool:
    return sys.stdin.isatty()


def _integer(raw: str) -> int:
    try:
        return int(raw)
    except ValueError:
        raise typer.BadParameter(f"{quoted(raw)} is not an integer.") from None


class _NewCommand(TyperCommand):
    """Typer's `new` command, with its choice errors freed of pydantic's wording."""

    def parse_args(self, ctx: Any, args: list[str]) -> list[str]:
        try:
            return super().parse_args(ctx, args)
        except typer.BadParameter as error:
            # Typer validates Literal options with pydantic, which prefixes "Value error, ".
            error.message = error.message.removeprefix("Value error, ")
            raise


@app.command(cls=_NewCommand, epilog=NEW_EXAMPLES)
def new(
    dest: Annotated[
        Path | None,
        typer.Argument(
            metavar="DEST",
            help="Directory to create. [default: ./PROJECT_NAME]",
            show_default=False,
        ),
    ] = None,
    project_name: Annotated[
        str | None, typer.Option(help="Project name (distribution name and title).")
    ] = None,
    description: Annotated[
        str | None, typer.Option(help="One-line description of the service.")
    ] = None,
    server: Annotated[
        Literal["uvicorn", "gunicorn", "granian"] | None,
        typer.Option(help="ASGI server that runs the workers."),
    ] = None,
    workers: Annotated[
        str | None,
        typer.Option(
            metavar="<int|auto>",
            help="Worker processes per host, 1 to 256, or auto for the CPUs this process may use.",
        ),
    ] = None,
    threadpool_size: Annotated[
        int | None,
        typer.Option(
            parser=_integer, metavar="<int>", help="Threads per worker for plain `def` endpoints."
        ),
    ] = None,
    database: Annotated[
        Literal["sqlite", "postgres", "mongodb", "none"] | None,
        typer.Option(help="Async database."),
    ] = None,
    task_queue: Annotated[
        Literal["none", "taskiq"] | None,
        typer.Option(help="Distributed task queue (taskiq on Redis)."),
    ] = None,
    deployment: Annotated[
        list[str] | None,
        typer.Option(
            metavar="LIST",
            help="Deployment files: docker, compose, kubernetes; repeat the option or separate "
            "with commas ('' or none for no files).",
        ),
    ] = None,
    examples: Annotated[
        bool | None,
        typer.Option(
            "--examples/--no-examples",
            help="Concurrency examples (async I/O, fan-out, thread and process pools, background "
            "work).",
            show_default=False,
        ),
    ] = None,
    ci: Annotated[
        Literal["github", "gitlab", "none"] | None,
        typer.Option(help="Continuous integration for the generated project."),
    ] = None,
    yes: Annotated[
        bool, typer.Option("--yes", "-y", help="Take the default for every question not given.")
    ] = False,
    answers_file: Annotated[
        Path | None,
        typer.Option(help="YAML file of question: answer; options given override it."),
    ] = None,
    overwrite: Annotated[
        bool,
        typer.Option(
            "--overwrite", help="Render into a non-empty directory, replacing clashing files."
        ),
    ] = False,
    template: Annotated[
        str | None,
        typer.Option(
            metavar="PATH_OR_GIT_URL",
            help="Render this copier template (e.g. a fork with version tags) instead of the "
            "built-in one; `update` follows it.",
        ),
    ] = None,
) -> None:
    """Render a new FastAPI project into DEST; unanswered questions are asked on a terminal."""
    flags = {
        "project_name": project_name,
        "description": description,
        "server": server,
        "workers": workers,
        "threadpool_size": threadpool_size,
        "database": database,
        "task_queue": task_queue,
        "deployment": deployment,
        "examples": examples,
        "ci": ci,
    }
    with _reported("new"):
        from fastscaffold import options

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
        elif missing and _interactive():
            answers = _ask(answers)
        elif missing:
            raise MissingAnswersError(names=missing)
        options.validate(answers)
        answers = {q.name: answers[q.name] for q in options.questions() if q.name in answers}
        target = dest if dest is not None else Path(str(answers["project_name"]))

        from fastscaffold.render import render

        if template is not None:
            # A fork's own defaults apply to what the user did not choose.
            answers = {k: v for k, v in answers.items() if not take_defaults or k in given}
            template = _template_location(template)
        with _status(f"Rendering {shown(target)} ..."):
            files = render(answers, target, overwrite=overwrite, template=template)
    _print_summary(target, files, answers, template)


def _ask(answers: Mapping[str, object]) -> dict[str, object]:
    """Prompt for each unanswered question in copier.yml order, re-asking until valid."""
    from fastscaffold import options

    complete = dict(answers)
    for q in options.questions():
        if q.name in complete:
            continue
        text = q.help if q.choices is None else f"{q.help} ({', '.join(q.choices)})"
        if q.type == "bool":
            text = f"{q.help} (yes/no)"
        default = options.default(q, complete)
        while True:
            raw = typer.prompt(text, default=None if default is None else _typed(default), type=str)
            try:
                value = options.coerce(q, raw)
                options.validate({**complete, q.name: value})
            except InvalidAnswerError as error:
                typer.echo(f"Error: {error}", err=True)
                continue
            complete[q.name] = value
            break
    return complete


@contextmanager
def _status(message: str) -> Iterator[None]:
    """Show a spinner on stderr while the body runs, only when stderr is a terminal."""
    if not sys.stderr.isatty():
        yield
        return
    from rich.console import Console

    with Console(stderr=True).status(message):
        yield


def _print_summary(
    target: Path, files: list[Path], answers: Mapping[str, object], template: str | None = None
) -> None:
    tops = sorted({f"{file.parts[0]}/" if len(file.parts) > 1 else file.name for file in files})
    typer.echo(f"Created {len(files)} files in {shown(target)}:")
    for entry in tops:
        typer.echo(f"  {entry}")
    typer.echo("\nNext steps:")
    typer.echo(f"  cd {shlex.quote(str(target))}")
    typer.echo("  python -m venv .venv && .venv/bin/pip install -e '.[dev]'")
    typer.echo("  .venv/bin/pytest")
    typer.echo("  .venv/bin/python -m app")
    typer.echo("\nTo render the same project again:")
    typer.echo(f"  {_replay_command(target, answers, template)}")


def _typed(value: object) -> str:
    """Return an answer as a user would type it at a prompt or after its flag."""
    if isinstance(value, bool):
        return "yes" if value else "no"
    return ",".join(value) if isinstance(value, list) else str(value)


def _replay_command(
    target: Path, answers: Mapping[str, object], template: str | None = None
) -> str:
    """Return a shell command that renders the same project without asking anything."""
    args = ["fastscaffold", "new", str(target), *(["--template", template] if template else [])]
    for name, value in answers.items():
        if isinstance(value, bool):
            args.append(flag(name) if value else f"--no-{flag(name)[2:]}")
        else:
            args += [flag(name), _typed(value)]
    return shlex.join([*args, "--yes"])


@app.command(
    "options",
    epilog="\b\nExamples:\n  fastscaffold options\n  fastscaffold options --json\n"
    "  fastscaffold options --matrix --json",
)
def list_options(
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON instead of a table.")] = False,
    tested: Annotated[
        bool, typer.Option("--matrix", help="Show which combinations are tested at which tier.")
    ] = False,
) -> None:
    """List the template's questions: flag, choices or type, default and help."""
    with _reported("options"):
        from fastscaffold import matrix, options

        if tested:
            tiers = {"tier1": matrix.tier1(), "tier2": matrix.tier2()}
            typer.echo(json.dumps(tiers, indent=2) if as_json else matrix.markdown(), nl=as_json)
            return
        rows = options.schema()
    if as_json:
        typer.echo(json.dumps(rows, indent=2))
        return
    table = [["NAME", "FLAG", "CHOICES/TYPE", "DEFAULT", "HELP"]]
    for row in rows:
        choices = row["choices"]
        kind = "|".join(choices) if isinstance(choices, list) else row["type"]
        table.append([str(cell) for cell in (row["name"], row["flag"], kind, row["default"])])
        table[-1].append(str(row["help"]))
    widths = [max(len(line[col]) for line in table) for col in range(4)]
    for line in table:
        cells = [cell.ljust(width) for cell, width in zip(line, widths, strict=False)]
        typer.echo("  ".join([*cells, line[4]]))


CHECK_EXAMPLES = """\b
Examples:
  fastscaffold check                        # the project in the current directory
  fastscaffold check api --json > report.json
  fastscaffold check api --junit check.xml --venv .venv
  fastscaffold check api --only lint --only types
  DATABASE_URL=postgresql://... REDIS_URL=redis://... fastscaffold check api
"""


@app.command(epilog=CHECK_EXAMPLES)
def check(
    path: Annotated[Path, typer.Argument(help="The generated project.")] = Path("."),
    as_json: Annotated[
        bool, typer.Option("--json", help="Print the report as JSON (check-report.schema.json).")
    ] = False,
    junit: Annotated[
        Path | None, typer.Option(metavar="FILE", help="Also write the report as JUnit XML.")
    ] = None,
    venv: Annotated[
        Path | None,
        typer.Option(
            metavar="PATH", help="Install into this venv and keep it (default: a temporary one)."
        ),
    ] = None,
    skip: Annotated[
        list[str] | None, typer.Option(metavar="STEP", help="Leave out a step (repeatable).")
    ] = None,
    only: Annotated[
        list[str] | None, typer.Option(metavar="STEP", help="Run only these steps (repeatable).")
    ] = None,
    ready_timeout: Annotated[
        float, typer.Option(help="Seconds to wait for /health/ready after start.")
    ] = 60.0,
) -> None:
    """Smoke-test a generated project: answers, install, lint, types, tests, boot, stop.

    Exit 0 only when no step failed. Services come from the environment: DATABASE_URL for
    postgres or mongodb, REDIS_URL for taskiq.
    """
    with _reported("check"):
        from fastscaffold.check import STEPS, Options, run, workspace
        from fastscaffold.errors import ProjectNotFoundError, UnknownStepError

        for step in [*(skip or []), *(only or [])]:
            if step not in STEPS:
                raise UnknownStepError(step=step, steps=STEPS)
        if not path.is_dir():
            raise ProjectNotFoundError(path=path)
        chosen = tuple(s for s in STEPS if (not only or s in only) and s not in (skip or []))
        settings = Options(chosen, venv.resolve() if venv else None, ready_timeout)
    with workspace() as work, _progress() as progress:
        report = run(path.resolve(), settings, work, *progress)
    from fastscaffold import report as reports

    if junit is not None:
        junit.write_text(reports.as_junit(report))
    typer.echo(reports.as_json(report) if as_json else reports.as_text(report))
    raise typer.Exit(0 if report.ok else 1)


@contextmanager
def _progress() -> Iterator[tuple[Callable[[str], None], Callable[[Any], None]]]:
    """Callbacks that show each step as it runs: a spinner on a terminal, lines otherwise."""
    if not sys.stderr.isatty():
        yield (
            lambda name: None,
            lambda r: typer.echo(f"check: {r.name} {r.status} ({r.duration:.1f}s)", err=True),
        )
        return
    from rich.console import Console

    console = Console(stderr=True)
    with console.status("") as status:
        yield (
            lambda name: status.update(f"check: {name} ..."),
            lambda r: console.print(f"check: {r.name} [bold]{r.status}[/] ({r.duration:.1f}s)"),
        )


UPDATE_EXAMPLES = """\b
Examples:
  fastscaffold update                       # the project in the current directory
  fastscaffold update api --dry-run         # show what would change, write nothing
  fastscaffold update api --to 0.3.0
  fastscaffold update api --data server=gunicorn --data workers=4
  fastscaffold update api --check           # exit 0 when current, 2 when behind
  fastscaffold update api --template https://git.example.com/platform/fastscaffold.git
"""


@app.command(epilog=UPDATE_EXAMPLES)
def update(
    path: Annotated[
        Path, typer.Argument(metavar="PATH", help="The project, a clean git work tree.")
    ] = Path("."),
    to: Annotated[
        str | None,
        typer.Option(metavar="VERSION", help="Template version to go to. [default: the newest]"),
    ] = None,
    check_only: Annotated[
        bool,
        typer.Option(
            "--check", help="Only report: exit 0 when current, 2 when an update is available."
        ),
    ] = False,
    dry_run: Annotated[
        bool, typer.Option("--dry-run", help="Show the files and diff; change nothing.")
    ] = False,
    data: Annotated[
        list[str] | None,
        typer.Option(
            "--data", metavar="KEY=VALUE", help="Re-answer a question, e.g. server=gunicorn."
        ),
    ] = None,
    template: Annotated[
        str | None,
        typer.Option(
            metavar="PATH_OR_GIT_URL",
            help="Take the template from here from now on (e.g. a fork with the same tags).",
        ),
    ] = None,
) -> None:
    """Bring a generated project to a newer template version, keeping your edits.

    A 3-way merge: your changes stay where the template did not touch the same lines;
    clashes are marked inline with <<<<<<< and listed, and the command exits 1.
    """
    with _reported("update"):
        from fastscaffold import history
        from fastscaffold import update as updating

        if template is not None and template != history.BUILTIN:
            template = _template_location(template)
        if check_only:
            if dry_run or data:
                raise UsageError("--check only reports; drop --dry-run and --data")
            versions = updating.status(path, to=to, template=template)
            if versions.target > versions.current:
                typer.echo(
                    f"{shown(path)} is at template {versions.current}; {versions.target} is "
                    f"available: run `fastscaffold update {shlex.quote(str(path))}`."
                )
                raise typer.Exit(2)
            typer.echo(f"{shown(path)} is at template {versions.current}, up to date.")
            return
        with _status(f"Updating {shown(path)} ..."):
            outcome = updating.update(
                path, to=to, data=data or [], template=template, dry_run=dry_run
            )
        _print_update(path, outcome, dry_run)
        if outcome.conflicts and not dry_run:
            from fastscaffold.errors import ConflictsError

            raise ConflictsError(paths=outcome.conflicts)


def _print_update(path: Path, outcome: "Outcome", dry_run: bool) -> None:
    old, new = outcome.versions.current, outcome.versions.target
    if not outcome.changes:
        typer.echo(f"{shown(path)} is at template {old}; nothing to update.")
        return
    verb = "Would update" if dry_run else "Updated"
    versions = f"from template {old} to {new}" if new != old else f"at template {old}"
    typer.echo(f"{verb} {shown(path)} {versions}:")
    for change in outcome.changes:
        kind = change.kind
        if change.path in outcome.conflicts:
            kind = "conflict"
        elif change.path in outcome.restored:
            kind = "restored"
        typer.echo(f"  {kind:<9} {change.path}")
    if outcome.restored:
        typer.echo("Restored files were deleted here but changed by this update; delete them")
        typer.echo("again if you still do not want them.")
    if dry_run:
        typer.echo(f"\n{outcome.diff}\n\nNothing was changed (--dry-run).")
    elif not outcome.conflicts:
        typer.echo("Review with `git diff`, then commit.")


def _template_location(template: str) -> str:
    """Make a local template path absolute, so the project records where it really is."""
    local = Path(template).expanduser()
    if local.exists():
        return str(local.resolve())
    if "://" in template or "@" in template or template.startswith(("gh:", "gl:")):
        return template
    from fastscaffold.errors import TemplateSourceError

    raise TemplateSourceError(source=template)


def main() -> None:
    """Run the `fastscaffold` command."""
    app(prog_name="fastscaffold")
