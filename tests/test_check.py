"""`fastscaffold check`: passes a good project, names the failing step of a broken one."""

import json
import os
import shutil
import sys
from pathlib import Path
from xml.etree import ElementTree

import jsonschema
import pytest

from fastscaffold import options
from fastscaffold.check import STEPS
from fastscaffold.render import render
from fastscaffold.report import SCHEMA
from tests.conftest import Run


@pytest.fixture(scope="module")
def schema() -> dict[str, object]:
    loaded: dict[str, object] = json.loads(SCHEMA.read_text())
    return loaded


def generate(dest: Path, **answers: object) -> Path:
    render(options.with_defaults({"workers": "2", **answers}), dest, overwrite=False)
    return dest


def report_of(result_stdout: str, schema: dict[str, object]) -> dict[str, object]:
    report: dict[str, object] = json.loads(result_stdout)
    jsonschema.validate(report, schema)
    return report


def statuses(report: dict[str, object]) -> dict[str, str]:
    return {step["name"]: step["status"] for step in report["steps"]}  # type: ignore[attr-defined]


def test_unknown_step_is_a_usage_error(run: Run, tmp_path: Path) -> None:
    result = run("check", tmp_path, "--skip", "lnt")
    assert result.exit_code == 2
    assert "'lnt' is not a check step; choose from answers, install" in result.stderr


def test_missing_project_fails_with_one_line(run: Run, tmp_path: Path) -> None:
    result = run("check", tmp_path / "nope")
    assert result.exit_code == 1
    assert result.stderr.strip().endswith("pass the generated project's path.")


def test_a_directory_without_answers_fails_the_first_step(
    run: Run, tmp_path: Path, schema: dict[str, object]
) -> None:
    result = run("check", tmp_path, "--json", "--only", "answers")
    assert result.exit_code == 1
    report = report_of(result.stdout, schema)
    assert statuses(report) == {"answers": "fail", **dict.fromkeys(STEPS[1:], "skip")}


