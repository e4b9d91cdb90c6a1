"""Custody events: the vocabulary of what can happen to an asset and the canonical record an entry stores."""

from __future__ import annotations

import datetime as dt
import hashlib
import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from importlib import metadata
from typing import Any

from provenance.errors import CustodyError

EVENT_KINDS = frozenset(
    {"ingest", "extract", "train", "convert", "watermark", "sign", "export", "download", "verify", "delete", "consent",
     "abort", "begin"}  # begin: an operation started (parameters: its owner process); see `operation_begun`
)
RECORD_VERSION = 1
# The kinds that end an operation other than a seal session, citing its begin's sequence number as `begin`.
_ENDS_A_BEGIN = frozenset({"extract", "train", "abort"})


def operation_begun(kind: str, seq: int, parameters: Mapping[str, Any]) -> str | None:
    """The key of the operation that the entry at `seq` begins (None: it begins none).

    A seal session is named by its watermark ID: its `begin` opens it and a `sign` of its output or an `abort`
    (work stopped before delivering it; `reason` says why) ends it. Any other operation (an extraction, a
    training run) is named by its `begin`'s sequence number, which the event that ends it (its own kind on
    success, else `abort`) cites as the parameter `begin`."""
    if kind != "begin":
        return None
    return f"watermark:{parameters['watermark_id']}" if "watermark_id" in parameters else f"begin:{seq}"


def operation_ended(kind: str, parameters: Mapping[str, Any]) -> str | None:
    """The key of the operation that an entry ends (None: it ends none); see `operation_begun`."""
    if kind in ("sign", "abort") and "watermark_id" in parameters:
        return f"watermark:{parameters['watermark_id']}"
    if kind in _ENDS_A_BEGIN and "begin" in parameters:
        return f"begin:{parameters['begin']}"
    return None


def tool_version() -> str:
    try:
        return f"faceproof {metadata.version('faceproof')}"
    except metadata.PackageNotFoundError:
        return "faceproof (not installed)"


def utc_now() -> str:
    return dt.datetime.now(dt.timezone.utc).isoformat(timespec="microseconds").replace("+00:00", "Z")


def canonical_json(value: Any) -> bytes:
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode("utf-8")


def sha256_file(path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        while chunk := handle.read(1 << 20):
            digest.update(chunk)
    return digest.hexdigest()


@dataclass(frozen=True)
class AssetRef:
    """A file an event read or wrote, by content hash; the name is only a reminder for people."""

    sha256: str
    name: str = ""

    def __post_init__(self) -> None:
        if len(self.sha256) != 64 or any(c not in "0123456789abcdef" for c in self.sha256):
            raise CustodyError(f"not a lowercase hex SHA-256: {self.sha256!r}")

    def to_json(self) -> dict[str, str]:
        return {"sha256": self.sha256, "name": self.name}


@dataclass(frozen=True)
class Event:
    """What happened, by whom and why; `append` adds position, link, time, host and tool version."""

    kind: str
    actor: str
    inputs: tuple[AssetRef, ...] = ()
    outputs: tuple[AssetRef, ...] = ()
    parameters: Mapping[str, Any] = field(default_factory=dict)
    reason: str = ""
    identities: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        if self.kind not in EVENT_KINDS:
            raise CustodyError(f"unknown custody event kind {self.kind!r} (known: {', '.join(sorted(EVENT_KINDS))})")
        if not self.actor:
            raise CustodyError("a custody event needs an actor (who did it)")

    def record(self, seq: int, prev: bytes, time: str, host: str, tool: str) -> dict[str, Any]:
        return {
            "v": RECORD_VERSION,
            "seq": seq,
            "prev": prev.hex(),
            "kind": self.kind,
            "time": time,
            "actor": self.actor,
            "host": host,
            "tool": tool,
            "parameters": dict(self.parameters),
            "inputs": [asset.to_json() for asset in self.inputs],
            "outputs": [asset.to_json() for asset in self.outputs],
            "identities": list(self.identities),
            "reason": self.reason,
        }

    def index_keys(self, seq: int) -> list[tuple[str, int]]:
        keys = {f"sha256:{asset.sha256}" for asset in (*self.inputs, *self.outputs)}
        keys |= {f"identity:{name}" for name in self.identities}
        keys.add(f"kind:{self.kind}")
        keys |= {f"operation:{key}" for key in (self.begins(seq), self.ends()) if key}
        return [(key, seq) for key in sorted(keys)]

    def begins(self, seq: int) -> str | None:
        """The operation this event begins when stored at `seq` (`operation_begun`)."""
        return operation_begun(self.kind, seq, self.parameters)

    def ends(self) -> str | None:
        return operation_ended(self.kind, self.parameters)
