"""Signed checkpoints: the statement "this log had `size` entries with Merkle `root` at `time`"."""

from __future__ import annotations

import base64
import hashlib
from collections.abc import Mapping
from typing import Any

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ed25519

from provenance.custody.events import utc_now
from provenance.custody.store import Checkpoint
from provenance.errors import CustodyError

CHECKPOINT_HEADER = "faceproof custody checkpoint v1"


def log_id_for(public_key: ed25519.Ed25519PublicKey) -> str:
    """A log is named by the SHA-256 of its checkpoint key, so a checkpoint says which log it belongs to."""
    raw = public_key.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    return hashlib.sha256(raw).hexdigest()


def checkpoint_message(size: int, root: bytes, time: str, log_id: str) -> bytes:
    """The exact bytes a checkpoint signature covers (a small text note, readable in a bundle)."""
    return f"{CHECKPOINT_HEADER}\nlog {log_id}\nsize {size}\nroot {base64.b64encode(root).decode()}\ntime {time}\n".encode()


def sign_checkpoint(key: ed25519.Ed25519PrivateKey, size: int, root: bytes, time: str | None = None) -> Checkpoint:
    time = time or utc_now()
    log_id = log_id_for(key.public_key())
    return Checkpoint(size, root, time, log_id, key.sign(checkpoint_message(size, root, time, log_id)))


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
