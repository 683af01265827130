"""Tier 2: generated projects install, pass their own checks and serve under their real server."""

import signal
import subprocess
import threading
import time
from pathlib import Path

import pytest

from fastscaffold import options
from fastscaffold.render import render
from tests.generated import (
    alive,
    descendants,
    free_port,
    get_json,
    install,
    make_venv,
    run,
    server,
    server_log,
    wait_until_live,
    workers,
)

pytestmark = pytest.mark.tier2

VARIANTS = {
    "default": {},
    "gunicorn": {"server": "gunicorn"},
    "granian-nodb": {"server": "granian", "database": "none"},
}
WORKERS = 2
GRACEFUL_TIMEOUT = 5


class Project:
    """A generated project installed in its own venv."""

    def __init__(self, root: Path, python: Path, answers: dict[str, object]) -> None:
        self.root, self.python, self.answers = root, python, answers

    def tool(self, name: str, *args: str) -> str:
        return run([str(self.python), "-m", name, *args], cwd=self.root)


@pytest.fixture(scope="module", params=list(VARIANTS), ids=list(VARIANTS))
def project(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Project:
    base = tmp_path_factory.mktemp(request.param)
    answers = options.with_defaults({"workers": WORKERS, **VARIANTS[request.param]})
    root = base / "svc"
    render(answers, root, overwrite=False)
    python = make_venv(base / "venv")
    install(python, "-e", ".[dev]", cwd=root)
    return Project(root, python, answers)


def test_own_tests_pass(project: Project) -> None:
    out = project.tool("pytest", "-q", "-p", "no:cacheprovider")
    assert " passed" in out and "failed" not in out


def test_lint_and_types(project: Project) -> None:
    project.tool("ruff", "check", "--no-cache", ".")
    project.tool("ruff", "format", "--check", "--no-cache", ".")
    project.tool("mypy", "--no-incremental", "app", "tests")


def test_serves_with_workers_and_stops_gracefully(project: Project, tmp_path: Path) -> None:
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    env = {
        "PORT": str(port),
        "WEB_CONCURRENCY": str(WORKERS),
        "GRACEFUL_TIMEOUT": str(GRACEFUL_TIMEOUT),
        "DATABASE_URL": f"sqlite:///{tmp_path / 'app.db'}",
    }
    with server(project.python, project.root, env) as proc:
        wait_until_live(base, proc, project.root)
        assert len(workers(proc.pid)) == WORKERS

        # Concurrent waits land on both workers: both serve traffic.
        pids: set[int] = set()
        for _ in range(20):
            batch = [
                threading.Thread(
                    target=lambda: pids.add(
                        get_json(f"{base}/examples/sleep?seconds=0.2")[1]["pid"]  # type: ignore[index]
                    )
                )
                for _ in range(8)
            ]
            for t in batch:
                t.start()
            for t in batch:
                t.join()
            if len(pids) == WORKERS:
                break
        assert len(pids) == WORKERS
        assert pids <= set(descendants(proc.pid))
        assert get_json(f"{base}/health/ready")[0] == 200

        # A request in flight when SIGTERM arrives still completes.
        in_flight: list[tuple[int, object]] = []
        slow = threading.Thread(
            target=lambda: in_flight.append(get_json(f"{base}/examples/sleep?seconds=1"))
        )
        slow.start()
        time.sleep(0.3)
        tree = [proc.pid, *descendants(proc.pid)]
        stopped_at = time.monotonic()
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=GRACEFUL_TIMEOUT + 5)
        except subprocess.TimeoutExpired:
            pytest.fail(f"server still running {GRACEFUL_TIMEOUT + 5} s after SIGTERM")
        elapsed = time.monotonic() - stopped_at
        slow.join(timeout=5)
        output = server_log(project.root)
        assert proc.returncode == 0, output
        assert elapsed < GRACEFUL_TIMEOUT + 5
        assert in_flight and in_flight[0][0] == 200, output
        time.sleep(0.2)
        assert not [pid for pid in tree if alive(pid)]
