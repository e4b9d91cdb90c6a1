"""Watermark registry: watermark ID -> the signed output, its C2PA manifest and its custody record.

This is what makes a stripped clip traceable: the invisible watermark survives re-encoding, its decoded ID
is looked up here, and the entry points at the original signed file and the custody log entry that
recorded it. It lives in the custody database (one file to back up) and is append-only like the log.

Hooks for the watermark code: `allocate_id()` reserves a fresh random 32-bit ID before embedding;
`provenance.seal.seal(..., watermark_id=...)` records it; `lookup(id)` answers a detection. The output's C2PA
manifest store is kept beside its record (`manifest_of`), so a watermark alone leads back to the manifest the
file carried (C2PA soft-binding resolution, `provenance.softbinding`).
"""

from __future__ import annotations

import os
import secrets
import sqlite3
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from provenance.custody.store import ImmediateTransaction, connect_sqlite
from provenance.errors import ProvenanceError

WATERMARK_ID_BITS = 32

_SCHEMA = """
CREATE TABLE IF NOT EXISTS watermark_ids (
    watermark_id INTEGER PRIMARY KEY,
    reserved_at TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now'))
);
CREATE TABLE IF NOT EXISTS watermark_records (
    watermark_id INTEGER PRIMARY KEY REFERENCES watermark_ids (watermark_id),
    output_name TEXT NOT NULL,
    output_sha256 TEXT NOT NULL,
    manifest_label TEXT NOT NULL,
    log_id TEXT NOT NULL,
    custody_seq INTEGER NOT NULL,
    checkpoint_size INTEGER NOT NULL,
    checkpoint_root TEXT NOT NULL,
    recorded_at TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now'))
);
CREATE INDEX IF NOT EXISTS watermark_records_output ON watermark_records (output_sha256);
CREATE TABLE IF NOT EXISTS manifest_stores (
    watermark_id INTEGER PRIMARY KEY REFERENCES watermark_records (watermark_id),
    manifest_label TEXT NOT NULL UNIQUE,
    store BLOB NOT NULL
);
"""
_TRIGGERS = "\n".join(
    f"CREATE TRIGGER IF NOT EXISTS {table}_no_{action.lower()} BEFORE {action} ON {table} "
    f"BEGIN SELECT RAISE(ABORT, '{table} is append-only'); END;"
    for table in ("watermark_ids", "watermark_records", "manifest_stores")
    for action in ("UPDATE", "DELETE")
)


@dataclass(frozen=True)
class RegistryEntry:
    watermark_id: int
    output_name: str
    output_sha256: str
    manifest_label: str
    log_id: str
    custody_seq: int  # the `sign` event that produced the output
    checkpoint_size: int
    checkpoint_root: str
    recorded_at: str = ""

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class KeptManifest:
    """The C2PA manifest store signed into an output (JUMBF, `application/c2pa`), byte for byte."""

    watermark_id: int
    manifest_label: str
    store: bytes


def _check_id(watermark_id: int) -> int:
    if not 0 <= int(watermark_id) < 1 << WATERMARK_ID_BITS:
        raise ProvenanceError(f"watermark ID {watermark_id} is outside 0..2^{WATERMARK_ID_BITS}-1")
    return int(watermark_id)


