"""Load for `fastscaffold tune`: keep N connections busy against a service on loopback for a
while and measure what came back. wrk does it when it is on PATH (a C program, so the load
takes little of the CPU the server needs); otherwise a built-in asyncio client."""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import json
import math
import os
import platform
import re
import shutil
import signal
import string
import subprocess
import tempfile
import time
from collections import Counter
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from types import MappingProxyType
from typing import Any, Protocol
from urllib.parse import SplitResult, urlsplit

REQUEST_TIMEOUT = 10.0
"""Seconds one request (or connect) may take before it counts as a failure."""

_MARKER = "fastscaffold-load:"  # starts the one line of wrk's stdout our Lua script writes


@dataclass(frozen=True)
class Target:
    """One request to send, again and again."""

    method: str
    url: str
    headers: Mapping[str, str] = field(default_factory=dict, hash=False)
    body: bytes | None = None

    def __post_init__(self) -> None:
        # A read-only copy: the caller's dict may change later, a frozen target may not.
        object.__setattr__(self, "headers", MappingProxyType(dict(self.headers)))


@dataclass
class Measured:
    """What one run found."""

    requests: int  # completed requests (any HTTP status)
    failures: int  # connection errors, read errors, timeouts (no HTTP status)
    statuses: dict[int, int]  # completed requests per HTTP status
    seconds: float  # wall time of the run
    p50_ms: float
    p99_ms: float

    @property
    def per_second(self) -> float:
        """Completed requests per second."""
        return self.requests / self.seconds if self.seconds > 0 else 0.0

    @property
    def errors(self) -> int:
        """Failures plus responses with a 5xx status."""
        return self.failures + sum(n for status, n in self.statuses.items() if status >= 500)


class Generator(Protocol):
    """Something that drives load: wrk or the built-in client."""

    name: str
    version: str

    def run(self, targets: Sequence[Target], clients: int, seconds: float) -> Measured:
        """Keep `clients` connections busy with `targets`, round-robin, for `seconds`."""
        ...


class LoadError(Exception):
    """The load generator could not run; the message is one line saying why."""


def choose(preference: str = "auto") -> Generator:
    """Return the load generator for `preference`: "auto" (wrk when on PATH, else builtin),
    "wrk" or "builtin"."""
    if preference not in ("auto", "wrk", "builtin"):
        raise ValueError(f"unknown load generator {preference!r}: auto, wrk or builtin")
    found = shutil.which("wrk") if preference != "builtin" else None
    if found:
        return Wrk(found)
    if preference == "wrk":
        raise LoadError(
            "wrk is not on PATH; install it (apt-get install wrk) or use --load-generator builtin"
        )
    return Builtin()


def _origin(targets: Sequence[Target], clients: int) -> SplitResult:
    """Return the first target's URL parts, once sure every target has its scheme and host."""
    if not targets or clients < 1:
        raise ValueError(f"nothing to run: {len(targets)} targets, {clients} clients")
    parts = [urlsplit(target.url) for target in targets]
    if len({(p.scheme, p.netloc) for p in parts}) > 1:
        raise ValueError(f"targets must share one scheme and host:port: {[t.url for t in targets]}")
    return parts[0]


def _path(url: str) -> str:
    parts = urlsplit(url)
    return (parts.path or "/") + (f"?{parts.query}" if parts.query else "")


def _headers(target: Target, netloc: str) -> dict[str, str]:
    """The target's headers plus Host and keep-alive unless it sets them; Content-Length is
    left to the generator, which knows the body."""
    given = {k: v for k, v in target.headers.items() if k.lower() != "content-length"}
    names = {k.lower() for k in given}
    headers = {} if "host" in names else {"Host": netloc}
    headers |= given
    if "connection" not in names:
        headers["Connection"] = "keep-alive"
    return headers


def _percentile(ordered: list[float], p: float) -> float:
    """Nearest-rank percentile `p` of sorted latencies in seconds, in milliseconds."""
    if not ordered:
        return 0.0
    return ordered[max(1, math.ceil(p / 100 * len(ordered))) - 1] * 1000


