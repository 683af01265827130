"""Task queue settings: the broker, and the queue workers' processes and concurrency."""

from typing import Literal

from pydantic import Field
from pydantic_settings import BaseSettings


class QueueSettings(BaseSettings):
    """Where the queue lives and how `python -m app.queue` runs its workers."""

    REDIS_URL: str = "redis://127.0.0.1:6379/0"
    # "memory" runs jobs inside the web process (tests); "redis" is the distributed queue.
    QUEUE_BROKER: Literal["redis", "memory"] = "redis"
    QUEUE_WORKERS: int = Field(default=2, ge=1)  # processes per `python -m app.queue`
    QUEUE_CONCURRENCY: int = Field(default=10, ge=1)  # jobs in flight per worker process
    JOB_RESULT_TTL: int = Field(default=3600, ge=1)  # seconds a result stays readable
    # Seconds after which a job delivered and not acknowledged (its worker died or was
    # killed) is delivered again. Longer than the longest job: one still running then runs
    # a second time elsewhere.
    JOB_REDELIVERY_TIMEOUT: int = Field(default=300, ge=1)
