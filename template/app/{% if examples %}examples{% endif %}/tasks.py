"""Fire-and-forget work owned by the lifespan, so nothing is lost or left running."""

import asyncio
import logging
from collections.abc import Coroutine
from typing import Any

logger = logging.getLogger(__name__)


class TaskRegistry:
    """Keeps a reference to every spawned task, logs failures and drains them on shutdown.

    A bare `asyncio.create_task()` result that nobody references can be garbage-collected
    mid-run, and its exception is never seen; the server's shutdown does not wait for it.
    """

    def __init__(self) -> None:
        self._tasks: set[asyncio.Task[Any]] = set()
        self._closed = False

    def __len__(self) -> int:
        return len(self._tasks)

    def spawn(
        self, coro: Coroutine[Any, Any, Any], *, name: str | None = None
    ) -> asyncio.Task[Any]:
        """Start `coro` in the background and keep it until it finishes."""
        if self._closed:
            coro.close()
            raise RuntimeError("the task registry is closed; the service is shutting down")
        task = asyncio.create_task(coro, name=name)
        self._tasks.add(task)
        task.add_done_callback(self._finished)
        return task

    def _finished(self, task: asyncio.Task[Any]) -> None:
        self._tasks.discard(task)
        if task.cancelled():
            logger.warning("background task %s was cancelled", task.get_name())
        elif (exc := task.exception()) is not None:
            logger.error("background task %s failed", task.get_name(), exc_info=exc)

    async def drain(self, grace: float) -> None:
        """Refuse new tasks, wait up to `grace` seconds for running ones, cancel the rest."""
        self._closed = True
        if not self._tasks:
            return
        pending = set(self._tasks)
        _, still_running = await asyncio.wait(pending, timeout=grace)
        for task in still_running:
            task.cancel()
        if still_running:
            await asyncio.wait(still_running)
        logger.info(
            "background tasks at shutdown: %d finished, %d cancelled after %.0f s",
            len(pending) - len(still_running), len(still_running), grace,
        )  # fmt: skip
