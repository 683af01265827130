"""`python -m app`: run the configured server with the settings' worker count.

`python -m app --print` shows the command instead of running it. Pending database
migrations, where there is a database, are applied by the lifespan (MIGRATE_ON_START).
The exit code is 0 after a clean stop and non-zero when the service could not start.
"""

import logging
import os
import shlex
import sys

from app.core.config import get_settings
from app.serve import command, run


def main(argv: list[str]) -> int:
    logging.basicConfig(level=logging.INFO, format="%(message)s")  # the worker-count line
    settings = get_settings()
    cmd = command(settings)
    if "--print" in argv:
        print(shlex.join(cmd))
        return 0
    logging.getLogger("app").info("starting %d %s worker(s)", settings.WEB_CONCURRENCY, cmd[2])
    # The servers' own workers see the resolved count, not `auto` again.
    os.environ["WEB_CONCURRENCY"] = str(settings.WEB_CONCURRENCY)
    return run(settings)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
