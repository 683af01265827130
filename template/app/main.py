"""The application: `create_app()` and the one lifespan that owns every shared resource."""

import logging
import os
import time
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack, asynccontextmanager
from typing import Any

import httpx
from fastapi import FastAPI

from app.api import errors
from app.api.routes import health
from app.core import logs
from app.core.config import Settings, get_settings
from app.core.feature import Checks
from app.core.limits import RequestLimits
from app.core.threads import size_thread_pools
from app.features import FEATURES

logger = logging.getLogger(__name__)


@asynccontextmanager
async def lifespan(app: FastAPI) -> AsyncIterator[dict[str, Any]]:
    """Open resources in order and close them in reverse; runs once per worker process.

    What it yields is each request's `request.state` (read it through `app/api/deps.py`).
    """
    settings: Settings = app.state.settings
    logs.configure(settings.LOG_LEVEL)
    starting = time.monotonic()
    async with AsyncExitStack() as stack:
        executor = size_thread_pools(settings.THREADPOOL_SIZE)
        stack.callback(executor.shutdown, wait=False, cancel_futures=True)
        http_client = await stack.enter_async_context(
            httpx.AsyncClient(timeout=settings.UPSTREAM_TIMEOUT)
        )
        checks: Checks = {}
        state: dict[str, Any] = {"settings": settings, "http_client": http_client, "checks": checks}
        for feature in FEATURES:
            if feature.open is not None:
                checks.update(await stack.enter_async_context(feature.open(app, state)))
        logger.info(
            "lifespan startup complete in %.1f s (pid %d)", time.monotonic() - starting, os.getpid()
        )
        yield state
        logger.info("lifespan shutdown: closing resources (pid %d)", os.getpid())
        stopping = time.monotonic()
    logger.info(
        "lifespan shutdown complete in %.1f s (pid %d)", time.monotonic() - stopping, os.getpid()
    )


def create_app(settings: Settings | None = None) -> FastAPI:
    """Build the application; tests pass their own settings."""
    settings = settings or get_settings()
    docs = settings.docs_enabled  # app.openapi() works either way (the tests read it)
    app = FastAPI(
        title=settings.PROJECT_NAME,
        lifespan=lifespan,
        docs_url="/docs" if docs else None,
        redoc_url="/redoc" if docs else None,
        openapi_url="/openapi.json" if docs else None,
    )
    app.state.settings = settings
    # Bodies over MAX_BODY_SIZE answer 413 unread. A stop signal: STOP_DELAY more seconds of
    # serving with `Connection: close`, then GRACEFUL_TIMEOUT for the requests in flight.
    app.add_middleware(
        RequestLimits,
        grace=settings.GRACEFUL_TIMEOUT,
        max_body=settings.MAX_BODY_SIZE,
        delay=settings.stop_delay,
    )
    errors.install(app)
    health.add_probes(app)
    for feature in FEATURES:
        for router in feature.routers:
            app.include_router(router)
    return app


app = create_app()