# --- wrk ---------------------------------------------------------------------------------

# Each wrk thread runs this in its own Lua state; setup() and done() run in another. Counts
# per status are one global number per status ("s200") plus a string of the statuses seen,
# since thread:get() copies plain values out of a thread: nothing to serialize per response.
_LUA = string.Template("""\
local targets = {
$targets
}
local threads = {}

function setup(thread)
  thread:set("offset", #threads)
  table.insert(threads, thread)
end

local formatted, count, at
local keys = {}
seen = ""

function init(args)
  formatted = {}
  for i, t in ipairs(targets) do
    formatted[i] = wrk.format(t[1], t[2], t[3], t[4])
  end
  count = #formatted
  at = offset % count
end

function request()
  at = at % count + 1
  return formatted[at]
end

function response(status, headers, body)
  local key = keys[status]
  if key == nil then
    key = "s" .. status
    keys[status] = key
    _G[key] = 0
    seen = seen .. status .. " "
  end
  _G[key] = _G[key] + 1
end

function done(summary, latency, requests)
  local totals = {}
  for _, thread in ipairs(threads) do
    for status in string.gmatch(thread:get("seen"), "%d+") do
      totals[status] = (totals[status] or 0) + thread:get("s" .. status)
    end
  end
  local parts = {}
  for status, n in pairs(totals) do
    parts[#parts + 1] = string.format('"%s":%d', status, n)
  end
  local e = summary.errors
  io.write($marker, string.format(
    '{"requests":%d,"duration":%d,"connect":%d,"read":%d,"write":%d,"timeout":%d,' ..
    '"p50":%d,"p99":%d,"statuses":{%s}}\\n',
    summary.requests, summary.duration, e.connect, e.read, e.write, e.timeout,
    latency:percentile(50), latency:percentile(99), table.concat(parts, ",")))
end
""")

# Letters and digits as they are, every other byte as a decimal escape: quotes, backslashes,
# newlines and binary bodies all survive, whatever the Lua version.
_LUA_BYTES = [chr(b) if chr(b).isascii() and chr(b).isalnum() else f"\\{b:03d}" for b in range(256)]


def _lua(value: str | bytes) -> str:
    """`value` as a Lua string literal."""
    data = value.encode() if isinstance(value, str) else value
    return '"' + "".join(_LUA_BYTES[b] for b in data) + '"'


def _lua_script(targets: Sequence[Target], netloc: str) -> str:
    rows = []
    for t in targets:
        headers = ", ".join(f"[{_lua(k)}] = {_lua(v)}" for k, v in _headers(t, netloc).items())
        body = "nil" if t.body is None else _lua(t.body)
        rows.append(f"  {{{_lua(t.method)}, {_lua(_path(t.url))}, {{{headers}}}, {body}}},")
    return _LUA.substitute(targets="\n".join(rows), marker=_lua(_MARKER))


def _threads(clients: int) -> int:
    """wrk's thread count: at most one per CPU, and a divisor of `clients`, since wrk opens
    clients // threads connections per thread and so would drop the remainder."""
    most = min(clients, os.cpu_count() or 1)
    return next(t for t in range(most, 0, -1) if clients % t == 0)


def _wrk_version(path: str) -> str:
    """The version `wrk -v` prints ("wrk 4.2.0 [epoll] Copyright ..."; it exits 1)."""
    try:
        done = subprocess.run([path, "-v"], capture_output=True, text=True, timeout=10)
    except (OSError, subprocess.SubprocessError):
        return "unknown"
    found = re.search(r"\d+\.\d+(\.\d+)?", done.stdout + done.stderr)
    return found.group() if found else "unknown"


def _communicate(args: list[str], limit: float) -> tuple[str, str, int]:
    """Run `args` in its own process group; return its stdout, stderr and exit status."""
    proc = subprocess.Popen(
        args, stdout=subprocess.PIPE, stderr=subprocess.PIPE, start_new_session=True
    )
    try:
        out, err = proc.communicate(timeout=limit)
    except BaseException as error:  # a timeout, or KeyboardInterrupt (which wrk's group missed)
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)
        proc.communicate()
        if isinstance(error, subprocess.TimeoutExpired):
            raise LoadError(f"wrk did not finish within {limit:.0f} s") from None
        raise
    return out.decode(errors="replace"), err.decode(errors="replace"), proc.returncode


