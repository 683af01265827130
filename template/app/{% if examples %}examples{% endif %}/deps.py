"""Typed accessors for the examples' per-worker state."""

from typing import Annotated, cast

from fastapi import Depends, Request

from app.examples.events import EventLog
from app.examples.tasks import TaskRegistry


async def get_tasks(request: Request) -> TaskRegistry:
    """The registry that owns fire-and-forget tasks."""
    return cast(TaskRegistry, request.state.tasks)


async def get_events(request: Request) -> EventLog:
    """The worker's event log."""
    return cast(EventLog, request.state.events)


TasksDep = Annotated[TaskRegistry, Depends(get_tasks)]
EventsDep = Annotated[EventLog, Depends(get_events)]
