"""RFC 3161 timestamps on custody checkpoints, against a TSA on loopback written here (it signs a TSTInfo with a
test CA's time-stamping certificate) and, where the openssl tool exists, against `openssl ts` both ways: it
answers our requests as a TSA, and verifies the tokens our TSA gave. Offline or misbehaving TSAs cost a
warning and no token; a stored token that stamps something else fails `custody verify`."""

from __future__ import annotations

import datetime as dt
import hashlib
import io
import shutil
import subprocess
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID
from django.core.management import call_command
from django.core.management.base import CommandError

from provenance.custody import der
from provenance.custody.checkpoint import checkpoint_note
from provenance.custody.log import AssetRef, Event
from provenance.custody.timestamp import (
    CONTENT_TYPE_ATTRIBUTE, MESSAGE_DIGEST_ATTRIBUTE, SHA256, SIGNED_DATA, TST_INFO, TimestampError, request_timestamp,
    verify_token,
)
from tests.loopback import post_server

PASSPHRASE = "timestamp tests"
ECDSA_SHA256 = "1.2.840.10045.4.3.2"
SIGNING_CERTIFICATE_V2 = "1.2.840.113549.1.9.16.2.47"
POLICY = "1.3.6.1.4.1.55555.1"


def _certificate(subject: str, key, issuer: x509.Name | None, issuer_key, *, tsa: bool) -> x509.Certificate:
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, subject)])
    now = dt.datetime.now(dt.timezone.utc)
    builder = (x509.CertificateBuilder().subject_name(name).issuer_name(issuer or name).public_key(key.public_key())
               .serial_number(x509.random_serial_number()).not_valid_before(now - dt.timedelta(days=1))
               .not_valid_after(now + dt.timedelta(days=30))
               .add_extension(x509.BasicConstraints(ca=not tsa, path_length=None), critical=True))
    if tsa:
        builder = builder.add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.TIME_STAMPING]), critical=True)
    return builder.sign(issuer_key, hashes.SHA256())


class LoopbackTsa:
    """An RFC 3161 TSA: TSTInfo over the request's imprint and nonce, in CMS SignedData signed with ECDSA P-256.
    `mode` makes it misbehave: "refuse" (PKIStatus rejection), "other-imprint", "other-nonce", "no-eku",
    "other-digest" (signed attributes with another TSTInfo's digest), "bad-signature"."""

    def __init__(self, folder: Path) -> None:
        self.ca_key, self.key = ec.generate_private_key(ec.SECP256R1()), ec.generate_private_key(ec.SECP256R1())
        self.ca = _certificate("Test TSA Root", self.ca_key, None, self.ca_key, tsa=False)
        self.certificate = _certificate("Test TSA", self.key, self.ca.subject, self.ca_key, tsa=True)
        self.plain = _certificate("Not a TSA", self.key, self.ca.subject, self.ca_key, tsa=False)
        self.mode, self.serial, self.requests = "", 0, 0
        self.folder = folder
        folder.mkdir(exist_ok=True)
        (folder / "ca.pem").write_bytes(self.ca.public_bytes(serialization.Encoding.PEM))
        (folder / "tsa.pem").write_bytes(self.certificate.public_bytes(serialization.Encoding.PEM))
        (folder / "tsa.key").write_bytes(self.key.private_bytes(serialization.Encoding.PEM,
                                                                 serialization.PrivateFormat.PKCS8,
                                                                 serialization.NoEncryption()))

    def reply(self, request: bytes) -> bytes:
        self.requests += 1
        if self.mode == "refuse":
            return der.sequence(der.sequence(der.integer(2)))
        _, imprint, nonce, *_ = der.read(request).children()
        if self.mode == "other-imprint":
            imprint = der.read(der.sequence(der.sequence(der.oid(SHA256)), der.octet_string(bytes(32))))
        self.serial += 1
        tst_info = der.sequence(der.integer(1), der.oid(POLICY), imprint.raw, der.integer(self.serial),
                                der.generalized_time(dt.datetime.now(dt.timezone.utc)),
                                der.integer(nonce.as_int() + (self.mode == "other-nonce")))
        return der.sequence(der.sequence(der.integer(0)), self._signed(tst_info))

    def _signed(self, tst_info: bytes) -> bytes:
        certificate = self.plain if self.mode == "no-eku" else self.certificate
        cert_der = certificate.public_bytes(serialization.Encoding.DER)
        attributes = [
            der.sequence(der.oid(CONTENT_TYPE_ATTRIBUTE), der.set_of(der.oid(TST_INFO))),
            der.sequence(der.oid(MESSAGE_DIGEST_ATTRIBUTE), der.set_of(der.octet_string(
                hashlib.sha256(tst_info + b"x" * (self.mode == "other-digest")).digest()))),
            der.sequence(der.oid(SIGNING_CERTIFICATE_V2), der.set_of(der.sequence(der.sequence(der.sequence(
                der.octet_string(hashlib.sha256(cert_der).digest())))))),
        ]
        signed_attributes = der.set_of(*attributes)
        signature = self.key.sign(signed_attributes + b"x" * (self.mode == "bad-signature"), ec.ECDSA(hashes.SHA256()))
        sha256 = der.sequence(der.oid(SHA256))
        signer_info = der.sequence(
            der.integer(1), der.sequence(certificate.issuer.public_bytes(), der.integer(certificate.serial_number)),
            sha256, der.context(0, der.read(signed_attributes).content),
            der.sequence(der.oid(ECDSA_SHA256)), der.octet_string(signature))
        content = der.sequence(der.oid(TST_INFO), der.context(0, der.octet_string(tst_info)))
        signed_data = der.sequence(der.integer(3), der.set_of(sha256), content, der.context(0, cert_der),
                                   der.set_of(signer_info))
        return der.sequence(der.oid(SIGNED_DATA), der.context(0, signed_data))


