"""`python -m app`: run the configured server with the settings' worker count.

`python -m app --print` shows the command instead of running it.
"""

import os
import shlex
import sys

from app.core.config import get_settings
from app.serve import command


def main(argv: list[str]) -> None:
    """Replace this process with the server, so signals reach it directly."""
    cmd = command(get_settings())
    if "--print" in argv:
        print(shlex.join(cmd))
        return
    os.execv(cmd[0], cmd)


if __name__ == "__main__":
    main(sys.argv[1:])
