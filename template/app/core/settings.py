"""Settings every service has, whatever features it was generated with."""

from typing import Annotated, Literal

from pydantic import BeforeValidator, Field
from pydantic_settings import BaseSettings

from app.core.workers import resolve_workers

# `auto` or a number; always an int once validated.
Workers = Annotated[int, BeforeValidator(resolve_workers), Field(ge=1)]


class ServiceSettings(BaseSettings):
    """The server, its processes and threads, and how it sits behind a proxy."""

    PROJECT_NAME: str = "service"
    ENVIRONMENT: Literal["production", "development"] = "production"
    LOG_LEVEL: Literal["critical", "error", "warning", "info", "debug"] = "info"
    ACCESS_LOG: bool = False

    HOST: str = "127.0.0.1"
    PORT: int = Field(default=8000, ge=1, le=65535)
    WEB_CONCURRENCY: Workers = 1
    THREADPOOL_SIZE: int = Field(default=40, ge=1)
    # Seconds in-flight requests get to finish after SIGTERM.
    GRACEFUL_TIMEOUT: int = Field(default=30, ge=1)
    # Must exceed the idle timeout of the proxy in front (nginx: 60 s) or it sees 502s.
    KEEP_ALIVE_TIMEOUT: int = Field(default=75, ge=1)
    # Addresses whose X-Forwarded-* headers are trusted: the proxy's, nobody else's.
    FORWARDED_ALLOW_IPS: str = "127.0.0.1"
    # Timeout of the shared HTTP client's calls to other services.
    UPSTREAM_TIMEOUT: float = Field(default=5.0, gt=0)
