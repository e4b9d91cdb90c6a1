"""Where the custody log lives: a `CustodyStore` interface and its SQLite implementation.

The interface is what a PostgreSQL store implements too: one call, `append`, runs a caller's `prepare`
function under the database's write lock (so sequence numbers, hash links and the Merkle frontier are
computed from the true head even with several writer processes) and makes the batch durable before it
returns. Everything else only reads.

SQLite settings: WAL journal with synchronous=FULL, so a committed append survives a crash or power
loss; triggers refuse UPDATE and DELETE on the log's tables (append-only discipline; an attacker with the
file can still edit it, which is what the signed checkpoints and `verify` are for).

Beside the entries, each store keeps two caches derived from them, written in the same transaction as each
append and never read by verification: the lookup index, and the table of open operations (each `begin` not yet
ended, `provenance.custody.events.operation_begun`), so finding what is open costs what is open, not the log's
size. A log made before that table existed gets it, filled from its entries, the first time it is opened.
"""

from __future__ import annotations

import hashlib
import json
import os
import sqlite3
import time
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path

from provenance.custody.events import operation_begun, operation_ended
from provenance.custody.merkle import HASH_SIZE, CompactTree
from provenance.custody.records import (
    GENESIS_LEAF, AppendBatch, Checkpoint, Cosignature, LogHead, StoredEntry, StoredTimestamp,
)
from provenance.errors import CustodyError

OPEN_ATTEMPTS = 20  # about 10 s of back-off in all, for first-open races between processes


def shared_tables(integer: str, serial: str, blob: str) -> str:
    """The tables both stores lay out alike (entries, checkpoints, witness cosignatures, timestamps and the cached
    head), in a dialect's integer, auto-numbered key and byte-string types."""
    return f"""
CREATE TABLE IF NOT EXISTS custody_entries (
    seq {integer} PRIMARY KEY,
    body {blob} NOT NULL,
    leaf {blob} NOT NULL
);
CREATE TABLE IF NOT EXISTS custody_checkpoints (
    id {serial},
    size {integer} NOT NULL,
    root {blob} NOT NULL,
    time TEXT NOT NULL,
    log_id TEXT NOT NULL,
    signature {blob} NOT NULL
);
CREATE TABLE IF NOT EXISTS custody_cosignatures (
    id {serial},
    witness TEXT NOT NULL,
    size {integer} NOT NULL,
    checkpoint TEXT NOT NULL,
    line TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS custody_cosignatures_checkpoint ON custody_cosignatures (checkpoint);
CREATE TABLE IF NOT EXISTS custody_timestamps (
    id {serial},
    size {integer} NOT NULL,
    checkpoint TEXT NOT NULL,
    token {blob} NOT NULL
);
CREATE INDEX IF NOT EXISTS custody_timestamps_checkpoint ON custody_timestamps (checkpoint);
CREATE TABLE IF NOT EXISTS custody_head (
    id INTEGER PRIMARY KEY CHECK (id = 1),
    size {integer} NOT NULL,
    peaks {blob} NOT NULL,
    last_leaf {blob} NOT NULL
);
"""


# SQLite's INTEGER PRIMARY KEY is the row id: entries are stored in sequence order, as they are appended.
_SCHEMA = shared_tables("INTEGER", "INTEGER PRIMARY KEY AUTOINCREMENT", "BLOB") + """
CREATE TABLE IF NOT EXISTS custody_index (
    key BLOB NOT NULL,
    seq INTEGER NOT NULL,
    PRIMARY KEY (key, seq)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS custody_index_recent (
    key BLOB NOT NULL,
    seq INTEGER NOT NULL
);
"""
_OPEN_OPERATIONS = "CREATE TABLE custody_open (operation TEXT PRIMARY KEY, seq INTEGER NOT NULL)"

_APPEND_ONLY_TABLES = ("custody_entries", "custody_checkpoints", "custody_index", "custody_cosignatures",
                       "custody_timestamps")
# Index keys land at random places in a B-tree, and each one inserted per append dirtied its own page (16 KB
# of journal and checkpoint writes per event at a million events). So appends write them to a small
# arrival-ordered table, merged in key order every MERGE_EVERY events, in the same transaction as an append.
# Lookups read both. The index is a derived cache (verification never uses it), so it may be merged freely.
MERGE_EVERY = 65_536
_KEY_BYTES = 16