@pytest.fixture
def tsa(monkeypatch, tmp_path):
    """The installation's keys with this TSA set (`faceproof keys tsa URL`), served on loopback."""
    monkeypatch.setenv("FACEPROOF_KEY_PASSPHRASE", PASSPHRASE)
    authority = LoopbackTsa(tmp_path / "tsa")

    def answer(request: bytes, content_type: str) -> bytes:
        assert content_type == "application/timestamp-query"
        return authority.reply(request)

    with post_server(answer, "application/timestamp-reply") as url:
        _run("keys", "init")
        _run("keys", "tsa", f"{url}/tsa")
        yield authority


def _run(*args: str) -> str:
    out = io.StringIO()
    call_command(*args, stdout=out)
    return out.getvalue()


def _append(seed: str, count: int) -> None:
    from provenance.installation import Installation

    log = Installation.from_environment().custody_log(writable=True)
    try:
        log.append_many([Event(kind="ingest", actor=f"{seed}@studio", reason=f"{seed} {n}",
                               outputs=(AssetRef(hashlib.sha256(f"{seed}{n}".encode()).hexdigest(), f"{n}.mp4"),))
                         for n in range(count)])
    finally:
        log.store.close()


def _stored():
    from provenance.installation import Installation

    log = Installation.from_environment().custody_log()
    try:
        return log, log.store.timestamps(), [checkpoint_note(c, log.public_key) for c in log.store.checkpoints()]
    finally:
        log.store.close()


def test_each_checkpoint_is_timestamped_and_verify_checks_every_token(tsa, tmp_path):
    for batch in range(3):
        _append(f"batch{batch}", 4)
    log, stamps, notes = _stored()
    assert [s.size for s in stamps] == [4, 8, 12] and [s.checkpoint for s in stamps] == notes
    info = verify_token(stamps[-1].token, notes[-1].encode())
    assert info.tsa == "CN=Test TSA" and info.serial == 3
    assert abs(info.gen_time - dt.datetime.now(dt.timezone.utc)) < dt.timedelta(minutes=5)
    with pytest.raises(TimestampError, match="imprint"):
        verify_token(stamps[-1].token, notes[0].encode())  # a token stamps one note only
    report = _run("custody", "verify")
    assert report.startswith("OK: 12 entries") and "3 RFC 3161 timestamps verify; the latest, of size 12" in report
    printed = _run("custody", "checkpoint", "--timestamp", str(tmp_path / "latest.tsr"))
    assert printed == notes[-1] and (tmp_path / "latest.tsr").read_bytes() == stamps[-1].token
    if shutil.which("openssl"):  # an independent RFC 3161 verifier agrees: the note, its imprint, the TSA's chain
        (tmp_path / "note.txt").write_text(printed)
        checked = subprocess.run(["openssl", "ts", "-verify", "-token_in", "-in", str(tmp_path / "latest.tsr"),
                                  "-data", str(tmp_path / "note.txt"), "-CAfile", str(tsa.folder / "ca.pem")],
                                 capture_output=True, text=True)
        assert checked.returncode == 0 and "Verification: OK" in checked.stdout, checked.stderr


