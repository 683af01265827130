"""`update`, `set`, `add` and `remove`: change a generated project, keeping the user's edits.

Each is a 3-way update: the template rendered with the old answers at the project's version,
the project as the user left it, and the template rendered at the new version (`update`) or
with the new answers at the same version (`set`, `add`, `remove`). Files of a removed feature
go, unless the user changed them.
"""

from pathlib import Path
from typing import Annotated, Any

import typer

from fastscaffold.cli import _reported, _status, app
from fastscaffold.errors import UsageError, shown

UPDATE_EXAMPLES = """\b
Examples:
  fastscaffold update                       # the project in the current directory
  fastscaffold update api --dry-run         # show what would change, write nothing
  fastscaffold update api --to 0.3.0
  fastscaffold update api --data server=gunicorn --data workers=4
  fastscaffold update api --check           # exit 0 when current, 2 when behind
  fastscaffold update api --template https://git.example.com/platform/fastscaffold.git
"""


Project = Annotated[
    Path,
    typer.Option(
        "--project",
        "-C",
        metavar="PATH",
        help="The project, a clean git work tree.",
        show_default=True,
    ),
]
DryRun = Annotated[bool, typer.Option("--dry-run", help="Show the files and diff; change nothing.")]


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
    dry_run: DryRun = False,
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
            from fastscaffold.render import template_location

            template = template_location(template)
        if check_only:
            if dry_run or data:
                raise UsageError("--check only reports; drop --dry-run and --data")
            line, code = updating.check_report(
                path, updating.status(path, to=to, template=template)
            )
            typer.echo(line)
            raise typer.Exit(code)
        _run_update(path, data or [], dry_run=dry_run, to=to, template=template)


def _run_update(
    path: Path, data: list[str], *, dry_run: bool, note: str | None = None, **how: Any
) -> None:
    """Run an update (or a `set`, `add`, `remove`), print what it did and then `note`, exit 1
    on conflicts."""
    from fastscaffold import update as updating

    with _status(f"Updating {shown(path)} ..."):
        outcome = updating.update(path, data=data, dry_run=dry_run, **how)
    typer.echo("\n".join(updating.report(path, outcome, dry_run=dry_run)))
    if note is not None:
        typer.echo(note)
    if outcome.conflicts and not dry_run:
        from fastscaffold.errors import ConflictsError

        raise ConflictsError(paths=outcome.conflicts, kept=outcome.kept)


SET_EXAMPLES = """\b
Examples:
  fastscaffold set server=granian               # the project in the current directory
  fastscaffold set database=postgres -C api     # switch the database of ./api
  fastscaffold set workers=auto threadpool_size=80 --dry-run
"""

ADD_EXAMPLES = """\b
Examples:
  fastscaffold add taskiq                       # a task queue (taskiq on Redis)
  fastscaffold add kubernetes -C api            # deploy/kubernetes/ for ./api
  fastscaffold add postgres                     # a database, where the project has none
"""

REMOVE_EXAMPLES = """\b
Examples:
  fastscaffold remove examples                  # the concurrency examples
  fastscaffold remove taskiq compose -C api
"""


@app.command(name="set", epilog=SET_EXAMPLES)
def set_answers(
    items: Annotated[
        list[str],
        typer.Argument(metavar="KEY=VALUE...", help="Answers to change, e.g. server=gunicorn."),
    ],
    project: Project = Path("."),
    dry_run: DryRun = False,
) -> None:
    """Change answers of a generated project (server, workers, database...), keeping your edits.

    The project stays at its template version (`fastscaffold update` moves it). Files a new
    answer no longer needs are removed unless you changed them: those stay and are listed as
    conflicts. `fastscaffold options` lists the questions and their values.
    """
    with _reported("set"):
        from fastscaffold import answers, history

        last = answers.read(project)
        builtin = last["_src_path"] == history.BUILTIN
        given = answers.parse_data(items, last if builtin else None, what="answer")
        changed = [i for i in items if _differs(i.partition("=")[0], given, last)]
        same = f"{shown(project)} already answers {' '.join(items)}; nothing to change."
        _change(project, changed, same, dry_run=dry_run)


def _differs(name: str, given: dict[str, object], last: dict[str, object]) -> bool:
    # A fork's answers arrive as text (copier checks them), the recorded ones typed.
    new, old = given[name], last.get(name)
    return new != old and not (isinstance(new, str) and new == str(old))


@app.command(epilog=ADD_EXAMPLES)
def add(
    names: Annotated[
        list[str], typer.Argument(metavar="FEATURE...", help="Features to add, e.g. taskiq.")
    ],
    project: Project = Path("."),
    dry_run: DryRun = False,
) -> None:
    """Add features to a generated project (taskiq, examples, a database, deployment files, CI).

    The features are the yes/no questions and the values of the questions that can be none
    or several; change the others with `fastscaffold set`.
    """
    with _reported("add"):
        _toggle(project, names, add=True, dry_run=dry_run)


@app.command(epilog=REMOVE_EXAMPLES)
def remove(
    names: Annotated[
        list[str], typer.Argument(metavar="FEATURE...", help="Features to remove, e.g. examples.")
    ],
    project: Project = Path("."),
    dry_run: DryRun = False,
) -> None:
    """Remove features from a generated project, keeping your edits.

    A removed feature's files go, unless you changed them: those stay, unmerged in git's
    index, and are listed as conflicts (`git rm` to let one go, `git add` to keep it).
    """
    with _reported("remove"):
        _toggle(project, names, add=False, dry_run=dry_run)


def _toggle(project: Path, names: list[str], *, add: bool, dry_run: bool) -> None:
    from fastscaffold import answers, features, history
    from fastscaffold.errors import FeatureRefusedError, InvalidDataError

    last = answers.read(project)
    builtin = last["_src_path"] == history.BUILTIN
    work = dict(last)
    for name in names:
        changed = features.change(work, name, add=add, project=last)
        if changed is not None:
            work[changed[0]] = changed[1]
    items = [
        f"{key}={answers.text(value, as_yaml=not builtin)}"
        for key, value in work.items()
        if value != last.get(key)
    ]
    try:
        answers.parse_data(items, last if builtin else None)
    except InvalidDataError as error:
        verb = "add" if add else "remove"
        raise FeatureRefusedError(verb=verb, names=names, reason=error.reason) from None
    listed = ", ".join(names)
    same = (
        f"{shown(project)} {'already has' if add else 'has none of'} {listed}; nothing to change."
    )
    _change(project, items, same, dry_run=dry_run)


def _change(project: Path, items: list[str], same: str, *, dry_run: bool) -> None:
    """Re-answer `items` at the project's version; with none, say so (`same`)."""
    if not items:
        typer.echo(same)
        return
    from fastscaffold import update as updating

    versions = updating.status(project)
    note = None
    if versions.target > versions.current:
        note = (
            f"Template {versions.target} is available; this change "
            f"{'would keep' if dry_run else 'kept'} the project at {versions.current}: "
            "`fastscaffold update` brings it."
        )
    _run_update(project, items, dry_run=dry_run, note=note, stay=True)
