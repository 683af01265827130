"""Helpers for tests that install and run generated projects: venvs, servers, processes."""

import os
import signal
import subprocess
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
import uv

from fastscaffold import service
from fastscaffold.processes import request_json, tree


def make_venv(path: Path) -> Path:
    """Create a venv with uv and return its python."""
    subprocess.run([uv.find_uv_bin(), "venv", "-q", str(path)], check=True)
    return path / "bin" / "python"


def install(python: Path, *requirements: str, cwd: Path | None = None) -> None:
    """Install into the venv of `python` with uv."""
    subprocess.run(
        [uv.find_uv_bin(), "pip", "install", "-q", "--python", str(python), *requirements],
        check=True,
        cwd=cwd,
    )


def run(cmd: list[str], cwd: Path, env: dict[str, str] | None = None) -> str:
    """Run a command; on failure the assertion shows its output."""
    result = subprocess.run(
        cmd, cwd=cwd, capture_output=True, text=True, env={**os.environ, **(env or {})}
    )
    assert result.returncode == 0, f"{cmd} failed:\n{result.stdout}\n{result.stderr}"
    return result.stdout


def get_json(url: str, timeout: float = 10) -> tuple[int, object]:
    """GET `url` on a new connection; return the status and decoded body."""
    return request_json("GET", url, timeout=timeout)


def post_json(url: str, body: object, timeout: float = 10) -> tuple[int, object]:
    """POST `body` as JSON on a new connection; return the status and decoded body."""
    return request_json("POST", url, body, timeout=timeout)


def descendants(pid: int) -> list[int]:
    """Every process below `pid`."""
    return tree(pid)[1:]


def _service(variable: str, example: str) -> str:
    """A service URL from the environment; fail in CI without it, else skip saying why."""
    url = os.environ.get(variable)
    if url:
        return url.rstrip("/")
    reason = f"no server: set {variable}={example}"
    if os.environ.get("CI") == "true":
        pytest.fail(f"{reason} (CI=true: tests that need a service must not skip)")
    pytest.skip(reason)


def postgres_server() -> str:
    """The PostgreSQL server for tests (TEST_POSTGRES_URL)."""
    return _service("TEST_POSTGRES_URL", "postgresql://user:pass@host:port")


def mongodb_server() -> str:
    """The MongoDB wire-protocol server for tests (TEST_MONGODB_URL; FerretDB in CI)."""
    return _service("TEST_MONGODB_URL", "mongodb://host:port")


_DROP_MONGODB = """
import sys
from pymongo import MongoClient
url, name = sys.argv[1:]
with MongoClient(url, serverSelectionTimeoutMS=5000) as client:
    client.drop_database(name)
"""


def drop_mongodb_database(python: Path, url: str) -> None:
    """Drop the database a test made (with the project's own PyMongo)."""
    server, name = url.rsplit("/", 1)
    run([str(python), "-c", _DROP_MONGODB, server, name], cwd=python.parent)


def redis_server() -> str:
    """The Redis server for tests (TEST_REDIS_URL)."""
    return _service("TEST_REDIS_URL", "redis://host:port/0")


_ADMIN = """
import asyncio, sys, asyncpg
async def main(server, sql):
    conn = await asyncpg.connect(server + "/postgres", timeout=5)
    try:
        await conn.execute(sql)
    finally:
        await conn.close()
asyncio.run(main(*sys.argv[1:]))
"""


def postgres_database(python: Path, name: str) -> str:
    """Create database `name` (with the project's own asyncpg) and return its URL."""
    server = postgres_server()
    run([str(python), "-c", _ADMIN, server, f'CREATE DATABASE "{name}"'], cwd=python.parent)
    return f"{server}/{name}"


def drop_postgres_database(python: Path, url: str) -> None:
    """Drop the database a test made."""
    server, name = url.rsplit("/", 1)
    sql = f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'
    run([str(python), "-c", _ADMIN, server, sql], cwd=python.parent)


@contextmanager
def server(python: Path, project: Path, env: dict[str, str]) -> Iterator[subprocess.Popen[str]]:
    """Start `python -m app` in `project`, output to `server.log` beside it; kill its whole
    process group on the way out."""
    with (project.parent / "server.log").open("w") as log:
        proc = subprocess.Popen(
            [str(python), "-m", "app"],
            cwd=project,
            env={**os.environ, **env},
            stdout=log,
            stderr=subprocess.STDOUT,
            text=True,
            start_new_session=True,
        )
        try:
            yield proc
        finally:
            if proc.poll() is None:
                os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()


def server_log(project: Path) -> str:
    """What the server printed."""
    return (project.parent / "server.log").read_text()


def wait_until_ready(
    base: str, proc: subprocess.Popen[str], project: Path, timeout: float = 60
) -> None:
    """Wait for `/health/ready` to answer 200, as `check` does; fail with the server's output
    otherwise."""
    try:
        service.wait_ready(proc, base, timeout)
    except service.ServiceFailed as failed:
        raise AssertionError(f"{failed}:\n{server_log(project)}") from None
