#!/usr/bin/env python
"""Django's command-line utility for faceproof (the same commands as the `faceproof` entry point)."""
import sys

from webapp.cli import main

if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
