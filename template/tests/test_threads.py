"""THREADPOOL_SIZE is the one knob for both thread pools: AnyIO's and the event loop's."""

import asyncio
import threading
import time

import anyio.to_thread
import pytest
from asgi_lifespan import LifespanManager

from app.core.config import Settings
from app.main import create_app

pytestmark = pytest.mark.anyio


def _hold(seconds: float, seen: set[str]) -> None:
    seen.add(threading.current_thread().name)
    time.sleep(seconds)


async def test_both_pools_have_threadpool_size_threads(settings: Settings) -> None:
    settings.THREADPOOL_SIZE = 3
    async with LifespanManager(create_app(settings)):
        assert anyio.to_thread.current_default_thread_limiter().total_tokens == 3
        anyio_threads: set[str] = set()
        loop_threads: set[str] = set()
        started = time.perf_counter()
        await asyncio.gather(
            *(anyio.to_thread.run_sync(_hold, 0.2, anyio_threads) for _ in range(6)),
            *(asyncio.to_thread(_hold, 0.2, loop_threads) for _ in range(6)),
        )
        elapsed = time.perf_counter() - started
    assert len(loop_threads) == 3  # the loop's default executor has exactly 3 threads
    assert len(anyio_threads) <= 3
    assert elapsed >= 0.4  # 6 calls on 3 threads: two rounds in each pool, not one
