"""Typed accessor for the worker's process pool."""

from typing import Annotated, cast

from fastapi import Depends, Request

from app.pools.pool import ProcessPool


async def get_process_pool(request: Request) -> ProcessPool:
    """The worker's process pool for CPU-bound work."""
    return cast(ProcessPool, request.state.process_pool)


ProcessPoolDep = Annotated[ProcessPool, Depends(get_process_pool)]
