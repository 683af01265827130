"""`python -m app` as a process manager sees it: the exit code of a failed start, and a stop
that keeps serving for STOP_DELAY seconds with `Connection: close` before it stops accepting.
"""

import contextlib
import http.client
import os
import signal
import socket
import subprocess
import time
from pathlib import Path

import pytest

from app.core.config import Settings
from tests.servers import BIN, ROOT, call, free_port, running

DATABASE_URL = Settings.model_fields.get("DATABASE_URL")
SQLITE = DATABASE_URL is not None and str(DATABASE_URL.default).startswith("sqlite:")
WORKERS = 2


def broken_dependency(tmp_path: Path) -> dict[str, str]:
    """An environment in which a dependency of the app fails to import, as a missing one does
    (the server's own process may still start: the failure is in its workers)."""
    (tmp_path / "httpx.py").write_text("raise ImportError('httpx is broken in this test')\n")
    return {"PYTHONPATH": f"{tmp_path}{os.pathsep}{os.environ.get('PYTHONPATH', '')}"}


def start(env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    """`python -m app` until it exits (a start that fails must end by itself)."""
    return subprocess.run(
        [str(BIN / "python"), "-m", "app"],
        cwd=ROOT,
        env={**os.environ, "HOST": "127.0.0.1", **env},
        capture_output=True,
        text=True,
        timeout=60,
    )


@pytest.mark.parametrize("workers", [1, 2])
def test_a_broken_import_is_a_failed_start(
    workers: int, database_env: dict[str, str], tmp_path: Path
) -> None:
    env = {"PORT": str(free_port()), "WEB_CONCURRENCY": str(workers), **database_env}
    done = start({**env, **broken_dependency(tmp_path)})
    assert done.returncode != 0, done.stderr[-3000:]
    assert "httpx is broken" in done.stderr + done.stdout


def test_a_port_in_use_is_a_failed_start(database_env: dict[str, str], tmp_path: Path) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        done = start({"PORT": str(port), "WEB_CONCURRENCY": "2", **database_env})
    assert done.returncode != 0, done.stderr[-3000:]


@pytest.mark.skipif(not SQLITE, reason="a SQLite database file")
@pytest.mark.parametrize("workers", [2])  # one worker: the broken-import test's case
def test_a_database_that_cannot_open_is_a_failed_start(workers: int, tmp_path: Path) -> None:
    (tmp_path / "file").write_text("")  # a file where the database's directory should be
    env = {
        "PORT": str(free_port()), "WEB_CONCURRENCY": str(workers),
        "DATABASE_URL": f"sqlite:///{tmp_path}/file/app.db", "MIGRATE_ON_START": "true",
    }  # fmt: skip
    done = start(env)
    assert done.returncode != 0, done.stderr[-3000:]


@pytest.mark.parametrize("workers", [1])  # two: the stop-delay test below
def test_a_clean_stop_exits_0(workers: int, database_env: dict[str, str], tmp_path: Path) -> None:
    port = free_port()
    env = {"HOST": "127.0.0.1", "PORT": str(port), "WEB_CONCURRENCY": str(workers)}
    log = tmp_path / "server.log"
    ready = f"http://127.0.0.1:{port}/health/ready"
    with running([str(BIN / "python"), "-m", "app"], {**env, **database_env}, log, ready) as proc:
        wait_for_lines(log, "lifespan startup complete", workers)
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=30) == 0, log.read_text()


def get(conn: http.client.HTTPConnection) -> tuple[int, str | None]:
    conn.request("GET", "/health/live")
    response = conn.getresponse()
    response.read()
    return response.status, response.getheader("Connection")


def test_a_stop_serves_its_delay_with_connection_close(
    database_env: dict[str, str], tmp_path: Path
) -> None:
    delay = 3
    port = free_port()
    env = {
        "HOST": "127.0.0.1", "PORT": str(port), "WEB_CONCURRENCY": str(WORKERS),
        "STOP_DELAY": str(delay), "GRACEFUL_TIMEOUT": "2", "DRAIN_TIMEOUT": "1",
        "POOL_TIMEOUT": "1", **database_env,
    }  # fmt: skip
    ready = f"http://127.0.0.1:{port}/health/ready"
    log = tmp_path / "server.log"
    with (
        running([str(BIN / "python"), "-m", "app"], env, log, ready) as proc,
        contextlib.closing(http.client.HTTPConnection("127.0.0.1", port, timeout=5)) as kept,
        contextlib.closing(http.client.HTTPConnection("127.0.0.1", port, timeout=5)) as fresh,
    ):
        # Ready means one worker answers; each must be serving before the signal.
        wait_for_lines(log, "lifespan startup complete", WORKERS)
        assert get(kept) == (200, None)  # a keep-alive connection, as a proxy holds them
        stopped_at = time.monotonic()
        proc.send_signal(signal.SIGTERM)
        wait_for_lines(log, "stop signal:", WORKERS)  # the server passes it to its workers
        # Still served, on the connection kept and on a new one, and each is then closed.
        assert time.monotonic() - stopped_at < delay, log.read_text()
        assert get(kept) == (200, "close"), log.read_text()
        assert get(fresh) == (200, "close"), log.read_text()
        proc.wait(timeout=30)
        elapsed = time.monotonic() - stopped_at
    text = log.read_text()
    assert proc.returncode == 0, text
    assert delay <= elapsed < delay + 4, f"stopped {elapsed:.1f} s after SIGTERM:\n{text}"
    with pytest.raises(OSError):
        call("GET", ready)  # nothing listens any more


def wait_for_lines(log: Path, text: str, count: int, timeout: float = 30) -> None:
    """Until `log` holds `count` lines with `text` (one per worker)."""
    deadline = time.monotonic() + timeout
    while log.read_text().count(text) < count:
        assert time.monotonic() < deadline, log.read_text()
        time.sleep(0.05)
