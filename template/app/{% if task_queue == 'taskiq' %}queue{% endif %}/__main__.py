"""`python -m app.queue`: run taskiq workers with the settings' process and job counts.

`python -m app.queue --print` shows the command instead of running it.
"""

import os
import shlex
import sys

from app.core.config import Settings, get_settings
from app.features import FEATURES


def command(settings: Settings) -> list[str]:
    """The taskiq worker command: QUEUE_WORKERS processes, QUEUE_CONCURRENCY jobs each."""
    tasks = [module for feature in FEATURES for module in feature.tasks]
    return [
        sys.executable, "-m", "taskiq", "worker",
        "app.queue.broker:broker", *tasks,
        "--workers", str(settings.QUEUE_WORKERS),
        "--max-async-tasks", str(settings.QUEUE_CONCURRENCY),
        # Acknowledge only once the result is stored: a crash before that means redelivery.
        "--ack-type", "when_saved",
        # Running jobs get GRACEFUL_TIMEOUT; then the lifespan's shutdown gets the rest of
        # the stop budget (background work, the process pool) and the kill margin.
        "--wait-tasks-timeout", str(settings.GRACEFUL_TIMEOUT),
        "--shutdown-timeout", str(settings.kill_timeout - settings.GRACEFUL_TIMEOUT),
    ]  # fmt: skip


def main(argv: list[str]) -> None:
    """Replace this process with the worker supervisor, so signals reach it directly."""
    cmd = command(get_settings())
    if "--print" in argv:
        print(shlex.join(cmd))
        return
    os.execv(cmd[0], cmd)


if __name__ == "__main__":
    main(sys.argv[1:])
