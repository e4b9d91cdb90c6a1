"""The installation of web requests and jobs, and its custody log: the same ones the CLI uses ($FACEPROOF_HOME).

Each request or job resolves the installation when it starts (`installation()`), as each CLI command does."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from provenance.custody.log import AssetRef, CustodyLog, Event, checkpoint_to_json
from provenance.installation import Installation


def installation() -> Installation:
    return Installation.from_environment()


def ensure_keys() -> None:
    """Generate the installation's keys on first use ($FACEPROOF_KEY_PASSPHRASE protects them)."""
    installation().keys()


@contextmanager
def custody_log(*, writable: bool = False) -> Iterator[CustodyLog]:
    here = installation()
    here.keys()
    log = here.custody_log(writable=writable)
    try:
        yield log
    finally:
        log.store.close()


def latest_checkpoint(log: CustodyLog) -> dict | None:
    """The newest signed checkpoint as JSON, or None while the log is still empty."""
    return checkpoint_to_json(log.latest_checkpoint()) if log.store.size() else None


def actor_of(user) -> str:
    """How a web user appears in the custody log: user name at organisation."""
    member = getattr(user, "membership", None)
    return f"{user.get_username()}@{member.organisation.slug}" if member else user.get_username()


def append(kind: str, actor: str, *, inputs=(), outputs=(), parameters=None, reason: str = "", identities=()) -> int:
    """Append one event and return its sequence number. inputs/outputs are (sha256, name) pairs."""
    event = Event(kind=kind, actor=actor, inputs=tuple(AssetRef(*pair) for pair in inputs),
                  outputs=tuple(AssetRef(*pair) for pair in outputs), parameters=parameters or {},
                  reason=reason, identities=tuple(identities))
    with custody_log(writable=True) as log:
        return log.append(event).seq
