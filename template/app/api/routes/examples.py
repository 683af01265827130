"""One endpoint per concurrency tool, each paired with a test that proves what it claims."""

import asyncio
import os
import threading
import time
import uuid

from fastapi import APIRouter, BackgroundTasks, HTTPException, Query, status
from pydantic import BaseModel

from app.api.deps import EventsDep, HttpClientDep, ProcessPoolDep, SettingsDep, TasksDep
from app.core.compute import count_primes
from app.core.events import EventLog

router = APIRouter(prefix="/examples", tags=["examples"])

Seconds = Query(default=0.1, ge=0, le=10)


class Waited(BaseModel):
    """How long a call waited, when, and where it ran."""

    seconds: float
    started: float
    finished: float
    thread: str
    pid: int

    @classmethod
    def here(cls, seconds: float, started: float) -> "Waited":
        """A record of a wait that began at `started` and ends now, in this thread."""
        return cls(
            seconds=seconds,
            started=started,
            finished=time.time(),
            thread=threading.current_thread().name,
            pid=os.getpid(),
        )


class FanOut(BaseModel):
    """Results of concurrent upstream calls."""

    calls: int
    elapsed: float
    results: list[Waited]


class Primes(BaseModel):
    """Result of CPU work done in another process."""

    limit: int
    count: int
    pid: int


class Accepted(BaseModel):
    """A job accepted for later; look for `job` in `/examples/events`."""

    job: str
    accepted_at: float


@router.get("/sleep")
async def sleep(seconds: float = Seconds) -> Waited:
    """Async I/O: awaiting frees the event loop, so one worker serves many such waits at once."""
    started = time.time()
    await asyncio.sleep(seconds)
    return Waited.here(seconds, started)


@router.get("/fan-out")
async def fan_out(
    client: HttpClientDep,
    settings: SettingsDep,
    calls: int = Query(default=3, ge=1, le=20),
    seconds: float = Seconds,
) -> FanOut:
    """Call the upstream `calls` times at once; the whole batch shares one deadline."""
    started = time.perf_counter()
    url = f"{settings.upstream_url}/examples/sleep"

    async def call() -> Waited:
        response = await client.get(url, params={"seconds": seconds})
        response.raise_for_status()
        return Waited.model_validate(response.json())

    try:
        async with asyncio.timeout(settings.FANOUT_TIMEOUT):
            async with asyncio.TaskGroup() as group:
                pending = [group.create_task(call()) for _ in range(calls)]
    except TimeoutError:
        detail = f"upstream took longer than {settings.FANOUT_TIMEOUT} s"
        raise HTTPException(status.HTTP_504_GATEWAY_TIMEOUT, detail) from None
    except ExceptionGroup as failures:
        detail = f"upstream failed: {failures.exceptions[0]!r}"
        raise HTTPException(status.HTTP_502_BAD_GATEWAY, detail) from None
    results = [task.result() for task in pending]
    return FanOut(calls=calls, elapsed=time.perf_counter() - started, results=results)


@router.get("/blocking")
def blocking(seconds: float = Seconds) -> Waited:
    """Blocking I/O in a plain `def`: FastAPI runs it in the thread pool, the loop stays free."""
    started = time.time()
    time.sleep(seconds)  # stands for a blocking client library: a sync SDK, file I/O, ...
    return Waited.here(seconds, started)


@router.post("/cpu")
async def cpu(
    pool: ProcessPoolDep, limit: int = Query(default=20_000, ge=2, le=2_000_000)
) -> Primes:
    """CPU work in the process pool: it neither blocks the loop nor contends for the GIL."""
    count, pid = await pool.run(count_primes, limit)
    return Primes(limit=limit, count=count, pid=pid)


async def _record_later(events: EventLog, kind: str, job: str, seconds: float) -> None:
    await asyncio.sleep(seconds)
    events.record(kind, job)


@router.post("/background", status_code=status.HTTP_202_ACCEPTED)
async def background(
    background_tasks: BackgroundTasks, events: EventsDep, seconds: float = Seconds
) -> Accepted:
    """BackgroundTasks: runs after the response is sent, in this worker, tied to this request."""
    job = uuid.uuid4().hex
    background_tasks.add_task(_record_later, events, "background", job, seconds)
    return Accepted(job=job, accepted_at=time.time())


@router.post("/fire-and-forget", status_code=status.HTTP_202_ACCEPTED)
async def fire_and_forget(tasks: TasksDep, events: EventsDep, seconds: float = Seconds) -> Accepted:
    """A task that outlives the request, owned by the lifespan's registry, drained at shutdown."""
    job = uuid.uuid4().hex
    try:
        tasks.spawn(_record_later(events, "fire-and-forget", job, seconds), name=f"job-{job}")
    except RuntimeError as exc:
        raise HTTPException(status.HTTP_503_SERVICE_UNAVAILABLE, str(exc)) from None
    return Accepted(job=job, accepted_at=time.time())


@router.get("/events")
async def list_events(events: EventsDep) -> list[dict[str, object]]:
    """What the background examples recorded in this worker."""
    return events.as_dicts()
