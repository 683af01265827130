"""The generated project's CI: the file for the `ci` choice and nothing else, valid against the
official GitHub and GitLab schemas (checked offline), running every check against exactly
the services the chosen database and task queue need."""

import itertools
import json
import os
import re
import subprocess
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import yaml

from fastscaffold import options
from fastscaffold.render import render

CI_FILES = {"github": Path(".github/workflows/ci.yml"), "gitlab": Path(".gitlab-ci.yml")}
LEFTOVER_JINJA = ("{{", "{%", "{#")

# Image -> (GitLab alias, the port the job connects to).
SERVICES = {
    "postgres:17": ("postgres", 5432),
    "mongo:8": ("mongo", 27017),
    "redis:7": ("redis", 6379),
}

# The checks every job runs, in this order: a pattern for the shell command line of each.
STEPS = [
    ("install", r"pip install -e '\.\[dev\]'$"),
    ("ruff", r"^ruff check \.$"),
    ("format", r"^ruff format --check \.$"),
    ("mypy", r"^mypy app tests$"),
    ("pytest", r"^pytest$"),
    ("check", r"/fastscaffold\"? check --venv \.venv$"),
]

# check-jsonschema's CLI with every network connection refused: it must pass on the schemas
# it vendors alone (`test_the_network_guard_refuses_downloads` shows the guard bites).
OFFLINE_CHECK_JSONSCHEMA = """
import socket
import sys


def refuse(*args, **kwargs):
    raise OSError("network access during offline schema validation")


socket.socket.connect = socket.socket.connect_ex = refuse
socket.create_connection = socket.getaddrinfo = refuse
sys.argv[0] = "check-jsonschema"
from check_jsonschema import main
main()
"""
# The vendored schemas, with the options check-jsonschema's own pre-commit hooks pass them.
SCHEMA_ARGS = {
    "github": ["--builtin-schema", "vendor.github-workflows"],
    "gitlab": [
        "--builtin-schema",
        "vendor.gitlab-ci",
        "--data-transform",
        "gitlab-ci",
        "--regex-variant",
        "nonunicode",
    ],
}


def choices(name: str) -> tuple[str, ...]:
    return options.question(name).choices or ()


Combo = tuple[str, str, str]  # ci, database, task_queue
COMBOS: list[Combo] = list(
    itertools.product(choices("ci"), choices("database"), choices("task_queue"))
)
WITH_CI = [combo for combo in COMBOS if combo[0] in CI_FILES]
OPTIONS = sorted({(database, task_queue) for _, database, task_queue in COMBOS})


def combo_id(combo: tuple[str, ...]) -> str:
    return "-".join(combo)


@pytest.fixture(scope="module")
def projects(tmp_path_factory: pytest.TempPathFactory) -> dict[Combo, Path]:
    """Every ci x database x task_queue, rendered once (other questions at their defaults)."""
    root = tmp_path_factory.mktemp("ci")
    rendered = {}
    for combo in COMBOS:
        ci, database, task_queue = combo
        answers = {"ci": ci, "database": database, "task_queue": task_queue}
        dest = root / combo_id(combo)
        render(options.with_defaults(answers), dest, overwrite=False)
        rendered[combo] = dest
    return rendered


@dataclass(frozen=True)
class Job:
    """The one CI job, in terms both CI systems share."""

    variables: dict[str, str]
    services: dict[str, str]  # image -> the "host:port" the job reaches it at
    commands: list[str]  # shell commands, in order
    raw: dict[str, Any]


def github_job(path: Path) -> Job:
    workflow = yaml.safe_load(path.read_text())
    assert list(workflow["jobs"]) == ["test"]
    job = workflow["jobs"]["test"]
    services = {}
    for spec in job.get("services", {}).values():
        ports = {int(port) for mapping in spec["ports"] for port in str(mapping).split(":")}
        assert len(ports) == 1, spec  # published on the same port on the runner
        services[spec["image"]] = f"localhost:{ports.pop()}"
    commands = [step["run"] for step in job["steps"] if "run" in step]
    return Job(job["env"], services, commands, job)


def gitlab_job(path: Path) -> Job:
    pipeline = yaml.safe_load(path.read_text())
    assert list(pipeline) == ["test"]
    job = pipeline["test"]
    services = {}
    for spec in job.get("services", []):
        alias, port = SERVICES[spec["name"]]
        assert spec["alias"] == alias, spec
        services[spec["name"]] = f"{alias}:{port}"
    return Job(job["variables"], services, job["script"], job)


PARSE: dict[str, Callable[[Path], Job]] = {"github": github_job, "gitlab": gitlab_job}


def job_of(projects: dict[Combo, Path], combo: Combo) -> Job:
    return PARSE[combo[0]](projects[combo] / CI_FILES[combo[0]])


def expected_services(combo: Combo) -> dict[str, str]:
    ci, database, task_queue = combo
    images = {"postgres": ["postgres:17"], "mongodb": ["mongo:8"]}.get(database, [])
    images += ["redis:7"] if task_queue == "taskiq" else []
    return {
        image: f"{'localhost' if ci == 'github' else SERVICES[image][0]}:{SERVICES[image][1]}"
        for image in images
    }


