"""Settings of the concurrency examples."""

from pydantic import Field
from pydantic_settings import BaseSettings


class ExamplesSettings(BaseSettings):
    """Where the fan-out example sends its calls, and its deadline."""

    # Base URL of the upstream service the fan-out example calls; empty means this service,
    # at the address the request reached it on.
    UPSTREAM_URL: str = ""
    FANOUT_TIMEOUT: float = Field(default=2.0, gt=0)
