"""Signing keys: generation, encryption at rest, imports (PEM, PKCS#12), rotation, TSA fallback."""

from __future__ import annotations

import datetime as dt
import stat
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.serialization import pkcs12
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from provenance import manifest
from provenance.errors import SigningKeyError
from provenance.keys import KeyStore
from provenance.manifest import ManifestSpec

PASS = "correct horse"


def _png(path: Path) -> Path:
    import cv2
    import numpy as np

    cv2.imwrite(str(path), np.full((24, 24, 3), 128, np.uint8))
    return path


def _sign_and_verify(store: KeyStore, tmp_path: Path, name: str) -> Path:
    out = tmp_path / f"{name}.png"
    manifest.sign(_png(tmp_path / f"{name}-src.png"), out, store.signing_identity(PASS), ManifestSpec(title=name))
    return out


def test_init_writes_encrypted_private_files(tmp_path):
    store = KeyStore(tmp_path / "keys")
    info = store.init(PASS)
    assert info.alg == "es256" and info.generated_root and info.not_after > dt.datetime.now(dt.timezone.utc) + dt.timedelta(days=365 * 20)
    assert stat.S_IMODE(store.directory.stat().st_mode) == 0o700
    for path in store.directory.rglob("*"):
        if path.is_file():
            assert stat.S_IMODE(path.stat().st_mode) == 0o600, path
    for secret in (store.key_path, store.root_key_path, store.custody_key_path):
        assert secret.read_bytes().startswith(b"-----BEGIN ENCRYPTED PRIVATE KEY-----")
    with pytest.raises(SigningKeyError, match="wrong passphrase"):
        store.signing_identity("wrong")
    with pytest.raises(SigningKeyError, match="already exist"):
        store.init(PASS)


def test_no_passphrase_is_refused(tmp_path, monkeypatch):
    monkeypatch.delenv("FACEPROOF_KEY_PASSPHRASE", raising=False)
    with pytest.raises(SigningKeyError, match="FACEPROOF_KEY_PASSPHRASE"):
        KeyStore(tmp_path / "keys").init()


def test_generated_certificates_sign_trusted_files(tmp_path):
    store = KeyStore(tmp_path / "keys")
    store.init(PASS)
    signed = _sign_and_verify(store, tmp_path, "a")
    assert manifest.verify(signed, trust_anchors_pem=store.trust_anchors_pem()).state == "Trusted"
    exported = store.export_trust(tmp_path / "roots.pem")
    assert manifest.verify(signed, trust_anchors_pem=exported.read_bytes()).state == "Trusted"
    assert b"PRIVATE" not in exported.read_bytes()


def test_rotation_keeps_old_outputs_trusted(tmp_path):
    store = KeyStore(tmp_path / "keys")
    first = store.init(PASS)
    old = _sign_and_verify(store, tmp_path, "old")
    second = store.rotate(PASS)
    new = _sign_and_verify(store, tmp_path, "new")
    assert first.fingerprint_sha256 != second.fingerprint_sha256 and len(second.trust_anchors) == 2
    anchors = store.trust_anchors_pem()
    assert manifest.verify(old, trust_anchors_pem=anchors).state == "Trusted"
    assert manifest.verify(new, trust_anchors_pem=anchors).state == "Trusted"


def _org_chain(eku=ExtendedKeyUsageOID.EMAIL_PROTECTION):
    """An organisation's own CA and signing certificate, made the way a corporate PKI would."""
    now = dt.datetime.now(dt.timezone.utc)
    root_key, leaf_key = ec.generate_private_key(ec.SECP256R1()), ec.generate_private_key(ec.SECP384R1())
    root_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "Example News Root")])
    root = (
        x509.CertificateBuilder().subject_name(root_name).issuer_name(root_name).public_key(root_key.public_key())
        .serial_number(1).not_valid_before(now - dt.timedelta(days=1)).not_valid_after(now + dt.timedelta(days=3650))
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .add_extension(x509.KeyUsage(False, False, False, False, False, True, True, False, False), critical=True)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(root_key.public_key()), critical=False)
        .sign(root_key, hashes.SHA256())
    )
    leaf = (
        x509.CertificateBuilder().subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "Example News Desk")]))
        .issuer_name(root_name).public_key(leaf_key.public_key()).serial_number(2)
        .not_valid_before(now - dt.timedelta(days=1)).not_valid_after(now + dt.timedelta(days=3000))
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(x509.KeyUsage(True, False, False, False, False, False, False, False, False), critical=True)
        .add_extension(x509.ExtendedKeyUsage([eku]), critical=False)
        .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(root_key.public_key()), critical=False)
        .sign(root_key, hashes.SHA256())
    )
    return root, leaf, leaf_key


