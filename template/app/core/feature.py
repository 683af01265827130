"""What a feature brings to the app: resources for the lifespan, readiness checks, routers."""

from collections.abc import Awaitable, Callable, MutableMapping, Sequence
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass
from typing import Any

from fastapi import APIRouter, FastAPI

State = MutableMapping[str, Any]
Check = Callable[[], Awaitable[None]]


@dataclass(frozen=True)
class Degrades:
    """A readiness check whose failure degrades the service without stopping it: `ready`
    stays 200, says `degraded` and names it (the task queue's broker, say)."""

    check: Check


# Readiness checks by name; a plain check's failure makes `ready` answer 503.
Checks = dict[str, Check | Degrades]
# Opens the feature's resources, adds them to the lifespan state, yields its readiness
# checks, and closes the resources when the lifespan ends.
Opener = Callable[[FastAPI, State], AbstractAsyncContextManager[Checks]]


@dataclass(frozen=True)
class Feature:
    """One chosen feature; `app/features.py` lists them."""

    name: str
    open: Opener | None = None
    routers: Sequence[APIRouter] = ()
    # Modules that define queue tasks; the queue worker imports them.
    tasks: Sequence[str] = ()
