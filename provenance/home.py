"""Where an installation keeps its keys and custody database: `$FACEPROOF_HOME` (default `~/.faceproof`).

Library functions take explicit paths; only the CLI and other entry points resolve defaults here.
"""

from __future__ import annotations

import os
from pathlib import Path


def faceproof_home() -> Path:
    return Path(os.environ.get("FACEPROOF_HOME", Path.home() / ".faceproof")).expanduser()


def keys_dir() -> Path:
    return faceproof_home() / "keys"


def custody_db_path() -> Path:
    """One SQLite file holds the custody log and the watermark registry (one place to back up)."""
    return faceproof_home() / "custody.sqlite3"


def custody_url() -> str | None:
    """`$FACEPROOF_CUSTODY_URL` (postgresql://...) moves the custody log into PostgreSQL; unset: `custody_db_path()`."""
    return os.environ.get("FACEPROOF_CUSTODY_URL") or None


def has_custody_log() -> bool:
    """Whether this installation has a custody log to consult (PostgreSQL configured, or the SQLite file made)."""
    return custody_url() is not None or custody_db_path().exists()


def watermark_key_path() -> Path:
    """The installation's watermark secret (what both embedding and detection need)."""
    return keys_dir() / "watermark.key"
