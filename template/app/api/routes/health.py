"""Probes: `live` never touches a dependency; `ready` checks what requests need."""

import asyncio
import logging
from typing import Literal

from fastapi import FastAPI, Request, Response, status
from fastapi.responses import JSONResponse
from pydantic import BaseModel

from app.core.feature import Check, Checks, Degrades

logger = logging.getLogger(__name__)

# One deadline for all checks together, below the 2-3 s timeouts probes are usually given.
READY_TIMEOUT = 1.5

CheckState = Literal["ok", "unavailable"]


class Live(BaseModel):
    """The process answers."""

    status: Literal["ok"]


class Ready(BaseModel):
    """Whether the dependencies answered, and each one's state: `degraded` when only those
    the service can do without (the broker) did not."""

    status: Literal["ok", "degraded", "unavailable"]
    checks: dict[str, CheckState]


async def live() -> JSONResponse:
    """The process is up and its event loop answers (restart it if not)."""
    # Balancers call this most: a fixed body, sent without response validation.
    return JSONResponse({"status": "ok"})


async def _probe(name: str, check: Check, deadline: float) -> CheckState:
    try:
        async with asyncio.timeout_at(deadline):
            await check()
    except Exception as exc:  # any failure means "not ready", never a 500
        logger.warning("readiness: %s check failed: %r", name, exc)
        return "unavailable"
    return "ok"


async def ready(request: Request, response: Response) -> Ready:
    """Required dependencies answer; 503 takes this instance out of the load balancer.

    A check marked `Degrades` (the broker) only turns the status to `degraded`: every copy
    shares that dependency, so taking them all out of rotation would turn a partial outage
    (job endpoints answering 503) into a full one.
    """
    checks: Checks = request.state.checks
    deadline = asyncio.get_running_loop().time() + READY_TIMEOUT
    states = await asyncio.gather(
        *(
            _probe(name, check.check if isinstance(check, Degrades) else check, deadline)
            for name, check in checks.items()
        )
    )
    results = dict(zip(checks, states, strict=True))
    failed = [name for name, state in results.items() if state != "ok"]
    required = [name for name in failed if not isinstance(checks[name], Degrades)]
    if required:
        response.status_code = status.HTTP_503_SERVICE_UNAVAILABLE
    overall = "unavailable" if required else "degraded" if failed else "ok"
    return Ready(status=overall, checks=results)


def add_probes(app: FastAPI) -> None:
    """Register the probes on `app` itself, not through an included router: balancers and
    orchestrators call them most, and FastAPI matches an included router's routes in one more
    step on every request."""
    app.add_api_route("/health/live", live, response_model=Live, tags=["health"])
    not_ready = {"model": Ready, "description": "Not ready"}
    app.add_api_route(
        "/health/ready", ready, responses={status.HTTP_503_SERVICE_UNAVAILABLE: not_ready},
        tags=["health"],
    )  # fmt: skip
