"""An independent reader of C2SP signed notes, checkpoints, cosignatures and tiles, written from the specs alone.

It shares no code with `provenance.custody` (not even the Ed25519 library: verification is RFC 8032's own
pure-Python reference algorithm), so a checkpoint that passes here is one that any implementation of
c2sp.org/signed-note, tlog-checkpoint, tlog-cosignature and tlog-tiles would accept. The tests check it first
against the published vectors of golang.org/x/mod/sumdb/note and the C2SP documents.
"""

from __future__ import annotations

import base64
import hashlib
import re

# -- RFC 8032, section 6 (verification only) ------------------------------------------------------------------
P = 2**255 - 19
Q = 2**252 + 27742317777372353535851937790883648493
D = -121665 * pow(121666, P - 2, P) % P
SQRT_M1 = pow(2, (P - 1) // 4, P)


def _add(a, b):
    x = (a[1] - a[0]) * (b[1] - b[0]) % P
    y = (a[1] + a[0]) * (b[1] + b[0]) % P
    c, d = 2 * a[3] * b[3] * D % P, 2 * a[2] * b[2] % P
    e, f, g, h = y - x, d - c, d + c, y + x
    return e * f, g * h, f * g, e * h


def _mul(s, point):
    result = (0, 1, 1, 0)
    while s:
        if s & 1:
            result = _add(result, point)
        point, s = _add(point, point), s >> 1
    return result


def _x(y, sign):
    if y >= P:
        return None
    x2 = (y * y - 1) * pow(D * y * y + 1, P - 2, P)
    if x2 % P == 0:
        return None if sign else 0
    x = pow(x2, (P + 3) // 8, P)
    if (x * x - x2) % P:
        x = x * SQRT_M1 % P
    if (x * x - x2) % P:
        return None
    return P - x if (x & 1) != sign else x


def _point(encoded: bytes):
    y = int.from_bytes(encoded, "little")
    x = _x(y & ((1 << 255) - 1), y >> 255)
    return None if x is None else (x, y & ((1 << 255) - 1), 1, x * (y & ((1 << 255) - 1)) % P)


_GY = 4 * pow(5, P - 2, P) % P
BASE = (_x(_GY, 0), _GY, 1, _x(_GY, 0) * _GY % P)


def ed25519_verify(public: bytes, message: bytes, signature: bytes) -> bool:
    if len(public) != 32 or len(signature) != 64:
        return False
    a, r = _point(public), _point(signature[:32])
    s = int.from_bytes(signature[32:], "little")
    if a is None or r is None or s >= Q:
        return False
    h = int.from_bytes(hashlib.sha512(signature[:32] + public + message).digest(), "little") % Q
    left, right = _mul(s, BASE), _add(r, _mul(h, a))
    return (left[0] * right[2] - right[0] * left[2]) % P == 0 and (left[1] * right[2] - right[1] * left[2]) % P == 0


# -- c2sp.org/signed-note ---------------------------------------------------------------------------------
VKEY = re.compile(r"^([^+\s]+)\+([0-9a-f]{8})\+([A-Za-z0-9+/=]+)$")
SIGNATURE_LINE = re.compile("^\u2014 ([^ +]+) ([A-Za-z0-9+/=]+)$")


class Rejected(Exception):
    pass


def read_vkey(vkey: str) -> tuple[str, bytes, int, bytes]:
    """(name, key ID, signature type, public key) of a verifier key, its key ID checked."""
    match = VKEY.match(vkey)
    if not match:
        raise Rejected("malformed verifier key")
    name, key_hash, material = match.group(1), bytes.fromhex(match.group(2)), base64.b64decode(match.group(3))
    if hashlib.sha256(name.encode() + b"\n" + material).digest()[:4] != key_hash or len(material) != 33:
        raise Rejected("verifier key's ID does not match")
    return name, key_hash, material[0], material[1:]


def open_signed_note(message: bytes, vkeys: list[str]) -> tuple[str, list[str]]:
    """The note's text and the names of the trusted keys whose signatures verified (unknown ones ignored)."""
    text, separator, signatures = message.decode("utf-8").rpartition("\n\n")
    if not separator or re.search("[\x00-\x09\x0b-\x1f]", text + signatures) or not signatures.endswith("\n"):
        raise Rejected("malformed note")
    text += "\n"
    keys = {(name, key_hash): (kind, public) for name, key_hash, kind, public in map(read_vkey, vkeys)}
    verified = []
    for line in signatures[:-1].split("\n"):
        match = SIGNATURE_LINE.match(line)
        if not match:
            raise Rejected(f"malformed signature line {line!r}")
        raw = base64.b64decode(match.group(2))
        known = keys.get((match.group(1), raw[:4]))
        if known is None:
            continue
        kind, public = known
        if kind == 0x01:
            good = ed25519_verify(public, text.encode(), raw[4:])
        elif kind == 0x04:  # c2sp.org/tlog-cosignature: u64 timestamp, then the signature
            stamp = int.from_bytes(raw[4:12], "big")
            good = len(raw) == 76 and ed25519_verify(public, f"cosignature/v1\ntime {stamp}\n{text}".encode(), raw[12:])
        else:
            good = False
        if not good:
            raise Rejected(f"bad signature from {match.group(1)}")
        verified.append(match.group(1))
    if not verified:
        raise Rejected("no trusted signature")
    return text, verified


# -- c2sp.org/tlog-checkpoint and tlog-tiles -------------------------------------------------------------------
def read_checkpoint(text: str) -> tuple[str, int, bytes]:
    origin, size, root = text.split("\n")[:3]
    if not re.fullmatch(r"0|[1-9][0-9]*", size) or len(base64.b64decode(root)) != 32:
        raise Rejected("malformed checkpoint")
    return origin, int(size), base64.b64decode(root)


def tile_path(level: int | str, index: int, width: int = 256) -> str:
    digits = f"{index:03d}"
    groups = [digits[max(0, i - 3):i] for i in range(len(digits), 0, -3)][::-1]
    groups = [f"{int(g):03d}" for g in groups]
    name = "/".join([f"x{g}" for g in groups[:-1]] + [groups[-1]])
    return f"tile/{level}/{name}" + (f".p/{width}" if width < 256 else "")


def mth(hashes: list[bytes]) -> bytes:
    """RFC 6962 Merkle tree hash over already-hashed leaves (recursive, as the RFC writes it)."""
    if len(hashes) == 1:
        return hashes[0]
    split = 1 << ((len(hashes) - 1).bit_length() - 1)
    return hashlib.sha256(b"\x01" + mth(hashes[:split]) + mth(hashes[split:])).digest()
