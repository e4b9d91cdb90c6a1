"""The `faceproof` command: the product's stages, each a Django management command in `webapp.console` (or the
app next to it) and a thin wrapper over the same plain Python function that the web app's background jobs call.

`faceproof`, `faceproof -h` and `faceproof help` list the stages, one line each; `faceproof help STAGE` (or
`faceproof STAGE -h`) shows a stage's options. Django's own commands (migrate, createsuperuser, ...) are under
`faceproof admin ...`; `faceproof admin help` lists them all.
"""

from __future__ import annotations

import os
import sys

# The stages in the order a user meets them; each one's line is the first sentence of its command's `help`.
STAGES = ("extract", "sort", "train", "convert", "verify", "detect", "watermark", "consent", "keys", "custody",
          "serve", "webuser", "witness")
ASKS_FOR_HELP = ("-h", "--help", "help")


def main(argv: list[str] | None = None) -> int:
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "webapp.settings")
    from django.core.management import ManagementUtility

    argv = list(sys.argv[1:] if argv is None else argv)
    if not argv or (argv[0] in ASKS_FOR_HELP and len(argv) == 1):
        sys.stdout.write(usage())
        return 0
    if argv[0] == "admin":
        argv = argv[1:] or ["help"]
    ManagementUtility(["faceproof", *argv]).execute()
    return 0


def usage() -> str:
    import django
    from django.core.management import get_commands, load_command_class

    django.setup()
    apps = get_commands()
    lines = ["usage: faceproof STAGE [options]   (faceproof STAGE -h for a stage's options)", "", "stages:"]
    for stage in STAGES:
        summary = " ".join(str(load_command_class(apps[stage], stage).help).split())
        lines.append(f"  {stage:10s} {summary.split('. ')[0].rstrip('.')}.")
    lines += ["", "administration: faceproof admin COMMAND (Django's commands: migrate, createsuperuser, ...; "
              "faceproof admin help lists them)", ""]
    return "\n".join(lines)
