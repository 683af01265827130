"""A team's edits to a generated project: a route of its own, its test, a setting's default.

They touch only files every variant has and no option changes, so moving the project to
other answers never conflicts with them; `apply` makes the same edits to a fresh render.
"""

import subprocess
from collections.abc import Mapping
from pathlib import Path

from fastscaffold import options
from fastscaffold.render import render

IDENTITY = ("-c", "user.name=Test User", "-c", "user.email=test@example.com")

ROUTE = '''\
"""The team's own route."""

from fastapi import APIRouter
from pydantic import BaseModel

router = APIRouter(prefix="/greetings", tags=["greetings"])


class Greeting(BaseModel):
    text: str


@router.get("/{name}")
async def greet(name: str) -> Greeting:
    """Greet `name`."""
    return Greeting(text=f"Hello, {name}")
'''

TEST = '''\
"""The team's test of its own route."""

import httpx
import pytest

pytestmark = pytest.mark.anyio


async def test_greets_by_name(client: httpx.AsyncClient) -> None:
    response = await client.get("/greetings/ada")
    assert response.json() == {"text": "Hello, ada"}
'''

EDITS = (
    (
        "app/main.py",
        "from app.api.routes import health\n",
        "from app.api.routes import greetings, health\n",
    ),
    (
        "app/main.py",
        "    health.add_probes(app)\n",
        "    health.add_probes(app)\n    app.include_router(greetings.router)\n",
    ),
    (
        "app/core/settings.py",
        "UPSTREAM_TIMEOUT: float = Field(default=5.0,",
        "UPSTREAM_TIMEOUT: float = Field(default=3.0,",
    ),
)


def apply(project: Path) -> None:
    """Make the team's edits in `project`; each line edited must be there exactly once."""
    for name, old, new in EDITS:
        path = project / name
        text = path.read_text("utf-8")
        assert text.count(old) == 1, f"{name} no longer has {old!r} exactly once"
        path.write_text(text.replace(old, new), "utf-8")
    (project / "app" / "api" / "routes" / "greetings.py").write_text(ROUTE, "utf-8")
    (project / "tests" / "test_greetings.py").write_text(TEST, "utf-8")


def git(cwd: Path, *args: str) -> str:
    """Run git as the team would; fail the test with git's message when it fails."""
    done = subprocess.run(["git", *IDENTITY, *args], cwd=cwd, capture_output=True, text=True)
    assert done.returncode == 0, f"git {' '.join(args)}: {done.stderr}"
    return done.stdout


def team_project(answers: Mapping[str, object], dest: Path) -> Path:
    """A project generated with `answers` (the rest default), committed, then edited by the
    team and committed again: a clean work tree, as `set`, `add` and `remove` want."""
    render(options.with_defaults(answers), dest, overwrite=False)
    git(dest, "init", "-q", "-b", "main")
    git(dest, "add", "-A")
    git(dest, "commit", "-q", "-m", "Generated")
    apply(dest)
    git(dest, "add", "-A")
    git(dest, "commit", "-q", "-m", "Team edits")
    return dest


def tree(root: Path) -> dict[str, bytes]:
    """Every file under `root` but git's own, with its bytes."""
    return {
        path.relative_to(root).as_posix(): path.read_bytes()
        for path in sorted(root.rglob("*"))
        if path.is_file() and ".git" not in path.relative_to(root).parts
    }
