"""The broker: Redis streams with acknowledgements, results kept in Redis.

Delivery is at least once: a job whose worker dies before acknowledging it is delivered
again, so every task must be idempotent (safe to run twice).
"""

import logging
from collections.abc import Mapping
from typing import Any

import taskiq_fastapi
from fastapi import FastAPI
from redis.asyncio import Redis
from redis.exceptions import RedisError
from taskiq import AsyncBroker, InMemoryBroker
from taskiq_redis import RedisAsyncResultBackend, RedisStreamBroker

from app.core.config import get_settings


def make_broker() -> AsyncBroker:
    """The broker named by QUEUE_BROKER: Redis, or in-process memory for tests."""
    settings = get_settings()
    if settings.QUEUE_BROKER == "memory":
        return InMemoryBroker()
    results: RedisAsyncResultBackend[Any] = RedisAsyncResultBackend(
        settings.REDIS_URL, result_ex_time=settings.JOB_RESULT_TTL
    )
    return RedisStreamBroker(
        settings.REDIS_URL,
        queue_name=f"{settings.PROJECT_NAME}:jobs",
        consumer_group_name=f"{settings.PROJECT_NAME}:workers",
    ).with_result_backend(results)


logger = logging.getLogger(__name__)
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
