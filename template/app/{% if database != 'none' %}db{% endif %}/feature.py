"""The database feature: one handle per worker, migrated on start, checked by readiness."""

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI

from app.api.routes import items
from app.core.config import Settings
from app.core.feature import Checks, Feature, State
from app.db.database import Database

logger = logging.getLogger(__name__)

# Seconds between attempts to migrate a database that did not answer: doubling up to this.
RETRY_MAX = 10.0


@asynccontextmanager
async def open_database(app: FastAPI, state: State) -> AsyncIterator[Checks]:
    """Connect, apply pending migrations when MIGRATE_ON_START, close at shutdown.

    A database that does not answer yet (down, starting, unreachable) does not stop the
    service from starting: restarting it would not bring the database up, and a crash loop
    only delays it once it is. The migrations are retried in the background; until the
    database answers with the current schema, readiness says why and requests that need it
    answer 503.
    """
    settings: Settings = state["settings"]
    db = await Database.connect(settings)
    retrying: asyncio.Task[None] | None = None
    try:
        if settings.MIGRATE_ON_START:
            # Every worker and replica tries; the database's own lock lets one apply them.
            try:
                await db.migrate()
            except Database.UNREACHABLE as exc:
                logger.warning(
                    "migrations wait for the database (%s); not ready until they are applied",
                    exc or type(exc).__name__,
                )
                retrying = asyncio.create_task(_migrate_when_up(db))
        state["db"] = db
        yield {"database": db.ping}
    finally:
        if retrying is not None:
            retrying.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await retrying
        await db.close()


async def _migrate_when_up(db: Database) -> None:
    delay = 0.5
    while True:
        await asyncio.sleep(delay)
        try:
            applied = await db.migrate()
        except Database.UNREACHABLE:
            delay = min(delay * 2, RETRY_MAX)
        except Exception:  # not a connection problem: say it, and keep trying
            logger.exception("migrations failed; retrying in %g s", RETRY_MAX)
            delay = RETRY_MAX
        else:
            logger.info("the database answers: migrations %s applied", applied or "already")
            return


FEATURE = Feature(name="database", open=open_database, routers=[items.router])
