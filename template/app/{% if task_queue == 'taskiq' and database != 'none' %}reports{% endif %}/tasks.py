"""The items report job (read-only, so running it twice is harmless)."""

from typing import Any

from fastapi import Request
from taskiq import TaskiqDepends

from app.db.database import Database
from app.queue.broker import broker


@broker.task(task_name="items_report")
async def items_report_job(request: Request = TaskiqDepends()) -> dict[str, Any]:
    """Read the database through the same contract as the web app."""
    db: Database = request.state.db
    page, count = await db.items.list(offset=0, limit=100)
    return {"count": count, "longest_name": max((i.name for i in page), key=len, default=None)}