class Wrk:
    """wrk, the C load generator, driven by a generated Lua script. As wrk counts: a response
    later than the timeout is a request (with its status) and a timeout failure, left out of
    the percentiles; a body that ends with the connection (no length, not chunked) is read
    right but is also a read error; a request unanswered at the end of the run counts nowhere.
    """

    name = "wrk"

    def __init__(self, path: str) -> None:
        self.path = path
        self.version = _wrk_version(path)

    def run(self, targets: Sequence[Target], clients: int, seconds: float) -> Measured:
        """Run wrk for `seconds`, rounded to whole seconds (at least 1): wrk takes no less."""
        origin = _origin(targets, clients)
        with tempfile.TemporaryDirectory(prefix="fastscaffold-wrk-") as tmp:
            script = Path(tmp, "load.lua")
            script.write_text(_lua_script(targets, origin.netloc), "ascii")
            duration = max(1, round(seconds))
            url = f"{origin.scheme}://{origin.netloc}/"
            args = [self.path, "-t", str(_threads(clients)), "-c", str(clients)]
            args += ["-d", f"{duration}s", "--timeout", f"{math.ceil(REQUEST_TIMEOUT)}s"]
            args += ["--latency", "-s", str(script), url]
            start = time.perf_counter()
            out, err, code = _communicate(args, limit=duration + REQUEST_TIMEOUT + 30)
        line = next((ln for ln in out.splitlines() if ln.startswith(_MARKER)), None)
        if code == 0 and line:
            return _measured(json.loads(line[len(_MARKER) :]))
        why = (err.strip().splitlines() or [f"wrk exited {code} without a result"])[-1]
        if why.startswith("unable to connect"):
            # wrk connects once before it starts and gives up if that fails: nobody listens.
            return Measured(0, clients, {}, time.perf_counter() - start, 0.0, 0.0)
        raise LoadError(f"wrk: {why}")


def _measured(found: dict[str, Any]) -> Measured:
    """The Measured from the Lua script's result (times in µs). wrk's own status errors
    (status > 399) are responses, counted in statuses, so not failures here."""
    requests = int(found["requests"])
    failures = sum(int(found[kind]) for kind in ("connect", "read", "write", "timeout"))
    statuses = {int(status): int(n) for status, n in found["statuses"].items()}
    p50, p99 = (found["p50"] / 1000, found["p99"] / 1000) if requests else (0.0, 0.0)
    return Measured(requests, failures, statuses, found["duration"] / 1e6, p50, p99)


# --- builtin -----------------------------------------------------------------------------

_Request = tuple[bytes, bool]  # the encoded request, and whether its response has no body
_CONTENT_LENGTH = b"\r\ncontent-length:"
_TRANSFER_ENCODING = b"\r\ntransfer-encoding:"
_CONNECTION = b"\r\nconnection:"


def _encode(target: Target, netloc: str) -> _Request:
    headers = _headers(target, netloc)
    if target.body is not None:
        headers["Content-Length"] = str(len(target.body))
    head = f"{target.method} {_path(target.url)} HTTP/1.1\r\n"
    head += "".join(f"{k}: {v}\r\n" for k, v in headers.items()) + "\r\n"
    return head.encode() + (target.body or b""), target.method.upper() == "HEAD"


def _field(lower_head: bytes, key: bytes) -> bytes | None:
    """The value of the header `key` (b"\\r\\nname:") in a lowercased response head."""
    at = lower_head.find(key)
    if at < 0:
        return None
    start = at + len(key)
    return lower_head[start : lower_head.index(b"\r\n", start)].strip()


async def _read_chunked(reader: asyncio.StreamReader) -> None:
    while size := int((await reader.readline()).split(b";", 1)[0], 16):
        await reader.readexactly(size + 2)
    while (line := await reader.readline()) != b"\r\n":  # the trailers
        if not line:
            raise EOFError("connection closed in the trailers")