def test_missing_service_url_names_the_variable(
    run: Run, tmp_path: Path, schema: dict[str, object], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("DATABASE_URL", raising=False)
    project = generate(tmp_path / "svc", database="postgres")
    venv = tmp_path / "venv" / "bin"
    venv.mkdir(parents=True)
    (venv / "python").symlink_to(sys.executable)
    result = run(
        "check", project, "--json", "--venv", venv.parent, "--only", "answers", "--only", "tests"
    )
    report = report_of(result.stdout, schema)
    [tests] = [s for s in report["steps"] if s["name"] == "tests"]  # type: ignore[attr-defined]
    assert tests["status"] == "fail"
    assert tests["reason"].startswith("DATABASE_URL is not set")


@pytest.mark.tier2
def test_default_project_passes_every_step(
    run: Run, tmp_path: Path, schema: dict[str, object]
) -> None:
    project = generate(tmp_path / "svc")
    junit = tmp_path / "check.xml"
    # The project's own suite runs in tests/test_matrix.py's row for these answers; here a
    # skipped step is reported too.
    result = run("check", project, "--json", "--junit", junit, "--skip", "tests")
    report = report_of(result.stdout, schema)
    assert result.exit_code == 0, result.stdout
    assert report["ok"] is True
    assert statuses(report) == {**dict.fromkeys(STEPS, "pass"), "tests": "skip"}
    suite = ElementTree.parse(junit).getroot().find("testsuite")
    assert suite is not None
    assert (suite.get("tests"), suite.get("failures")) == (str(len(STEPS)), "0")
    assert not (project / "app.db").exists()  # the check never writes the project's database


def _failing_test(project: Path) -> None:
    (project / "tests" / "test_broken.py").write_text(
        "def test_broken() -> None:\n    assert 1 == 2\n"
    )


def _syntax_error(project: Path) -> None:
    (project / "app" / "broken.py").write_text("def broken(:\n    pass\n")


def _never_ready(project: Path) -> None:
    health = project / "app" / "api" / "routes" / "health.py"
    text = health.read_text()
    marker = "    if required:\n"
    assert marker in text
    health.write_text(text.replace(marker, '    required = ["never"]\n' + marker))


def _ignores_sigterm(project: Path) -> None:
    main = project / "app" / "main.py"
    text = main.read_text()
    marker = "        yield state\n"
    assert marker in text
    # Startup runs after the server installed its handlers: this undoes them.
    main.write_text(
        "import signal\n"
        + text.replace(marker, "        signal.signal(signal.SIGTERM, signal.SIG_IGN)\n" + marker)
    )


@pytest.mark.tier2
@pytest.mark.parametrize(
    ("breakage", "step"),
    [
        (_failing_test, "tests"),
        (_syntax_error, "lint"),
        (_never_ready, "boot"),
        (_ignores_sigterm, "stop"),
    ],
    ids=["failing-test", "syntax-error", "never-ready", "ignores-sigterm"],
)
def test_broken_project_fails_at_the_right_step(
    run: Run,
    tmp_path: Path,
    schema: dict[str, object],
    monkeypatch: pytest.MonkeyPatch,
    breakage: object,
    step: str,
) -> None:
    for part in ("STOP_DELAY", "GRACEFUL_TIMEOUT", "DRAIN_TIMEOUT", "POOL_TIMEOUT"):  # short
        monkeypatch.setenv(part, "1")
    if step == "tests":  # only the broken test: the rest of the suite proves nothing here
        monkeypatch.setenv("PYTEST_ADDOPTS", "-k test_broken")
    project = generate(tmp_path / "svc", database="none", workers=1)
    breakage(project)  # type: ignore[operator]
    # Only the steps up to the broken one matter; lint and types are skipped where they
    # would stop on the deliberate change before reaching it.
    args = ["--only", "answers", "--only", "install", "--only", step]
    if step == "stop":
        args += ["--only", "boot"]
    # Never ready fails after 5 s; the others boot (importing compiles the venv's code first).
    ready = "5" if step == "boot" else "60"
    result = run("check", project, "--json", "--ready-timeout", ready, *args)
    assert result.exit_code == 1
    report = report_of(result.stdout, schema)
    failed = [name for name, status in statuses(report).items() if status == "fail"]
    assert failed == [step], os.linesep.join(str(s) for s in report["steps"])  # type: ignore[attr-defined]


GREETINGS = """from fastapi import APIRouter, HTTPException, Query
from pydantic import BaseModel

router = APIRouter(prefix="/greetings", tags=["greetings"])


class Greeting(BaseModel):
    text: str


@router.get("/{name}", responses={404: {"description": "Nobody by that name"}})
async def greet(name: str, polite: bool = Query()) -> Greeting:
    if name == "nobody":
        raise HTTPException(404)
    return Greeting(text=f"Hello, {name}" + ("!" if polite else ""))


@router.post("", status_code=201)
async def remember(greeting: Greeting) -> Greeting:
    return BROKEN
"""


def _grown(project: Path) -> None:
    """Months later: the examples deleted by hand, a route of the team's own added, and the
    module that holds the app renamed (pyproject.toml's `[tool.fastapi] entrypoint` says)."""
    app = project / "app"
    shutil.rmtree(app / "examples")
    (app / "api" / "routes" / "examples.py").unlink()
    for test in project.glob("tests/test_*.py"):
        if "examples" in test.read_text():
            test.unlink()
    replace(app / "features.py", "from app.examples.feature import FEATURE as EXAMPLES\n", "")
    replace(app / "features.py", ", EXAMPLES]", "]")
    replace(app / "core" / "config.py", "from app.examples.settings import ExamplesSettings\n", "")
    replace(app / "core" / "config.py", "class Settings(ExamplesSettings, ", "class Settings(")
    (app / "api" / "routes" / "greetings.py").write_text(GREETINGS)
    main = app / "main.py"
    replace(main, "routes import health\n", "routes import greetings, health\n")
    include = "    app.include_router(greetings.router)\n"
    replace(main, "health.add_probes(app)\n", f"health.add_probes(app)\n{include}")
    main.rename(app / "service.py")
    replace(app / "serve.py", '"app.main:app"', '"app.service:app"')
    replace(project / "pyproject.toml", '"app.main:app"', '"app.service:app"')


def replace(path: Path, old: str, new: str) -> None:
    text = path.read_text()
    assert old in text, (path, old)
    path.write_text(text.replace(old, new))


@pytest.mark.tier2
def test_check_follows_a_service_as_it_grows(
    run: Run, tmp_path: Path, schema: dict[str, object], monkeypatch: pytest.MonkeyPatch
) -> None:
    for part in ("STOP_DELAY", "GRACEFUL_TIMEOUT", "DRAIN_TIMEOUT", "POOL_TIMEOUT"):  # short
        monkeypatch.setenv(part, "1")
    monkeypatch.delenv("DATABASE_URL", raising=False)
    project = generate(tmp_path / "svc", examples=True)
    _grown(project)
    venv = tmp_path / "venv"
    args = ["--json", "--venv", venv, "--only", "answers", "--only", "install", "--only", "boot"]
    # The team's new write is broken: check calls it from the document and says so.
    result = run("check", project, *args, "--only", "stop")
    report = report_of(result.stdout, schema)
    [boot] = [s for s in report["steps"] if s["name"] == "boot"]  # type: ignore[attr-defined]
    assert result.exit_code == 1 and boot["status"] == "fail", result.stdout
    assert boot["reason"].startswith("POST /greetings: status 500"), boot["reason"]

    replace(project / "app" / "api" / "routes" / "greetings.py", "BROKEN", "greeting")
    result = run("check", project, *args, "--only", "stop")
    report = report_of(result.stdout, schema)
    assert result.exit_code == 0, result.stdout
    [boot] = [s for s in report["steps"] if s["name"] == "boot"]  # type: ignore[attr-defined]
    assert "left out" not in boot["reason"], boot["reason"]

    # Against a database given in the environment, the writes wait for --write-probes.
    monkeypatch.setenv("DATABASE_URL", f"sqlite:///{tmp_path / 'theirs.db'}")
    result = run("check", project, *args)
    report = report_of(result.stdout, schema)
    assert result.exit_code == 0, result.stdout
    [boot] = [s for s in report["steps"] if s["name"] == "boot"]  # type: ignore[attr-defined]
    left_out = boot["reason"].partition("; left out ")[2]
    writes = ("POST /greetings", "POST /items", "DELETE /items/{item_id}")
    assert all(w in left_out for w in writes) and "DATABASE_URL" in left_out, boot["reason"]
