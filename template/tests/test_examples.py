"""Each concurrency example does what it claims, observed from outside."""

import asyncio
import os
import threading
import time
from collections.abc import AsyncIterator

import httpx
import pytest
from asgi_lifespan import LifespanManager
from fastapi import FastAPI

from app.api.deps import get_events, get_http_client
from app.core.config import Settings
from app.core.events import EventLog
from app.main import create_app
from tests.conftest import client_for

pytestmark = pytest.mark.anyio


def max_overlap(intervals: list[tuple[float, float]]) -> int:
    """The largest number of intervals in progress at the same moment."""
    edges = sorted([(start, 1) for start, _ in intervals] + [(end, -1) for _, end in intervals])
    running = peak = 0
    for _, step in edges:
        running += step
        peak = max(peak, running)
    return peak


async def test_async_waits_overlap_in_one_worker(client: httpx.AsyncClient) -> None:
    responses = await asyncio.gather(
        *(client.get("/examples/sleep", params={"seconds": 0.3}) for _ in range(10))
    )
    bodies = [r.json() for r in responses]
    assert {b["thread"] for b in bodies} == {threading.current_thread().name}  # the event loop
    assert max_overlap([(b["started"], b["finished"]) for b in bodies]) == 10


@pytest.fixture
async def upstream(app: FastAPI) -> AsyncIterator[None]:
    """Point the fan-out's shared client at this same app, in-process."""
    async with client_for(app) as upstream_client:

        async def _client() -> httpx.AsyncClient:
            return upstream_client

        app.dependency_overrides[get_http_client] = _client
        yield


@pytest.mark.usefixtures("upstream")
async def test_fan_out_runs_calls_concurrently(client: httpx.AsyncClient) -> None:
    calls, seconds = 10, 0.2
    response = await client.get("/examples/fan-out", params={"calls": calls, "seconds": seconds})
    assert response.status_code == 200
    body = response.json()
    assert len(body["results"]) == calls
    assert max_overlap([(r["started"], r["finished"]) for r in body["results"]]) == calls
    assert body["elapsed"] < calls * seconds / 2  # serially it would take calls * seconds


@pytest.mark.usefixtures("upstream")
async def test_fan_out_gives_up_at_its_deadline(app: FastAPI, settings: Settings) -> None:
    settings.FANOUT_TIMEOUT = 0.2
    async with LifespanManager(app) as manager, client_for(manager.app) as client:
        started = time.perf_counter()
        response = await client.get("/examples/fan-out", params={"calls": 3, "seconds": 5})
        elapsed = time.perf_counter() - started
    assert response.status_code == 504
    assert elapsed < 2.5  # the 5 s calls were cancelled, not awaited


async def test_blocking_call_runs_in_the_thread_pool(client: httpx.AsyncClient) -> None:
    blocking = asyncio.ensure_future(client.get("/examples/blocking", params={"seconds": 1.0}))
    await asyncio.sleep(0.1)
    started = time.perf_counter()
    live = await client.get("/health/live")
    live_elapsed = time.perf_counter() - started
    body = (await blocking).json()
    assert live.status_code == 200
    assert live_elapsed < 0.5  # the loop answered while the blocking call slept
    assert body["thread"] != threading.current_thread().name


@pytest.mark.parametrize("threadpool_size", [2, 4])
async def test_threadpool_size_limits_blocking_calls(
    settings: Settings, threadpool_size: int
) -> None:
    settings.THREADPOOL_SIZE = threadpool_size
    async with (
        LifespanManager(create_app(settings)) as manager,
        client_for(manager.app) as client,
    ):
        responses = await asyncio.gather(
            *(client.get("/examples/blocking", params={"seconds": 0.3}) for _ in range(4))
        )
    bodies = [r.json() for r in responses]
    assert max_overlap([(b["started"], b["finished"]) for b in bodies]) == threadpool_size


async def test_cpu_work_runs_in_another_process(client: httpx.AsyncClient) -> None:
    response = await client.post("/examples/cpu", params={"limit": 100})
    assert response.status_code == 200
    body = response.json()
    assert body["count"] == 25  # primes below 100
    assert body["pid"] != os.getpid()


@pytest.fixture
def events(app: FastAPI) -> EventLog:
    """An event log the test can read after the app has shut down."""
    log = EventLog()

    async def _events() -> EventLog:
        return log

    app.dependency_overrides[get_events] = _events
    return log


async def test_background_task_runs_after_the_response(
    client: httpx.AsyncClient, events: EventLog
) -> None:
    response = await client.post("/examples/background", params={"seconds": 0.1})
    assert response.status_code == 202
    body = response.json()
    event = events.find("background", body["job"])
    assert event is not None
    assert event.at >= body["accepted_at"]


async def test_fire_and_forget_is_drained_at_shutdown(app: FastAPI, events: EventLog) -> None:
    async with LifespanManager(app) as manager, client_for(manager.app) as client:
        response = await client.post("/examples/fire-and-forget", params={"seconds": 0.5})
        assert response.status_code == 202
        job = response.json()["job"]
        assert events.find("fire-and-forget", job) is None  # still running when we leave
    assert events.find("fire-and-forget", job) is not None  # shutdown waited for it
