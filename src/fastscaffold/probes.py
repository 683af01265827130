"""What `check` asks a booted service: the contract every generated service keeps, then each
operation its own OpenAPI document declares, then the round trips of the operations the
template made (items, a queued job) where the document still declares them."""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from fastscaffold import openapi
from fastscaffold.processes import request_json

Expect = Callable[[int, Any], str | None]
ITEMS = ("post /items", "get /items/{item_id}", "delete /items/{item_id}")
JOBS = ("post /jobs/primes", "get /jobs/{job_id}")


@dataclass
class Probed:
    """What the probes found: failures, and what was called or left out (and why)."""

    failures: list[str] = field(default_factory=list)
    called: list[str] = field(default_factory=list)
    left_out: dict[str, str] = field(default_factory=dict)

    def summary(self) -> str:
        """One line: how many operations were called, and which were left out, by reason."""
        by_reason: dict[str, list[str]] = {}
        for name, reason in self.left_out.items():
            by_reason.setdefault(reason, []).append(name)
        parts = [f"{len(self.called)} operations called"]
        parts += [f"left out {', '.join(names)}: {why}" for why, names in by_reason.items()]
        return "; ".join(parts)


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


def probe(base: str, document: Mapping[str, Any], *, writes: str | None) -> Probed:
    """Probe the service at `base`, whose OpenAPI document is `document`. `writes` is None
    when writes may be sent, else why not (operations marked safe are sent anyway)."""
    probed = Probed()
    failures = [
        _call(base, "GET", path, None, status_is(200, status="ok"))
        for path in ("/health/live", "/health/ready")
    ]
    declared = {f"{op.method} {op.path}": op for op in openapi.operations(document)}
    for name, operation in declared.items():
        if operation.writes and writes is not None:
            probed.left_out[operation.name] = writes
            continue
        try:
            request = openapi.build(document, operation, base)
        except openapi.CannotBuild as problem:
            probed.left_out[operation.name] = str(problem)
            continue
        probed.called.append(name)
        failures.append(_judge(operation, request))
    if writes is None and all(name in declared for name in ITEMS):
        failures += _items(base)
    if all(name in declared for name in JOBS) and (writes is None or not declared[JOBS[0]].writes):
        failures.append(_job(base))
    probed.failures = [failure for failure in failures if failure]
    return probed


def _judge(operation: openapi.Operation, request: openapi.Request) -> str | None:
    """A 5xx, or a status the document does not list, is a failure."""
    try:
        status, body = openapi.send(request)
    except OSError as error:
        return f"{operation.name}: no answer ({error})"
    if status >= 500:
        return f"{operation.name}: status {status} (body: {str(body)[:200]})"
    if not operation.documented(status):
        return f"{operation.name}: status {status}, which its document does not list"
    return None


def _call(base: str, method: str, path: str, body: object, expect: Expect) -> str | None:
    try:
        problem = expect(*request_json(method, base + path, body))
    except (OSError, ValueError) as error:
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
