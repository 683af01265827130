"""A process pool for CPU-bound work, created on first use."""

import asyncio
import multiprocessing
from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor
from typing import TypeVar, TypeVarTuple

T = TypeVar("T")
Ts = TypeVarTuple("Ts")


class ProcessPool:
    """Owns a `ProcessPoolExecutor` that starts only when work arrives.

    Creating the executor already starts multiprocessing's helper process, so an idle
    worker would pay for it; this defers even that until the first `run()`.
    """

    def __init__(self, max_workers: int) -> None:
        self.max_workers = max_workers
        self._executor: ProcessPoolExecutor | None = None

    @property
    def started(self) -> bool:
        """Whether any work has been submitted yet."""
        return self._executor is not None

    async def run(self, fn: Callable[[*Ts], T], *args: *Ts) -> T:
        """Run `fn(*args)` in a worker process and await its result."""
        if self._executor is None:
            # An explicit start method: the platform default differs (fork, spawn, forkserver),
            # and forking a process that runs an event loop and threads is unsafe.
            self._executor = ProcessPoolExecutor(
                max_workers=self.max_workers,
                mp_context=multiprocessing.get_context("spawn"),
            )
        return await asyncio.get_running_loop().run_in_executor(self._executor, fn, *args)

    async def close(self) -> None:
        """Cancel queued work and wait for the worker processes to exit."""
        if self._executor is not None:
            await asyncio.to_thread(self._executor.shutdown, wait=True, cancel_futures=True)
            self._executor = None
