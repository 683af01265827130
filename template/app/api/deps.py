"""Typed accessors for what the lifespan opened; each feature adds its own beside its code.

They are `async def` on purpose: a plain `def` dependency would run in the thread pool.
"""

from typing import Annotated, cast

import httpx
from fastapi import Depends, Request

from app.core.config import Settings


async def get_settings(request: Request) -> Settings:
    """The settings the app was built with."""
    return cast(Settings, request.state.settings)


async def get_http_client(request: Request) -> httpx.AsyncClient:
    """The worker's shared HTTP client (connection pooling, one per process)."""
    return cast(httpx.AsyncClient, request.state.http_client)


SettingsDep = Annotated[Settings, Depends(get_settings)]
HttpClientDep = Annotated[httpx.AsyncClient, Depends(get_http_client)]
