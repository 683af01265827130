"""Run the command-line interface with `python -m fastscaffold`."""

from fastscaffold.cli import main

if __name__ == "__main__":
    main()
