"""The app's own log lines (loggers under `app`) at LOG_LEVEL, whatever server runs it."""

import logging
import sys


def configure(level: str) -> None:
    """Send records of the `app` loggers at `level` and above to stderr.

    The servers configure their own loggers only, so without this the app's info lines (the
    lifespan's, the examples') are dropped. Handlers configured already (a logging config,
    pytest's capture) are left alone: the records reach them as before.
    """
    logger = logging.getLogger("app")
    logger.setLevel(level.upper())
    if logger.handlers or logging.getLogger().handlers:
        return
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter("%(levelname)s %(name)s: %(message)s"))
    logger.addHandler(handler)
