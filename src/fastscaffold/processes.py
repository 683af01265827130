"""Processes and HTTP on loopback: what `check` needs to boot a server and watch it stop."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any


def free_port() -> int:
    """Return a loopback port nobody listens on right now."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def request(
    method: str,
    url: str,
    data: bytes | None = None,
    headers: dict[str, str] | None = None,
    timeout: float = 10,
) -> tuple[int, bytes]:
    """Send one request on a new connection; return the status and the raw body (an error
    status is an answer too, not an exception)."""
    message = urllib.request.Request(
        url, data=data, method=method, headers={"Connection": "close", **(headers or {})}
    )
    try:
        with urllib.request.urlopen(message, timeout=timeout) as response:
            return int(response.status), response.read()
    except urllib.error.HTTPError as error:
        return error.code, error.read()


def request_json(
    method: str, url: str, body: object = None, timeout: float = 10
) -> tuple[int, object]:
    """Send one request on a new connection; return the status and the decoded JSON body."""
    data = None if body is None else json.dumps(body).encode()
    headers = {} if data is None else {"Content-Type": "application/json"}
    status, raw = request(method, url, data, headers, timeout)
    return status, json.loads(raw) if raw else None


def wait_for(
    url: str, proc: subprocess.Popen[Any], timeout: float, interval: float = 0.1
) -> str | None:
    """Poll `url` until it answers 200 while `proc` runs; return why it did not, or None."""
    deadline = time.monotonic() + timeout
    last = "no answer"
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            return f"exited {proc.returncode} before {url} answered"
        try:
            status, body = request_json("GET", url, timeout=2)
            if status == 200:
                return None
            last = f"{status} {body}"
        except (OSError, ValueError) as error:  # not listening yet, or not JSON (a proxy's 502)
            last = str(error)
        time.sleep(interval)
    return f"{url} not 200 within {timeout:.0f} s (last: {last})"


def children(pid: int) -> list[int]:
    """Return the direct child processes of `pid` (Linux /proc)."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        # The command name may hold spaces and parentheses; fields after the last ')' do not.
        if int(stat.rsplit(")", 1)[1].split()[1]) == pid:
            found.append(int(entry.name))
    return found


def tree(pid: int) -> list[int]:
    """Return `pid` and every process below it."""
    out = [pid]
    for child in children(pid):
        out += tree(child)
    return out


def cmdline(pid: int) -> str:
    """Return the command line of `pid`, or '' once it is gone."""
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode()
    except OSError:
        return ""


def workers(pid: int) -> list[int]:
    """Return a server's worker processes: its children, less multiprocessing's helper."""
    return [c for c in children(pid) if "multiprocessing.resource_tracker" not in cmdline(c)]


def alive(pid: int) -> bool:
    """Return whether `pid` runs (a zombie does not)."""
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"


def start(args: list[str], *, cwd: Path, env: dict[str, str], log: Path) -> subprocess.Popen[bytes]:
    """Start `args` in its own process group, output to `log`."""
    with log.open("wb") as out:
        return subprocess.Popen(
            args, cwd=cwd, env=env, stdout=out, stderr=subprocess.STDOUT, start_new_session=True
        )


def kill_group(proc: subprocess.Popen[bytes]) -> None:
    """Kill `proc`'s whole process group, if anything in it still runs."""
    try:
        os.killpg(proc.pid, signal.SIGKILL)
    except ProcessLookupError:
        pass
    proc.wait()


def tail(path: Path, lines: int = 30) -> str:
    """Return the last `lines` lines of a log file."""
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return ""
