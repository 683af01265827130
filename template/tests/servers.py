"""Real server processes for the tests that start the service as its users do."""

import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def call(method: str, url: str, body: object = None) -> tuple[int, Any]:
    """One HTTP request; the status and the decoded JSON body (None when empty)."""
    data = None if body is None else json.dumps(body).encode()
    request = urllib.request.Request(url, data=data, method=method)
    request.add_header("Content-Type", "application/json")
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            raw = response.read()
            return response.status, json.loads(raw) if raw else None
    except urllib.error.HTTPError as error:
        raw = error.read()
        return error.code, json.loads(raw) if raw else None


@contextmanager
def running(
    args: list[str], env: Mapping[str, str], log: Path, ready: str | None, timeout: float = 60
) -> Iterator[subprocess.Popen[bytes]]:
    """Start `args` in the project directory, wait until `ready` (a URL; None: nothing to
    wait for) answers 200, and stop the process group after."""
    with log.open("wb") as out:
        proc = subprocess.Popen(
            args,
            cwd=ROOT,
            env={**os.environ, "STOP_DELAY": "0", **env},  # at once, unless a test says
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        try:
            deadline = time.monotonic() + timeout
            while ready is not None:
                try:
                    if call("GET", ready)[0] == 200:
                        break
                except OSError:
                    pass
                assert proc.poll() is None, log.read_text()
                assert time.monotonic() < deadline, f"{ready} never answered:\n{log.read_text()}"
                time.sleep(0.2)
            yield proc
        finally:
            if proc.poll() is None:
                os.killpg(proc.pid, signal.SIGTERM)
                try:
                    proc.wait(timeout=30)
                except subprocess.TimeoutExpired:
                    os.killpg(proc.pid, signal.SIGKILL)
                    proc.wait()


def _stat(pid: int) -> tuple[str, int] | None:
    """The state letter and process group of `pid`, or None when it is gone."""
    try:
        stat = (Path("/proc") / str(pid) / "stat").read_text()
    except OSError:
        return None
    # pid (comm) state ppid pgrp ...: comm may hold spaces, so split after its ")".
    state, _ppid, pgrp = stat.rsplit(")", 1)[1].split()[:3]
    return state, int(pgrp)


def alive(pid: int) -> bool:
    """Whether `pid` is still running (a zombie is not)."""
    found = _stat(pid)
    return found is not None and found[0] != "Z"


def group(pgid: int) -> list[int]:
    """The processes of process group `pgid` still running (zombies excluded)."""
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit() and (stat := _stat(int(entry.name))) and stat[1] == pgid:
            if stat[0] != "Z":
                found.append(int(entry.name))
    return found
