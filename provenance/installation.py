"""One faceproof installation: where its keys, custody log and watermark registry live, and how it is configured.

Entry points (each CLI command, the web app's requests and jobs, benches) resolve it once with
`Installation.from_environment()` and pass it, or the part a function needs (a `Sealer`, a log, trust anchors),
down; library code never reads the environment. This module is the one place that reads the installation's
variables:

- `FACEPROOF_HOME`: the folder (default `~/.faceproof`): `keys/`, `custody.sqlite3` (the custody log and the
  watermark registry: one file to back up);
- `FACEPROOF_CUSTODY_URL` (postgresql://...): the custody log in PostgreSQL instead (the registry stays in the file);
- `FACEPROOF_KEY_PASSPHRASE`: unlocks the signing keys (generated on first use);
- `FACEPROOF_WITNESSES`, `FACEPROOF_WITNESS_QUORUM`: who cosigns each checkpoint.
"""

from __future__ import annotations

import os
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

from provenance.custody import open_store
from provenance.custody.log import CustodyLog
from provenance.custody.records import Checkpoint
from provenance.custody.store import SQLiteCustodyStore
from provenance.custody.timestamp import timestamp_checkpoint
from provenance.custody.witness import WitnessPolicy, policy_from_env, witness_checkpoint
from provenance.keys import KeyStore
from provenance.registry import WatermarkRegistry
from provenance.seal import Sealer
from provenance.watermark import load_or_create_watermark_key

HOME_ENV = "FACEPROOF_HOME"
CUSTODY_URL_ENV = "FACEPROOF_CUSTODY_URL"
PASSPHRASE_ENV = "FACEPROOF_KEY_PASSPHRASE"


def home_from(environ: Mapping[str, str]) -> Path:
    """The installation's folder; also where the web app keeps its database, media and queue by default."""
    return Path(environ.get(HOME_ENV) or Path.home() / ".faceproof").expanduser()


@dataclass(frozen=True)
class Installation:
    home: Path
    custody_url: str | None = None  # None: the custody log is the SQLite file under `home`
    passphrase: str | None = field(default=None, repr=False)  # None: the keys stay locked (reading still works)
    witnesses: WitnessPolicy = WitnessPolicy()

    @classmethod
    def from_environment(cls, environ: Mapping[str, str] | None = None) -> Installation:
        environ = os.environ if environ is None else environ
        return cls(home_from(environ), environ.get(CUSTODY_URL_ENV) or None, environ.get(PASSPHRASE_ENV) or None,
                   policy_from_env(environ))

    @property
    def keys_dir(self) -> Path:
        return self.home / "keys"

    @property
    def custody_db_path(self) -> Path:
        """One SQLite file holds the custody log and the watermark registry (one place to back up)."""
        return self.home / "custody.sqlite3"

    @property
    def watermark_key_path(self) -> Path:
        """The watermark secret (what both embedding and detection need)."""
        return self.keys_dir / "watermark.key"

    @property
    def can_sign(self) -> bool:
        """Whether a passphrase was given: without one the installation reads but never writes its log."""
        return self.passphrase is not None

    def key_store(self) -> KeyStore:
        """The key store as it is (nothing generated): for reading trust anchors and public keys."""
        return KeyStore(self.keys_dir)

    def keys(self) -> KeyStore:
        """The key store, its keys generated on first use (the passphrase protects them)."""
        keys = self.key_store()
        if not keys.exists():
            keys.init(self.passphrase)
        return keys

    def has_custody_log(self) -> bool:
        """Whether there is a log to consult (PostgreSQL configured, or the SQLite file made); creates nothing."""
        return self.custody_url is not None or self.custody_db_path.exists()

    def custody_log(self, *, writable: bool = False) -> CustodyLog:
        """The custody log; read-only needs no passphrase (only the public checkpoint key). The caller closes
        its store. Each durable checkpoint of a writable log is timestamped and witnessed where configured."""
        keys = self.key_store()
        store = open_store(self.custody_url, self.custody_db_path)
        if not writable:
            return CustodyLog(store, public_key=keys.custody_public_key())
        log = CustodyLog(store, signing_key=keys.custody_key(self.passphrase))
        tsa_url = keys.tsa_url  # read from the key folder's config once, not at every checkpoint
        if self.witnesses.witnesses or tsa_url:
            log.after_checkpoint = lambda checkpoint: self._publish(log, checkpoint, tsa_url)
        return log

    @contextmanager
    def opened_log(self, *, writable: bool = False) -> Iterator[CustodyLog]:
        """The custody log for one command or request, keys made on first use; closed afterwards."""
        self.keys()
        log = self.custody_log(writable=writable)
        try:
            yield log
        finally:
            log.store.close()

    def _publish(self, log: CustodyLog, checkpoint: Checkpoint, tsa_url: str | None) -> None:
        """What follows each durable checkpoint: its RFC 3161 timestamp and its witnesses' cosignatures (each
        skipped with a warning when its server does not answer)."""
        timestamp_checkpoint(log.store, log.public_key, checkpoint, tsa_url)
        if self.witnesses.witnesses:
            witness_checkpoint(log.store, log.tree_levels, log.public_key, checkpoint, self.witnesses)

    def registry(self) -> WatermarkRegistry | None:
        """The watermark registry for reading, or None where nothing was ever sealed (reading creates nothing)."""
        return WatermarkRegistry(self.custody_db_path) if self.custody_db_path.exists() else None

    def watermark_secret(self) -> bytes | None:
        """The watermark secret for detection, or None where this installation never marked anything."""
        path = self.watermark_key_path
        return load_or_create_watermark_key(path) if path.exists() else None

    def sealer(self) -> Sealer:
        """Everything sealing needs, keys generated on first use (passphrase required). Close it (or use `with`)."""
        keys = self.keys()
        log = self.custody_log(writable=True)
        secret = load_or_create_watermark_key(self.watermark_key_path)
        # The registry shares the SQLite log's connection; beside a PostgreSQL log it keeps the SQLite file.
        shared = log.store.connection if isinstance(log.store, SQLiteCustodyStore) else self.custody_db_path
        return Sealer(keys.signing_identity(self.passphrase), log, WatermarkRegistry(shared), secret)
