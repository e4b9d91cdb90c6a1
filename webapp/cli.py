"""The `faceproof` command: Django management commands, django-admin style.

Every pipeline stage is a management command in `webapp.console`, a thin wrapper over the same plain Python
function that the web app's background jobs call.
"""

from __future__ import annotations

import os
import sys


def main(argv: list[str] | None = None) -> int:
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "webapp.settings")
    from django.core.management import ManagementUtility

    argv = list(sys.argv[1:] if argv is None else argv)
    ManagementUtility(["faceproof", *(argv or ["help"])]).execute()
    return 0
