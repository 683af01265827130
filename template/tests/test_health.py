"""Liveness never depends on anything; readiness reports what requests need."""

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import httpx
import pytest
from asgi_lifespan import LifespanManager
from fastapi import FastAPI

from app import main
from app.core.feature import Checks, Degrades, Feature, State
from tests.conftest import client_for

pytestmark = pytest.mark.anyio


async def test_live(client: httpx.AsyncClient) -> None:
    response = await client.get("/health/live")
    assert response.status_code == 200
    assert response.json() == {"status": "ok"}


@pytest.mark.database
async def test_ready_when_every_check_answers(client: httpx.AsyncClient) -> None:
    response = await client.get("/health/ready")
    assert response.status_code == 200
    body = response.json()
    assert body["status"] == "ok"
    assert set(body["checks"].values()) <= {"ok"}


async def _broken() -> None:
    raise ConnectionError("connection refused")


@asynccontextmanager
async def _open_broken(app: FastAPI, state: State) -> AsyncIterator[Checks]:
    yield {"broken": _broken}


async def test_ready_is_503_when_a_check_fails_and_live_stays_200(
    monkeypatch: pytest.MonkeyPatch, app: FastAPI
) -> None:
    monkeypatch.setattr(main, "FEATURES", [Feature("broken", open=_open_broken)])
    async with LifespanManager(app) as manager, client_for(manager.app) as broken:
        response = await broken.get("/health/ready")
        assert response.status_code == 503
        assert response.json() == {"status": "unavailable", "checks": {"broken": "unavailable"}}
        live = await broken.get("/health/live")
        assert live.status_code == 200  # liveness must not restart a pod for an outage


async def _fine() -> None:
    return None


@asynccontextmanager
async def _open_degraded(app: FastAPI, state: State) -> AsyncIterator[Checks]:
    yield {"broker": Degrades(_broken), "database": _fine}


async def test_a_check_that_only_degrades_keeps_ready_200(
    monkeypatch: pytest.MonkeyPatch, app: FastAPI
) -> None:
    monkeypatch.setattr(main, "FEATURES", [Feature("degraded", open=_open_degraded)])
    async with LifespanManager(app) as manager, client_for(manager.app) as client:
        response = await client.get("/health/ready")
    assert response.status_code == 200  # the instance stays in rotation
    assert response.json() == {
        "status": "degraded",
        "checks": {"broker": "unavailable", "database": "ok"},
    }
