"""The task registry keeps, reports and drains what it spawns."""

import asyncio
import logging

import pytest

from app.core.tasks import TaskRegistry

pytestmark = pytest.mark.anyio


async def test_failures_are_logged_not_lost(caplog: pytest.LogCaptureFixture) -> None:
    registry = TaskRegistry()

    async def boom() -> None:
        raise ValueError("boom")

    with caplog.at_level(logging.ERROR):
        task = registry.spawn(boom(), name="boom")
        await asyncio.wait({task})
        await asyncio.sleep(0)  # let the done-callback run
    assert "background task boom failed" in caplog.text
    assert len(registry) == 0


async def test_drain_cancels_what_outlives_the_timeout() -> None:
    registry = TaskRegistry()
    slow = registry.spawn(asyncio.sleep(10))
    await registry.drain(grace=0.05)
    assert slow.cancelled()


async def test_closed_registry_refuses_new_work() -> None:
    registry = TaskRegistry()
    await registry.drain(grace=0)

    async def nothing() -> None:
        return None

    with pytest.raises(RuntimeError, match="shutting down"):
        registry.spawn(nothing())
