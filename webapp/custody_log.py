"""The installation of web requests and jobs, and its custody log: the same ones the CLI uses ($FACEPROOF_HOME).

Each request or job resolves the installation when it starts (`installation()`), as each CLI command does.

Every web app writes it, so it sits below them all (webapp.APP_ORDER). The log is one per installation and its
events carry no organisation field, but every event the web app appends names its actor `user@organisation-slug`
(`actor_of`): an event belongs to the organisation whose slug follows the actor's last "@" (slugs cannot hold "@",
user names can, so only the last one counts), and an organisation sees only its own events.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from contextlib import AbstractContextManager
from typing import Any

from provenance.custody.log import AssetRef, CustodyLog, Event
from provenance.installation import Installation
from webapp.accounts.models import Organisation

History = Callable[[str], list[dict[str, Any]]]


def installation() -> Installation:
    return Installation.from_environment()


def ensure_keys() -> None:
    """Generate the installation's keys on first use ($FACEPROOF_KEY_PASSPHRASE protects them)."""
    installation().keys()


def custody_log(*, writable: bool = False) -> AbstractContextManager[CustodyLog]:
    return installation().opened_log(writable=writable)


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


def owner_slug(event: Mapping[str, Any]) -> str | None:
    """The organisation slug an event's actor names, or None for an actor outside the web app (the CLI's)."""
    user, at, slug = str(event.get("actor", "")).rpartition("@")
    return slug if at and user and slug else None


def visible_to(organisation: Organisation, event: Mapping[str, Any]) -> bool:
    return owner_slug(event) == organisation.slug


def organisation_history(organisation: Organisation) -> History:
    """The custody events of a SHA-256 that `organisation` may see: what its detector reports show."""

    def history(sha256: str) -> list[dict[str, Any]]:
        with custody_log() as log:
            return [event for event in log.history(sha256) if visible_to(organisation, event)]

    return history
