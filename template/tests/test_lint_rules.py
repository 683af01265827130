"""The project's ruff configuration keeps the concurrency rules true in code added later."""

import ast
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]

BANNED = {
    "from fastapi import FastAPI\n\nstartup = FastAPI.on_event\n": "lifespan",
    "import uvicorn.workers\n": "uvicorn-worker",
    "import motor.motor_asyncio\n": "AsyncMongoClient",
    "import asyncio\n\nasyncio.get_event_loop()\n": "get_running_loop",
    "import asyncio\n\n\nasync def f() -> None:\n    asyncio.create_task(f())\n": "RUF006",
    "import time\n\n\nasync def f() -> None:\n    time.sleep(1)\n": "ASYNC251",
}


@pytest.mark.parametrize("source", list(BANNED))
def test_ruff_refuses(source: str, tmp_path: Path) -> None:
    module = tmp_path / "added_later.py"
    module.write_text(source)
    config = str(ROOT / "pyproject.toml")
    result = subprocess.run(
        [sys.executable, "-m", "ruff", "check", "--no-cache", "--config", config, str(module)],
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 1, result.stdout
    assert BANNED[source] in result.stdout


def test_no_on_event_anywhere_in_the_app() -> None:
    """`app.on_event(...)` on an instance is beyond a linter; `on_event` handlers are
    silently ignored when the app has a lifespan, so any use is a bug."""
    uses = [
        f"{path.relative_to(ROOT)}:{node.lineno}"
        for path in (ROOT / "app").rglob("*.py")
        for node in ast.walk(ast.parse(path.read_text()))
        if isinstance(node, ast.Attribute) and node.attr == "on_event"
    ]
    assert not uses, f"on_event is ignored with a lifespan; move this to the lifespan: {uses}"
