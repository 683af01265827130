"""The task queue feature: the web process's broker connection, checked by readiness."""

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI

from app.api.routes import jobs
from app.core.feature import Checks, Degrades, Feature, State
from app.queue import broker


@asynccontextmanager
async def open_broker(app: FastAPI, state: State) -> AsyncIterator[Checks]:
    """Connect to the broker (not in queue workers: taskiq starts it there); the service
    starts without it."""
    await broker.start(app, state)
    try:
        # Without the broker only the job endpoints fail (503): the rest serves on.
        yield {"broker": Degrades(broker.ping)}
    finally:
        await broker.stop()


FEATURE = Feature(
    name="task queue", open=open_broker, routers=[jobs.router], tasks=["app.queue.tasks"]
)
