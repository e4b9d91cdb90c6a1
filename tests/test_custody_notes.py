"""Checkpoints as C2SP signed notes: our note code and an independent reader agree with the published vectors,
and the installation's checkpoints (from `faceproof custody checkpoint`) open in that independent reader."""

from __future__ import annotations

import base64
import io

import pytest
from cryptography.hazmat.primitives.asymmetric import ed25519
from django.core.management import call_command

from provenance.custody import note
from provenance.custody.checkpoint import checkpoint_message, checkpoint_note, log_verifier
from provenance.custody.log import AssetRef, CustodyLog, Event
from provenance.custody.records import Checkpoint
from provenance.custody.store import SQLiteCustodyStore
from provenance.errors import CustodyError
from tests import signed_note_reference as reference

# golang.org/x/mod/sumdb/note, note_test.go (fe2ec04f): keys, text and signatures.
PETER_VKEY = "PeterNeumann+c74f20a3+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW"
PETER_SKEY = "PRIVATE+KEY+PeterNeumann+c74f20a3+AYEKFALVFGyNhPJEMzD1QIDr+Y7hfZx09iUvxdXHKDFz"
ENOCH_VKEY = "EnochRoot+af0cfe78+ATtqJ7zOtqQtYqOo0CpvDXNlMhV3HeJDpjrASKGLWdop"
TEXT = "If you think cryptography is the answer to your problem,\nthen you don't know what your problem is.\n"
PETER_SIG = ("\u2014 PeterNeumann x08go/ZJkuBS9UG/SffcvIAQxVBtiFupLLr8pAcElZInNIuGUgYN1FFYC2pZSNXgKvqfqdngotpRZb6KE6"
             "RyyBwJnAM=\n")
ENOCH_SIG = ("\u2014 EnochRoot rwz+eBzmZa0SO3NbfRGzPCpDckykFXSdeX+MNtCOXm2/5n2tiOHp+vAF1aGrQ5ovTG01oOTGwnWLox33WWd1"
             "RvMc+QQ=\n")
# c2sp.org/signed-note, "Example".
C2SP_VKEY = "example.com/foo+530d903a+AekyeRrm56hApGFkyQR4ZCbV54Id2LKaANYcrnKv3U2k"
C2SP_NOTE = ("This is an example message.\n\n\u2014 example.com/foo Uw2QOkn8srV1yJGh2VYRlL1Tnagv1YEq6TfXppzi2ONncAlTgK7Zt"
             "g1ERYNZXsYjOBH3mFXmRKuwHjG1Yu72IneyaQM=\n")


def _tamper(line: str) -> str:
    return line[:60] + "ABCD" + line[60:]


def test_reference_reader_accepts_the_published_notes_and_nothing_else():
    assert reference.open_signed_note((TEXT + "\n" + PETER_SIG + ENOCH_SIG).encode(), [PETER_VKEY]) == (TEXT, ["PeterNeumann"])
    both = reference.open_signed_note((TEXT + "\n" + PETER_SIG + ENOCH_SIG).encode(), [PETER_VKEY, ENOCH_VKEY])
    assert both[1] == ["PeterNeumann", "EnochRoot"]
    assert reference.open_signed_note(C2SP_NOTE.encode(), [C2SP_VKEY])[1] == ["example.com/foo"]
    for bad, keys in (((TEXT + "\n" + _tamper(PETER_SIG)), [PETER_VKEY]), (TEXT + "\n" + ENOCH_SIG, [PETER_VKEY]),
                      (TEXT.replace("problem,", "problem;") + "\n" + PETER_SIG, [PETER_VKEY])):
        with pytest.raises(reference.Rejected):
            reference.open_signed_note(bad.encode(), keys)


def test_note_signs_exactly_as_go_and_verifies_its_vectors():
    seed = base64.b64decode(PETER_SKEY.split("+", 4)[4])[1:]
    signature = note.sign(TEXT, "PeterNeumann", ed25519.Ed25519PrivateKey.from_private_bytes(seed))
    assert note.Note(TEXT, (signature,)).encode() == TEXT + "\n" + PETER_SIG  # Go's TestSign output, byte for byte
    peter, enoch = note.verifier_from_vkey(PETER_VKEY), note.verifier_from_vkey(ENOCH_VKEY)
    assert peter.vkey() == PETER_VKEY and peter.key_id.hex() == "c74f20a3"
    opened, verified = note.open_note(TEXT + "\n" + PETER_SIG + ENOCH_SIG, [peter])
    assert opened.text == TEXT and [s.name for s in verified] == ["PeterNeumann"]
    assert [s.name for s in note.open_note(TEXT + "\n" + PETER_SIG + ENOCH_SIG, [peter, enoch])[1]] == [
        "PeterNeumann", "EnochRoot"]
    assert note.open_note(C2SP_NOTE, [note.verifier_from_vkey(C2SP_VKEY)])[0].text == "This is an example message.\n"
    twice = note.open_note(TEXT + "\n" + PETER_SIG + PETER_SIG + ENOCH_SIG + _tamper(ENOCH_SIG), [peter])[1]
    assert [s.name for s in twice] == ["PeterNeumann"]  # unknown keys' lines, even broken ones, are ignored


