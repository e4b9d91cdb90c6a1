"""Chain of custody: an append-only, Merkle-checkpointed log of everything done to an asset."""

from __future__ import annotations

import os

from provenance.custody.records import CustodyStore

from provenance.custody.store import SQLiteCustodyStore
from provenance.errors import CustodyError


def open_store(url: str | None, sqlite_path: str | os.PathLike) -> CustodyStore:
    """The PostgreSQL store at `url` (postgresql://...) when one is given, else the SQLite file at `sqlite_path`."""
    if not url:
        return SQLiteCustodyStore(sqlite_path)
    if not url.startswith(("postgresql://", "postgres://")):
        raise CustodyError(f"the custody URL must start with postgresql:// (got {url.split(':', 1)[0]!r})")
    from provenance.custody.postgres import PostgresCustodyStore  # psycopg loads only for installations that use it

    return PostgresCustodyStore(url)
