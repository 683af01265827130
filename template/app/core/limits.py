"""Limits every request shares, on any server: a body size, and a deadline once told to stop.

uvicorn (alone or under gunicorn) cancels requests still running `--timeout-graceful-shutdown`
seconds after SIGTERM, then runs the lifespan shutdown. granian runs the lifespan shutdown at
once, while requests still use what it closes, and waits for the requests without limit, so
one stuck on slow work kept its worker until the kill timeout. The middleware below gives
every server the same order and the same deadline, and refuses bodies over MAX_BODY_SIZE
(413) before the app reads them. One pure ASGI layer: it sits on every request's path.
"""

import asyncio
import json
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


class BodyTooLarge(Exception):
    """A streamed body grew past the limit."""


class RequestLimits:
    """ASGI middleware: refuses bodies over `max_body` bytes, and cancels the requests still
    running `grace` seconds after a stop signal (they answer 503).

    While the lifespan runs it chains a handler in front of the server's own for SIGTERM and
    SIGINT: the server still handles the signal as before, and the deadline starts.
    """

    def __init__(self, app: ASGIApp, grace: float, max_body: int) -> None:
        self.app = app
        self.grace = grace
        self.max_body = max_body
        self._too_large = f"the body is larger than MAX_BODY_SIZE ({max_body} bytes)"
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
        length = _content_length(scope)
        if length is not None and length > self.max_body:
            await _answer(send, 413, self._too_large)
            return
        if length is None and _has(scope, b"transfer-encoding"):
            receive = self._counted(receive)  # a streamed body: count it as it arrives
        self._requests.add(task)
        try:
            await self.app(scope, receive, send)
        except asyncio.CancelledError:
            if not self._expired:
                raise
            task.uncancel()  # cancelled by the deadline: answered here, not by the server
            await _answer_unless_started(send, 503, "the service is stopping; retry the request")
        except BodyTooLarge:
            await _answer_unless_started(send, 413, self._too_large)
        finally:
            self._requests.discard(task)

    def _counted(self, receive: Receive) -> Receive:
        received = 0

        async def receive_counted() -> Message:
            nonlocal received
            message = await receive()
            received += len(message.get("body", b""))
            if received > self.max_body:
                raise BodyTooLarge
            return message

        return receive_counted

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


def _content_length(scope: Scope) -> int | None:
    for name, value in scope["headers"]:
        if name == b"content-length":
            try:
                return int(value)
            except ValueError:
                return None  # the server refuses such a request before it gets here
    return None


def _has(scope: Scope, header: bytes) -> bool:
    return any(name == header for name, _ in scope["headers"])


async def _answer(send: Send, status: int, detail: str) -> None:
    """A one-line JSON problem, and the connection closed: the rest of the body is unread."""
    body = json.dumps({"detail": detail}).encode()
    headers = [
        (b"content-type", b"application/json"),
        (b"content-length", str(len(body)).encode()),
        (b"connection", b"close"),
    ]
    if status == 503:
        headers.append((b"retry-after", b"1"))  # another worker or replica may serve it
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})


async def _answer_unless_started(send: Send, status: int, detail: str) -> None:
    """`_answer`, unless the response has begun: then the server closes the connection."""
    try:
        await _answer(send, status, detail)
    except RuntimeError:  # the response had started; nothing more can be said
        raise asyncio.CancelledError from None
