"""The provenance CLI: keys, verify, custody and consent commands, run as a user would (one-line errors)."""

from __future__ import annotations

import io
import json
from pathlib import Path

import cv2
import numpy as np
import pytest
from django.core.management import call_command
from django.core.management.base import CommandError

from provenance.seal import Sealer, SealRequest
from provenance.installation import Installation

PASS = "cli passphrase"


def _run(*args: str) -> str:
    out = io.StringIO()
    call_command(*args, stdout=out)
    return out.getvalue()


@pytest.fixture
def home(monkeypatch, tmp_path) -> Path:
    monkeypatch.setenv("FACEPROOF_KEY_PASSPHRASE", PASS)
    return tmp_path


def _sealed_png(folder: Path) -> Path:
    """One real output through the seal seam (consent recorded with the CLI first)."""
    form = folder / "form.txt"
    form.write_text("Alice agrees")
    _run("consent", "record", "--identity", "alice", "--person", "Alice Example", "--document", str(form))
    target = folder / "target.png"
    cv2.imwrite(str(target), np.random.default_rng(3).integers(0, 255, (160, 160, 3), dtype=np.uint8))
    sealer = Installation.from_environment().sealer()
    try:
        session = sealer.begin(SealRequest(kind="image", title="alice", actor="cli test", inputs=[target],
                                           parent=target, consents=["alice"]))
        cv2.imwrite(str(folder / "enc.png"), session.mark(cv2.imread(str(target))))
        return session.finish(folder / "enc.png", folder / "alice.png").output
    finally:
        sealer.close()


def test_keys_lifecycle(home):
    with pytest.raises(CommandError, match="keys init"):
        _run("keys", "show")
    assert "faceproof signer" in _run("keys", "init", "--common-name", "faceproof signer (desk)")
    with pytest.raises(CommandError, match="already exist"):
        _run("keys", "init")
    first = json.loads(_run("keys", "show", "--json"))
    _run("keys", "rotate")
    second = json.loads(_run("keys", "show", "--json"))
    assert first["fingerprint_sha256"] != second["fingerprint_sha256"] and len(second["trust_anchors"]) == 2
    _run("keys", "export-trust", str(home / "roots.pem"))
    assert (home / "roots.pem").read_bytes().count(b"BEGIN CERTIFICATE") == 2
    assert "127.0.0.1:9" in _run("keys", "tsa", "http://127.0.0.1:9/")
    with pytest.raises(CommandError, match="--pkcs12 FILE"):
        _run("keys", "import", "--chain", str(home / "roots.pem"))


def test_verify_prints_result_and_fails_on_tampering(home):
    _run("keys", "init")
    signed = _sealed_png(home)
    result = json.loads(_run("verify", str(signed), "--json"))
    assert result["state"] == "Trusted" and result["ai_generated"]
    assert result["custody_check"].startswith("custody: custody entries")
    text = _run("verify", str(signed))
    assert "Trusted" in text and "consent: alice by Alice Example" in text and "watermark ID" in text
    data = bytearray(signed.read_bytes())
    data[-40] ^= 1
    signed.write_bytes(bytes(data))
    with pytest.raises(CommandError, match="Invalid"):
        _run("verify", str(signed))
    with pytest.raises(CommandError, match="C2PA cannot be embedded"):
        (home / "x.webm").write_bytes(b"\x1aE")
        _run("verify", str(home / "x.webm"))


def test_custody_verify_prove_export(home):
    _run("keys", "init")
    signed = _sealed_png(home)
    assert _run("custody", "verify").startswith("OK:")
    from provenance.custody.log import sha256_file

    digest = sha256_file(signed)
    proof = json.loads(_run("custody", "prove", "--sha256", digest, "--json"))
    assert [item["event"]["kind"] for item in proof] == ["sign"] and proof[0]["proof"]["path"]
    _run("custody", "prove", "--sha256", digest, "-o", str(home / "asset.json"))
    assert "OK:" in _run("custody", "verify", str(home / "asset.json"))
    _run("custody", "export", "-o", str(home / "full.json"))
    bundle = json.loads((home / "full.json").read_text())
    bundle["entries"][1]["body"] = bundle["entries"][1]["body"].replace("cli test", "mallory")
    (home / "full.json").write_text(json.dumps(bundle))
    with pytest.raises(CommandError, match="entry 1 was altered"):
        _run("custody", "verify", str(home / "full.json"))
    with pytest.raises(CommandError, match="no custody entry"):
        _run("custody", "prove", "--sha256", "0" * 64)


def test_consent_commands(home):
    _run("keys", "init")
    form = home / "form.txt"
    form.write_text("Bob agrees")
    assert "custody entry 0" in _run("consent", "record", "--identity", "bob", "--person", "Bob", "--document", str(form),
                                     "--granted-on", "2026-01-31")
    assert "granted by Bob on 2026-01-31" in _run("consent", "list")
    _run("consent", "revoke", "--identity", "bob", "--reason", "withdrawn")
    assert [r["revoked"] for r in json.loads(_run("consent", "list", "--json"))] == [False, True]
    with pytest.raises(CommandError, match="no standing consent"):
        _run("consent", "revoke", "--identity", "bob", "--reason", "again")
    with pytest.raises(CommandError, match="not a date"):
        _run("consent", "record", "--identity", "c", "--person", "C", "--document", str(form), "--granted-on", "soon")


def test_faceproof_lists_its_stages_not_djangos_commands(capsys):
    from webapp.cli import STAGES, main

    for asked in ([], ["-h"], ["help"]):
        assert main(asked) == 0
        listed = capsys.readouterr().out
        assert [line.split()[0] for line in listed.splitlines() if line.startswith("  ")] == list(STAGES)
        assert "sqlflush" not in listed and "faceproof admin" in listed
    main(["admin", "help"])  # Django's own commands stay reachable
    assert "sqlflush" in capsys.readouterr().out
