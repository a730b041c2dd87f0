"""`python -m sorastats ...` and the `sorastats` command of an installed package: the same
command line as build.py."""

import sys

from sorastats.cli import main


def run() -> None:
    sys.exit(main(sys.argv[1:]))


if __name__ == "__main__":
    run()
