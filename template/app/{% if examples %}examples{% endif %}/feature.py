"""The examples feature: a task registry and an event log per worker, and the routes."""

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI

from app.api.routes import examples
from app.core.config import Settings
from app.core.feature import Checks, Feature, State
from app.examples.events import EventLog
from app.examples.tasks import TaskRegistry


@asynccontextmanager
async def open_examples(app: FastAPI, state: State) -> AsyncIterator[Checks]:
    """The registry fire-and-forget tasks belong to, drained at shutdown."""
    settings: Settings = state["settings"]
    tasks = TaskRegistry()
    try:
        state["tasks"] = tasks
        state["events"] = EventLog()
        yield {}
    finally:
        await tasks.drain(settings.DRAIN_TIMEOUT)


FEATURE = Feature(name="examples", open=open_examples, routers=[examples.router])