def expected_variables(combo: Combo, answers: dict[str, object]) -> dict[str, str]:
    ci, database, task_queue = combo
    at = expected_services(combo)
    variables = {"CI": "true"}
    if ci == "gitlab":
        variables["PIP_CACHE_DIR"] = "$CI_PROJECT_DIR/.cache/pip"
    if database == "postgres":
        variables["DATABASE_URL"] = f"postgresql://postgres:postgres@{at['postgres:17']}/postgres"
    if database == "mongodb":
        slug = str(answers["project_name"]).replace("-", "_")
        variables["DATABASE_URL"] = f"mongodb://{at['mongo:8']}/{slug}"
        variables["MONGODB_URL"] = f"mongodb://{at['mongo:8']}"
    if task_queue == "taskiq":
        variables["REDIS_URL"] = f"redis://{at['redis:7']}/0"
    return variables


def files_of(project: Path) -> set[Path]:
    return {path.relative_to(project) for path in project.rglob("*") if path.is_file()}


def check_jsonschema(*args: str | Path) -> subprocess.CompletedProcess[str]:
    command = [sys.executable, "-c", OFFLINE_CHECK_JSONSCHEMA, "--no-cache", *map(str, args)]
    return subprocess.run(command, capture_output=True, text=True, check=False)


def validate(ci: str, files: list[Path]) -> dict[str, Any]:
    """check-jsonschema's JSON report on `files` against the vendored schema for `ci`."""
    result = check_jsonschema("--output-format", "json", *SCHEMA_ARGS[ci], *files)
    try:
        report: dict[str, Any] = json.loads(result.stdout)
    except json.JSONDecodeError:
        pytest.fail(f"check-jsonschema gave no report (exit {result.returncode}): {result.stderr}")
    return report


@pytest.mark.parametrize(("database", "task_queue"), OPTIONS, ids=combo_id)
def test_each_ci_choice_adds_its_own_file_and_nothing_else(
    projects: dict[Combo, Path], database: str, task_queue: str
) -> None:
    without = projects["none", database, task_queue]
    assert not files_of(without) & set(CI_FILES.values())
    assert not (without / ".github").exists()
    for ci, path in CI_FILES.items():
        assert files_of(projects[ci, database, task_queue]) - files_of(without) == {path}


@pytest.mark.parametrize("combo", COMBOS, ids=combo_id)
def test_no_empty_directories(projects: dict[Combo, Path], combo: Combo) -> None:
    project = projects[combo]
    assert [p for p in project.rglob("*") if p.is_dir() and not any(p.iterdir())] == []


@pytest.mark.parametrize("combo", WITH_CI, ids=combo_id)
def test_no_leftover_jinja(projects: dict[Combo, Path], combo: Combo) -> None:
    text = (projects[combo] / CI_FILES[combo[0]]).read_text()
    assert [marker for marker in LEFTOVER_JINJA if marker in text] == []


@pytest.mark.parametrize("ci", CI_FILES)
def test_every_rendering_matches_the_official_schema(projects: dict[Combo, Path], ci: str) -> None:
    files = [path / CI_FILES[ci] for combo, path in projects.items() if combo[0] == ci]
    report = validate(ci, files)
    assert report["status"] == "ok", report


@pytest.mark.parametrize(
    ("ci", "old", "new"),
    [("github", "runs-on:", "runs-onn:"), ("gitlab", "  script:", "  scripts:")],
)
def test_the_schema_check_rejects_a_broken_file(
    projects: dict[Combo, Path], tmp_path: Path, ci: str, old: str, new: str
) -> None:
    text = (projects[ci, "sqlite", "none"] / CI_FILES[ci]).read_text()
    assert old in text
    broken = tmp_path / CI_FILES[ci].name
    broken.write_text(text.replace(old, new))
    report = validate(ci, [broken])
    assert [error["filename"] for error in report["errors"]] == [str(broken)], report


def test_the_network_guard_refuses_downloads(tmp_path: Path) -> None:
    document = tmp_path / "ci.yml"
    document.write_text("on: push\n")
    remote = "https://json.schemastore.org/github-workflow"
    result = check_jsonschema("--schemafile", remote, document)
    assert result.returncode != 0
    assert "network access during offline schema validation" in result.stderr


@pytest.mark.parametrize("combo", WITH_CI, ids=combo_id)
def test_the_job_runs_every_check_in_order(projects: dict[Combo, Path], combo: Combo) -> None:
    lines = [
        line.strip()
        for command in job_of(projects, combo).commands
        for line in command.splitlines()
    ]
    positions = []
    for step, pattern in STEPS:
        found = [i for i, line in enumerate(lines) if re.search(pattern, line)]
        assert found, f"no {step} step ({pattern!r}) in {lines}"
        positions.append(found[0])
    assert positions == sorted(positions)


@pytest.mark.parametrize("combo", WITH_CI, ids=combo_id)
def test_services_are_exactly_those_the_options_need(
    projects: dict[Combo, Path], combo: Combo
) -> None:
    assert job_of(projects, combo).services == expected_services(combo)


