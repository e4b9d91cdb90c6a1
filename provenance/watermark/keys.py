"""The watermark secret (32 bytes) and everything derived from it.

The same secret must be used to embed and to detect; whoever holds it can both read and forge marks, so it is
stored like a private key (0600). Derivation is hash-based (HMAC-SHA256 then SHAKE-256), never numpy's random
streams, so a clip watermarked today stays detectable with any future numpy.
"""

from __future__ import annotations

import hashlib
import hmac
import os
from pathlib import Path

from provenance.watermark.errors import WatermarkError

SECRET_BYTES = 32
_DOMAIN = b"faceproof/watermark/v1/"


def check_secret(secret: bytes) -> bytes:
    if not isinstance(secret, bytes | bytearray) or len(secret) != SECRET_BYTES:
        raise WatermarkError(f"a watermark key is {SECRET_BYTES} bytes, got {len(secret) if secret else 0}")
    return bytes(secret)


def derive_bytes(secret: bytes, label: str, length: int) -> bytes:
    """`length` pseudo-random bytes bound to (secret, label): independent streams for each use of the key."""
    seed = hmac.new(check_secret(secret), _DOMAIN + label.encode("ascii"), hashlib.sha256).digest()
    return hashlib.shake_256(seed).digest(length)


def key_fingerprint(secret: bytes) -> str:
    """A short public name for a key (safe to print and log): which key a detection was run with."""
    return derive_bytes(secret, "fingerprint", 8).hex()


def _publish_private(path: Path, data: bytes) -> bool:
    """Write `data` 0600 from the first byte and link it into place only if `path` does not exist yet.

    Linking (not renaming) means two processes creating the key at once cannot overwrite each other: the loser
    gets False and must read the winner's key.
    """
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        os.link(tmp, path)
        return True
    except FileExistsError:
        return False
    finally:
        tmp.unlink(missing_ok=True)


def load_or_create_watermark_key(path: str | os.PathLike) -> bytes:
    """The installation's watermark secret at `path`, created (random, 0600, parent 0700) if absent."""
    path = Path(path)
    if not path.exists():
        path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        secret = os.urandom(SECRET_BYTES)
        if _publish_private(path, secret):
            return secret
    if path.stat().st_mode & 0o077:
        raise WatermarkError(f"{path}: the watermark key is readable by others; run chmod 600 on it")
    try:
        return check_secret(path.read_bytes())
    except WatermarkError as exc:
        raise WatermarkError(f"{path}: {exc}") from None
