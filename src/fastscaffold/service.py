"""A generated service as `check` runs it: started, waited for, and stopped with requests in
flight. The tests that boot generated projects use these too, so "ready" and "stopped
cleanly" mean one thing everywhere."""

from __future__ import annotations

import signal
import subprocess
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from fastscaffold import processes


class ServiceFailed(Exception):
    """The service did not do what was asked of it; the message says what it did instead."""


def wait_ready(proc: subprocess.Popen[Any], base: str, timeout: float) -> None:
    """Wait until `base`/health/ready answers 200 while `proc` runs."""
    if problem := processes.wait_for(f"{base}/health/ready", proc, timeout, interval=0.2):
        raise ServiceFailed(f"server {problem}")


def stop(proc: subprocess.Popen[Any], url: str, limit: float, requests: int = 4) -> None:
    """SIGTERM `proc` with `requests` GETs of `url` in flight; return when it stopped cleanly.

    Clean: every request in flight answers 200, the server exits within `limit` seconds with
    0 (or by re-raising the SIGTERM after its shutdown, as a lone uvicorn process does), and
    no process of its tree is left.
    """
    with ThreadPoolExecutor(requests) as pool:
        in_flight = [pool.submit(processes.request_json, "GET", url) for _ in range(requests)]
        time.sleep(0.3)
        pids = processes.tree(proc.pid)
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=limit)
        except subprocess.TimeoutExpired:
            raise ServiceFailed(f"still running {limit:.0f} s after SIGTERM") from None
        statuses = [_status(future.result) for future in in_flight]
    if statuses != [200] * requests:
        raise ServiceFailed(f"requests in flight at SIGTERM got {statuses}")
    if proc.returncode not in (0, -signal.SIGTERM):
        raise ServiceFailed(f"server exited {proc.returncode}")
    time.sleep(0.2)  # the last workers' exits are reaped
    if left := [pid for pid in pids if processes.alive(pid)]:
        raise ServiceFailed(f"processes still running after the server exited: {left}")


def _status(result: Callable[[], tuple[int, object]]) -> int | str:
    try:
        return result()[0]
    except OSError as error:
        return type(error).__name__
