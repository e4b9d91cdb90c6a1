"""Shared behaviour of the stage commands: user errors become one line and a non-zero exit."""

from __future__ import annotations

from django.core.management.base import BaseCommand, CommandError

from provenance.installation import Installation
from webapp.errors import USER_ERRORS


class StageCommand(BaseCommand):
    """A management command whose `run(**options)` (defined by each subclass) calls one core function.

    Errors meant for a person (bad input, missing files, refused actions) are printed without a traceback;
    anything else is a bug and keeps its traceback. The installation ($FACEPROOF_HOME and its settings) is
    resolved once, here, as `self.installation`; `run` passes it, or what it makes, to the core function.
    """

    installation: Installation

    def handle(self, *args, **options):
        try:
            self.installation = Installation.from_environment()
            return self.run(**options)
        except USER_ERRORS as exc:
            raise CommandError(str(exc)) from exc
