"""Custody log: appends, proofs, tamper detection that names the entry, crash safety, auditor bundles, consent."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import textwrap

import pytest
from cryptography.hazmat.primitives.asymmetric import ed25519

from provenance.consent import consent_status, list_consents, record_consent, require_consent, revoke_consent
from provenance.custody.bundle import export_bundle, verify_bundle
from provenance.custody.log import AssetRef, CustodyLog, Event, checkpoint_to_json, sign_checkpoint
from provenance.custody.merkle import leaf_hash, verify_inclusion
from provenance.custody.store import SQLiteCustodyStore
from provenance.errors import ConsentError, CustodyError
from tests.conftest import REPO

HASH_A = "a" * 64
HASH_B = "b" * 64


def _event(i: int, **extra) -> Event:
    return Event(kind="convert", actor="tester", inputs=(AssetRef(HASH_A, "in.mp4"),),
                 outputs=(AssetRef(f"{i:064x}", f"out{i}.mp4"),), parameters={"i": i}, **extra)


@pytest.fixture
def key() -> ed25519.Ed25519PrivateKey:
    return ed25519.Ed25519PrivateKey.generate()


@pytest.fixture
def log(custody_backend, key) -> CustodyLog:
    store = custody_backend.open()
    yield CustodyLog(store, signing_key=key)
    store.close()


@pytest.fixture
def sqlite_log(tmp_path, key) -> CustodyLog:
    store = SQLiteCustodyStore(tmp_path / "custody.sqlite3")
    yield CustodyLog(store, signing_key=key)
    store.close()


def _filled(log: CustodyLog, n: int = 10) -> CustodyLog:
    for start in range(0, n, 3):  # several batches, so there are several checkpoints
        log.append_many([_event(i) for i in range(start, min(n, start + 3))])
    return log


def test_append_is_linked_checkpointed_and_provable(log):
    receipts = log.append_many([_event(0), _event(1)])
    assert [r.seq for r in receipts] == [0, 1]
    assert receipts[1].checkpoint.size == 2
    record = log.entry(1)
    assert record["prev"] == receipts[0].leaf.hex()
    assert record["kind"] == "convert" and record["actor"] == "tester" and record["time"].endswith("Z")
    assert record["tool"].startswith("faceproof") and record["host"]
    _filled(log, 9)
    proof = log.inclusion_proofs([1])[0]
    verify_inclusion(1, proof.checkpoint.size, proof.leaf, proof.path, proof.checkpoint.root)
    assert [e["seq"] for e in log.history(HASH_A)] == list(range(11))
    assert log.verify().ok and log.verify().verified_size == 11


def test_lookups_span_the_merged_index_and_recent_appends(sqlite_log, monkeypatch):
    from provenance.custody import store

    log = sqlite_log
    monkeypatch.setattr(store, "MERGE_EVERY", 4)
    _filled(log, 10)  # batches of 3: merges happen inside the 2nd and 3rd batches, the last stays recent
    recent = log.store.connection.execute("SELECT COUNT(*) FROM custody_index_recent").fetchone()[0]
    merged = log.store.connection.execute("SELECT COUNT(*) FROM custody_index").fetchone()[0]
    assert recent and merged
    assert [e["seq"] for e in log.history(HASH_A)] == list(range(10))
    assert [e["seq"] for e in log.history(f"{9:064x}")] == [9] and log.history("f" * 64) == []
    assert len(log.events_of_kind("convert")) == 10


def _operations(log: CustodyLog) -> dict[str, int]:
    """Two seal sessions (one signed, one not) and two other operations (one extraction ended, one training not)."""
    seal = [Event(kind="begin", actor="a", parameters={"watermark_id": n, "owner": "x"}) for n in (1, 2)]
    other = [Event(kind="begin", actor="a", parameters={"operation": kind, "owner": "x"}) for kind in ("extract", "train")]
    receipts = log.append_many([*seal, *other])
    log.append_many([Event(kind="sign", actor="a", parameters={"watermark_id": 1}),
                     Event(kind="extract", actor="a", parameters={"begin": receipts[2].seq})])
    return {"signed": receipts[0].seq, "sealing": receipts[1].seq, "extracted": receipts[2].seq,
            "training": receipts[3].seq}


def test_open_operations_are_kept_at_append_and_rebuilt_for_an_older_log(log, custody_backend, key):
    seqs = _operations(log)
    open_now = [seqs["sealing"], seqs["training"]]
    assert [event["seq"] for event in log.open_operations()] == open_now
    assert [e["kind"] for e in log.events_of_operation(f"begin:{seqs['extracted']}")] == ["begin", "extract"]
    assert [e["kind"] for e in log.events_of_operation("watermark:1")] == ["begin", "sign"]
    log.append(Event(kind="abort", actor="a", parameters={"begin": seqs["training"]}))
    assert [event["seq"] for event in log.open_operations()] == [seqs["sealing"]]

    custody_backend.tamper(log.store, ("DROP TABLE custody_open",))  # as a log written before the table existed
    log.store.close()
    reopened = CustodyLog(custody_backend.open(), signing_key=key)
    assert [event["seq"] for event in reopened.open_operations()] == [seqs["sealing"]]
    reopened.append(Event(kind="abort", actor="a", parameters={"watermark_id": 2}))
    assert reopened.open_operations() == [] and reopened.verify().ok
    reopened.store.close()


def test_store_refuses_update_and_delete(log, custody_backend):
    _filled(log, 3)
    with pytest.raises(custody_backend.refused, match="custody_entries is append-only"):
        log.store.connection.execute("UPDATE custody_entries SET body = leaf WHERE seq = 1")
    with pytest.raises(custody_backend.refused, match="custody_checkpoints is append-only"):
        log.store.connection.execute("DELETE FROM custody_checkpoints")
    log.store.add_timestamp(3, "a checkpoint note\n", b"a token")
    with pytest.raises(custody_backend.refused, match="custody_timestamps is append-only"):
        log.store.connection.execute("DELETE FROM custody_timestamps")
    assert [(t.size, t.token) for t in log.store.timestamps("a checkpoint note\n")] == [(3, b"a token")]
    assert log.store.timestamps("another note\n") == [] and len(log.store.timestamps()) == 1
    assert log.verify().ok and log.store.size() == 3


def test_bad_events_are_refused():
    with pytest.raises(CustodyError, match="unknown custody event kind"):
        Event(kind="teleport", actor="x")
    with pytest.raises(CustodyError, match="actor"):
        Event(kind="ingest", actor="")
    with pytest.raises(CustodyError, match="SHA-256"):
        AssetRef("not-a-hash")


def _edited_body(log: CustodyLog, seq: int) -> bytes:
    record = log.entry(seq)
    record["actor"] = "mallory"
    return json.dumps(record, sort_keys=True, separators=(",", ":")).encode()


def test_edited_entry_is_named(log, custody_backend):
    _filled(log)
    custody_backend.tamper(log.store, ("UPDATE custody_entries SET body = ? WHERE seq = 4", (_edited_body(log, 4),)))
    report = log.verify()
    assert not report.ok and report.first_bad_entry == 4 and "entry 4 was altered" in report.problem


def test_edited_entry_with_recomputed_hash_is_named(log, custody_backend):
    _filled(log)
    body = _edited_body(log, 4)
    custody_backend.tamper(log.store, ("UPDATE custody_entries SET body = ?, leaf = ? WHERE seq = 4", (body, leaf_hash(body))))
    report = log.verify()
    assert not report.ok and report.first_bad_entry == 4


def test_deleted_entry_is_named(log, custody_backend):
    _filled(log)
    custody_backend.tamper(log.store, ("DELETE FROM custody_entries WHERE seq = 6",))
    report = log.verify()
    assert not report.ok and report.first_bad_entry == 6 and "deleted or reordered" in report.problem


def test_reordered_entries_are_named(log, custody_backend):
    _filled(log)
    rows = {seq: (body, leaf) for seq, body, leaf in log.store.connection.execute(
        "SELECT seq, body, leaf FROM custody_entries WHERE seq IN (2, 3)")}
    custody_backend.tamper(log.store,
                           ("UPDATE custody_entries SET body = ?, leaf = ? WHERE seq = 2", rows[3]),
                           ("UPDATE custody_entries SET body = ?, leaf = ? WHERE seq = 3", rows[2]))
    report = log.verify()
    assert not report.ok and report.first_bad_entry == 2


def test_truncated_log_is_named(log, custody_backend):
    _filled(log)
    custody_backend.tamper(log.store, ("DELETE FROM custody_entries WHERE seq >= 8",))
    report = log.verify()
    assert not report.ok and report.first_bad_entry == 8 and "truncated" in report.problem


def test_forged_checkpoint_is_named(log, custody_backend):
    _filled(log)
    real = log.latest_checkpoint()
    forged_root = bytes(32)
    custody_backend.tamper(log.store, ("INSERT INTO custody_checkpoints (size, root, time, log_id, signature) "
                                       "VALUES (?, ?, ?, ?, ?)", (real.size, forged_root, real.time, real.log_id, real.signature)))
    report = log.verify()
    assert not report.ok and report.bad_checkpoint == 4 and "invalid signature" in report.problem


def test_checkpoint_signed_by_another_key_is_refused(log, custody_backend):
    _filled(log)
    other = sign_checkpoint(ed25519.Ed25519PrivateKey.generate(), 10, log.latest_checkpoint().root)
    custody_backend.tamper(log.store, ("INSERT INTO custody_checkpoints (size, root, time, log_id, signature) "
                                       "VALUES (?, ?, ?, ?, ?)", (other.size, other.root, other.time, other.log_id, other.signature)))
    report = log.verify()
    assert not report.ok and "another log" in report.problem


_WRITER = textwrap.dedent(
    """
    import sys
    from cryptography.hazmat.primitives import serialization
    from provenance.custody import open_store
    from provenance.custody.log import AssetRef, CustodyLog, Event
    from provenance.installation import Installation
    key = serialization.load_pem_private_key(open(sys.argv[1], "rb").read(), None)
    log = CustodyLog(open_store(Installation.from_environment().custody_url, Installation.from_environment().custody_db_path), signing_key=key)  # as the test's backend
    i = 0
    while True:
        receipt = log.append(Event(kind="ingest", actor="writer", inputs=(AssetRef(f"{i:064x}", "x"),)))
        print(receipt.seq, flush=True)  # acknowledged only once durable
        i += 1
    """
)


def test_killed_writer_loses_nothing_acknowledged(tmp_path, key, custody_backend):
    from cryptography.hazmat.primitives import serialization

    key_file = tmp_path / "key.pem"
    key_file.write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                           serialization.NoEncryption()))
    writer = subprocess.Popen([sys.executable, "-c", _WRITER, str(key_file)], stdout=subprocess.PIPE, text=True, cwd=REPO)
    acknowledged = []
    try:
        for line in writer.stdout:
            acknowledged.append(int(line))
            if len(acknowledged) >= 60:
                break
    finally:
        writer.send_signal(signal.SIGKILL)  # mid-append: the writer never stops between appends
        writer.wait()
    assert writer.returncode == -signal.SIGKILL
    log = CustodyLog(custody_backend.open(), public_key=key.public_key())
    report = log.verify()
    assert report.ok, report.problem
    assert report.entries >= len(acknowledged) == 60
    assert all(log.entry(seq)["inputs"][0]["sha256"] == f"{seq:064x}" for seq in acknowledged)
    appender = CustodyLog(log.store, signing_key=key)  # the log carries on after the crash
    appender.append(_event(99))
    assert appender.verify().ok
    log.store.close()


def test_full_bundle_verifies_offline_and_names_a_bad_entry(log, tmp_path):
    _filled(log)
    earlier = checkpoint_to_json(log.store.checkpoints()[1])
    path = export_bundle(log, tmp_path / "full.json", known_size=earlier["size"])
    report = verify_bundle(path, known_checkpoint=earlier)
    assert report.ok and report.log.verified_size == 10 and report.known_checkpoint_consistent is True
    bundle = json.loads(path.read_text())
    bundle["entries"][5]["body"] = bundle["entries"][5]["body"].replace("tester", "mallory")
    path.write_text(json.dumps(bundle))
    report = verify_bundle(path)
    assert not report.ok and report.log.first_bad_entry == 5


def test_bundle_from_another_key_is_refused(log, tmp_path):
    _filled(log, 3)
    path = export_bundle(log, tmp_path / "full.json")
    with pytest.raises(CustodyError, match="different custody key"):
        verify_bundle(path, trusted_public_key=ed25519.Ed25519PrivateKey.generate().public_key())


def test_asset_bundle_proves_one_history(log, tmp_path):
    _filled(log, 6)
    log.append(Event(kind="sign", actor="tester", inputs=(AssetRef(f"{3:064x}"),), outputs=(AssetRef(HASH_B),)))
    path = export_bundle(log, tmp_path / "asset.json", sha256=f"{3:064x}")
    report = verify_bundle(path)
    assert report.ok and report.log.entries == 2
    bundle = json.loads(path.read_text())
    bundle["inclusion"][1]["path"][0] = "00" * 32
    path.write_text(json.dumps(bundle))
    report = verify_bundle(path)
    assert not report.ok and report.log.first_bad_entry == 6
    with pytest.raises(CustodyError, match="no custody entry"):
        export_bundle(log, tmp_path / "none.json", sha256="c" * 64)


def test_consent_required_recorded_and_revoked(log, tmp_path):
    form = tmp_path / "form.pdf"
    form.write_bytes(b"%PDF signed consent form")
    with pytest.raises(ConsentError, match="'alice'"):
        require_consent(log, ["alice"])
    record_consent(log, identity="alice", person="Alice Example", document=form, actor="admin")
    [record] = require_consent(log, ["alice"])
    assert record.person == "Alice Example" and len(record.document_sha256) == 64
    with pytest.raises(ConsentError, match="'bob'"):
        require_consent(log, ["alice", "bob"])
    revoke_consent(log, identity="alice", actor="admin", reason="withdrawn by email")
    assert consent_status(log, "alice") is None
    assert [c.revoked for c in list_consents(log)] == [False, True]
    with pytest.raises(ConsentError):
        require_consent(log, ["alice"])
    assert log.verify().ok
