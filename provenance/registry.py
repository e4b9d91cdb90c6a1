"""Watermark registry: watermark ID -> the signed output, its C2PA manifest and its custody record.

This is what makes a stripped clip traceable: the invisible watermark survives re-encoding, its decoded ID
is looked up here, and the entry points at the original signed file and the custody log entry that
recorded it. It lives in the custody database (one file to back up) and is append-only like the log.

Hooks for the watermark code: `allocate_id()` reserves a fresh random 32-bit ID before embedding;
`provenance.seal.seal(..., watermark_id=...)` records it; `lookup(id)` answers a detection.
"""

from __future__ import annotations

import os
import secrets
import sqlite3
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from provenance.custody.store import connect_sqlite
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
"""
_TRIGGERS = "\n".join(
    f"CREATE TRIGGER IF NOT EXISTS {table}_no_{action.lower()} BEFORE {action} ON {table} "
    f"BEGIN SELECT RAISE(ABORT, '{table} is append-only'); END;"
    for table in ("watermark_ids", "watermark_records")
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


def _check_id(watermark_id: int) -> int:
    if not 0 <= int(watermark_id) < 1 << WATERMARK_ID_BITS:
        raise ProvenanceError(f"watermark ID {watermark_id} is outside 0..2^{WATERMARK_ID_BITS}-1")
    return int(watermark_id)


class WatermarkRegistry:
    def __init__(self, database: str | os.PathLike | sqlite3.Connection) -> None:
        self._db = database if isinstance(database, sqlite3.Connection) else connect_sqlite(Path(database))
        self._db.executescript(_SCHEMA + _TRIGGERS)

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

    def record(self, entry: RegistryEntry) -> None:
        """Bind a reserved ID to its signed output, once: a second record for the same ID is refused."""
        if not self.is_reserved(entry.watermark_id):
            raise ProvenanceError(f"watermark ID {entry.watermark_id} was never allocated or reserved")
        try:
            self._db.execute(
                "INSERT INTO watermark_records (watermark_id, output_name, output_sha256, manifest_label, log_id, "
                "custody_seq, checkpoint_size, checkpoint_root) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                (
                    entry.watermark_id, entry.output_name, entry.output_sha256, entry.manifest_label, entry.log_id,
                    entry.custody_seq, entry.checkpoint_size, entry.checkpoint_root,
                ),
            )
        except sqlite3.IntegrityError:
            raise ProvenanceError(f"watermark ID {entry.watermark_id} is already bound to another output") from None

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
