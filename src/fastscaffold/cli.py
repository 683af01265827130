"""The command line: turn flags into answers, call the core, print results and errors."""

import json
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Annotated, Any, Literal

import typer
from typer.core import TyperCommand

from fastscaffold import __version__
from fastscaffold.errors import (
    FastscaffoldError,
    UsageError,
    one_line,
    quoted,
    shown,
)

# Imports stay minimal here: `--help` and `--version` must not load copier, Jinja or YAML.

APP_EXAMPLES = """\b
Examples:
  fastscaffold new orders-api --project-name orders-api --server granian --yes
  fastscaffold new --answers-file answers.yml
  fastscaffold options --json
  fastscaffold update api --check
  fastscaffold add taskiq -C api
  fastscaffold set database=postgres -C api
  fastscaffold tune api --budget 90
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


@app.callback(invoke_without_command=True)
def _root(
    ctx: typer.Context,
    version: Annotated[bool, typer.Option("--version", help="Show the version and exit.")] = False,
    verbose: Annotated[
        bool,
        typer.Option(
            "--verbose", help="With --version: also every template version it can update from."
        ),
    ] = False,
) -> None:
    """Render a Copier template into a ready-to-run FastAPI project."""
    if version:
        typer.echo(f"fastscaffold {__version__}")
        if verbose:
            from fastscaffold import history

            shipped = history.builtin_versions()
            where = "its history bundle" if history.BUNDLE.is_file() else "its checkout"
            typer.echo(f"template versions (from {where}): {', '.join(map(str, shipped))}")
        raise typer.Exit()
    if ctx.invoked_subcommand is None:
        raise typer.BadParameter("name a command, or --version", param_hint="COMMAND")


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
        from fastscaffold import new as making
        from fastscaffold.render import render

        ask = _asker() if _interactive() else None
        made = making.plan(
            flags, dest=dest, answers_file=answers_file, yes=yes, template=template, ask=ask
        )
        with _status(f"Rendering {shown(made.target)} ..."):
            files = render(made.answers, made.target, overwrite=overwrite, template=made.template)
    typer.echo("\n".join(making.summary(made, files)))


def _asker() -> "Callable[[dict[str, object]], dict[str, object]]":
    """Ask each unanswered question on the terminal, with typer's prompt."""
    from fastscaffold import new as making

    def prompt(text: str, default: str | None) -> str:
        return str(typer.prompt(text, default=default, type=str))

    return lambda answers: making.ask(answers, prompt, lambda line: typer.echo(line, err=True))


@contextmanager
def _status(message: str) -> Iterator[None]:
    """Show a spinner on stderr while the body runs, only when stderr is a terminal."""
    if not sys.stderr.isatty():
        yield
        return
    from rich.console import Console

    with Console(stderr=True).status(message):
        yield


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
    typer.echo(json.dumps(rows, indent=2) if as_json else options.table(rows))


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
    write_probes: Annotated[
        bool,
        typer.Option(
            "--write-probes",
            help="Also send POST, PUT, PATCH and DELETE to a DATABASE_URL given in the "
            "environment (by default only check's own SQLite file gets them).",
        ),
    ] = False,
) -> None:
    """Smoke-test a generated project: answers, install, lint, types, tests, boot, stop.

    The boot step calls each operation the app's own OpenAPI document declares, once, with
    the smallest valid request: no 5xx, and only statuses the document lists. Writes go to
    a SQLite file of check's own; against a DATABASE_URL given in the environment only the
    operations marked `x-fastscaffold-safe` are written to, unless --write-probes.

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
        settings = Options(chosen, venv.resolve() if venv else None, ready_timeout, write_probes)
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


# Each registers its commands on `app`; `--help` lists them in this order.
from fastscaffold import cli_tune  # noqa: E402,F401  (tune)

# isort: split
from fastscaffold import cli_changes  # noqa: E402,F401  (update, set, add and remove)


def main() -> None:
    """Run the `fastscaffold` command."""
    app(prog_name="fastscaffold")
