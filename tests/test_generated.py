"""Tier 2: generated projects serve under their real server, survive restarts, stop cleanly.

Their own tests, ruff and mypy run in `fastscaffold check` on the covering set
(tests/test_matrix.py), which includes every server and database these variants use.
"""

import signal
import uuid
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from fastscaffold import options, service
from fastscaffold.processes import free_port, workers
from fastscaffold.render import render
from tests.generated import (
    descendants,
    drop_mongodb_database,
    drop_postgres_database,
    get_json,
    install,
    make_venv,
    mongodb_server,
    post_json,
    postgres_database,
    postgres_server,
    redis_server,
    run,
    server,
    server_log,
    wait_until_ready,
)

pytestmark = pytest.mark.tier2

VARIANTS = {
    "uvicorn-sqlite": {},
    "gunicorn-postgres-taskiq": {
        "server": "gunicorn",
        "database": "postgres",
        "task_queue": "taskiq",
    },
    "granian-mongodb": {"server": "granian", "database": "mongodb"},
    "uvicorn-none": {"database": "none"},
}
WORKERS = 2
GRACEFUL_TIMEOUT = 5
WRITES = 64  # four rounds of 16 at once


class Project:
    """A generated project installed in its own venv, with a database of its own."""

    def __init__(self, root: Path, python: Path, answers: dict[str, object]) -> None:
        self.root, self.python, self.answers = root, python, answers
        self.database = str(answers["database"])
        self.env = {
            "WEB_CONCURRENCY": str(WORKERS), "GRACEFUL_TIMEOUT": str(GRACEFUL_TIMEOUT),
            "STOP_DELAY": "0",  # no load balancer to leave: the generated tests prove the delay
        }  # fmt: skip
        if self.database == "sqlite":
            self.env["DATABASE_URL"] = f"sqlite:///{root.parent / 'app.db'}"
        elif self.database == "postgres":
            self.env["DATABASE_URL"] = postgres_database(python, f"fs_{uuid.uuid4().hex[:10]}")
        elif self.database == "mongodb":
            self.env["DATABASE_URL"] = f"{mongodb_server()}/fs_{uuid.uuid4().hex[:10]}"
        if answers["task_queue"] == "taskiq":
            self.env["REDIS_URL"] = redis_server()

    def tool(self, name: str, *args: str, env: dict[str, str] | None = None) -> str:
        return run([str(self.python), "-m", name, *args], cwd=self.root, env=env)


def build(name: str, base: Path) -> Project:
    """Render variant `name` and install it into a fresh venv."""
    answers = options.with_defaults({"workers": str(WORKERS), **VARIANTS[name]})
    if answers["database"] == "postgres":
        postgres_server()  # skip or fail before spending an install on it
    if answers["database"] == "mongodb":
        mongodb_server()
    if answers["task_queue"] == "taskiq":
        redis_server()
    root = base / "svc"
    render(answers, root, overwrite=False)
    python = make_venv(base / "venv")
    install(python, "-e", ".[dev]", cwd=root)
    return Project(root, python, answers)


@pytest.fixture(scope="module")
def built() -> Iterator[dict[str, Project]]:
    """Projects built so far in this module, each once; their databases dropped at the end."""
    projects: dict[str, Project] = {}
    yield projects
    for project in projects.values():
        if project.database == "postgres":
            drop_postgres_database(project.python, project.env["DATABASE_URL"])
        elif project.database == "mongodb":
            drop_mongodb_database(project.python, project.env["DATABASE_URL"])


@pytest.fixture
def project(
    request: pytest.FixtureRequest,
    built: dict[str, Project],
    tmp_path_factory: pytest.TempPathFactory,
) -> Project:
    name: str = request.param
    if name not in built:
        built[name] = build(name, tmp_path_factory.mktemp(name))
    return built[name]


def variants(*databases: str) -> pytest.MarkDecorator:
    """Run a test on each variant (or those with one of `databases`), building each once."""
    names = [
        n for n in VARIANTS if not databases or VARIANTS[n].get("database", "sqlite") in databases
    ]
    return pytest.mark.parametrize("project", names, indirect=True)


@variants("sqlite", "postgres", "mongodb")
def test_migrations_are_idempotent(project: Project) -> None:
    first = project.tool("app.migrate", env=project.env)
    second = project.tool("app.migrate", env=project.env)
    assert "applied migrations [1]" in first or "already up to date" in first
    assert "schema already up to date" in second


def boot_env(project: Project) -> tuple[str, dict[str, str]]:
    port = free_port()
    return f"http://127.0.0.1:{port}", {**project.env, "PORT": str(port)}


@variants()
def test_serves_with_workers_and_stops_gracefully(project: Project) -> None:
    base, env = boot_env(project)
    with server(project.python, project.root, env) as proc:
        wait_until_ready(base, proc, project.root)
        assert len(workers(proc.pid)) == WORKERS

        # Concurrent waits land on both workers: both serve traffic.
        pids: set[int] = set()
        with ThreadPoolExecutor(8) as pool:
            for _ in range(20):
                urls = [f"{base}/examples/sleep?seconds=0.2"] * 8
                pids |= {body["pid"] for _, body in pool.map(get_json, urls)}  # type: ignore[index]
                if len(pids) == WORKERS:
                    break
        assert len(pids) == WORKERS
        assert pids <= set(descendants(proc.pid))
        assert get_json(f"{base}/health/ready")[0] == 200

        # Requests in flight when SIGTERM arrives still complete; nothing is left running.
        try:
            service.stop(proc, f"{base}/examples/sleep?seconds=1", limit=GRACEFUL_TIMEOUT + 5)
        except service.ServiceFailed as failed:
            pytest.fail(f"{failed}\n{server_log(project.root)}")


@variants("sqlite", "postgres", "mongodb")
def test_concurrent_writes_survive_a_restart(project: Project) -> None:
    base, env = boot_env(project)
    names = [f"item-{n}" for n in range(WRITES)]
    with server(project.python, project.root, env) as proc:
        wait_until_ready(base, proc, project.root)
        _, before = get_json(f"{base}/items?limit=1")
        with ThreadPoolExecutor(16) as pool:
            created = list(pool.map(lambda n: post_json(f"{base}/items", {"name": n}), names))
        assert [status for status, _ in created] == [201] * WRITES, server_log(project.root)
        ids = [body["id"] for _, body in created]  # type: ignore[index]
        assert len(set(ids)) == WRITES
        proc.send_signal(signal.SIGTERM)
        proc.wait(timeout=GRACEFUL_TIMEOUT + 5)

    base, env = boot_env(project)
    with server(project.python, project.root, env) as proc:
        wait_until_ready(base, proc, project.root)
        _, after = get_json(f"{base}/items?limit=1")
        assert after["count"] == before["count"] + WRITES  # type: ignore[index]
        with ThreadPoolExecutor(16) as pool:
            read = list(pool.map(lambda i: get_json(f"{base}/items/{i}"), ids))
        assert [status for status, _ in read] == [200] * WRITES
        assert [body["name"] for _, body in read] == names  # type: ignore[index]