class WatermarkRegistry:
    def __init__(self, database: str | os.PathLike | sqlite3.Connection) -> None:
        self._owned = not isinstance(database, sqlite3.Connection)
        self._db = connect_sqlite(Path(database)) if self._owned else database
        self._db.executescript(_SCHEMA + _TRIGGERS)

    def close(self) -> None:
        """Close the connection this registry opened (one shared with a custody log stays open: it is the log's)."""
        if self._owned:
            self._db.close()

    def allocate_id(self) -> int:
        """Reserve an unused random ID (random, so IDs reveal nothing about order or volume)."""
        for _ in range(64):
            candidate = secrets.randbits(WATERMARK_ID_BITS)
            try:
                self._db.execute("INSERT INTO watermark_ids (watermark_id) VALUES (?)", (candidate,))
                return candidate
            except sqlite3.IntegrityError:
                continue
        raise ProvenanceError("could not find an unused watermark ID (the registry is nearly full)")

    def reserve(self, watermark_id: int) -> None:
        """Reserve an ID chosen elsewhere; refuses one that is already taken."""
        try:
            self._db.execute("INSERT INTO watermark_ids (watermark_id) VALUES (?)", (_check_id(watermark_id),))
        except sqlite3.IntegrityError:
            raise ProvenanceError(f"watermark ID {watermark_id} is already in use") from None

    def is_reserved(self, watermark_id: int) -> bool:
        row = self._db.execute("SELECT 1 FROM watermark_ids WHERE watermark_id = ?", (_check_id(watermark_id),))
        return row.fetchone() is not None

    def record(self, entry: RegistryEntry, manifest_store: bytes = b"") -> None:
        """Bind a reserved ID to its signed output, once: a second record for the same ID is refused. The output's
        manifest store, when given, is kept with it in the same transaction."""
        if not self.is_reserved(entry.watermark_id):
            raise ProvenanceError(f"watermark ID {entry.watermark_id} was never allocated or reserved")
        try:
            with ImmediateTransaction(self._db):
                self._db.execute(
                    "INSERT INTO watermark_records (watermark_id, output_name, output_sha256, manifest_label, log_id, "
                    "custody_seq, checkpoint_size, checkpoint_root) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                    (
                        entry.watermark_id, entry.output_name, entry.output_sha256, entry.manifest_label, entry.log_id,
                        entry.custody_seq, entry.checkpoint_size, entry.checkpoint_root,
                    ),
                )
                if manifest_store:
                    self._db.execute(
                        "INSERT INTO manifest_stores (watermark_id, manifest_label, store) VALUES (?, ?, ?)",
                        (entry.watermark_id, entry.manifest_label, manifest_store),
                    )
        except sqlite3.IntegrityError:
            raise ProvenanceError(f"watermark ID {entry.watermark_id} is already bound to another output") from None

    def manifest_of(self, watermark_id: int) -> KeptManifest | None:
        """The manifest store kept for the output with this watermark (outputs sealed before stores were kept
        have none)."""
        return self._kept("watermark_id", _check_id(watermark_id))

    def manifest_labelled(self, manifest_label: str) -> KeptManifest | None:
        """The manifest store kept whose active manifest has this label (a C2PA manifest ID, `urn:c2pa:...`)."""
        return self._kept("manifest_label", manifest_label)

    def _kept(self, column: str, value: int | str) -> KeptManifest | None:
        row = self._db.execute(f"SELECT watermark_id, manifest_label, store FROM manifest_stores WHERE {column} = ?",
                               (value,)).fetchone()
        return KeptManifest(row[0], row[1], bytes(row[2])) if row else None

    def lookup(self, watermark_id: int) -> RegistryEntry | None:
        """The output a detected watermark ID belongs to, or None when this installation never issued it."""
        row = self._db.execute(
            "SELECT watermark_id, output_name, output_sha256, manifest_label, log_id, custody_seq, checkpoint_size, "
            "checkpoint_root, recorded_at FROM watermark_records WHERE watermark_id = ?",
            (_check_id(watermark_id),),
        ).fetchone()
        return RegistryEntry(*row) if row else None

    def lookup_output(self, sha256: str) -> list[RegistryEntry]:
        rows = self._db.execute(
            "SELECT watermark_id, output_name, output_sha256, manifest_label, log_id, custody_seq, checkpoint_size, "
            "checkpoint_root, recorded_at FROM watermark_records WHERE output_sha256 = ?",
            (sha256,),
        )
        return [RegistryEntry(*row) for row in rows]
