"""Errors that carry a message meant for a person: the CLI prints them as one line and exits non-zero."""

from __future__ import annotations


class ProvenanceError(Exception):
    """Base class for every refusal or failure in `provenance` that a person can act on."""


class SigningKeyError(ProvenanceError):
    """Signing keys are missing, locked (no passphrase), unreadable or not acceptable to C2PA."""


class UnsupportedFormatError(ProvenanceError):
    """The file's format cannot carry an embedded C2PA manifest."""


class CustodyError(ProvenanceError):
    """The custody log or an auditor bundle is unreadable or failed verification."""


class ConsentError(ProvenanceError):
    """An identity is about to be used without a recorded consent."""