def test_import_pem_chain(tmp_path):
    root, leaf, key = _org_chain()
    chain = tmp_path / "chain.pem"
    chain.write_bytes(leaf.public_bytes(serialization.Encoding.PEM) + root.public_bytes(serialization.Encoding.PEM))
    key_file = tmp_path / "key.pem"
    key_file.write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                           serialization.BestAvailableEncryption(b"org")))
    store = KeyStore(tmp_path / "keys")
    info = store.import_pem(chain, key_file, key_password="org", passphrase=PASS)
    assert info.alg == "es384" and "Example News Desk" in info.subject and not info.generated_root
    signed = _sign_and_verify(store, tmp_path, "org")
    result = manifest.verify(signed, trust_anchors_pem=store.trust_anchors_pem())
    assert result.state == "Trusted" and result.signer["common_name"] == "Example News Desk"


def test_import_pkcs12(tmp_path):
    root, leaf, key = _org_chain()
    bundle = tmp_path / "org.p12"
    bundle.write_bytes(pkcs12.serialize_key_and_certificates(
        b"desk", key, leaf, [root], serialization.BestAvailableEncryption(b"p12")))
    store = KeyStore(tmp_path / "keys")
    store.import_pkcs12(bundle, bundle_password="p12", passphrase=PASS)
    signed = _sign_and_verify(store, tmp_path, "p12")
    assert manifest.verify(signed, trust_anchors_pem=store.trust_anchors_pem()).state == "Trusted"
    with pytest.raises(SigningKeyError, match="PKCS#12"):
        KeyStore(tmp_path / "other").import_pkcs12(bundle, bundle_password="wrong", passphrase=PASS)


def test_import_refuses_a_certificate_c2pa_rejects(tmp_path):
    root, leaf, key = _org_chain(eku=ExtendedKeyUsageOID.SERVER_AUTH)
    bundle = tmp_path / "bad.p12"
    bundle.write_bytes(pkcs12.serialize_key_and_certificates(b"x", key, leaf, [root], serialization.NoEncryption()))
    with pytest.raises(SigningKeyError, match="emailProtection"):
        KeyStore(tmp_path / "keys").import_pkcs12(bundle, passphrase=PASS)


def test_unreachable_tsa_falls_back_to_an_untimestamped_signature(tmp_path):
    store = KeyStore(tmp_path / "keys")
    store.init(PASS)
    store.set_tsa_url("http://127.0.0.1:9/tsa")  # the discard port: nothing listens
    assert store.info().tsa_url == "http://127.0.0.1:9/tsa"
    out = tmp_path / "out.png"
    signed = manifest.sign(_png(tmp_path / "src.png"), out, store.signing_identity(PASS), ManifestSpec(title="t"))
    assert not signed.timestamped
    assert manifest.verify(out, trust_anchors_pem=store.trust_anchors_pem()).state == "Trusted"


def test_reachable_tsa_is_asked_and_a_bad_answer_does_not_block_signing(tmp_path):
    import http.server
    import threading

    requests = []

    class BrokenTsa(http.server.BaseHTTPRequestHandler):
        def do_POST(self):
            requests.append(self.rfile.read(int(self.headers.get("Content-Length", 0))))
            self.send_response(200)
            self.send_header("Content-Type", "application/timestamp-reply")
            self.end_headers()
            self.wfile.write(b"not a timestamp token")

        def log_message(self, *args):
            pass

    server = http.server.HTTPServer(("127.0.0.1", 0), BrokenTsa)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        store = KeyStore(tmp_path / "keys")
        store.init(PASS)
        store.set_tsa_url(f"http://127.0.0.1:{server.server_port}/tsa")
        out = tmp_path / "out.png"
        signed = manifest.sign(_png(tmp_path / "src.png"), out, store.signing_identity(PASS), ManifestSpec(title="t"))
    finally:
        server.shutdown()
    assert requests and requests[0]  # the timestamp request was sent
    assert not signed.timestamped
    assert manifest.verify(out, trust_anchors_pem=store.trust_anchors_pem()).state == "Trusted"
