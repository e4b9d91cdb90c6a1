"""`python -m webapp COMMAND`: the `faceproof` command (how the job worker starts each job's own process)."""

import sys

from webapp.cli import main

sys.exit(main())