@pytest.mark.parametrize("message", [
    TEXT, TEXT + "\n", TEXT + "\n" + PETER_SIG[:-1], "\x01" + TEXT + "\n" + PETER_SIG,
    TEXT + "\n\u2014 Bad Name x08go/ZJkuBS9UG/SffcvIAQxVBtiFupLLr8pAcElZInNIuGUgYN1FFYC2pZSNXgKvqfqdngotpRZb6KE6RyyBwJnAM=",
    TEXT + "\n" + PETER_SIG + "Unexpected line.\n", TEXT + "\n" + PETER_SIG * 101,
])
def test_malformed_notes_are_refused(message):  # Go's badMsgs, and its signature limit
    with pytest.raises(note.NoteError):
        note.open_note(message, [note.verifier_from_vkey(PETER_VKEY)])


def test_refusals_name_the_key():
    peter, enoch = note.verifier_from_vkey(PETER_VKEY), note.verifier_from_vkey(ENOCH_VKEY)
    with pytest.raises(note.NoteError, match="invalid signature for key PeterNeumann\\+c74f20a3"):
        note.open_note(TEXT + "\n" + _tamper(PETER_SIG), [peter])
    with pytest.raises(note.NoteError, match="ambiguous key EnochRoot\\+af0cfe78"):
        note.open_note(TEXT + "\n" + ENOCH_SIG, [enoch, peter, enoch])
    with pytest.raises(note.NoteError, match="no signature from a trusted key"):
        note.open_note(TEXT + "\n" + PETER_SIG, [enoch])
    for mangled in (PETER_VKEY[:-1], PETER_VKEY.replace("c74f20a3", "c74f20a4"), "PeterNeumann+173116ae+Z" + PETER_VKEY[23:]):
        with pytest.raises(note.NoteError):
            note.verifier_from_vkey(mangled)


def test_cosignatures_verify_in_the_reference_reader():
    key = ed25519.Ed25519PrivateKey.generate()
    text = "example.com/behind-the-sofa\n20852163\nCsUYapGGPo4dkMgIAUqom/Xajj7h2fB2MPA3j2jxq2I=\n"
    cosignature = note.cosign(text, "witness.example/w1", key, 1679315147)
    vkey = note.Verifier("witness.example/w1", note.COSIGNATURE_ED25519, key.public_key()).vkey()
    signed = note.Note(text, (cosignature,)).encode()
    assert reference.open_signed_note(signed.encode(), [vkey]) == (text, ["witness.example/w1"])
    assert note.cosignature_time(cosignature) == 1679315147
    with pytest.raises(reference.Rejected):  # the time is signed
        forged = note.NoteSignature(cosignature.name, cosignature.key_id, (1679315148).to_bytes(8, "big") + cosignature.signature[8:])
        reference.open_signed_note(note.Note(text, (forged,)).encode().encode(), [vkey])


def _run(*args: str) -> str:
    out = io.StringIO()
    call_command(*args, stdout=out)
    return out.getvalue()


def test_installation_checkpoint_is_a_note_any_reader_verifies(monkeypatch, tmp_path):
    monkeypatch.setenv("FACEPROOF_KEY_PASSPHRASE", "note passphrase")
    monkeypatch.setenv("FACEPROOF_HOME", str(tmp_path))
    _run("keys", "init")
    form = tmp_path / "form.txt"
    form.write_text("Alice agrees")
    _run("consent", "record", "--identity", "alice", "--person", "Alice Example", "--document", str(form))
    vkey = _run("custody", "checkpoint", "--vkey").strip()
    printed = _run("custody", "checkpoint")
    text, signers = reference.open_signed_note(printed.encode(), [vkey])
    origin, size, root = reference.read_checkpoint(text)
    assert signers == [vkey.split("+")[0]] == [origin] and origin.startswith("faceproof.custody/")
    from provenance.installation import Installation
    log = Installation.from_environment().custody_log()
    try:
        leaves = log.store.leaves()
        assert size == len(leaves) >= 1 and root == reference.mth(leaves)
        assert text.split("\n")[3] == f"time {log.latest_checkpoint().time}"
    finally:
        log.store.close()
    fresh = _run("custody", "checkpoint", "--new")
    assert fresh != printed and reference.read_checkpoint(reference.open_signed_note(fresh.encode(), [vkey])[0])[1] == size


def test_checkpoints_signed_before_notes_still_verify(tmp_path):
    key = ed25519.Ed25519PrivateKey.generate()
    log = CustodyLog(SQLiteCustodyStore(tmp_path / "c.sqlite"), signing_key=key)
    receipt = log.append(Event(kind="ingest", actor="a", outputs=(AssetRef("ab" * 32, "x"),)))
    old = receipt.checkpoint
    fields = (old.size, old.root, "2026-01-01T00:00:00.000000Z", old.log_id)
    log.store.add_checkpoint(lambda head: Checkpoint(*fields, key.sign(checkpoint_message(*fields))))
    assert log.verify().ok and log.verify().checkpoints == 2
    with pytest.raises(CustodyError, match="--new"):
        checkpoint_note(log.store.checkpoints()[-1], key.public_key())
    vkey = log_verifier(key.public_key()).vkey()
    assert reference.open_signed_note(checkpoint_note(old, key.public_key()).encode(), [vkey])
    log.store.close()


def test_verifier_keys_whose_base64_holds_a_plus_round_trip():
    seeds = (bytes([n]) * 32 for n in range(256))
    key = next(k for k in map(ed25519.Ed25519PrivateKey.from_private_bytes, seeds)
               if "+" in note.Verifier("w.example/x", note.COSIGNATURE_ED25519, k.public_key()).vkey().split("+", 2)[2])
    vkey = note.Verifier("w.example/x", note.COSIGNATURE_ED25519, key.public_key()).vkey()
    assert note.verifier_from_vkey(vkey).vkey() == vkey and reference.read_vkey(vkey)[0] == "w.example/x"
