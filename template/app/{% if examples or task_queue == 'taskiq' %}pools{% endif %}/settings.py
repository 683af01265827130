"""Process pool settings."""

from pydantic import Field
from pydantic_settings import BaseSettings


class PoolSettings(BaseSettings):
    """CPU-bound work per worker; processes start on first use, not at boot."""

    PROCESS_POOL_SIZE: int = Field(default=2, ge=1)