def _index_key(key: str) -> bytes:
    """Fixed-width stored key (truncated SHA-256 of the text): a small index whatever the key's length."""
    return hashlib.sha256(key.encode("utf-8")).digest()[:_KEY_BYTES]


def _stored_keys(keys: list[tuple[str, int]]) -> list[tuple[bytes, int]]:
    sha256 = hashlib.sha256  # inlined `_index_key`: this runs three times per appended event
    return [(sha256(key.encode("utf-8")).digest()[:_KEY_BYTES], seq) for key, seq in keys]


def _append_only_triggers() -> str:
    statements = []
    for table in _APPEND_ONLY_TABLES:
        for action in ("UPDATE", "DELETE"):
            statements.append(
                f"CREATE TRIGGER IF NOT EXISTS {table}_no_{action.lower()} BEFORE {action} ON {table} "
                f"BEGIN SELECT RAISE(ABORT, '{table} is append-only'); END;"
            )
    return "\n".join(statements)


def replayed_operations(entries: Iterable[StoredEntry]) -> tuple[dict[str, int], list[tuple[str, int]]]:
    """For a log written before the table of open operations existed: the operations its entries leave open
    (key -> begin seq) and the index keys of the events that begin or end one, for the store to fill in once."""
    still_open: dict[str, int] = {}
    keys: list[tuple[str, int]] = []
    for entry in entries:
        record = json.loads(entry.body)
        begun = operation_begun(record["kind"], entry.seq, record["parameters"])
        ended = operation_ended(record["kind"], record["parameters"])
        keys += [(f"operation:{key}", entry.seq) for key in (begun, ended) if key]
        if begun:
            still_open.setdefault(begun, entry.seq)
        if ended:
            still_open.pop(ended, None)
    return still_open, keys


def timestamps_query(checkpoint: str | None, placeholder: str) -> tuple[str, tuple[str, ...]]:
    """The query (and its parameters) of `CustodyStore.timestamps`, in the backend's placeholder style."""
    where = f" WHERE checkpoint = {placeholder}" if checkpoint is not None else ""
    query = f"SELECT size, checkpoint, token FROM custody_timestamps{where} ORDER BY id"
    return query, (checkpoint,) if checkpoint is not None else ()


def cached_head(row: tuple[int, bytes, bytes] | None, size: int, leaves: Callable[[], list[bytes]]) -> LogHead:
    """The head row's frontier (size, peaks, last leaf) when it matches `size`, else one rebuilt from `leaves()`."""
    if row is not None and row[0] == size:
        peaks = [row[1][i : i + HASH_SIZE] for i in range(0, len(row[1]), HASH_SIZE)]
        return LogHead(CompactTree(size, peaks), bytes(row[2]))
    tree, stored = CompactTree(), leaves()
    for leaf in stored:
        tree.append(leaf)
    return LogHead(tree, stored[-1] if stored else GENESIS_LEAF)


