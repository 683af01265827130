"""`fastscaffold set`, `add` and `remove` on a project the team has edited.

Tier 1: from the default project, each other value of each question (copier.yml's choices;
a sample for free text and counts). The result must be exactly a fresh render of the new
answers with the team's edits made to it: nothing lost, no conflict, no leftover of the old
answer; and it compiles and passes ruff. `check` on such projects is tier 2: the matrix's
rows are reached this way (tests/test_matrix.py). A file the team changed that a removed
feature owned stays, as a conflict.
"""

import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from fastscaffold import options
from tests import edits
from tests.conftest import Run

# Another value for the questions without choices.
SAMPLES: dict[str, list[str]] = {
    "project_name": ["orders-api"],
    "description": ['Orders, "priced" & shipped'],
    "workers": ["auto", "4"],
    "threadpool_size": ["80"],
}


def _values(question: options.Question, default: object) -> list[str]:
    """Each other value of `question` than `default`, as `set` takes it."""
    if question.multiselect:
        chosen = default if isinstance(default, list) else []
        toggled = [
            [c for c in chosen if c != choice] if choice in chosen else [*chosen, choice]
            for choice in question.choices or ()
        ]
        return [",".join(c for c in question.choices or () if c in t) or "none" for t in toggled]
    if question.type == "bool":
        return ["false" if default else "true"]
    if question.choices:
        return [choice for choice in question.choices if choice != default]
    return SAMPLES[question.name]


def _valid(name: str, value: str) -> bool:
    answer = options.coerce(options.question(name), value)
    try:
        options.validate(options.with_defaults({name: answer}))
    except Exception:
        return False
    return True


DEFAULTS = options.with_defaults({})
CANDIDATES = [
    (question.name, value)
    for question in options.questions()
    for value in _values(question, DEFAULTS[question.name])
]
TRANSITIONS = [(name, value) for name, value in CANDIDATES if _valid(name, value)]
REFUSED = [(name, value) for name, value in CANDIDATES if not _valid(name, value)]


