"""`tune`: measure worker count, thread pool and database pool on the project's own routes."""

import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Annotated, Literal

import typer

from fastscaffold.cli import _reported, app
from fastscaffold.errors import UsageError, quoted, shown

TUNE_EXAMPLES = """\b
Examples:
  fastscaffold tune                         # the project here, about a minute of load
  fastscaffold tune api --budget 120 --chart /tmp/api.svg
  fastscaffold tune api --route 'GET /items' --route 'GET /examples/sleep?seconds=0.05'
  fastscaffold tune api --json > tune.json
  fastscaffold tune api --venv .venv --write      # keep the recommendation in api/.env
"""


def _clients(raw: str) -> tuple[int, ...]:
    try:
        counts = tuple(int(part) for part in raw.split(","))
    except ValueError:
        counts = ()
    if not counts or min(counts) < 1 or max(counts) > 1024:
        raise UsageError(f"--clients {quoted(raw)} is not a list like 1,4,16,64 (1 to 1024).")
    return tuple(sorted(set(counts)))


@app.command(epilog=TUNE_EXAMPLES)
def tune(
    path: Annotated[Path, typer.Argument(help="The generated project.")] = Path("."),
    budget: Annotated[
        float,
        typer.Option(
            min=1, help="Seconds of booting and load, shared out over the sweep (not the install)."
        ),
    ] = 60.0,
    route: Annotated[
        list[str] | None,
        typer.Option(
            metavar="'METHOD /path'",
            help="Load this operation of the OpenAPI document (repeatable; a query may be "
            "given). [default: every GET but /health]",
        ),
    ] = None,
    clients: Annotated[
        str | None,
        typer.Option(
            metavar="N,N,...",
            help="Concurrent client counts. [default: 1,4,16,64, higher "
            "for routes that use the thread pool]",
        ),
    ] = None,
    load_generator: Annotated[
        Literal["auto", "wrk", "builtin"],
        typer.Option(help="wrk, or the built-in asyncio client; auto: wrk when on PATH."),
    ] = "auto",
    chart: Annotated[
        Path | None,
        typer.Option(metavar="FILE", help="Where the SVG chart goes. [default: ./tune-NAME.svg]"),
    ] = None,
    as_json: Annotated[
        bool, typer.Option("--json", help="Print the report as JSON (tune-report.schema.json).")
    ] = False,
    write: Annotated[
        bool, typer.Option("--write", help="Write the recommended settings to the project's .env.")
    ] = False,
    venv: Annotated[
        Path | None,
        typer.Option(
            metavar="PATH",
            help="Use (or install into and keep) this venv. [default: a temporary one]",
        ),
    ] = None,
    lesson: Annotated[
        bool,
        typer.Option(
            help="With the examples present: the same wait async, blocking and as CPU work."
        ),
    ] = True,
    ready_timeout: Annotated[
        float, typer.Option(help="Seconds to wait for /health/ready after each start.")
    ] = 60.0,
    write_probes: Annotated[
        bool,
        typer.Option(
            "--write-probes",
            help="Allow --route to load writes against a DATABASE_URL given in the environment.",
        ),
    ] = False,
) -> None:
    """Measure worker count, thread pool and database pool on the project's own routes.

    Boots the project under its configured server once per setting, sweeps WEB_CONCURRENCY
    (1 to the CPUs the quota allows), THREADPOOL_SIZE (when a route or dependency is plain
    `def`) and DB_POOL_MAX (where there is a pool), loads each at increasing concurrency, and
    recommends values with the reason. Nothing is written into the project without --write.
    """
    with _reported("tune"):
        from fastscaffold import tune as tuning
        from fastscaffold.check import workspace
        from fastscaffold.errors import ProjectNotFoundError

        if not path.is_dir():
            raise ProjectNotFoundError(path=path)
        counts = _clients(clients) if clients else ()
        tuning.precheck(budget)
        options = tuning.Options(
            budget, tuple(route or ()), counts, load_generator,
            venv.resolve() if venv else None, ready_timeout, write_probes, lesson,
        )  # fmt: skip
        try:
            with workspace() as work, _tune_progress(budget) as progress:
                found = tuning.tune(path.resolve(), options, work, progress)
        except KeyboardInterrupt:
            typer.echo("tune: interrupted; the servers it started are stopped.", err=True)
            raise typer.Exit(130) from None
        from fastscaffold import tune_report

        target = chart or Path(f"tune-{path.resolve().name}.svg")
        target.write_text(tune_report.as_svg(found))
        written = None
        if write:
            from fastscaffold.measurements import recommended_env, write_env

            written = str(write_env(path, recommended_env(found)))
        if as_json:
            typer.echo(tune_report.as_json(found, written))
            return
        typer.echo(tune_report.as_text(found, shown(path)))
        typer.echo(f"\nchart: {shown(target)}")
        if written:
            typer.echo(f"written: {shown(Path(written))}")
        else:
            typer.echo(f"not written: --write puts the recommendation in {shown(path / '.env')}")


@contextmanager
def _tune_progress(budget: float) -> Iterator[Callable[[str, float], None]]:
    """A progress bar over the budget on a terminal; a line per step otherwise."""
    if not sys.stderr.isatty():
        yield lambda doing, spent: typer.echo(f"tune: {doing}", err=True)
        return
    from rich.console import Console
    from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn

    columns = (TextColumn("tune: {task.description}"), BarColumn(), TimeElapsedColumn())
    with Progress(*columns, console=Console(stderr=True), transient=True) as bar:
        task = bar.add_task("starting", total=1.0)
        yield lambda doing, spent: bar.update(task, description=doing, completed=spent)
