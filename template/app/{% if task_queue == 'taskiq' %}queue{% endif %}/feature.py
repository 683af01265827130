"""The task queue feature: the web process's broker connection, checked by readiness."""

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI

from app.api.routes import jobs
from app.core.feature import Checks, Feature, State
from app.queue import broker


@asynccontextmanager
async def open_broker(app: FastAPI, state: State) -> AsyncIterator[Checks]:
    """Connect to the broker (not in queue workers: taskiq starts it there)."""
    await broker.start(app, state)
    try:
        yield {"broker": broker.ping}
    finally:
        await broker.stop()


FEATURE = Feature(
    name="task queue", open=open_broker, routers=[jobs.router], tasks=["app.queue.tasks"]
)
