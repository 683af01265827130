"""Limits every request shares, on any server: a body size, and the order of a stop.

uvicorn (alone or under gunicorn) cancels requests still running `--timeout-graceful-shutdown`
seconds after SIGTERM, then runs the lifespan shutdown. granian runs the lifespan shutdown at
once, while requests still use what it closes, and waits for the requests without limit, so
one stuck on slow work kept its worker until the kill timeout. And every server closes its
idle keep-alive connections at once, while a proxy may be sending a request on one: nginx
does not retry a POST it has sent, so the client got a 502. The middleware below gives every
server the same order: first a short delay in which the service still serves but answers
`Connection: close` (the proxy opens new connections, each used once), then the server's own
stop, with the same deadline for its requests. It also refuses bodies over MAX_BODY_SIZE
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
    """ASGI middleware: refuses bodies over `max_body` bytes; on a stop signal serves `delay`
    seconds more with `Connection: close`, then lets the server stop and cancels the requests
    still running `grace` seconds later (they answer 503).

    While the lifespan runs it chains a handler in front of the server's own for SIGTERM and
    SIGINT: the server gets the signal after the delay (at once on a second signal), and the
    deadline starts.
    """

    def __init__(self, app: ASGIApp, grace: float, max_body: int, delay: float = 0) -> None:
        self.app = app
        self.grace = grace
        self.max_body = max_body
        self.delay = delay
        self._too_large = f"the body is larger than MAX_BODY_SIZE ({max_body} bytes)"
        self._requests: set[asyncio.Task[Any]] = set()
        self._deadline: asyncio.TimerHandle | None = None
        self._expired = False
        self._closing = False  # in the delay: every response closes its connection

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
        length, streamed = _body_headers(scope)
        if length is not None and length > self.max_body:
            await _answer(send, 413, self._too_large)
            return
        if streamed:
            receive = self._counted(receive)  # a streamed body: count it as it arrives
        if self._closing:
            send = _closing(send)
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
        """Hold the server's stop signals for the delay (see `HeldSignals`); return the undo.
        Signals reach the main thread only, so elsewhere (a test's thread) it does nothing:
        the server there handles them."""
        if threading.current_thread() is not threading.main_thread():
            return lambda: None
        loop = asyncio.get_running_loop()
        held = HeldSignals(loop, self._on_stop)
        return held.release

    def _on_stop(self, held: "HeldSignals") -> None:
        """The first stop signal: serve the delay with `Connection: close`, then hand the
        signal to the server. A second one hands it over at once."""
        if self._closing or self.delay <= 0:
            held.hand_over()
            self._start(held.loop)
            return
        self._closing = True
        logger.info(
            "stop signal: serving %g s more with Connection: close, then stopping", self.delay
        )

        def stop() -> None:
            held.hand_over()
            self._start(held.loop)

        held.loop.call_later(self.delay, stop)

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


class HeldSignals:
    """SIGTERM and SIGINT held back from the server until `hand_over()`; `on_stop` is called
    on the event loop for each one that arrives.

    Servers hear signals in one of two ways. uvicorn (alone or in gunicorn's worker) has
    Python handlers: they are replaced, and called at the hand-over. granian has one handler
    on the event loop for both signals: SIGTERM's is replaced, SIGINT's is left to stop it
    at once (Ctrl-C), and the hand-over raises SIGINT, which its handler takes the same way.
    """

    def __init__(
        self, loop: asyncio.AbstractEventLoop, on_stop: Callable[["HeldSignals"], None]
    ) -> None:
        self.loop = loop
        self._on_stop = on_stop
        self._pending: list[int] = []  # signals to hand over, in order
        self._handed_over = False
        self._released = False
        self._handlers: dict[int, Any] = {}
        self._on_loop = loop.remove_signal_handler(signal.SIGTERM)
        if self._on_loop:
            loop.add_signal_handler(signal.SIGTERM, self._arrived, signal.SIGTERM)
        else:
            self._handlers = {sig: signal.getsignal(sig) for sig in STOP_SIGNALS}
            for sig in STOP_SIGNALS:
                signal.signal(sig, self._python_handler)

    def _python_handler(self, signum: int, frame: FrameType | None) -> None:
        # Between two bytecodes of whatever runs in the main thread: hand work to the loop.
        if not self.loop.is_closed():
            self.loop.call_soon_threadsafe(self._arrived, signum)

    def _arrived(self, signum: int) -> None:
        self._pending.append(signum)
        if self._handed_over:
            self._pass_on()
        else:
            self._on_stop(self)

    def hand_over(self) -> None:
        """The signals held so far to the server, and the ones after them at once."""
        if self._handed_over:
            return
        self._handed_over = True
        if not self._on_loop:
            self.release()  # the server's own handlers take any further signal
        self._pass_on()

    def _pass_on(self) -> None:
        pending, self._pending = self._pending, []
        for signum in pending:
            if self._on_loop:
                signal.raise_signal(signal.SIGINT)  # the server's loop handler: a stop
                continue
            handler = self._handlers[signum]
            if callable(handler):
                handler(signum, None)
            elif handler == signal.SIG_DFL:
                signal.raise_signal(signum)

    def release(self) -> None:
        """Undo, at the end of the lifespan (main thread only)."""
        if self._released:
            return
        self._released = True
        if self._on_loop:
            self.loop.remove_signal_handler(signal.SIGTERM)
            return
        for sig, handler in self._handlers.items():
            if signal.getsignal(sig) == self._python_handler:  # the server may have changed it
                signal.signal(sig, handler)


def _body_headers(scope: Scope) -> tuple[int | None, bool]:
    """The Content-Length (None: absent or unreadable, which the server refuses before it
    gets here) and whether the body is streamed without one, read in one pass."""
    length, chunked = None, False
    for name, value in scope["headers"]:
        if name == b"content-length":
            try:
                length = int(value)
            except ValueError:
                length = None
        elif name == b"transfer-encoding":
            chunked = True
    return length, chunked and length is None


def _closing(send: Send) -> Send:
    """`send`, with `Connection: close` on the response: the server closes the connection
    after it, and the proxy opens a new one for its next request."""

    async def send_closing(message: Message) -> None:
        if message["type"] == "http.response.start":
            headers = [h for h in message.get("headers", []) if h[0].lower() != b"connection"]
            message["headers"] = [*headers, (b"connection", b"close")]
        await send(message)

    return send_closing


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
