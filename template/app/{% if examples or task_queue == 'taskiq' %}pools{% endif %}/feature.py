"""The process pool feature: one pool per worker process, closed at shutdown."""

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI

from app.core.config import Settings
from app.core.feature import Checks, Feature, State
from app.pools.pool import ProcessPool


@asynccontextmanager
async def open_pool(app: FastAPI, state: State) -> AsyncIterator[Checks]:
    """A pool whose processes start on first use; closed when the worker stops."""
    settings: Settings = state["settings"]
    pool = ProcessPool(settings.PROCESS_POOL_SIZE)
    try:
        state["process_pool"] = pool
        yield {}
    finally:
        await pool.close(settings.POOL_TIMEOUT)


FEATURE = Feature(name="process pool", open=open_pool)
