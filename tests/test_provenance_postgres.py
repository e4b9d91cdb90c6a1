"""Custody storage at scale: concurrent writers (both backends), and what only the PostgreSQL store does.

The behavioural checks every store must pass (proofs, lookups, tamper detection, a killed writer) run over
SQLite and PostgreSQL in tests/test_provenance_custody.py; the server is a throwaway cluster per session.
"""

from __future__ import annotations

import hashlib
import sqlite3
import subprocess
import sys
import textwrap
import threading
import time
import uuid

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ed25519

from provenance.custody import open_store
from provenance.custody.log import AssetRef, CustodyLog, Event, verify_custody_claim
from provenance.errors import CustodyError
from provenance.installation import Installation
from tests.conftest import REPO
from tests.postgres_cluster import free_port

_WRITER = textwrap.dedent(
    """
    import hashlib, sys, time
    from pathlib import Path
    from cryptography.hazmat.primitives import serialization
    from provenance.custody import open_store
    from provenance.custody.log import AssetRef, CustodyLog, Event
    from provenance.installation import Installation
    key_file, name, count, go = sys.argv[1], sys.argv[2], int(sys.argv[3]), Path(sys.argv[4])
    key = serialization.load_pem_private_key(open(key_file, "rb").read(), None)
    while not go.exists():  # both writers open the (fresh) log and append at the same moment
        time.sleep(0.002)
    log = CustodyLog(open_store(Installation.from_environment().custody_url, Installation.from_environment().custody_db_path), signing_key=key)
    for i in range(count):
        asset = AssetRef(hashlib.sha256(f"{name}/{i}".encode()).hexdigest())
        print(log.append(Event(kind="ingest", actor=name, inputs=(asset,))).seq, flush=True)
    """
)
PER_WRITER = 30


@pytest.fixture
def key() -> ed25519.Ed25519PrivateKey:
    return ed25519.Ed25519PrivateKey.generate()


def _key_file(tmp_path, key: ed25519.Ed25519PrivateKey):
    path = tmp_path / "key.pem"
    path.write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                       serialization.NoEncryption()))
    return path


def test_two_writer_processes_make_one_consistent_log(custody_backend, key, tmp_path):
    go = tmp_path / "go"
    writers = {
        name: subprocess.Popen([sys.executable, "-c", _WRITER, str(_key_file(tmp_path, key)), name, str(PER_WRITER),
                                str(go)], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=REPO)
        for name in ("alpha", "beta")
    }
    go.touch()
    acknowledged = {}
    for name, writer in writers.items():
        out, err = writer.communicate(timeout=120)
        assert writer.returncode == 0, err
        acknowledged[name] = [int(line) for line in out.split()]
    log = CustodyLog(custody_backend.open(), public_key=key.public_key())
    report = log.verify()
    assert report.ok, report.problem
    assert report.entries == report.verified_size == report.checkpoints == 2 * PER_WRITER
    assert sorted(acknowledged["alpha"] + acknowledged["beta"]) == list(range(2 * PER_WRITER))
    for name, seqs in acknowledged.items():  # each writer's events, in its own order, at the seqs it was told
        expected = [hashlib.sha256(f"{name}/{i}".encode()).hexdigest() for i in range(PER_WRITER)]
        assert [log.entry(seq)["inputs"][0]["sha256"] for seq in seqs] == expected
        assert [e["seq"] for e in log.history(expected[-1])] == [seqs[-1]]
    log.store.close()


@pytest.fixture
def pg_log(postgres_backend, key) -> CustodyLog:
    store = postgres_backend.open()
    yield CustodyLog(store, signing_key=key)
    store.close()


def _event(i: int) -> Event:
    return Event(kind="convert", actor="tester", outputs=(AssetRef(f"{i:064x}"),))


@pytest.mark.postgres
def test_truncate_is_refused_and_dropped_triggers_come_back_on_open(pg_log, postgres_backend):
    pg_log.append_many([_event(0), _event(1)])
    with pytest.raises(postgres_backend.refused, match="custody_entries is append-only"):
        pg_log.store.connection.execute("TRUNCATE custody_entries")
    postgres_backend.tamper(pg_log.store)  # drops every trigger
    pg_log.store.connection.execute("UPDATE custody_checkpoints SET time = time")  # nothing refuses it now
    reopened = postgres_backend.open()
    with pytest.raises(postgres_backend.refused, match="custody_checkpoints is append-only"):
        reopened.connection.execute("UPDATE custody_checkpoints SET time = time")
    reopened.close()
    assert pg_log.verify().ok and pg_log.store.size() == 2


@pytest.mark.postgres
def test_entries_are_read_in_windows_across_gaps(pg_log, postgres_backend, monkeypatch):
    from provenance.custody import postgres

    monkeypatch.setattr(postgres, "_PAGE", 4)
    pg_log.append_many([_event(i) for i in range(20)])
    assert [e.seq for e in pg_log.store.entries()] == list(range(20))
    assert [e.seq for e in pg_log.store.entries(5, 11)] == list(range(5, 11))
    postgres_backend.tamper(pg_log.store, ("DELETE FROM custody_entries WHERE seq >= 4 AND seq < 13",))
    assert [e.seq for e in pg_log.store.entries()] == [0, 1, 2, 3, *range(13, 20)]  # two empty windows skipped
    report = pg_log.verify()
    assert not report.ok and report.first_bad_entry == 4


