#!/usr/bin/env python3
"""SoraStats command line: parses arguments and hands them to the `sorastats` package."""

import sys

from sorastats.cli import main

if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
