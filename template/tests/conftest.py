"""Fixtures: settings made only from what tests set, the app with its real lifespan, a client.

Each feature adds its own fixtures as a module in `tests/plugins/` (the database's, say).
"""

import importlib.util
import os
import pkgutil
from collections.abc import AsyncIterator

import httpx
import pytest
from asgi_lifespan import LifespanManager
from fastapi import FastAPI
from starlette.types import ASGIApp

from app.core.config import Settings
from tests import plugins


def _clean_environment() -> None:
    """Settings come from what the tests set, never the developer's `.env` or shell.

    Every process the tests start (the servers too) inherits this environment: no `.env`
    file, and none of the service's settings except the URLs of the services to test with.
    Done before the plugins load, which set what their features need.
    """
    os.environ["ENV_FILE"] = ""
    for name in Settings.model_fields:
        if not name.endswith("_URL"):
            os.environ.pop(name, None)


_clean_environment()

pytest_plugins = [
    f"tests.plugins.{module.name}" for module in pkgutil.iter_modules(plugins.__path__)
]


@pytest.fixture(scope="session")
def anyio_backend() -> str:
    return "asyncio"


@pytest.fixture
def database_env(request: pytest.FixtureRequest) -> dict[str, str]:
    """Environment for a real server process on a fresh, unmigrated database (if any):
    its lifespan applies the migrations."""
    if importlib.util.find_spec("app.db") is None:
        return {}
    url: str = request.getfixturevalue("fresh_database_url")
    return {"DATABASE_URL": url, "MIGRATE_ON_START": "true"}


@pytest.fixture
def settings() -> Settings:
    """Never the developer's `.env`; plugins point the environment at test services."""
    return Settings(_env_file=None, PROCESS_POOL_SIZE=1)


@pytest.fixture
def app(settings: Settings) -> FastAPI:
    from app.main import create_app  # after the plugins have set the environment up

    return create_app(settings)


def client_for(app: ASGIApp) -> httpx.AsyncClient:
    """An HTTP client that calls `app` in-process."""
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://test")


@pytest.fixture
async def client(app: FastAPI) -> AsyncIterator[httpx.AsyncClient]:
    """A client for the app inside its real lifespan (which hands its state to requests)."""
    async with LifespanManager(app) as manager, client_for(manager.app) as c:
        yield c