@pytest.mark.postgres
def test_appends_wait_for_the_head_lock_and_readers_do_not(pg_log, postgres_backend):
    import psycopg

    pg_log.append(_event(0))
    appended = threading.Event()
    with psycopg.connect(postgres_backend.url) as holder:  # another appender, mid-transaction
        holder.execute("LOCK TABLE custody_head IN EXCLUSIVE MODE")
        thread = threading.Thread(target=lambda: (pg_log.append(_event(1)), appended.set()))
        thread.start()
        time.sleep(0.5)
        assert not appended.is_set()
        reader = CustodyLog(postgres_backend.open(), public_key=pg_log.public_key)
        assert reader.verify().ok and reader.store.size() == 1
        reader.store.close()
    thread.join(timeout=30)
    assert appended.is_set() and pg_log.verify().entries == 2


@pytest.mark.postgres
def test_a_granted_writer_appends_but_cannot_edit_or_unguard_the_log(pg_log, postgres_backend, postgres_cluster, key):
    from psycopg import errors, sql
    from psycopg.conninfo import make_conninfo

    from provenance.custody.postgres import PostgresCustodyStore

    pg_log.append(_event(0))
    role, password = f"writer_{uuid.uuid4().hex[:8]}", uuid.uuid4().hex
    pg_log.store.connection.execute(sql.SQL("CREATE ROLE {} LOGIN PASSWORD {}").format(
        sql.Identifier(role), sql.Literal(password)))
    pg_log.store.grant_writer(role)
    writer = CustodyLog(PostgresCustodyStore(make_conninfo(postgres_backend.url, user=role, password=password)),
                        signing_key=key)
    writer.append(_event(1))
    writer.store.add_timestamp(2, "note", b"token")
    assert writer.verify().ok and [e["seq"] for e in writer.events_of_kind("convert")] == [0, 1]
    db = writer.store.connection
    for statement in ("UPDATE custody_entries SET body = leaf", "DELETE FROM custody_checkpoints",
                      "DELETE FROM custody_timestamps",
                      "TRUNCATE custody_index", "DROP TRIGGER custody_entries_no_change ON custody_entries",
                      "ALTER TABLE custody_entries DISABLE TRIGGER USER"):
        with pytest.raises(errors.InsufficientPrivilege):  # permission denied, or must be owner
            db.execute(statement)
    writer.store.close()
    assert pg_log.verify().ok and pg_log.store.size() == 2
    # The same role cannot create a log where the owner has not: one clear error, not a half-made schema.
    fresh = make_conninfo(postgres_cluster.schema_url(), user=role, password=password)
    with pytest.raises(CustodyError, match="cannot create the custody tables"):
        PostgresCustodyStore(fresh)


def test_unreachable_server_is_one_error_without_the_password():
    port = free_port()
    with pytest.raises(CustodyError, match=rf"postgresql://auditor@127.0.0.1:{port}/custody: custody database "
                                           r"unavailable") as caught:
        open_store(f"postgresql://auditor:s3cret@127.0.0.1:{port}/custody", "unused.sqlite3")
    assert "s3cret" not in str(caught.value)
    with pytest.raises(CustodyError, match="must start with postgresql://"):
        open_store("mysql://auditor@127.0.0.1/custody", "unused.sqlite3")


@pytest.mark.postgres
def test_installation_seals_into_postgres_and_keeps_the_registry_local(postgres_backend, monkeypatch, tmp_path):
    import cv2
    import numpy as np

    from provenance import manifest
    from provenance.keys import KeyStore
    from provenance.installation import Installation
    from provenance.seal import Sealer, SealRequest
    from provenance.installation import Installation

    monkeypatch.setenv("FACEPROOF_KEY_PASSPHRASE", "postgres test")
    target = tmp_path / "target.png"
    cv2.imwrite(str(target), np.random.default_rng(2).integers(0, 255, (144, 160, 3), dtype=np.uint8))
    sealer = Installation.from_environment().sealer()
    session = sealer.begin(SealRequest(kind="image", title="pg", actor="editor", inputs=[target], parent=target))
    cv2.imwrite(str(tmp_path / "enc.png"), session.mark(cv2.imread(str(target))))
    result = session.finish(tmp_path / "enc.png", tmp_path / "out.png")
    sealer.close()
    verified = manifest.verify(result.output, trust_anchors_pem=Installation.from_environment().key_store().trust_anchors_pem())
    assert verified.state == "Trusted"
    log = Installation.from_environment().custody_log()  # read-only, from FACEPROOF_CUSTODY_URL
    assert type(log.store).__name__ == "PostgresCustodyStore" and log.verify().ok
    assert "are in this log" in verify_custody_claim(log, verified.custody)
    assert [e["kind"] for e in log.history(result.sha256)] == ["sign"]
    assert {log.entry(seq)["kind"] for seq in result.custody_seqs.values()} == {"convert", "watermark", "sign"}
    log.store.close()
    with sqlite3.connect(Installation.from_environment().custody_db_path) as local:  # the watermark registry only
        tables = {name for (name,) in local.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
    assert "watermark_ids" in tables and "custody_entries" not in tables