@pytest.mark.parametrize("combo", WITH_CI, ids=combo_id)
def test_variables_point_the_tests_at_the_services(
    projects: dict[Combo, Path], combo: Combo
) -> None:
    answers = options.with_defaults({})
    assert job_of(projects, combo).variables == expected_variables(combo, answers)


@pytest.mark.parametrize("combo", [c for c in WITH_CI if c[0] == "github"], ids=combo_id)
def test_github_waits_for_healthy_services(projects: dict[Combo, Path], combo: Combo) -> None:
    for name, spec in job_of(projects, combo).raw.get("services", {}).items():
        assert "--health-cmd" in spec["options"], name


@pytest.mark.parametrize("ci", CI_FILES)
def test_pip_downloads_are_cached(projects: dict[Combo, Path], ci: str) -> None:
    job = job_of(projects, (ci, "sqlite", "none")).raw
    if ci == "github":
        setup = next(
            s for s in job["steps"] if s.get("uses", "").startswith("actions/setup-python")
        )
        assert setup["with"]["cache"] == "pip"
    else:
        assert job["cache"]["paths"] == [".cache/pip"]
        assert job["variables"]["PIP_CACHE_DIR"] == "$CI_PROJECT_DIR/.cache/pip"


def run_check_step(
    projects: dict[Combo, Path], tmp_path: Path, ci: str, pip_exit: int, fastscaffold: str
) -> tuple[subprocess.CompletedProcess[str], list[str]]:
    """Run the CI's fastscaffold step with fake tools; return the result and the calls made.

    `python -m venv DIR` makes a DIR/bin whose pip exits with `pip_exit` and whose
    fastscaffold runs the shell code `fastscaffold`; both log their arguments.
    """
    job = job_of(projects, (ci, "sqlite", "none"))
    script = next(command for command in job.commands if "install fastscaffold" in command)
    # Its venv goes where the job's temporary files go; for the test, into tmp_path.
    script = script.replace("/tmp/fastscaffold", str(tmp_path / "fastscaffold"))
    log = tmp_path / "calls.log"
    log.touch()
    tools, path = tmp_path / "tools", tmp_path / "path"
    tools.mkdir()
    path.mkdir()
    venv = f'[ "$1 $2" = "-m venv" ] || exit 99\nmkdir -p "$3"\nln -s {tools} "$3/bin"'
    fakes = {
        path / "python": venv,
        tools / "pip": f'echo "pip $*" >> {log}\nexit {pip_exit}',
        tools / "fastscaffold": f'echo "fastscaffold $*" >> {log}\n{fastscaffold}',
    }
    for fake, body in fakes.items():
        fake.write_text(f"#!/bin/sh\n{body}\n")
        fake.chmod(0o755)
    env = {
        **os.environ,
        "PATH": f"{path}{os.pathsep}{os.environ['PATH']}",
        "RUNNER_TEMP": str(tmp_path),
    }
    # Both CI systems run scripts with errexit and pipefail.
    result = subprocess.run(
        ["bash", "-eo", "pipefail", "-c", script],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    return result, log.read_text().splitlines()


@pytest.mark.skipif(sys.platform == "win32", reason="the CI step is a POSIX shell script")
@pytest.mark.parametrize("ci", CI_FILES)
@pytest.mark.parametrize(
    ("pip_exit", "check_exit", "job_exit", "checked"),
    [(1, 0, 0, False), (0, 0, 0, True), (0, 3, 3, True)],
    ids=["not-installable-skips", "check-passes", "check-fails-the-job"],
)
def test_check_step_skips_only_when_fastscaffold_cannot_be_installed(
    projects: dict[Combo, Path],
    tmp_path: Path,
    ci: str,
    pip_exit: int,
    check_exit: int,
    job_exit: int,
    checked: bool,
) -> None:
    result, calls = run_check_step(projects, tmp_path, ci, pip_exit, f"exit {check_exit}")
    assert result.returncode == job_exit, result.stdout + result.stderr
    assert calls[0] == "pip install fastscaffold"
    assert ("fastscaffold check --venv .venv" in calls) is checked
    assert ("skipped 'fastscaffold check'" in result.stdout) is not checked


@pytest.mark.skipif(sys.platform == "win32", reason="the CI step is a POSIX shell script")
@pytest.mark.parametrize("ci", CI_FILES)
@pytest.mark.parametrize(
    ("update_exit", "job_exit", "warned"),
    [(0, 0, False), (2, 0, True), (1, 1, False)],
    ids=["current", "behind-warns", "update-error-fails"],
)
def test_update_check_warns_when_behind_and_fails_on_errors(
    projects: dict[Combo, Path],
    tmp_path: Path,
    ci: str,
    update_exit: int,
    job_exit: int,
    warned: bool,
) -> None:
    fake = f'[ "$1" = update ] && exit {update_exit}\nexit 0'
    result, calls = run_check_step(projects, tmp_path, ci, 0, fake)
    assert result.returncode == job_exit, result.stdout + result.stderr
    assert "fastscaffold update --check" in calls
    assert ("a newer template is out" in result.stdout) is warned
