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
     "abort", "begin"}  # begin: a seal session started making an output (parameters: its watermark_id); it ends
    # in a `sign` of that output or an `abort` (work stopped before delivering it; `reason` says why)
)
RECORD_VERSION = 1


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
        return [(key, seq) for key in sorted(keys)]
