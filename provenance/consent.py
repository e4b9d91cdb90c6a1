"""Consent records: person P agreed that identity Y (their face) may be used, on date D, per document X.

A consent is a custody event (kind "consent"), so it is timestamped, signed into the log and auditable
like everything else; the document itself stays wherever the organisation keeps it, the log holds its
SHA-256. A later "revoked" event for the same identity withdraws it. Training and sealing call
`require_consent`, which refuses to go on for any identity without a standing consent.
"""

from __future__ import annotations

import datetime as dt
import os
from collections.abc import Iterable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from provenance.custody.log import AssetRef, CustodyLog, Event, Receipt, sha256_file
from provenance.errors import ConsentError


@dataclass(frozen=True)
class ConsentRecord:
    identity: str
    person: str
    granted_on: str
    document_sha256: str
    document_name: str
    scope: str
    custody_seq: int
    recorded_at: str
    revoked: bool = False

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


def _check_identity(identity: str) -> str:
    name = identity.strip()
    if not name:
        raise ConsentError("an identity name is required")
    return name


def record_consent(
    log: CustodyLog,
    *,
    identity: str,
    person: str,
    document: str | os.PathLike,
    actor: str,
    granted_on: dt.date | None = None,
    scope: str = "face-swap",
    reason: str = "",
) -> Receipt:
    """Record a consent backed by a signed form or attestation file (its hash goes into the log)."""
    path = Path(document)
    if not path.is_file():
        raise ConsentError(f"{path}: the consent document does not exist")
    if not person.strip():
        raise ConsentError("the consenting person's name is required")
    granted = (granted_on or dt.date.today()).isoformat()
    event = Event(
        kind="consent",
        actor=actor,
        inputs=(AssetRef(sha256_file(path), path.name),),
        parameters={"action": "granted", "identity": _check_identity(identity), "person": person.strip(),
                    "granted_on": granted, "scope": scope},
        reason=reason or f"{person.strip()} consented to the use of identity {identity!r}",
        identities=(_check_identity(identity),),
    )
    return log.append(event)


def revoke_consent(log: CustodyLog, *, identity: str, actor: str, reason: str) -> Receipt:
    if consent_status(log, identity) is None:
        raise ConsentError(f"identity {identity!r} has no standing consent to revoke")
    event = Event(
        kind="consent",
        actor=actor,
        parameters={"action": "revoked", "identity": _check_identity(identity)},
        reason=reason,
        identities=(_check_identity(identity),),
    )
    return log.append(event)


def _from_event(event: dict[str, Any]) -> ConsentRecord:
    params = event["parameters"]
    document = event["inputs"][0] if event["inputs"] else {"sha256": "", "name": ""}
    return ConsentRecord(
        identity=params["identity"],
        person=params.get("person", ""),
        granted_on=params.get("granted_on", ""),
        document_sha256=document["sha256"],
        document_name=document["name"],
        scope=params.get("scope", ""),
        custody_seq=event["seq"],
        recorded_at=event["time"],
        revoked=params.get("action") == "revoked",
    )


def consent_status(log: CustodyLog, identity: str) -> ConsentRecord | None:
    """The standing consent for an identity: its latest grant, unless a later event revoked it."""
    events = [e for e in log.events_for_identity(_check_identity(identity)) if e["kind"] == "consent"]
    if not events:
        return None
    latest = _from_event(events[-1])
    return None if latest.revoked else latest


def require_consent(log: CustodyLog, identities: Iterable[str]) -> list[ConsentRecord]:
    """Every identity's standing consent, or ConsentError naming each identity that lacks one."""
    names = [_check_identity(name) for name in identities]
    if not names:
        raise ConsentError("no identity given: name the people whose faces this work uses")
    records = {name: consent_status(log, name) for name in names}
    missing = [name for name, record in records.items() if record is None]
    if missing:
        raise ConsentError(
            f"no recorded consent for {', '.join(repr(n) for n in missing)}: record one with "
            "`faceproof consent record --identity NAME --person NAME --document FILE` before using these faces"
        )
    return [records[name] for name in names]


def list_consents(log: CustodyLog) -> list[ConsentRecord]:
    """Every consent event in log order, grants and revocations."""
    return [_from_event(event) for event in log.events_of_kind("consent")]
