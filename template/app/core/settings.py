"""Settings every service has, whatever features it was generated with."""

from typing import Annotated, Literal

from pydantic import BeforeValidator, Field
from pydantic_settings import BaseSettings

from app.core.workers import resolve_workers

# Seconds past the stop budget before a server kills a worker still stopping.
KILL_MARGIN = 5

# `auto` or a number; always an int once validated.
Workers = Annotated[int, BeforeValidator(resolve_workers), Field(ge=1)]


class ServiceSettings(BaseSettings):
    """The server, its processes and threads, and how it sits behind a proxy."""

    PROJECT_NAME: str = "service"
    ENVIRONMENT: Literal["production", "development"] = "production"
    LOG_LEVEL: Literal["critical", "error", "warning", "info", "debug"] = "info"
    ACCESS_LOG: bool = False
    # /docs, /redoc and /openapi.json. Unset: served with ENVIRONMENT=development only, since
    # the schema maps every route and its errors for whoever can reach the service.
    API_DOCS: bool | None = None

    HOST: str = "127.0.0.1"
    PORT: int = Field(default=8000, ge=1, le=65535)
    WEB_CONCURRENCY: Workers = 1
    THREADPOOL_SIZE: int = Field(default=40, ge=1)
    # The stop budget: after SIGTERM, in this order, each part at most this many seconds.
    # The service keeps accepting, answering with `Connection: close` so a proxy stops
    # reusing its connections (production only; Kubernetes' preStop sleep does it there),
    STOP_DELAY: int = Field(default=2, ge=0)
    # then in-flight requests finish (the server stops accepting new ones first),
    GRACEFUL_TIMEOUT: int = Field(default=20, ge=1)
    # then background work the lifespan owns finishes or is cancelled,
    DRAIN_TIMEOUT: int = Field(default=10, ge=0)
    # then work still running in the process pool finishes or its processes are terminated.
    POOL_TIMEOUT: int = Field(default=5, ge=0)
    # Must exceed the idle timeout of the proxy in front (nginx: 60 s) or it sees 502s.
    KEEP_ALIVE_TIMEOUT: int = Field(default=75, ge=1)
    # Addresses whose X-Forwarded-* headers are trusted: the proxy's, nobody else's.
    FORWARDED_ALLOW_IPS: str = "127.0.0.1"
    # Bytes a request body may have; larger ones answer 413 unread.
    MAX_BODY_SIZE: int = Field(default=1_048_576, ge=0)
    # Timeout of the shared HTTP client's calls to other services.
    UPSTREAM_TIMEOUT: float = Field(default=5.0, gt=0)

    @property
    def docs_enabled(self) -> bool:
        """Whether the API documents are served: API_DOCS, else development only."""
        return self.ENVIRONMENT == "development" if self.API_DOCS is None else self.API_DOCS

    @property
    def stop_budget(self) -> int:
        """Seconds a stop may take in all: the sum of its parts."""
        return self.stop_delay + self.GRACEFUL_TIMEOUT + self.DRAIN_TIMEOUT + self.POOL_TIMEOUT

    @property
    def stop_delay(self) -> int:
        """STOP_DELAY in production; in development a stop is at once."""
        return self.STOP_DELAY if self.ENVIRONMENT == "production" else 0

    @property
    def kill_timeout(self) -> int:
        """When the server kills a worker that is still stopping: the budget and a margin for
        closing connections and exiting. Nothing in the budget reaches it."""
        return self.stop_budget + KILL_MARGIN
