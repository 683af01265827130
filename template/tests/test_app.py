"""What every service does whatever its features: settings sources, documents, body limit."""

from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest
from asgi_lifespan import LifespanManager

from app.core.config import Settings, get_settings
from app.core.limits import Receive, RequestLimits, Scope, Send
from app.main import create_app
from tests.conftest import client_for

DOCUMENTS = ("/docs", "/redoc", "/openapi.json")


def fresh_settings() -> Settings:
    get_settings.cache_clear()
    try:
        return get_settings()
    finally:
        get_settings.cache_clear()


def test_the_developers_dotenv_is_not_read(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / ".env").write_text("ENVIRONMENT=development\nGRACEFUL_TIMEOUT=99\n")
    monkeypatch.chdir(tmp_path)
    settings = fresh_settings()
    assert (settings.ENVIRONMENT, settings.GRACEFUL_TIMEOUT) == ("production", 20)


def test_env_file_names_the_file_to_read(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "staging.env"
    path.write_text("GRACEFUL_TIMEOUT=12\n")
    monkeypatch.setenv("ENV_FILE", str(path))
    assert fresh_settings().GRACEFUL_TIMEOUT == 12


async def statuses(settings: Settings, *paths: str) -> list[int]:
    async with (
        LifespanManager(create_app(settings)) as manager,
        client_for(manager.app) as client,
    ):
        return [(await client.get(path)).status_code for path in paths]


@pytest.mark.anyio
@pytest.mark.parametrize(
    ("overrides", "served"),
    [
        ({}, False),  # production, the default
        ({"ENVIRONMENT": "development"}, True),
        ({"API_DOCS": True}, True),
        ({"ENVIRONMENT": "development", "API_DOCS": False}, False),
    ],
)
async def test_documents_follow_the_setting(
    settings: Settings, overrides: dict[str, object], served: bool
) -> None:
    expected = [200 if served else 404] * len(DOCUMENTS)
    assert await statuses(settings.model_copy(update=overrides), *DOCUMENTS) == expected
    # The schema exists either way, for the tests and for whoever exports it.
    assert create_app(settings.model_copy(update=overrides)).openapi()["paths"]


@pytest.mark.anyio
async def test_a_body_past_the_limit_is_413_unread(client: httpx.AsyncClient) -> None:
    limit = 1_048_576  # MAX_BODY_SIZE's default
    response = await client.post("/health/live", content=b"x" * (limit + 1))
    assert response.status_code == 413
    assert len(response.content) < 200  # a short reason, not the body back


@pytest.mark.anyio
async def test_a_streamed_body_past_the_limit_is_413() -> None:
    async def read_all(scope: Scope, receive: Receive, send: Send) -> None:
        while (await receive()).get("more_body"):
            pass
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": b"read"})

    async def chunks() -> AsyncIterator[bytes]:
        for _ in range(5):
            yield b"x" * 5  # 25 bytes, no Content-Length: sent chunked

    async with client_for(RequestLimits(read_all, grace=1, max_body=10)) as client:
        response = await client.post("/", content=chunks())
    assert response.status_code == 413
