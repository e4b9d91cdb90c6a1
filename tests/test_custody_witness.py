"""Witnesses on loopback (c2sp.org/tlog-witness): two witnesses, one run as `faceproof witness serve`, cosign each
checkpoint of the installation's log; `custody verify` wants k of n; a rewritten log (a split view) is refused
whatever size it claims, with nothing kept by the auditor."""

from __future__ import annotations

import hashlib
import io
import os
import subprocess
import sys
import threading
import urllib.request
from pathlib import Path

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError

from provenance.custody import note
from provenance.custody.checkpoint import checkpoint_note
from provenance.custody.log import AssetRef, CustodyLog, Event
from provenance.custody.store import SQLiteCustodyStore
from provenance.custody.witness import (
    Witness, add_checkpoint_body, quorum_problem, serve, witness_checkpoint,
)
from tests import signed_note_reference as reference

REPO = Path(__file__).resolve().parent.parent


def _run(*args: str) -> str:
    out = io.StringIO()
    call_command(*args, stdout=out)
    return out.getvalue()


def _events(seed: str, count: int) -> list[Event]:
    return [Event(kind="ingest", actor=f"{seed}@studio", reason=f"{seed} {n}",
                  outputs=(AssetRef(hashlib.sha256(f"{seed}{n}".encode()).hexdigest(), f"{n}.mp4"),)) for n in range(count)]


@pytest.fixture
def witnesses(monkeypatch, tmp_path):
    """The installation's keys, and two witnesses of its log: A a `faceproof witness serve` process, B a thread."""
    monkeypatch.setenv("FACEPROOF_KEY_PASSPHRASE", "witness tests")
    from provenance.installation import Installation
    Installation.from_environment().keys()
    log_vkey = _run("custody", "checkpoint", "--vkey").strip()
    vkey_a = _run("witness", "init", str(tmp_path / "a"), "--name", "witness.example/a").strip()
    vkey_b = _run("witness", "init", str(tmp_path / "b"), "--name", "witness.example/b").strip()
    assert vkey_a == _run("witness", "vkey", str(tmp_path / "a")).strip()
    process = subprocess.Popen(
        [sys.executable, "-m", "webapp", "witness", "serve", str(tmp_path / "a"), "--log", log_vkey,
         "--listen", "127.0.0.1:0"], cwd=REPO, stdout=subprocess.PIPE, text=True,
        env={**os.environ, "PYTHONPATH": str(REPO)})
    url_a = process.stdout.readline().split(" on ")[1].split()[0]
    witness_b = Witness(tmp_path / "b")
    server_b = serve(witness_b, [note.verifier_from_vkey(log_vkey)], "127.0.0.1", 0)
    threading.Thread(target=server_b.serve_forever, daemon=True).start()
    url_b = f"http://127.0.0.1:{server_b.server_port}"
    monkeypatch.setenv("FACEPROOF_WITNESSES", f"{vkey_a} {url_a}; {vkey_b} {url_b}")
    monkeypatch.setenv("FACEPROOF_WITNESS_QUORUM", "2")
    yield {"log": log_vkey, "a": (vkey_a, url_a), "b": (vkey_b, url_b), "server_b": server_b}
    process.terminate()
    process.wait(timeout=10)
    server_b.shutdown()
    server_b.server_close()
    witness_b.close()


def _append(events: list[Event]) -> None:
    from provenance.installation import Installation
    log = Installation.from_environment().custody_log(writable=True)
    try:
        log.append_many(events)
    finally:
        log.store.close()


def _post(url: str, body: bytes) -> tuple[int, str]:
    try:
        with urllib.request.urlopen(urllib.request.Request(f"{url}/add-checkpoint", data=body), timeout=5) as answer:
            return answer.status, answer.read().decode()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read().decode()


def test_two_witnesses_cosign_every_checkpoint_and_verify_wants_them(witnesses, monkeypatch):
    for batch in range(3):  # the first from size 0, then consistency proofs from the size each one cosigned
        _append(_events(f"real{batch}", 5))
    assert _run("custody", "verify").startswith("OK: 15 entries")
    printed = _run("custody", "checkpoint")
    text, signers = reference.open_signed_note(printed.encode(), [witnesses["log"], witnesses["a"][0], witnesses["b"][0]])
    assert signers == [witnesses["log"].split("+")[0], "witness.example/a", "witness.example/b"]
    origin, size, _ = reference.read_checkpoint(text)
    # A monitor asks a witness for the latest checkpoint it cosigned, by the SHA-256 of the log's origin.
    with urllib.request.urlopen(f"{witnesses['a'][1]}/{hashlib.sha256(origin.encode()).hexdigest()}/checkpoint") as r:
        seen = r.read().decode()
    assert reference.read_checkpoint(reference.open_signed_note(seen.encode(), [witnesses["log"], witnesses["a"][0]])[0])[1] == 15

    witnesses["server_b"].shutdown()  # B goes away: appends still succeed, cosigned by A alone
    _append(_events("later", 2))
    with pytest.raises(CommandError, match="1 of the 2 witness cosignatures"):
        _run("custody", "verify")
    monkeypatch.setenv("FACEPROOF_WITNESS_QUORUM", "1")
    assert _run("custody", "verify").startswith("OK: 17 entries")


