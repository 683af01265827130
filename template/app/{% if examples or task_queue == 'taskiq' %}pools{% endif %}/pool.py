"""A process pool for CPU-bound work: created on first use, healed when broken, bounded to stop."""

import asyncio
import logging
import multiprocessing
import os
import threading
import time
from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from typing import TypeVar, TypeVarTuple

from app.api.errors import Unavailable

T = TypeVar("T")
Ts = TypeVarTuple("Ts")

logger = logging.getLogger(__name__)

# How often a pool process checks that the process that started it is still there.
PARENT_CHECK_SECONDS = 1.0


def _exit_with_parent(parent: int) -> None:
    """In each pool process: exit as soon as `parent` is gone (killed, crashed, OOM).

    A pool process whose parent died blocks on its task pipe forever; nothing else stops it.
    """

    def watch() -> None:
        while os.getppid() == parent:
            time.sleep(PARENT_CHECK_SECONDS)
        os._exit(1)

    threading.Thread(target=watch, name="exit-with-parent", daemon=True).start()


class ProcessPool:
    """Owns a `ProcessPoolExecutor` that starts only when work arrives.

    Creating the executor already starts multiprocessing's helper process, so an idle
    worker would pay for it; this defers even that until the first `run()`. A pool broken by
    a dead process is replaced; the work that was running in it answers 503.
    """

    def __init__(self, max_workers: int) -> None:
        self.max_workers = max_workers
        self._executor: ProcessPoolExecutor | None = None

    @property
    def started(self) -> bool:
        """Whether any work has been submitted yet."""
        return self._executor is not None

    def _start(self) -> ProcessPoolExecutor:
        if self._executor is None:
            # An explicit start method: the platform default differs (fork, spawn, forkserver),
            # and forking a process that runs an event loop and threads is unsafe.
            self._executor = ProcessPoolExecutor(
                max_workers=self.max_workers,
                mp_context=multiprocessing.get_context("spawn"),
                initializer=_exit_with_parent,
                initargs=(os.getpid(),),
            )
        return self._executor

    async def run(self, fn: Callable[[*Ts], T], *args: *Ts) -> T:
        """Run `fn(*args)` in a worker process and await its result."""
        executor = self._start()
        try:
            return await asyncio.get_running_loop().run_in_executor(executor, fn, *args)
        except BrokenProcessPool:
            if self._executor is executor:
                logger.error("a process of the pool died; replacing the pool")
                self._executor = None
                executor.shutdown(wait=False, cancel_futures=True)
            raise Unavailable("the process pool was restarted; retry the request") from None

    async def close(self, grace: float) -> None:
        """Cancel queued work, give running work `grace` seconds, then end the processes.

        Shielded: a caller cancelled while waiting (taskiq's own shutdown timeout) still
        leaves no process behind, and the wait never outlasts `grace`.
        """
        executor, self._executor = self._executor, None
        if executor is None:
            return
        processes = list(executor._processes.values())  # no public list
        executor.shutdown(wait=False, cancel_futures=True)
        closing = asyncio.ensure_future(asyncio.to_thread(_join, processes, grace))
        try:
            await asyncio.shield(closing)
        except asyncio.CancelledError:
            _terminate(processes)
            raise


def _join(processes: list[multiprocessing.Process], grace: float) -> None:
    """Wait up to `grace` seconds for `processes` to finish their work, then end them."""
    deadline = time.monotonic() + grace
    for process in processes:
        process.join(max(0.0, deadline - time.monotonic()))
    if any(process.is_alive() for process in processes):
        logger.warning("process pool work outlived its %.0f s stop budget; terminating it", grace)
        _terminate(processes)


def _terminate(processes: list[multiprocessing.Process]) -> None:
    """Terminate `processes` now, killing any that ignore it."""
    for process in processes:
        if process.is_alive():
            process.terminate()
    for process in processes:
        process.join(1)
        if process.is_alive():
            process.kill()
            process.join(1)