def connect_sqlite(path: str | os.PathLike) -> sqlite3.Connection:
    """A connection with the durability settings every provenance table relies on."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    connection = sqlite3.connect(path, isolation_level=None, timeout=30.0, check_same_thread=False)
    connection.execute("PRAGMA journal_mode=WAL")
    connection.execute("PRAGMA synchronous=FULL")
    connection.execute("PRAGMA busy_timeout=30000")
    # 64 MiB page cache: index inserts land at random keys, and a million-entry index no longer fits the 2 MiB default.
    connection.execute("PRAGMA cache_size=-65536")
    return connection


class SQLiteCustodyStore:
    """The custody log in one SQLite file (shared with the watermark registry)."""

    def __init__(self, path: str | os.PathLike) -> None:
        self.path = Path(path)
        for attempt in range(OPEN_ATTEMPTS):
            try:
                self._db = self._open()
                return
            except sqlite3.OperationalError as exc:
                # Two processes creating the same fresh file (web server and worker starting together) can deadlock
                # on the switch to WAL; SQLite then answers "locked" at once instead of waiting, so try again.
                if "locked" not in str(exc) or attempt == OPEN_ATTEMPTS - 1:
                    raise CustodyError(f"{self.path}: cannot open the custody database ({exc})") from None
                time.sleep(0.05 * (attempt + 1))
            except sqlite3.DatabaseError as exc:
                raise CustodyError(f"{self.path}: cannot open the custody database ({exc})") from None

    def _open(self) -> sqlite3.Connection:
        connection = connect_sqlite(self.path)
        try:
            # The write lock first: a read that upgrades to a write fails at once in WAL mode, without waiting.
            connection.executescript("BEGIN IMMEDIATE;" + _SCHEMA + _append_only_triggers() + "COMMIT;")
            if not _has_open_operations(connection):
                _add_open_operations(connection)
        except sqlite3.DatabaseError:
            connection.close()
            raise
        return connection

    @property
    def connection(self) -> sqlite3.Connection:
        return self._db

    def close(self) -> None:
        self._db.close()

    # -- writing ----------------------------------------------------------------------------------------
    def append(self, prepare: Callable[[LogHead], AppendBatch]) -> AppendBatch:
        with self._write_lock():
            batch = prepare(self._head())
            self._db.executemany(
                "INSERT INTO custody_entries (seq, body, leaf) VALUES (?, ?, ?)",
                [(entry.seq, entry.body, entry.leaf) for entry in batch.entries],
            )
            self._db.executemany("INSERT INTO custody_index_recent (key, seq) VALUES (?, ?)", _stored_keys(batch.index_keys))
            self._db.executemany("INSERT OR IGNORE INTO custody_open (operation, seq) VALUES (?, ?)", batch.opened)
            self._db.executemany("DELETE FROM custody_open WHERE operation = ?", [(key,) for key in batch.ended])
            if batch.entries and batch.entries[0].seq // MERGE_EVERY != batch.head.tree.size // MERGE_EVERY:
                self._merge_index()
            self._insert_checkpoint(batch.checkpoint)
            self._save_head(batch.head)
        return batch

    def add_checkpoint(self, prepare: Callable[[LogHead], Checkpoint]) -> Checkpoint:
        with self._write_lock():
            checkpoint = prepare(self._head())
            self._insert_checkpoint(checkpoint)
        return checkpoint

    def add_cosignatures(self, cosignatures: list[Cosignature]) -> None:
        with self._write_lock():
            self._db.executemany(
                "INSERT INTO custody_cosignatures (witness, size, checkpoint, line) VALUES (?, ?, ?, ?)",
                [(c.witness, c.size, c.checkpoint, c.line) for c in cosignatures],
            )

    def add_timestamp(self, size: int, checkpoint: str, token: bytes) -> None:
        with self._write_lock():
            self._db.execute("INSERT INTO custody_timestamps (size, checkpoint, token) VALUES (?, ?, ?)",
                             (size, checkpoint, token))

    def _merge_index(self) -> None:
        self._db.execute(
            "INSERT OR IGNORE INTO custody_index (key, seq) SELECT key, seq FROM custody_index_recent ORDER BY key, seq"
        )
        self._db.execute("DELETE FROM custody_index_recent")

    def _write_lock(self):
        return ImmediateTransaction(self._db)

    def _insert_checkpoint(self, checkpoint: Checkpoint) -> None:
        self._db.execute(
            "INSERT INTO custody_checkpoints (size, root, time, log_id, signature) VALUES (?, ?, ?, ?, ?)",
            (checkpoint.size, checkpoint.root, checkpoint.time, checkpoint.log_id, checkpoint.signature),
        )

    def _head(self) -> LogHead:
        row = self._db.execute("SELECT size, peaks, last_leaf FROM custody_head WHERE id = 1").fetchone()
        return cached_head(row, self.size(), self.leaves)

    def _save_head(self, head: LogHead) -> None:
        self._db.execute(
            "INSERT OR REPLACE INTO custody_head (id, size, peaks, last_leaf) VALUES (1, ?, ?, ?)",
            (head.tree.size, b"".join(head.tree.peaks), head.last_leaf),
        )

    # -- reading ----------------------------------------------------------------------------------------
    def size(self) -> int:
        """One past the highest sequence number: an index lookup, where COUNT(*) would scan a million rows."""
        return self._db.execute("SELECT COALESCE(MAX(seq), -1) + 1 FROM custody_entries").fetchone()[0]

    def entries(self, start: int = 0, end: int | None = None) -> Iterator[StoredEntry]:
        """Entries in storage order (by rowid), so a verifier sees reordering exactly as stored."""
        query = "SELECT seq, body, leaf FROM custody_entries WHERE seq >= ?"
        params: tuple = (start,)
        if end is not None:
            query += " AND seq < ?"
            params = (start, end)
        cursor = self._db.execute(query + " ORDER BY rowid", params)
        while rows := cursor.fetchmany(10_000):
            for seq, body, leaf in rows:
                yield StoredEntry(seq, bytes(body), bytes(leaf))

    def leaves(self, end: int | None = None) -> list[bytes]:
        query = "SELECT leaf FROM custody_entries ORDER BY seq"
        if end is not None:
            query += f" LIMIT {int(end)}"
        return [bytes(leaf) for (leaf,) in self._db.execute(query)]

    def checkpoints(self) -> list[Checkpoint]:
        rows = self._db.execute("SELECT size, root, time, log_id, signature FROM custody_checkpoints ORDER BY id")
        return [Checkpoint(size, bytes(root), time, log_id, bytes(sig)) for size, root, time, log_id, sig in rows]

    def cosignatures(self, checkpoint: str) -> list[str]:
        rows = self._db.execute("SELECT line FROM custody_cosignatures WHERE checkpoint = ? ORDER BY id", (checkpoint,))
        return [line for (line,) in rows]

    def cosigned_size(self, witness: str) -> int:
        """The largest tree `witness` cosigned for this log (0: none), where its next add-checkpoint starts."""
        query = "SELECT COALESCE(MAX(size), 0) FROM custody_cosignatures WHERE witness = ?"
        return self._db.execute(query, (witness,)).fetchone()[0]

    def timestamps(self, checkpoint: str | None = None) -> list[StoredTimestamp]:
        """The timestamps of one checkpoint note, or (None) all of them, oldest first."""
        query, where = timestamps_query(checkpoint, "?")
        return [StoredTimestamp(size, note, bytes(token)) for size, note, token in self._db.execute(query, where)]

    def lookup(self, key: str) -> list[int]:
        stored = _index_key(key)
        rows = self._db.execute(
            "SELECT seq FROM custody_index WHERE key = ? UNION SELECT seq FROM custody_index_recent WHERE key = ? "
            "ORDER BY seq",
            (stored, stored),
        )
        return [seq for (seq,) in rows]

    def open_operations(self) -> list[int]:
        return [seq for (seq,) in self._db.execute("SELECT seq FROM custody_open ORDER BY seq")]


def _has_open_operations(connection: sqlite3.Connection) -> bool:
    return connection.execute("SELECT 1 FROM sqlite_master WHERE name = 'custody_open'").fetchone() is not None


def _add_open_operations(connection: sqlite3.Connection) -> None:
    """Create and fill the table of open operations of a log made before it existed (under the write lock: one
    opener fills it, from entries no append changes meanwhile)."""
    with ImmediateTransaction(connection):
        if _has_open_operations(connection):
            return
        connection.execute(_OPEN_OPERATIONS)
        rows = connection.execute("SELECT seq, body FROM custody_entries ORDER BY seq")
        still_open, keys = replayed_operations(StoredEntry(seq, bytes(body), b"") for seq, body in rows)
        connection.executemany("INSERT INTO custody_open (operation, seq) VALUES (?, ?)", still_open.items())
        connection.executemany("INSERT INTO custody_index_recent (key, seq) VALUES (?, ?)", _stored_keys(keys))


class ImmediateTransaction:
    """BEGIN IMMEDIATE takes SQLite's write lock up front: no two appenders ever read the same head."""

    def __init__(self, connection: sqlite3.Connection) -> None:
        self._db = connection

    def __enter__(self) -> None:
        self._db.execute("BEGIN IMMEDIATE")

    def __exit__(self, exc_type, exc, traceback) -> None:
        if exc_type is None:
            self._db.execute("COMMIT")
        else:
            self._db.execute("ROLLBACK")
