"""Signed checkpoints: the statement "this log had `size` entries with Merkle `root` at `time`".

A checkpoint is signed as a C2SP checkpoint (c2sp.org/tlog-checkpoint), so tools of the transparency ecosystem
(monitors, witnesses, Go's sumdb/note) can read and verify it without faceproof code:

    faceproof.custody/<first 16 hex digits of the log ID>
    <size>
    <base64 root>
    time <UTC time, ISO 8601>

    — faceproof.custody/... <base64(key ID || Ed25519 signature)>

The origin is derived from the checkpoint key, so it never changes while the key does not, and the one
extension line carries the time the log signed. Checkpoints signed before this format (a private text,
CHECKPOINT_HEADER) still verify; they cannot be shown as notes.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric import ed25519

from provenance.custody import note
from provenance.custody.events import utc_now
from provenance.custody.merkle import HASH_SIZE
from provenance.custody.records import Checkpoint
from provenance.errors import CustodyError

CHECKPOINT_HEADER = "faceproof custody checkpoint v1"
ORIGIN_PREFIX = "faceproof.custody/"
TIME_EXTENSION = "time "


def log_id_for(public_key: ed25519.Ed25519PublicKey) -> str:
    """A log is named by the SHA-256 of its checkpoint key, so a checkpoint says which log it belongs to."""
    return hashlib.sha256(note.raw_public_key(public_key)).hexdigest()


def origin_for(log_id: str) -> str:
    return f"{ORIGIN_PREFIX}{log_id[:16]}"


def log_verifier(public_key: ed25519.Ed25519PublicKey) -> note.Verifier:
    """The log's note key: named by its origin, as tlog-checkpoint recommends."""
    return note.Verifier(origin_for(log_id_for(public_key)), note.ED25519, public_key)


def checkpoint_text(size: int, root: bytes, time: str, log_id: str) -> str:
    """The note text a checkpoint signature covers."""
    return f"{origin_for(log_id)}\n{size}\n{base64.b64encode(root).decode()}\n{TIME_EXTENSION}{time}\n"


def checkpoint_message(size: int, root: bytes, time: str, log_id: str) -> bytes:
    """What checkpoints signed before the note format covered (still accepted by `checkpoint_signed`)."""
    return f"{CHECKPOINT_HEADER}\nlog {log_id}\nsize {size}\nroot {base64.b64encode(root).decode()}\ntime {time}\n".encode()


def sign_checkpoint(key: ed25519.Ed25519PrivateKey, size: int, root: bytes, time: str | None = None) -> Checkpoint:
    time = time or utc_now()
    log_id = log_id_for(key.public_key())
    return Checkpoint(size, root, time, log_id, key.sign(checkpoint_text(size, root, time, log_id).encode()))


def _signs(public_key: ed25519.Ed25519PublicKey, signature: bytes, message: bytes) -> bool:
    try:
        public_key.verify(signature, message)
    except InvalidSignature:
        return False
    return True


def is_note(checkpoint: Checkpoint, public_key: ed25519.Ed25519PublicKey) -> bool:
    text = checkpoint_text(checkpoint.size, checkpoint.root, checkpoint.time, checkpoint.log_id)
    return _signs(public_key, checkpoint.signature, text.encode())


def checkpoint_signed(checkpoint: Checkpoint, public_key: ed25519.Ed25519PublicKey) -> bool:
    """Whether `public_key` signed this checkpoint, as a note or in the earlier format."""
    fields = (checkpoint.size, checkpoint.root, checkpoint.time, checkpoint.log_id)
    return is_note(checkpoint, public_key) or _signs(public_key, checkpoint.signature, checkpoint_message(*fields))


def checkpoint_note(
    checkpoint: Checkpoint, public_key: ed25519.Ed25519PublicKey, cosignatures: Sequence[note.NoteSignature] = ()
) -> str:
    """The checkpoint as a signed note, the log's signature first and then any witnesses' cosignatures."""
    if not is_note(checkpoint, public_key):
        raise CustodyError(f"checkpoint of size {checkpoint.size} was signed before checkpoints were notes "
                           "(`faceproof custody checkpoint --new` signs the current head as one)")
    verifier = log_verifier(public_key)
    own = note.NoteSignature(verifier.name, verifier.key_id, checkpoint.signature)
    text = checkpoint_text(checkpoint.size, checkpoint.root, checkpoint.time, checkpoint.log_id)
    return note.Note(text, (own, *cosignatures)).encode()


@dataclass(frozen=True)
class TreeHead:
    """The first three lines of any tlog-checkpoint, and its extension lines."""

    origin: str
    size: int
    root: bytes
    extensions: tuple[str, ...] = ()


def parse_tree_head(text: str) -> TreeHead:
    lines = text.split("\n")
    if len(lines) < 4 or lines[-1] != "" or not all(lines[:-1]):
        raise note.NoteError("malformed checkpoint: it needs origin, size and root lines, none empty")
    origin, size, root = lines[:3]
    try:
        root_hash = base64.b64decode(root, validate=True)
    except binascii.Error:
        root_hash = b""
    if not size.isdigit() or (size != "0" and size.startswith("0")) or len(root_hash) != HASH_SIZE:
        raise note.NoteError("malformed checkpoint: bad tree size or root hash")
    return TreeHead(origin, int(size), root_hash, tuple(lines[3:-1]))


def checkpoint_from_note(data: bytes | str, public_key: ed25519.Ed25519PublicKey) -> Checkpoint:
    """Read back a checkpoint note this log's key signed (other signatures are ignored)."""
    verifier = log_verifier(public_key)
    signed, verified = note.open_note(data, [verifier])
    head = parse_tree_head(signed.text)
    times = [line.removeprefix(TIME_EXTENSION) for line in head.extensions if line.startswith(TIME_EXTENSION)]
    if head.origin != verifier.name or len(times) != 1:
        raise note.NoteError(f"not a checkpoint of log {verifier.name}")
    return Checkpoint(head.size, head.root, times[0], log_id_for(public_key), verified[0].signature)


def checkpoint_to_json(checkpoint: Checkpoint) -> dict[str, Any]:
    return {
        "size": checkpoint.size,
        "root": checkpoint.root.hex(),
        "time": checkpoint.time,
        "log_id": checkpoint.log_id,
        "signature": checkpoint.signature.hex(),
    }


def checkpoint_from_json(data: Mapping[str, Any]) -> Checkpoint:
    try:
        return Checkpoint(
            int(data["size"]), bytes.fromhex(data["root"]), str(data["time"]), str(data["log_id"]),
            bytes.fromhex(data["signature"]),
        )
    except (KeyError, TypeError, ValueError) as exc:
        raise CustodyError(f"malformed checkpoint ({exc})") from None
