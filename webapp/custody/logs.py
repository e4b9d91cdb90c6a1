"""The installation's custody log for web requests and jobs: the same log the CLI uses ($FACEPROOF_HOME)."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from provenance.custody.log import AssetRef, CustodyLog, Event, checkpoint_to_json
from provenance.seal import installation_keys, installation_log


def ensure_keys() -> None:
    """Generate the installation's keys on first use ($FACEPROOF_KEY_PASSPHRASE protects them)."""
    installation_keys()


@contextmanager
def custody_log(*, writable: bool = False) -> Iterator[CustodyLog]:
    ensure_keys()
    log = installation_log(writable=writable)
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
