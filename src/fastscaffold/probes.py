"""What `check` asks a booted project, and what each answer must be."""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from typing import Any

from fastscaffold.processes import request_json

Expect = Callable[[int, Any], str | None]


def status_is(code: int, **fields: object) -> Expect:
    """Expect `code` and, in a JSON object body, these field values."""

    def expect(status: int, body: Any) -> str | None:
        if status != code:
            return f"status {status}, expected {code} (body: {str(body)[:200]})"
        for key, value in fields.items():
            if not isinstance(body, dict) or body.get(key) != value:
                return f"{key!r} is {body.get(key) if isinstance(body, dict) else body!r}"
        return None

    return expect


def probe_endpoints(base: str, answers: Mapping[str, object]) -> list[str]:
    """Call every example endpoint the answers produced; return what was wrong."""
    probes: list[tuple[str, str, object, Expect]] = [
        ("GET", "/health/live", None, status_is(200, status="ok")),
        ("GET", "/health/ready", None, status_is(200, status="ok")),
    ]
    if answers.get("examples", True):
        probes += _EXAMPLES
    failures = [_call(base, *probe) for probe in probes]
    if answers.get("database") != "none":
        failures += _items(base)
    if answers.get("task_queue") == "taskiq":
        failures.append(_job(base))
    return [failure for failure in failures if failure]


_EXAMPLES: list[tuple[str, str, object, Expect]] = [
    ("GET", "/examples/sleep?seconds=0.01", None, status_is(200, seconds=0.01)),
    ("GET", "/examples/fan-out?calls=3&seconds=0.01", None, status_is(200, calls=3)),
    ("GET", "/examples/blocking?seconds=0.01", None, status_is(200, seconds=0.01)),
    ("POST", "/examples/cpu?limit=100", None, status_is(200, count=25)),
    ("POST", "/examples/background?seconds=0", None, status_is(202)),
    ("POST", "/examples/fire-and-forget?seconds=0", None, status_is(202)),
]


def _call(base: str, method: str, path: str, body: object, expect: Expect) -> str | None:
    try:
        problem = expect(*request_json(method, base + path, body))
    except OSError as error:
        problem = f"no answer ({error})"
    return f"{method} {path}: {problem}" if problem else None


def _items(base: str) -> list[str | None]:
    status, created = request_json("POST", f"{base}/items", {"name": "fastscaffold-check"})
    if status != 201 or not isinstance(created, dict):
        return [f"POST /items: status {status}, expected 201"]
    path = f"/items/{created['id']}"
    return [
        _call(base, "GET", path, None, status_is(200, name="fastscaffold-check")),
        _call(base, "DELETE", path, None, status_is(204)),
        _call(base, "GET", path, None, status_is(404)),
    ]


def _job(base: str, timeout: float = 30) -> str | None:
    status, accepted = request_json("POST", f"{base}/jobs/primes?limit=100")
    if status != 202 or not isinstance(accepted, dict):
        return f"POST /jobs/primes: status {status}, expected 202"
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        _, job = request_json("GET", f"{base}/jobs/{accepted['job_id']}")
        if isinstance(job, dict) and job.get("state") != "pending":
            result = job.get("result")
            if job.get("state") == "done" and isinstance(result, dict) and result["count"] == 25:
                return None
            return f"job {accepted['job_id']}: {job}"
        time.sleep(0.2)
    return f"job {accepted['job_id']} still pending after {timeout:.0f} s (is a worker running?)"
