"""`fastscaffold tune`: real boots of the default project under real load, a report that
validates, a recommendation that follows the workload, bad input refused, Ctrl-C clean."""

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from xml.etree import ElementTree

import jsonschema
import pytest

from fastscaffold import options, processes
from fastscaffold.render import render
from tests.conftest import Run
from tests.generated import install, make_venv

pytestmark = pytest.mark.tier2
SCHEMA = Path(__file__).parents[1] / "src" / "fastscaffold" / "tune-report.schema.json"
# The template's examples: the same wait blocking in the thread pool, and async.
BLOCKING = "GET /examples/blocking?seconds=0.05"
ASYNC = "GET /examples/sleep?seconds=0.2"


@pytest.fixture(scope="module")
def project(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The default project, installed once for the module."""
    root = tmp_path_factory.mktemp("tune")
    dest = root / "svc"
    render(options.with_defaults({}), dest, overwrite=False)
    python = make_venv(root / "venv")
    install(python, "-e", ".[dev]", cwd=dest)
    return dest


@pytest.fixture
def quick(monkeypatch: pytest.MonkeyPatch) -> None:
    """Servers that stop at once when tune moves to the next setting."""
    for part in ("STOP_DELAY", "GRACEFUL_TIMEOUT", "DRAIN_TIMEOUT", "POOL_TIMEOUT"):
        monkeypatch.setenv(part, "1")
    monkeypatch.delenv("DATABASE_URL", raising=False)


def venv(project: Path) -> Path:
    return project.parent / "venv"


def files(project: Path) -> dict[str, int]:
    """Every file of the project and when it last changed."""
    return {
        str(p.relative_to(project)): p.stat().st_mtime_ns
        for p in project.rglob("*")
        if p.is_file() and ".pytest_cache" not in p.parts and "__pycache__" not in p.parts
    }


def test_blocking_work_is_tuned_by_workers_and_threads_with_a_report_that_validates(
    run: Run, project: Path, tmp_path: Path, quick: None
) -> None:
    # The team runs 4 threads per worker (their .env); the route blocks for 50 ms.
    (project / ".env").write_text("# ours\nTHREADPOOL_SIZE=4\nLOG_LEVEL=info\n")
    chart = tmp_path / "chart.svg"
    args = ["--venv", venv(project), "--route", BLOCKING, "--clients", "1,64", "--json"]
    result = run(
        "tune", project, *args, "--budget", "45", "--load-generator", "builtin",
        "--chart", chart, "--write",
    )  # fmt: skip
    assert result.exit_code == 0, result.stderr
    report = json.loads(result.stdout)
    jsonschema.validate(report, json.loads(SCHEMA.read_text()))
    assert report["generator"]["name"] == "builtin"
    assert report["configured"] == {"WEB_CONCURRENCY": 2, "THREADPOOL_SIZE": 4, "DB_POOL_MAX": None}
    phases = {p["variable"]: p for p in report["phases"]}
    assert phases["WEB_CONCURRENCY"]["values"] == [1, 2] and phases["WEB_CONCURRENCY"]["measured"]
    assert phases["THREADPOOL_SIZE"]["values"] == [2, 4, 8, 16], phases
    assert phases["THREADPOOL_SIZE"]["measured"], phases
    # Every setting at every client count, once: (2 workers, 4 threads) is in both sweeps.
    measured = [(tuple(p["setting"].values()), p["clients"]) for p in report["points"]]
    assert len(measured) == len(set(measured)) == 5 * 2, measured
    assert all(p["errors"] == 0 for p in report["points"]), report["points"]
    # 64 clients, each wait 50 ms in one of workers x threads threads: more of either helps.
    chosen = {r["variable"]: r for r in report["recommendations"]}
    assert chosen["WEB_CONCURRENCY"]["value"] == 2, chosen
    assert chosen["THREADPOOL_SIZE"]["value"] == 16, chosen
    assert "throughput grew up to 16" in chosen["THREADPOOL_SIZE"]["reason"], chosen
    # The examples' lesson, at the recommended setting.
    kinds = [row["kind"] for row in report["lesson"]]
    assert kinds == [
        "async wait",
        "blocking wait in the thread pool",
        "CPU work in the process pool",
    ]
    assert all(row["requests"] > 0 and row["errors"] == 0 for row in report["lesson"]), report
    # --write changed only the measured values and kept every other line.
    assert report["written"] == str(project / ".env")
    assert (project / ".env").read_text() == (
        "# ours\nTHREADPOOL_SIZE=16\nLOG_LEVEL=info\n# measured by fastscaffold tune\n"
        "WEB_CONCURRENCY=2\n"
    )
    assert ElementTree.parse(chart).getroot().tag.endswith("svg")
    assert report["seconds"] <= 45 + 15, report["seconds"]  # the budget, and one boot over


def test_async_waits_need_no_more_workers_and_nothing_is_written(
    run: Run, project: Path, tmp_path: Path, quick: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    (project / ".env").unlink(missing_ok=True)
    before = files(project)
    monkeypatch.chdir(tmp_path)  # the chart goes to the current directory
    args = ["--venv", venv(project), "--route", ASYNC, "--clients", "1,16,64", "--no-lesson"]
    result = run("tune", project, *args, "--budget", "15")
    assert result.exit_code == 0, result.stderr
    text = result.stdout
    # 64 clients waiting 200 ms each: one worker's event loop holds them all.
    assert "WEB_CONCURRENCY=1 (configured 2): throughput stops growing at 1" in text, text
    assert "THREADPOOL_SIZE=40: kept as configured: no chosen route runs plain `def`" in text
    generator = "wrk" if os.environ.get("CI") == "true" or "wrk" in text else "builtin"
    assert f"load: {generator}" in text, text
    assert (tmp_path / "tune-svc.svg").is_file()
    assert "not written: --write puts the recommendation in" in text
    assert files(project) == before  # tune writes nothing into the project without --write


@pytest.mark.parametrize(
    ("args", "code", "message"),
    [
        (["--budget", "2"], 2, "--budget 2 is too small to measure anything"),
        (["--clients", "1,x"], 2, "--clients '1,x' is not a list like 1,4,16,64"),
        (["--route", "GET /nope"], 2, "'GET /nope' is not an operation of the app's OpenAPI"),
        (["--route", "POST /items", "--budget", "20"], 0, None),
    ],
)
def test_bad_input_is_one_line_and_changes_nothing(
    run: Run,
    project: Path,
    tmp_path: Path,
    quick: None,
    monkeypatch: pytest.MonkeyPatch,
    args: list[str],
    code: int,
    message: str | None,
) -> None:
    monkeypatch.chdir(tmp_path)
    if message is None:  # a write, to tune's own SQLite file: allowed; to theirs: refused
        monkeypatch.setenv("DATABASE_URL", f"sqlite:///{tmp_path / 'theirs.db'}")
        code, message = 2, "cannot load 'POST /items': DATABASE_URL is the service's own"
    before = files(project)
    result = run("tune", project, "--venv", venv(project), *args)
    assert result.exit_code == code, result.stdout + result.stderr
    assert message in result.stderr, result.stderr
    assert "Traceback" not in result.stderr
    assert result.stderr.startswith("Error: ") and result.stderr.count("\n") <= 2, result.stderr
    assert files(project) == before and list(tmp_path.iterdir()) == []


def test_not_a_project_is_refused(run: Run, tmp_path: Path) -> None:
    result = run("tune", tmp_path, "--budget", "30")
    assert result.exit_code == 1
    assert ".copier-answers.yml" in result.stderr and "Traceback" not in result.stderr


def test_ctrl_c_stops_every_server_it_started(project: Path, tmp_path: Path, quick: None) -> None:
    command = [sys.executable, "-m", "fastscaffold", "tune", str(project), "--venv"]
    command += [str(venv(project)), "--budget", "60", "--chart", str(tmp_path / "c.svg")]
    tune = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    seen: set[int] = set()
    deadline = time.monotonic() + 60
    servers: list[int] = []
    while time.monotonic() < deadline and tune.poll() is None:
        tree = processes.tree(tune.pid)
        seen.update(tree)
        servers = [p for p in tree if " -m app" in processes.cmdline(p)]
        if servers:
            break
        time.sleep(0.1)
    assert servers, "tune started no server"
    time.sleep(3.0)  # booted, and into a measurement
    seen.update(processes.tree(tune.pid))
    tune.send_signal(signal.SIGINT)
    out, err = tune.communicate(timeout=30)
    assert tune.returncode == 130, (out, err)
    assert "interrupted; the servers it started are stopped" in err, err
    assert "Traceback" not in err
    time.sleep(0.3)
    assert [p for p in seen if processes.alive(p)] == []