class Builtin:
    """A load generator in this process: asyncio streams, one task per connection."""

    name = "builtin"
    version = f"python {platform.python_version()}"

    def run(self, targets: Sequence[Target], clients: int, seconds: float) -> Measured:
        """Run the clients in a new event loop in this thread for `seconds`."""
        origin = _origin(targets, clients)
        if origin.scheme != "http":
            raise LoadError(f"the builtin load generator speaks plain http, not {origin.scheme}")
        run = _Run([_encode(t, origin.netloc) for t in targets])
        asyncio.run(run.all(origin.hostname or "127.0.0.1", origin.port or 80, clients, seconds))
        ordered = sorted(run.latencies)
        p50, p99 = _percentile(ordered, 50), _percentile(ordered, 99)
        statuses = dict(Counter(run.statuses))
        return Measured(len(run.statuses), run.failures, statuses, run.seconds, p50, p99)


class _Run:
    """The state of one builtin run, shared by its client tasks."""

    def __init__(self, requests: list[_Request]) -> None:
        self.requests = requests
        self.latencies: list[float] = []  # seconds, per completed request
        self.statuses: list[int] = []  # per completed request; counted at the end
        self.failures = 0
        self.seconds = 0.0

    async def all(self, host: str, port: int, clients: int, seconds: float) -> None:
        """Run `clients` tasks for `seconds`, then cancel them (requests under way are lost)."""
        n = len(self.requests)
        rotations = [self.requests[i % n :] + self.requests[: i % n] for i in range(clients)]
        start = time.perf_counter()
        tasks = [
            asyncio.create_task(self._client(host, port, itertools.cycle(r))) for r in rotations
        ]
        try:
            await asyncio.sleep(seconds)
        finally:  # also on KeyboardInterrupt: every task closes its socket before the loop ends
            self.seconds = time.perf_counter() - start
            for task in tasks:
                task.cancel()
            results = await asyncio.gather(*tasks, return_exceptions=True)
        for result in results:
            if isinstance(result, Exception):  # a bug, not a failed request: say so
                raise result

    async def _client(self, host: str, port: int, requests: Iterator[_Request]) -> None:
        """Send requests back to back on one connection; reconnect when it closes or fails."""
        while True:
            writer: asyncio.StreamWriter | None = None
            try:
                async with asyncio.timeout(REQUEST_TIMEOUT):
                    reader, writer = await asyncio.open_connection(host, port)
                while await self._exchange(reader, writer, next(requests)):
                    pass
            except (OSError, EOFError, ValueError, asyncio.LimitOverrunError):
                self.failures += 1  # TimeoutError is an OSError
                await asyncio.sleep(0)  # a refused connect can fail without yielding to the loop
            finally:
                if writer is not None:
                    writer.close()
                    with contextlib.suppress(OSError):
                        await writer.wait_closed()

    async def _exchange(
        self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, request: _Request
    ) -> bool:
        """Send one request and read its response; return whether the connection stays open."""
        data, bodiless = request
        start = time.perf_counter()
        writer.write(data)  # no drain(): the response, awaited next, is the flow control
        async with asyncio.timeout(REQUEST_TIMEOUT):
            head = await reader.readuntil(b"\r\n\r\n")
            status = int(head[9:12])
            lower = head.lower()
            connection = _field(lower, _CONNECTION) or b""
            keep = b"close" not in connection and (
                head.startswith(b"HTTP/1.1") or b"keep-alive" in connection
            )
            if bodiless or status < 200 or status in (204, 304):
                pass
            elif b"chunked" in (_field(lower, _TRANSFER_ENCODING) or b""):
                await _read_chunked(reader)
            elif (length := _field(lower, _CONTENT_LENGTH)) is not None:
                await reader.readexactly(int(length))
            else:  # the body ends where the connection does
                await reader.read()
                keep = False
        self.latencies.append(time.perf_counter() - start)
        self.statuses.append(status)
        return keep
