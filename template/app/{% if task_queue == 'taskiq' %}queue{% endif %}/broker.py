"""The broker: Redis streams with acknowledgements, results kept in Redis.

Delivery is at least once: a job whose worker dies before acknowledging it is delivered
again within JOB_REDELIVERY_TIMEOUT, so every task must be idempotent (safe to run twice).
"""

import asyncio
import logging
from collections.abc import AsyncGenerator, Awaitable, Callable, Mapping
from typing import Any, cast

import taskiq_fastapi
from fastapi import FastAPI
from redis.asyncio import Redis
from redis.exceptions import RedisError
from taskiq import AckableMessage, AsyncBroker, InMemoryBroker
from taskiq_redis import RedisAsyncResultBackend, RedisStreamBroker

from app.core.config import get_settings

logger = logging.getLogger(__name__)

# A stream's entries as redis-py returns them: (id, fields), with bytes throughout.
Entries = list[tuple[bytes, dict[bytes, bytes]]]


class StreamBroker(RedisStreamBroker):
    """taskiq-redis's stream broker, redelivering the jobs of dead workers on time.

    taskiq-redis looks for jobs left unacknowledged only after new ones arrive, so on a
    quiet queue a job cut off by a worker's death waited for the next job, and then for the
    idle timeout. Here each worker claims jobs idle past `idle_timeout` ms every
    `claim_every` seconds, whether jobs arrive or not. XAUTOCLAIM is atomic: two workers
    never claim the same job.
    """

    claim_every: float = 5.0

    async def listen(self) -> AsyncGenerator[AckableMessage, None]:
        loop = asyncio.get_running_loop()
        next_claim = loop.time()
        async with Redis(connection_pool=self.connection_pool) as redis:
            while True:
                if loop.time() >= next_claim:
                    next_claim = loop.time() + self.claim_every
                    claimed = await redis.xautoclaim(
                        self.queue_name,
                        self.consumer_group_name,
                        self.consumer_name,
                        min_idle_time=self.idle_timeout,
                        count=self.unacknowledged_batch_size,
                    )
                    for job_id, fields in cast(Entries, claimed[1]):
                        if fields:  # a job trimmed from the stream comes back empty
                            logger.warning("redelivering job %s: never acknowledged", job_id)
                            yield self._message(job_id, fields)
                wait_ms = max(1, int((next_claim - loop.time()) * 1000))
                fetched = await redis.xreadgroup(
                    self.consumer_group_name,
                    self.consumer_name,
                    {self.queue_name: ">"},
                    block=min(self.block, wait_ms),
                    count=self.count,
                )
                for _stream, messages in cast(list[tuple[bytes, Entries]], fetched or []):
                    for job_id, fields in messages:
                        yield self._message(job_id, fields)

    def _message(self, job_id: bytes, fields: dict[bytes, bytes]) -> AckableMessage:
        return AckableMessage(data=fields[b"data"], ack=self._acknowledge(job_id))

    def _acknowledge(self, job_id: bytes) -> Callable[[], Awaitable[None]]:
        async def ack() -> None:
            async with Redis(connection_pool=self.connection_pool) as redis:
                await redis.xack(self.queue_name, self.consumer_group_name, job_id)

        return ack


def make_broker() -> AsyncBroker:
    """The broker named by QUEUE_BROKER: Redis, or in-process memory for tests."""
    settings = get_settings()
    if settings.QUEUE_BROKER == "memory":
        return InMemoryBroker()
    results: RedisAsyncResultBackend[Any] = RedisAsyncResultBackend(
        settings.REDIS_URL, result_ex_time=settings.JOB_RESULT_TTL
    )
    broker = StreamBroker(
        settings.REDIS_URL,
        queue_name=f"{settings.PROJECT_NAME}:jobs",
        consumer_group_name=f"{settings.PROJECT_NAME}:workers",
        idle_timeout=settings.JOB_REDELIVERY_TIMEOUT * 1000,
    )
    broker.claim_every = min(5.0, settings.JOB_REDELIVERY_TIMEOUT / 4)
    return broker.with_result_backend(results)


broker = make_broker()
# Workers run the app's lifespan, so tasks use the same database and pools as requests.
taskiq_fastapi.init(broker, "app.main:app")


async def start(app: FastAPI, state: Mapping[str, Any]) -> None:
    """Connect the web process to the broker (workers are started by taskiq itself)."""
    if broker.is_worker_process:
        return
    try:
        await broker.startup()
    except (RedisError, OSError) as exc:
        # Sending a job needs no start-up: each one connects again, and answers 503 until
        # Redis does.
        logger.warning("task queue broker unavailable at start (%r); job endpoints answer 503", exc)
    if isinstance(broker, InMemoryBroker):
        # In-process jobs get the same request state a worker would.
        taskiq_fastapi.populate_dependency_context(broker, app, state)


async def stop() -> None:
    """Disconnect the web process from the broker."""
    if not broker.is_worker_process:
        await broker.shutdown()


async def ping() -> None:
    """Raise unless Redis answers."""
    settings = get_settings()
    if settings.QUEUE_BROKER == "memory":
        return
    async with Redis.from_url(settings.REDIS_URL, socket_timeout=2) as redis:
        await redis.ping()
