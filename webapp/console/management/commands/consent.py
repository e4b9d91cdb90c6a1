"""faceproof consent record|revoke|list: who agreed that their face may be used, backed by a document's hash."""

from __future__ import annotations

import datetime as dt
import getpass
import json
from pathlib import Path

from provenance.consent import list_consents, record_consent, revoke_consent
from provenance.errors import ConsentError
from webapp.console.base import StageCommand


def _date(value: str) -> dt.date:
    try:
        return dt.date.fromisoformat(value)
    except ValueError:
        raise ConsentError(f"{value!r} is not a date (YYYY-MM-DD)") from None


class Command(StageCommand):
    help = "Record, revoke or list consents (each one an event in the custody log)."

    def add_arguments(self, parser):
        parser.add_argument("--actor", default=getpass.getuser(), help="who records this (default: your user name)")
        actions = parser.add_subparsers(dest="action", required=True)
        record = actions.add_parser("record", help="record that PERSON consented to the use of IDENTITY")
        record.add_argument("--identity", required=True, help="the identity name used in training and sealing")
        record.add_argument("--person", required=True, help="the consenting person's name")
        record.add_argument("--document", type=Path, required=True, help="the signed consent form (its SHA-256 is logged)")
        record.add_argument("--granted-on", help="date of the consent, YYYY-MM-DD (default: today)")
        record.add_argument("--scope", default="face-swap")
        revoke = actions.add_parser("revoke", help="withdraw an identity's consent (later sealing is refused)")
        revoke.add_argument("--identity", required=True)
        revoke.add_argument("--reason", required=True)
        listing = actions.add_parser("list", help="every consent event, grants and revocations")
        listing.add_argument("--json", action="store_true")

    def run(self, **options):
        action = options["action"]
        log = self.installation.custody_log(writable=action != "list")
        try:
            if action == "record":
                granted = _date(options["granted_on"]) if options["granted_on"] else None
                receipt = record_consent(log, identity=options["identity"], person=options["person"],
                                         document=options["document"], actor=options["actor"], granted_on=granted,
                                         scope=options["scope"])
                self.stdout.write(f"consent for {options['identity']!r} recorded as custody entry {receipt.seq}")
            elif action == "revoke":
                receipt = revoke_consent(log, identity=options["identity"], actor=options["actor"], reason=options["reason"])
                self.stdout.write(f"consent for {options['identity']!r} revoked (custody entry {receipt.seq})")
            else:
                self._list(log, options["json"])
        finally:
            log.store.close()

    def _list(self, log, as_json: bool) -> None:
        records = list_consents(log)
        if as_json:
            self.stdout.write(json.dumps([r.to_json() for r in records], indent=2))
            return
        for r in records:
            what = "REVOKED" if r.revoked else f"granted by {r.person} on {r.granted_on} ({r.scope})"
            self.stdout.write(f"#{r.custody_seq:<6} {r.identity:<16} {what}  doc {r.document_name} {r.document_sha256[:12]}")
        if not records:
            self.stdout.write("no consent recorded yet")
