"""C2SP signed notes (c2sp.org/signed-note): text followed by a blank line and `— <name> <base64>` signature lines.

Two signature types are spoken here, the ones checkpoints and their witnesses use: Ed25519 note signatures
(type 0x01, over the text) and Ed25519 timestamped cosignatures (type 0x04, c2sp.org/tlog-cosignature: over
"cosignature/v1\\ntime <T>\\n" and the text). A key is named and identified by its key ID, the first four bytes
of SHA-256(name || 0x0A || type || public key), and published as a verifier key `<name>+<hex ID>+<base64>`.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import struct
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ed25519

from provenance.errors import CustodyError

ED25519 = 0x01
COSIGNATURE_ED25519 = 0x04
SIGNATURE_PREFIX = "\u2014 "  # em dash, space
MAX_SIGNATURES = 100  # the spec asks verifiers to accept at least 16


class NoteError(CustodyError):
    """A signed note is malformed, or none of its signatures is from a trusted key that verifies."""


def key_id(name: str, signature_type: int, public_key: bytes) -> bytes:
    return hashlib.sha256(name.encode() + b"\n" + bytes([signature_type]) + public_key).digest()[:4]


def raw_public_key(key: ed25519.Ed25519PublicKey) -> bytes:
    return key.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)


def check_name(name: str) -> None:
    if not name or any(c.isspace() or c == "+" for c in name):
        raise NoteError(f"a key name must be non-empty, without spaces or '+' (got {name!r})")


@dataclass(frozen=True)
class NoteSignature:
    name: str
    key_id: bytes  # 4 bytes
    signature: bytes  # what follows the key ID: an Ed25519 signature, or a timestamp and one for cosignatures

    def line(self) -> str:
        return f"{SIGNATURE_PREFIX}{self.name} {base64.b64encode(self.key_id + self.signature).decode()}\n"


@dataclass(frozen=True)
class Note:
    text: str  # ends in a newline
    signatures: tuple[NoteSignature, ...] = ()

    def encode(self) -> str:
        return self.text + "\n" + "".join(signature.line() for signature in self.signatures)


@dataclass(frozen=True)
class Verifier:
    """A trusted key: it checks the signatures whose name and key ID are its own."""

    name: str
    signature_type: int
    public_key: ed25519.Ed25519PublicKey

    @property
    def key_id(self) -> bytes:
        return key_id(self.name, self.signature_type, raw_public_key(self.public_key))

    def vkey(self) -> str:
        material = base64.b64encode(bytes([self.signature_type]) + raw_public_key(self.public_key)).decode()
        return f"{self.name}+{self.key_id.hex()}+{material}"

    def matches(self, signature: NoteSignature) -> bool:
        return signature.name == self.name and signature.key_id == self.key_id

    def verifies(self, text: str, signature: NoteSignature) -> bool:
        message, raw = text.encode(), signature.signature
        if self.signature_type == COSIGNATURE_ED25519:
            if len(raw) != 8 + 64:
                return False
            message = cosigned_message(text, cosignature_time(signature))
            raw = raw[8:]
        try:
            self.public_key.verify(raw, message)
        except InvalidSignature:
            return False
        return True


def cosigned_message(text: str, timestamp: int) -> bytes:
    return f"cosignature/v1\ntime {timestamp}\n{text}".encode()


def cosignature_time(signature: NoteSignature) -> int:
    """The POSIX time a cosignature says it was made (its first eight bytes, big-endian)."""
    return struct.unpack(">Q", signature.signature[:8])[0]


def verifier_from_vkey(vkey: str) -> Verifier:
    """Parse `<name>+<hex key ID>+<base64(type || key)>`; the key ID must be the one the key and name give."""
    parts = vkey.strip().split("+", 2)  # the base64 key may hold "+" too
    if len(parts) != 3:
        raise NoteError(f"not a verifier key (name+id+key): {vkey!r}")
    name, hex_id, material = parts
    check_name(name)
    try:
        decoded = base64.b64decode(material, validate=True)
        claimed_id = bytes.fromhex(hex_id)
    except (binascii.Error, ValueError):
        raise NoteError(f"not a verifier key (bad hex or base64): {vkey!r}") from None
    if len(hex_id) != 8 or len(decoded) != 33 or decoded[0] not in (ED25519, COSIGNATURE_ED25519):
        raise NoteError(f"not an Ed25519 verifier key: {vkey!r}")
    verifier = Verifier(name, decoded[0], ed25519.Ed25519PublicKey.from_public_bytes(decoded[1:]))
    if verifier.key_id != claimed_id:
        raise NoteError(f"verifier key {name}: its key ID does not match its key")
    return verifier


def sign(text: str, name: str, key: ed25519.Ed25519PrivateKey) -> NoteSignature:
    _check_text(text)
    check_name(name)
    return NoteSignature(name, key_id(name, ED25519, raw_public_key(key.public_key())), key.sign(text.encode()))


def cosign(text: str, name: str, key: ed25519.Ed25519PrivateKey, timestamp: int) -> NoteSignature:
    _check_text(text)
    check_name(name)
    signature = key.sign(cosigned_message(text, timestamp))
    return NoteSignature(name, key_id(name, COSIGNATURE_ED25519, raw_public_key(key.public_key())),
                         struct.pack(">Q", timestamp) + signature)


def _check_text(text: str) -> None:
    if not text.endswith("\n") or any(ord(c) < 0x20 and c != "\n" for c in text):
        raise NoteError("a note's text must end in a newline and hold no control characters")


def parse(data: bytes | str) -> Note:
    """Split a signed note into its text and signature lines (nothing verified yet)."""
    try:
        message = data.decode("utf-8") if isinstance(data, bytes) else data
    except UnicodeDecodeError:
        raise NoteError("malformed note: not UTF-8") from None
    split = message.rfind("\n\n")
    if split < 0 or not message.endswith("\n") or any(ord(c) < 0x20 and c != "\n" for c in message):
        raise NoteError("malformed note: no text, blank line and signature lines")
    text, lines = message[: split + 1], message[split + 2 :].splitlines()
    _check_text(text)
    if not lines or len(lines) > MAX_SIGNATURES:
        raise NoteError(f"malformed note: {len(lines)} signature lines")
    return Note(text, tuple(parse_signature_line(line) for line in lines))


def parse_signature_line(line: str) -> NoteSignature:
    name, space, encoded = line.removeprefix(SIGNATURE_PREFIX).partition(" ")
    if not line.startswith(SIGNATURE_PREFIX) or not space:
        raise NoteError(f"malformed note: not a signature line: {line!r}")
    check_name(name)
    try:
        raw = base64.b64decode(encoded, validate=True)
    except binascii.Error:
        raise NoteError(f"malformed note: signature of {name} is not base64") from None
    if len(raw) <= 4:
        raise NoteError(f"malformed note: signature of {name} is too short")
    return NoteSignature(name, raw[:4], raw[4:])


def open_note(data: bytes | str, verifiers: Sequence[Verifier]) -> tuple[Note, list[NoteSignature]]:
    """The note and its signatures that trusted keys verified. Signatures of unknown keys are ignored; one from a
    known key that fails rejects the whole note, and so does a note that no known key signed."""
    note = parse(data)
    verified = list(verified_signatures(note, verifiers))
    if not verified:
        raise NoteError("the note has no signature from a trusted key")
    return note, verified


def verified_signatures(note: Note, verifiers: Iterable[Verifier]) -> Iterable[NoteSignature]:
    verifiers = list(verifiers)
    for signature in dict.fromkeys(note.signatures):  # a line given twice counts once
        known = [v for v in verifiers if v.matches(signature)]
        if len(known) > 1:
            raise NoteError(f"ambiguous key {signature.name}+{signature.key_id.hex()}")
        if not known:
            continue
        if not known[0].verifies(note.text, signature):
            raise NoteError(f"invalid signature for key {signature.name}+{signature.key_id.hex()}")
        yield signature
