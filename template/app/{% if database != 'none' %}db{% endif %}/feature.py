"""The database feature: one handle per worker, migrated on start, checked by readiness."""

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI

from app.api.routes import items
from app.core.config import Settings
from app.core.feature import Checks, Feature, State
from app.db.database import Database


@asynccontextmanager
async def open_database(app: FastAPI, state: State) -> AsyncIterator[Checks]:
    """Connect, apply pending migrations when MIGRATE_ON_START, close at shutdown."""
    settings: Settings = state["settings"]
    db = await Database.connect(settings)
    try:
        if settings.MIGRATE_ON_START:
            # Every worker and replica tries; the database's own lock lets one apply them.
            await db.migrate()
        state["db"] = db
        yield {"database": db.ping}
    finally:
        await db.close()


FEATURE = Feature(name="database", open=open_database, routers=[items.router])
