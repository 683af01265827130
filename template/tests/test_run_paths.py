"""The service starts correctly however a FastAPI user starts it, on a fresh database.

Each path is a real process (two workers where the path has workers) on a database nobody
has migrated: the lifespan applies the migrations, serialised by the database itself.
"""

import importlib.util
from pathlib import Path

import pytest

from tests.servers import BIN, call, free_port, running

HAS_DATABASE = importlib.util.find_spec("app.db") is not None


def paths(port: int) -> dict[str, list[str]]:
    """Every usual way to start this service, by name."""
    addr = ["--host", "127.0.0.1", "--port", str(port)]
    found = {
        "python -m app": [str(BIN / "python"), "-m", "app"],
        "fastapi run": [str(BIN / "fastapi"), "run", *addr, "--workers", "2"],
        "fastapi dev": [str(BIN / "fastapi"), "dev", *addr],
        "uvicorn": [str(BIN / "uvicorn"), "app.main:app", *addr, "--workers", "2"],
    }
    if importlib.util.find_spec("gunicorn"):
        found["gunicorn"] = [str(BIN / "gunicorn"), "-c", "gunicorn.conf.py", "app.main:app"]
    if importlib.util.find_spec("granian"):
        granian = [str(BIN / "granian"), "--interface", "asgi", "app.main:app", "--workers", "2"]
        found["granian"] = [*granian, "--host", "127.0.0.1", "--port", str(port)]
    return found


@pytest.mark.database
@pytest.mark.parametrize("name", list(paths(0)))
def test_starts_ready_and_serves(name: str, database_env: dict[str, str], tmp_path: Path) -> None:
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    env = {"HOST": "127.0.0.1", "PORT": str(port), "WEB_CONCURRENCY": "2", **database_env}
    with running(paths(port)[name], env, tmp_path / "server.log", f"{base}/health/ready"):
        assert call("GET", f"{base}/health/live") == (200, {"status": "ok"})
        if HAS_DATABASE:
            status, created = call("POST", f"{base}/items", {"name": f"via {name}"})
            assert status == 201, created
            status, page = call("GET", f"{base}/items")
            assert status == 200
            assert [item["name"] for item in page["data"]] == [f"via {name}"]
