"""One knob for both thread pools an async app has."""

import asyncio
from concurrent.futures import ThreadPoolExecutor

import anyio.to_thread


def size_thread_pools(threads: int) -> ThreadPoolExecutor:
    """Give AnyIO's limiter and the running loop's default executor `threads` threads each.

    Plain `def` routes and dependencies run under AnyIO's limiter (40 by default);
    `asyncio.to_thread` and `run_in_executor(None, ...)` use the loop's default executor
    (`min(32, cpus + 4)` by default). Both belong to this worker's event loop, so this runs in
    the lifespan, not at import. Returns the executor, for the lifespan to shut down.
    """
    anyio.to_thread.current_default_thread_limiter().total_tokens = threads
    executor = ThreadPoolExecutor(max_workers=threads, thread_name_prefix="default-executor")
    asyncio.get_running_loop().set_default_executor(executor)
    return executor
