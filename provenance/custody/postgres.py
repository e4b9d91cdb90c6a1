"""The custody log in PostgreSQL: the `CustodyStore` contract of the SQLite store, for many writers at scale.

Chosen by FACEPROOF_CUSTODY_URL=postgresql://... (see `provenance.custody.open_store`). Same tables, same
semantics:

- Append-only: a PL/pgSQL trigger refuses UPDATE, DELETE and TRUNCATE on entries, checkpoints and the
  index. A role that owns the tables can still drop the triggers; the signed checkpoints and `verify` are
  what catch an edit after that. So an owner role creates the tables (opens the store once) and calls
  `grant_writer(role)`; the application connects as that role, which owns nothing and cannot drop them.
- Serialised appends: an append locks the head table (EXCLUSIVE: other appenders wait, readers do not)
  before it reads the head, so writers in any number of processes or hosts build on the true head. A
  writer that dies mid-append rolls back and its lock goes with its session.
- Durable on return: every append is one transaction committed with synchronous_commit=on (set for this
  session whatever the server's default), so it is in the server's flushed WAL before `append` returns.
- Lookups: one (key, seq) B-tree with the same fixed-width keys as the SQLite store; open operations: the same
  table as the SQLite store's, filled from the entries the first time a store opens a log made before it.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager

import psycopg
from psycopg import sql
from psycopg.conninfo import conninfo_to_dict

from provenance.custody.records import AppendBatch, Checkpoint, Cosignature, LogHead, StoredEntry, StoredTimestamp

from provenance.custody.store import (
    _index_key, _stored_keys, cached_head, replayed_operations, shared_tables, timestamps_query,
)
from provenance.errors import CustodyError

_TABLES = shared_tables("BIGINT", "BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY", "BYTEA") + """
CREATE TABLE IF NOT EXISTS custody_index (
    key BYTEA NOT NULL,
    seq BIGINT NOT NULL,
    PRIMARY KEY (key, seq)
);
CREATE TABLE IF NOT EXISTS custody_open (
    operation TEXT PRIMARY KEY,
    seq BIGINT NOT NULL
);
CREATE OR REPLACE FUNCTION custody_refuse_change() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION '% is append-only', TG_TABLE_NAME USING ERRCODE = 'insufficient_privilege';
END $$;
"""
_APPEND_ONLY_TABLES = ("custody_entries", "custody_checkpoints", "custody_index", "custody_cosignatures",
                       "custody_timestamps")
_TRIGGERS = "".join(
    f"CREATE OR REPLACE TRIGGER {table}_no_change BEFORE UPDATE OR DELETE ON {table} "
    f"FOR EACH ROW EXECUTE FUNCTION custody_refuse_change();\n"
    f"CREATE OR REPLACE TRIGGER {table}_no_truncate BEFORE TRUNCATE ON {table} "
    f"FOR EACH STATEMENT EXECUTE FUNCTION custody_refuse_change();\n"
    for table in _APPEND_ONLY_TABLES
)
# What an application role needs to append and read, and nothing more (the head is a cache it rewrites).
_WRITER_GRANTS = (
    "GRANT USAGE ON SCHEMA {schema} TO {role}",
    "GRANT SELECT, INSERT ON custody_entries, custody_checkpoints, custody_index, custody_cosignatures, "
    "custody_timestamps TO {role}",
    "GRANT SELECT, INSERT, UPDATE ON custody_head TO {role}",
    "GRANT SELECT, INSERT, DELETE ON custody_open TO {role}",
    "GRANT USAGE ON SEQUENCE custody_checkpoints_id_seq, custody_cosignatures_id_seq, custody_timestamps_id_seq "
    "TO {role}",
)
# Openers that find the schema incomplete create it under this advisory lock: concurrent CREATE TABLE IF NOT
# EXISTS can otherwise fail on the catalogue's unique indexes. (The number spells "fpcusto".)
_SCHEMA_LOCK = 0x66_70_63_75_73_74_6F
_SCHEMA_READY = (
    "SELECT to_regclass('custody_open') IS NOT NULL AND (SELECT count(*) FROM pg_trigger "
    "WHERE tgfoid = to_regprocedure('custody_refuse_change()') AND tgenabled <> 'D') = %s"
)
# Read from pg_class, not with to_regclass: the catalogue cache need not show yet a table that another opener
# created while this one waited for the schema lock, and a second fill would wait for the head behind appenders.
_HAS_OPEN_OPERATIONS = (
    "SELECT EXISTS (SELECT 1 FROM pg_class WHERE relname = 'custody_open' AND relnamespace = current_schema()::regnamespace)"
)
_PAGE = 10_000
_MAX_SEQ = (1 << 63) - 1


def _safe_url(url: str) -> str:
    """The URL without its password, for messages."""
    try:
        parts = conninfo_to_dict(url)
    except psycopg.ProgrammingError:
        raise CustodyError("the custody URL is not a valid PostgreSQL URL") from None
    user = f"{parts['user']}@" if parts.get("user") else ""
    port = f":{parts['port']}" if parts.get("port") else ""
    return f"postgresql://{user}{parts.get('host', '')}{port}/{parts.get('dbname', '')}"


@contextmanager
def _reported(url: str) -> Iterator[None]:
    """A lost or refused server connection becomes one CustodyError naming the server (never its password)."""
    try:
        yield
    except psycopg.OperationalError as exc:
        reason = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__  # libpq's hint lines follow
        raise CustodyError(f"{_safe_url(url)}: custody database unavailable ({reason})") from None


class PostgresCustodyStore:
    """The custody log in one PostgreSQL schema (the first on the URL's search_path)."""

    def __init__(self, url: str) -> None:
        self.url = url
        _safe_url(url)  # refuses a malformed URL before psycopg quotes it back
        with _reported(url):
            self._db = psycopg.connect(url, autocommit=True, connect_timeout=10)
            self._db.isolation_level = psycopg.IsolationLevel.READ_COMMITTED  # each read sees the last commit
            self._db.execute("SET synchronous_commit TO on")
            self._ensure_schema()

    @property
    def connection(self) -> psycopg.Connection:
        return self._db

    def close(self) -> None:
        self._db.close()

    def _ensure_schema(self) -> None:
        """Create missing tables and re-create missing triggers (as the SQLite store does on open)."""
        expected = 2 * len(_APPEND_ONLY_TABLES)
        if self._db.execute(_SCHEMA_READY, (expected,)).fetchone()[0]:
            return  # a reader needs no DDL privilege
        try:
            with self._db.transaction():
                self._db.execute("SELECT pg_advisory_xact_lock(%s)", (_SCHEMA_LOCK,))
                fill = not self._db.execute(_HAS_OPEN_OPERATIONS).fetchone()[0]
                self._db.execute(_TABLES)
                if fill:  # the head's lock before the triggers' locks on the tables, in the order appenders take them
                    self._db.execute("LOCK TABLE custody_head IN EXCLUSIVE MODE")
                self._db.execute(_TRIGGERS)
                if fill:
                    self._fill_open_operations()
        except psycopg.ProgrammingError as exc:  # e.g. a role without CREATE on the schema
            raise CustodyError(f"{_safe_url(self.url)}: cannot create the custody tables ({exc})") from None

    def _fill_open_operations(self) -> None:
        """The table of open operations of a log made before it existed, from its entries (appenders wait)."""
        still_open, keys = replayed_operations(self.entries())
        self._insert_open(list(still_open.items()))
        self._insert_keys(keys)

    def grant_writer(self, role: str) -> None:
        """Let `role` append and read this log and nothing more (run as the tables' owner)."""
        schema = self._db.execute("SELECT current_schema()").fetchone()[0]
        names = {"schema": sql.Identifier(schema), "role": sql.Identifier(role)}
        with _reported(self.url), self._db.transaction():
            for statement in _WRITER_GRANTS:
                self._db.execute(sql.SQL(statement).format(**names))

    # -- writing ----------------------------------------------------------------------------------------
    def append(self, prepare: Callable[[LogHead], AppendBatch]) -> AppendBatch:
        with _reported(self.url), self._locked_head() as head:
            batch = prepare(head)
            self._db.execute(  # %b: arrays travel in binary (text arrays cost a regex escape per element)
                "INSERT INTO custody_entries (seq, body, leaf) SELECT * FROM unnest(%b::bigint[], %b::bytea[], %b::bytea[])",
                ([e.seq for e in batch.entries], [e.body for e in batch.entries], [e.leaf for e in batch.entries]),
            )
            self._insert_keys(batch.index_keys)
            self._insert_open(batch.opened)
            self._db.execute("DELETE FROM custody_open WHERE operation = ANY(%s)", (batch.ended,))
            self._insert_checkpoint(batch.checkpoint)
            self._save_head(batch.head)
        return batch

    def add_checkpoint(self, prepare: Callable[[LogHead], Checkpoint]) -> Checkpoint:
        with _reported(self.url), self._locked_head() as head:
            checkpoint = prepare(head)
            self._insert_checkpoint(checkpoint)
        return checkpoint

    def add_cosignatures(self, cosignatures: list[Cosignature]) -> None:
        with _reported(self.url), self._db.transaction():
            self._db.cursor().executemany(
                "INSERT INTO custody_cosignatures (witness, size, checkpoint, line) VALUES (%s, %s, %s, %s)",
                [(c.witness, c.size, c.checkpoint, c.line) for c in cosignatures],
            )

    def add_timestamp(self, size: int, checkpoint: str, token: bytes) -> None:
        with _reported(self.url), self._db.transaction():
            self._db.execute("INSERT INTO custody_timestamps (size, checkpoint, token) VALUES (%s, %s, %s)",
                             (size, checkpoint, token))

    def _insert_keys(self, index_keys: list[tuple[str, int]]) -> None:
        keys = _stored_keys(index_keys)
        self._db.execute(
            "INSERT INTO custody_index (key, seq) SELECT * FROM unnest(%b::bytea[], %b::bigint[]) "
            "ON CONFLICT DO NOTHING",  # two keys of one event sharing 128 hash bits: one row serves both
            ([key for key, _ in keys], [seq for _, seq in keys]),
        )

    def _insert_open(self, opened: list[tuple[str, int]]) -> None:
        self._db.execute(
            "INSERT INTO custody_open (operation, seq) SELECT * FROM unnest(%s::text[], %s::bigint[]) "
            "ON CONFLICT DO NOTHING", ([key for key, _ in opened], [seq for _, seq in opened]),
        )

    @contextmanager
    def _locked_head(self) -> Iterator[LogHead]:
        """The head, read in a transaction holding the head table's lock; commits durably or rolls back."""
        with self._db.transaction():
            self._db.execute("LOCK TABLE custody_head IN EXCLUSIVE MODE")
            row = self._db.execute("SELECT size, peaks, last_leaf FROM custody_head WHERE id = 1").fetchone()
            yield cached_head(row, self.size(), self.leaves)

    def _insert_checkpoint(self, checkpoint: Checkpoint) -> None:
        self._db.execute(
            "INSERT INTO custody_checkpoints (size, root, time, log_id, signature) VALUES (%s, %s, %s, %s, %s)",
            (checkpoint.size, checkpoint.root, checkpoint.time, checkpoint.log_id, checkpoint.signature),
        )

    def _save_head(self, head: LogHead) -> None:
        self._db.execute(
            "INSERT INTO custody_head (id, size, peaks, last_leaf) VALUES (1, %s, %s, %s) "
            "ON CONFLICT (id) DO UPDATE SET size = excluded.size, peaks = excluded.peaks, last_leaf = excluded.last_leaf",
            (head.tree.size, b"".join(head.tree.peaks), head.last_leaf),
        )

    # -- reading ----------------------------------------------------------------------------------------
    def size(self) -> int:
        """One past the highest sequence number (a backward index scan, where count(*) would read every row)."""
        with _reported(self.url):
            return self._db.execute("SELECT COALESCE(MAX(seq), -1) + 1 FROM custody_entries").fetchone()[0]

    def entries(self, start: int = 0, end: int | None = None) -> Iterator[StoredEntry]:
        """Entries by sequence number, read in windows of _PAGE numbers: each a short index range scan whatever
        the planner's statistics say, and no transaction held open between windows."""
        low, stop = start, _MAX_SEQ if end is None else end
        while low is not None and low < stop:
            high = min(stop, low + _PAGE)
            with _reported(self.url):
                rows = self._db.cursor(binary=True).execute(
                    "SELECT seq, body, leaf FROM custody_entries WHERE seq >= %s AND seq < %s ORDER BY seq", (low, high)
                ).fetchall()
                if not rows:  # a gap (only tampering makes one): go on from the next stored number
                    low = self._db.execute(
                        "SELECT MIN(seq) FROM custody_entries WHERE seq >= %s AND seq < %s", (high, stop)
                    ).fetchone()[0]
                    continue
            yield from (StoredEntry(seq, body, leaf) for seq, body, leaf in rows)
            low = high

    def leaves(self, end: int | None = None) -> list[bytes]:
        with _reported(self.url):
            rows = self._db.cursor(binary=True).execute(
                "SELECT leaf FROM custody_entries ORDER BY seq LIMIT %s", (_MAX_SEQ if end is None else end,)
            )
            return [leaf for (leaf,) in rows]

    def checkpoints(self) -> list[Checkpoint]:
        with _reported(self.url):
            rows = self._db.execute("SELECT size, root, time, log_id, signature FROM custody_checkpoints ORDER BY id")
            return [Checkpoint(size, root, time, log_id, sig) for size, root, time, log_id, sig in rows]

    def lookup(self, key: str) -> list[int]:
        with _reported(self.url):
            rows = self._db.execute("SELECT seq FROM custody_index WHERE key = %s ORDER BY seq", (_index_key(key),))
            return [seq for (seq,) in rows]

    def open_operations(self) -> list[int]:
        with _reported(self.url):
            return [seq for (seq,) in self._db.execute("SELECT seq FROM custody_open ORDER BY seq")]

    def cosignatures(self, checkpoint: str) -> list[str]:
        with _reported(self.url):
            rows = self._db.execute("SELECT line FROM custody_cosignatures WHERE checkpoint = %s ORDER BY id", (checkpoint,))
            return [line for (line,) in rows]

    def cosigned_size(self, witness: str) -> int:
        with _reported(self.url):
            query = "SELECT COALESCE(MAX(size), 0) FROM custody_cosignatures WHERE witness = %s"
            return self._db.execute(query, (witness,)).fetchone()[0]

    def timestamps(self, checkpoint: str | None = None) -> list[StoredTimestamp]:
        with _reported(self.url):
            query, where = timestamps_query(checkpoint, "%s")
            return [StoredTimestamp(size, note, bytes(token)) for size, note, token in self._db.execute(query, where)]