def test_a_rewritten_log_is_refused_even_without_a_kept_checkpoint(witnesses, tmp_path):
    from provenance.installation import Installation
    _append(_events("real", 6))
    key = Installation.from_environment().keys().custody_key("witness tests")
    policy = Installation.from_environment().witnesses
    # The same key signs another history: the operator rewrote the log from scratch, longer than before.
    forked = CustodyLog(SQLiteCustodyStore(tmp_path / "forked.sqlite3"), signing_key=key)
    forked.after_checkpoint = lambda cp: witness_checkpoint(forked.store, forked.tree_levels, forked.public_key, cp, policy)
    forked.append_many(_events("rewritten", 9))  # each witness answers 409 (it has 6), then refuses the proof
    latest = forked.latest_checkpoint()
    assert forked.store.cosignatures(note.parse(checkpoint_note(latest, key.public_key())).text) == []
    assert "0 of the 2 witness cosignatures" in quorum_problem(forked.store, latest, key.public_key(), policy)
    signed = checkpoint_note(latest, key.public_key())
    status, body = _post(witnesses["a"][1], add_checkpoint_body(6, forked.tree_levels(9).consistency_proof(6, 9), signed))
    assert status == 422 and "not an extension of the checkpoint of size 6" in body
    same_size = CustodyLog(SQLiteCustodyStore(tmp_path / "same.sqlite3"), signing_key=key)
    same_size.append_many(_events("rewritten", 6))
    status, body = _post(witnesses["b"][1], add_checkpoint_body(6, [], checkpoint_note(same_size.latest_checkpoint(), key.public_key())))
    assert status == 422 and "the log forked" in body
    assert _run("custody", "verify").startswith("OK: 6 entries")  # the real log is still cosigned by both
    forked.store.close()
    same_size.store.close()


def test_witness_refuses_what_the_protocol_refuses(witnesses, tmp_path):
    from cryptography.hazmat.primitives.asymmetric import ed25519
    from provenance.installation import Installation
    _append(_events("real", 3))
    url = witnesses["a"][1]
    log = Installation.from_environment().custody_log()
    signed = checkpoint_note(log.latest_checkpoint(), log.public_key)
    log.store.close()
    assert _post(url, add_checkpoint_body(0, [], signed)) == (409, "3\n")  # it has 3: says so
    assert _post(url, add_checkpoint_body(4, [], signed))[0] == 400  # old beyond the checkpoint
    assert _post(url, b"old 3\n" + signed.encode())[0] == 400  # no blank line after the proof
    stranger = CustodyLog(SQLiteCustodyStore(tmp_path / "s.sqlite3"), signing_key=ed25519.Ed25519PrivateKey.generate())
    stranger.append_many(_events("s", 1))
    assert _post(url, add_checkpoint_body(0, [], checkpoint_note(stranger.latest_checkpoint(), stranger.public_key)))[0] == 404
    stranger.store.close()
    text, _, signature = signed.rpartition("\n\n")
    forged = text.replace("\n3\n", "\n4\n", 1) + "\n\n" + signature  # the log's key name and ID, a broken signature
    assert _post(url, add_checkpoint_body(3, [], forged))[0] == 403
    assert Installation.from_environment().keys()


def test_a_witness_answering_a_garbled_cosignature_costs_a_warning_not_the_append(monkeypatch, tmp_path, caplog):
    """A witness that answers 200 with a line that is no valid cosignature of its key (not base64, or a signature
    that does not verify) is one that did not cosign: the append stands and nothing is stored for it."""
    import base64

    from tests.loopback import post_server

    monkeypatch.setenv("FACEPROOF_KEY_PASSPHRASE", "witness tests")
    from provenance.installation import Installation
    Installation.from_environment().keys()
    vkey = _run("witness", "init", str(tmp_path / "liar"), "--name", "witness.example/liar").strip()
    key_id = bytes.fromhex(vkey.split("+")[1])
    answers = iter([b"\xe2\x80\x94 witness.example/liar not*base64\n",
                    "— witness.example/liar ".encode() + base64.b64encode(key_id + bytes(72)) + b"\n"])
    with post_server(lambda body, _: next(answers), "text/plain") as url:
        monkeypatch.setenv("FACEPROOF_WITNESSES", f"{vkey} {url}")
        _append(_events("one", 2))  # not base64
        _append(_events("two", 2))  # base64, the liar's key ID, a signature that does not verify
    assert [r.getMessage().count("bad cosignature") for r in caplog.records if "not witnessed" in r.getMessage()] == [1, 1]
    log = Installation.from_environment().custody_log()
    try:
        assert log.store.size() == 4
        assert log.store.cosignatures(note.parse(checkpoint_note(log.latest_checkpoint(), log.public_key)).text) == []
    finally:
        log.store.close()
    with pytest.raises(CommandError, match="0 of the 1 witness cosignatures"):
        _run("custody", "verify")