@pytest.fixture(scope="module")
def base(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The default project, committed, with the team's edits committed."""
    return edits.team_project({}, tmp_path_factory.mktemp("base") / "svc")


def _copy(base: Path, tmp_path: Path) -> Path:
    project = tmp_path / "svc"
    shutil.copytree(base, project, symlinks=True)
    return project


def test_every_question_has_a_transition() -> None:
    assert {name for name, _ in CANDIDATES} == {q.name for q in options.questions()}
    assert len(TRANSITIONS) >= len(options.questions())


@pytest.mark.parametrize(("name", "value"), TRANSITIONS, ids=[f"{n}={v}" for n, v in TRANSITIONS])
def test_set_equals_a_fresh_render_with_the_edits(
    base: Path, name: str, value: str, run: Run, tmp_path: Path
) -> None:
    _moves_like_a_fresh_render(_copy(base, tmp_path), {name: value}, run, tmp_path)


DATABASES = options.question("database").choices or ()
SWITCHES = [(a, b) for a in DATABASES for b in DATABASES if a != b and a != DEFAULTS["database"]]


@pytest.mark.parametrize(("old", "new"), SWITCHES, ids=[f"{a}-to-{b}" for a, b in SWITCHES])
def test_every_database_switch_equals_a_fresh_render_with_the_edits(
    old: str, new: str, run: Run, tmp_path: Path
) -> None:
    # From the default database the transitions above switch; these are the other starts.
    project = edits.team_project({"database": old}, tmp_path / "svc")
    _moves_like_a_fresh_render(project, {"database": new}, run, tmp_path)


def _moves_like_a_fresh_render(
    project: Path, changes: dict[str, str], run: Run, tmp_path: Path
) -> None:
    """`set` the `changes`: no conflict, and exactly a fresh render of the project's new
    answers with the team's edits, staged whole; it compiles and passes ruff."""
    result = run("set", *(f"{k}={v}" for k, v in changes.items()), "-C", project)
    assert result.exit_code == 0, result.stdout + result.stderr
    assert "conflict" not in result.stdout
    fresh = tmp_path / "fresh"
    recorded = yaml.safe_load((project / ".copier-answers.yml").read_text())
    wanted = {k: options.coerce(options.question(k), v) for k, v in changes.items()}
    assert {k: recorded[k] for k in wanted} == wanted
    edits.team_project({k: v for k, v in recorded.items() if not k.startswith("_")}, fresh)
    assert edits.tree(project) == edits.tree(fresh)
    # Staged whole, as `git diff --staged` shows it; nothing unmerged or left out.
    status = edits.git(project, "status", "--porcelain").splitlines()
    assert status and all(line[0] in "MAD" and line[1] == " " for line in status), status
    for tool in (
        ["compileall", "-q", "."],
        ["ruff", "check", "."],
        ["ruff", "format", "--check", "."],
    ):
        done = subprocess.run(
            [sys.executable, "-m", *tool], cwd=project, capture_output=True, text=True
        )
        assert done.returncode == 0, done.stdout + done.stderr


@pytest.mark.parametrize(("name", "value"), REFUSED, ids=[f"{n}={v}" for n, v in REFUSED])
def test_an_invalid_combination_is_refused_untouched(
    base: Path, name: str, value: str, run: Run, tmp_path: Path
) -> None:
    project = _copy(base, tmp_path)
    before = edits.tree(project)
    result = run("set", f"{name}={value}", "-C", project)
    assert result.exit_code == 2
    assert result.stderr.startswith(f"Error: '{name}={value}' is not a valid answer: ")
    assert edits.tree(project) == before
    assert edits.git(project, "status", "--porcelain") == ""


def test_a_removed_feature_keeps_the_files_the_team_changed(
    base: Path, run: Run, tmp_path: Path
) -> None:
    project = _copy(base, tmp_path)
    tasks = project / "app" / "examples" / "tasks.py"
    database = project / "app" / "db" / "database.py"
    for path in (tasks, database):
        path.write_text(path.read_text() + "# the team's\n")
    edits.git(project, "commit", "-q", "-am", "Team edits the examples and the database")
    result = run("remove", "examples", "sqlite", "-C", project)
    assert result.exit_code == 1
    assert (
        "  conflict  app/db/database.py  (you changed it; the update removes it)\n" in result.stdout
    )
    assert (
        "  conflict  app/examples/tasks.py  (you changed it; the update removes it)\n"
        in result.stdout
    )
    assert "  deleted   app/examples/events.py\n" in result.stdout
    assert result.stderr.splitlines()[0] == (
        "Error: the update left 2 conflict(s): `git rm` or `git add` 'app/db/database.py', "
        "'app/examples/tasks.py' (you changed them; the update removes them); then commit."
    )
    for path in (tasks, database):
        assert path.read_text().endswith("# the team's\n")
    status = edits.git(project, "status", "--porcelain").splitlines()
    assert {
        "UD app/db/database.py",
        "UD app/examples/tasks.py",
        "D  app/examples/events.py",
    } <= set(status)
    # The rest of the two features is gone; the team's own files are untouched.
    assert not (project / "app" / "examples" / "events.py").exists()
    assert not (project / "app" / "db" / "feature.py").exists()
    assert (project / "app" / "api" / "routes" / "greetings.py").read_text() == edits.ROUTE


def test_add_names_the_feature_and_dry_run_writes_nothing(
    base: Path, run: Run, tmp_path: Path
) -> None:
    project = _copy(base, tmp_path)
    before = edits.tree(project)
    result = run("add", "taskiq", "kubernetes", "-C", project, "--dry-run")
    assert result.exit_code == 2  # kubernetes needs a database other than SQLite
    assert result.stderr.startswith("Error: cannot add 'taskiq', 'kubernetes': SQLite is a file")
    result = run("add", "taskiq", "-C", project, "--dry-run")
    assert result.exit_code == 0, result.stdout + result.stderr
    assert result.stdout.startswith(f"Would change {project} at template ")
    assert "  added     app/queue/broker.py\n" in result.stdout
    assert result.stdout.rstrip().endswith("Nothing was changed (--dry-run).")
    assert edits.tree(project) == before


@pytest.mark.parametrize(
    ("args", "fragment"),
    [
        (
            ["add", "granian"],
            "'granian' is not a feature to add or remove; it is a server: "
            "change it with `fastscaffold set server=granian`.",
        ),
        (["add", "nosql"], "'nosql' is not a feature to add or remove; choose one of sqlite, "),
        (
            ["add", "postgres"],
            "cannot add 'postgres': the project's database is sqlite; switch "
            "with `fastscaffold set database=postgres` or `fastscaffold remove sqlite` first.",
        ),
        (["set", "server"], "'server' is not a valid answer: write it as KEY=VALUE"),
        (["set", "colour=blue"], "'colour=blue' is not a valid answer: 'colour' is not a question"),
        (["set", "workers=0"], "'workers=0' is not a valid answer: must be between 1 and 256"),
        (
            ["remove", "uvicorn"],
            "'uvicorn' is not a feature to add or remove; it is a server, changed but not "
            "removed: `fastscaffold set server=...`.",
        ),
        (["add", "none"], "'none' is not a feature to add or remove; choose one of sqlite, "),
    ],
)
def test_bad_changes_are_usage_errors(base: Path, run: Run, args: list[str], fragment: str) -> None:
    result = run(*args, "-C", base)
    assert result.exit_code == 2
    assert fragment in result.stderr.splitlines()[0]
    assert edits.git(base, "status", "--porcelain") == ""


@pytest.mark.parametrize(
    ("args", "line"),
    [
        (["add", "sqlite", "examples"], "already has sqlite, examples; nothing to change."),
        (["remove", "taskiq"], "has none of taskiq; nothing to change."),
        (["set", "server=uvicorn"], "already answers server=uvicorn; nothing to change."),
    ],
)
def test_a_change_already_made_changes_nothing(
    base: Path, run: Run, args: list[str], line: str
) -> None:
    result = run(*args, "-C", base)
    assert (result.exit_code, result.stdout) == (0, f"{base} {line}\n")


def test_a_clash_names_what_clashes(run: Run, tmp_path: Path) -> None:
    kubernetes = {"database": "postgres", "deployment": ["docker", "kubernetes"]}
    project = edits.team_project(kubernetes, tmp_path / "k8s")
    result = run("set", "database=sqlite", "-C", project)
    assert result.exit_code == 2
    assert result.stderr.splitlines()[0] == (
        "Error: 'database=sqlite' is not a valid answer: the project's deployment is "
        "docker,kubernetes: SQLite is a file inside one pod, and Kubernetes scales pods; "
        "choose --database postgres or mongodb."
    )
    bare = edits.team_project({"database": "none"}, tmp_path / "bare")
    result = run("add", "sqlite", "postgres", "-C", bare)
    assert result.exit_code == 2
    assert result.stderr.splitlines()[0] == (
        "Error: cannot add 'postgres' and 'sqlite' together: a project has one database; "
        "add one of them."
    )
    for path in (project, bare):
        assert edits.git(path, "status", "--porcelain") == ""


def test_a_kept_file_in_a_monorepo_is_unmerged_at_its_path(
    base: Path, run: Run, tmp_path: Path
) -> None:
    mono = tmp_path / "mono"
    project = mono / "services" / "svc"
    shutil.copytree(base, project, symlinks=True, ignore=shutil.ignore_patterns(".git"))
    tasks = project / "app" / "examples" / "tasks.py"
    tasks.write_text(tasks.read_text() + "# the team's\n")
    edits.git(mono, "init", "-q", "-b", "main")
    edits.git(mono, "add", "-A")
    edits.git(mono, "commit", "-q", "-m", "Monorepo")
    result = run("remove", "examples", "-C", project)
    assert result.exit_code == 1, result.stdout + result.stderr
    assert "  conflict  app/examples/tasks.py  (you changed it; the update removes it)\n" in (
        result.stdout
    )
    assert result.stderr.splitlines()[0] == (
        "Error: the update left 1 conflict(s): `git rm` or `git add` 'app/examples/tasks.py' "
        "(you changed it; the update removes it); then commit."
    )
    status = edits.git(mono, "status", "--porcelain").splitlines()
    assert "UD services/svc/app/examples/tasks.py" in status
    assert "D  services/svc/app/examples/events.py" in status
    assert tasks.read_text().endswith("# the team's\n")
