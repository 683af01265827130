"""Requests in flight when the worker is told to stop end within GRACEFUL_TIMEOUT, on any server.

uvicorn (alone or under gunicorn) cancels requests still running `--timeout-graceful-shutdown`
seconds after SIGTERM, then runs the lifespan shutdown. granian runs the lifespan shutdown at
once, while requests still use what it closes, and waits for the requests without limit, so
one stuck on slow work kept its worker until the kill timeout. The middleware below gives
every server the same order and the same deadline.
"""

import asyncio
import logging
import signal
import threading
from collections.abc import Awaitable, Callable, MutableMapping
from types import FrameType
from typing import Any

logger = logging.getLogger(__name__)

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]

STOP_SIGNALS = (signal.SIGTERM, signal.SIGINT)


class RequestDeadline:
    """ASGI middleware: cancels the requests still running `grace` seconds after a stop signal.

    While the lifespan runs it chains a handler in front of the server's own for SIGTERM and
    SIGINT: the server still handles the signal as before, and the deadline starts.
    """

    def __init__(self, app: ASGIApp, grace: float) -> None:
        self.app = app
        self.grace = grace
        self._requests: set[asyncio.Task[Any]] = set()
        self._deadline: asyncio.TimerHandle | None = None
        self._expired = False

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "lifespan":
            # The lifespan runs once per worker, on its event loop, for as long as it serves.
            restore = self._watch()
            try:
                await self.app(scope, self._after_requests(receive), send)
            finally:
                restore()
            return
        if scope["type"] != "http" or (task := asyncio.current_task()) is None:
            await self.app(scope, receive, send)
            return
        started = False

        async def send_tracked(message: Message) -> None:
            nonlocal started
            started = started or message["type"] == "http.response.start"
            await send(message)

        self._requests.add(task)
        try:
            await self.app(scope, receive, send_tracked)
        except asyncio.CancelledError:
            if not self._expired or started:
                raise
            task.uncancel()  # cancelled by the deadline: answered here, not by the server
            await _stopping(send)
        finally:
            self._requests.discard(task)

    @property
    def in_flight(self) -> int:
        """Requests being served now."""
        return len(self._requests)

    def _after_requests(self, receive: Receive) -> Receive:
        """`receive` for the lifespan: its shutdown starts once no request is in flight.

        uvicorn sends the shutdown after its requests anyway; granian sends it at the stop
        signal, while requests still run, and would close the pools under them.
        """

        async def receive_after_requests() -> Message:
            message = await receive()
            if message["type"] == "lifespan.shutdown":
                self._start(asyncio.get_running_loop())  # no stop signal seen: from now
                while self._requests:
                    await asyncio.wait(set(self._requests))
            return message

        return receive_after_requests

    def _watch(self) -> Callable[[], None]:
        """Chain `on_stop` in front of the server's SIGTERM and SIGINT handlers; return the
        undo. Signals reach the main thread only, so elsewhere (a test's thread) it does
        nothing: the server there handles them."""
        if threading.current_thread() is not threading.main_thread():
            return lambda: None
        loop = asyncio.get_running_loop()
        chained = {}
        for sig in STOP_SIGNALS:
            previous = signal.getsignal(sig)
            chained[sig] = (previous, self._chain(loop, previous))
            signal.signal(sig, chained[sig][1])

        def restore() -> None:
            for sig, (previous, ours) in chained.items():
                if signal.getsignal(sig) is ours:  # the server may have restored its own
                    signal.signal(sig, previous)

        return restore

    def _chain(
        self, loop: asyncio.AbstractEventLoop, previous: Any
    ) -> Callable[[int, FrameType | None], None]:
        def on_stop(signum: int, frame: FrameType | None) -> None:
            if not loop.is_closed():  # a signal handler may only hand work to the loop
                loop.call_soon_threadsafe(self._start, loop)
            if callable(previous):
                previous(signum, frame)
            elif previous == signal.SIG_DFL:
                signal.signal(signum, signal.SIG_DFL)
                signal.raise_signal(signum)

        return on_stop

    def _start(self, loop: asyncio.AbstractEventLoop) -> None:
        if self._deadline is None:
            self._deadline = loop.call_later(self.grace, self._cancel)

    def _cancel(self) -> None:
        self._expired = True
        if self._requests:
            logger.warning(
                "cancelling %d request(s) still running %.0f s after the stop signal",
                len(self._requests), self.grace,
            )  # fmt: skip
        for task in self._requests:
            task.cancel()


async def _stopping(send: Send) -> None:
    """Answer 503: the worker stopped before the request finished; another may serve it."""
    body = b'{"detail":"the service is stopping; retry the request"}'
    await send({
        "type": "http.response.start",
        "status": 503,
        "headers": [
            (b"content-type", b"application/json"),
            (b"content-length", str(len(body)).encode()),
            (b"retry-after", b"1"),
            (b"connection", b"close"),
        ],
    })  # fmt: skip
    await send({"type": "http.response.body", "body": body})
