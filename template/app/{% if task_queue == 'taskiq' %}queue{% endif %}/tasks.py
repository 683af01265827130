"""Jobs the queue runs. Each is idempotent: running it twice gives the same result."""

import os
from typing import Any

from fastapi import Request
from taskiq import TaskiqDepends

from app.pools.compute import count_primes
from app.pools.pool import ProcessPool
from app.queue.broker import broker


@broker.task(task_name="count_primes")
async def count_primes_job(limit: int, request: Request = TaskiqDepends()) -> dict[str, Any]:
    """CPU work in the worker's process pool (the worker's event loop stays free)."""
    pool: ProcessPool = request.state.process_pool
    count, pool_pid = await pool.run(count_primes, limit)
    return {"limit": limit, "count": count, "worker_pid": os.getpid(), "pool_pid": pool_pid}
