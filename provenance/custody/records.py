"""What a custody store holds and hands back (entries, checkpoints, cosignatures, timestamps, the head an append
builds on) and the `CustodyStore` interface that the SQLite and PostgreSQL stores implement."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Protocol

from provenance.custody.merkle import HASH_SIZE, CompactTree


@dataclass(frozen=True)
class StoredEntry:
    seq: int
    body: bytes  # canonical JSON, exactly the bytes the Merkle leaf commits to
    leaf: bytes


@dataclass(frozen=True)
class Checkpoint:
    """A signed statement: the log `log_id` had `size` entries with Merkle `root` at `time` (UTC, ISO 8601)."""

    size: int
    root: bytes
    time: str
    log_id: str
    signature: bytes


@dataclass(frozen=True)
class LogHead:
    """The state an append builds on: size, Merkle frontier and the last entry's leaf hash."""

    tree: CompactTree
    last_leaf: bytes


@dataclass(frozen=True)
class AppendBatch:
    entries: list[StoredEntry]
    index_keys: list[tuple[str, int]]  # (key, seq): "sha256:<hex>", "identity:<name>", "kind:<kind>", "operation:<key>"
    checkpoint: Checkpoint
    head: LogHead
    opened: list[tuple[str, int]] = field(default_factory=list)  # (operation key, its begin's seq)
    ended: list[str] = field(default_factory=list)  # operation keys, applied after `opened`


@dataclass(frozen=True)
class Cosignature:
    """A witness's signature line over a checkpoint note's text (c2sp.org/tlog-cosignature)."""

    witness: str  # its key name and hex key ID, "name+1a2b3c4d"
    size: int
    checkpoint: str  # the note text it signed
    line: str


@dataclass(frozen=True)
class StoredTimestamp:
    """An RFC 3161 timestamp token (DER) over a checkpoint's signed note (provenance.custody.timestamp)."""

    size: int
    checkpoint: str  # the signed note whose SHA-256 the token stamps
    token: bytes


GENESIS_LEAF = bytes(HASH_SIZE)


class CustodyStore(Protocol):
    """Storage of entries, checkpoints and a lookup index. Implementations must be durable on return."""

    def append(self, prepare: Callable[[LogHead], AppendBatch]) -> AppendBatch: ...

    def add_checkpoint(self, prepare: Callable[[LogHead], Checkpoint]) -> Checkpoint: ...

    def size(self) -> int: ...

    def entries(self, start: int = 0, end: int | None = None) -> Iterator[StoredEntry]: ...

    def leaves(self, end: int | None = None) -> list[bytes]: ...

    def checkpoints(self) -> list[Checkpoint]: ...

    def lookup(self, key: str) -> list[int]: ...

    def open_operations(self) -> list[int]: ...  # the seqs of the begins not yet ended, ascending

    def add_cosignatures(self, cosignatures: list[Cosignature]) -> None: ...

    def cosignatures(self, checkpoint: str) -> list[str]: ...

    def cosigned_size(self, witness: str) -> int: ...

    def add_timestamp(self, size: int, checkpoint: str, token: bytes) -> None: ...

    def timestamps(self, checkpoint: str | None = None) -> list[StoredTimestamp]: ...

    def close(self) -> None: ...