def test_an_offline_or_misbehaving_tsa_costs_a_warning_and_no_token(tsa, caplog):
    modes = ("refuse", "other-imprint", "other-nonce", "no-eku", "other-digest", "bad-signature")
    for mode in modes:
        tsa.mode = mode
        _append(mode, 1)
    tsa.mode = ""
    _run("keys", "tsa", "http://127.0.0.1:9/tsa")  # the discard port: nothing listens
    _append("offline", 1)
    warnings = [r.getMessage() for r in caplog.records if "not timestamped" in r.getMessage()]
    assert len(warnings) == len(modes) + 1 and tsa.requests == len(modes)
    for expected, warning in zip(("PKIStatus 2", "imprint", "nonce", "not a time-stamping certificate",
                                  "TSTInfo's digest", "signature does not verify", "unreachable"), warnings):
        assert expected in warning, warning
    assert _stored()[1] == []
    assert _run("custody", "verify").startswith(f"OK: {len(modes) + 1} entries")
    with pytest.raises(CommandError, match="has no timestamp"):
        _run("custody", "checkpoint", "--timestamp", "unused.tsr")


def test_a_stored_token_that_stamps_another_note_fails_verify(tsa):
    from provenance.installation import Installation

    _append("first", 2)
    _append("second", 2)
    log, stamps, notes = _stored()
    writable = Installation.from_environment().custody_log(writable=True)
    try:  # the table is append-only: a forger can only add, say, the first checkpoint's token under the second note
        writable.store.add_timestamp(4, notes[1], stamps[0].token)
    finally:
        writable.store.close()
    with pytest.raises(CommandError, match="size 4 is invalid: .*imprint"):
        _run("custody", "verify")


@pytest.mark.skipif(shutil.which("openssl") is None, reason="needs the openssl command")
def test_a_token_from_openssl_as_the_tsa_verifies(tmp_path):
    """openssl's own TSA answers our TimeStampReq: it parses it, and we read and check what it signs."""
    authority = LoopbackTsa(tmp_path / "tsa")
    (tmp_path / "serial").write_text("01\n")
    (tmp_path / "ts.cnf").write_text(
        f"[tsa]\ndefault_tsa = tsa1\n[tsa1]\nserial = {tmp_path / 'serial'}\ndefault_policy = {POLICY}\n"
        "digests = sha256\nsigner_digest = sha256\ness_cert_id_alg = sha256\n")
    note_bytes = b"faceproof.custody/0123456789abcdef\n3\nroot=\n"

    def openssl_reply(request: bytes, _: str) -> bytes:
        (tmp_path / "request.tsq").write_bytes(request)
        subprocess.run(["openssl", "ts", "-reply", "-config", str(tmp_path / "ts.cnf"), "-queryfile",
                        str(tmp_path / "request.tsq"), "-signer", str(authority.folder / "tsa.pem"), "-inkey",
                        str(authority.folder / "tsa.key"), "-out", str(tmp_path / "reply.tsr")],
                       check=True, capture_output=True)
        return (tmp_path / "reply.tsr").read_bytes()

    with post_server(openssl_reply, "application/timestamp-reply") as url:
        token = request_timestamp(url, note_bytes)
    info = verify_token(token, note_bytes)
    assert info.tsa == "CN=Test TSA" and info.serial == int((tmp_path / "serial").read_text(), 16)  # as openssl counted
    with pytest.raises(TimestampError, match="imprint"):
        verify_token(token, note_bytes + b" ")


def test_der_encodes_and_reads_what_x690_says():
    assert der.oid("1.2.840.113549.1.7.2") == bytes.fromhex("06092a864886f70d010702")
    assert der.read(der.oid("2.999.3")).as_oid() == "2.999.3"  # a first arc of 2 takes the rest of the first byte
    assert [der.integer(v).hex() for v in (0, 127, 128, -1, -129)] == ["020100", "02017f", "02020080", "0201ff",
                                                                       "0202ff7f"]
    assert der.octet_string(bytes(200))[:3] == bytes.fromhex("0481c8")  # long-form length
    assert der.set_of(der.integer(2), der.integer(1)) == bytes.fromhex("3106020101020102")  # SET OF sorted
    moment = dt.datetime(2026, 12, 4, 5, 6, 7, 250000, tzinfo=dt.timezone.utc)
    assert der.generalized_time(moment) == der.tlv(der.GENERALIZED_TIME, b"20261204050607.25Z")
    assert der.read(der.generalized_time(moment)).as_time() == moment
    for bad in (bytes.fromhex("3080"), bytes.fromhex("020101ff"), bytes.fromhex("0405aa"), bytes.fromhex("1f0100")):
        with pytest.raises(der.DerError):
            der.read(bad)
