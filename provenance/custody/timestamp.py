"""RFC 3161 timestamps on custody checkpoints, from the TSA C2PA signing uses (`faceproof keys tsa URL`).

A checkpoint's signature says when the log claims it signed; a timestamp from an outside authority proves the
signed note existed by then, so a history written later cannot pass for one signed earlier. The imprint is the
SHA-256 of the checkpoint's signed note (what `faceproof custody checkpoint` prints, without witness
cosignatures). As with C2PA signing, a TSA that does not answer within a few seconds costs a warning and the
checkpoint stays without a timestamp: an offline installation still logs.

What `verify_token` checks: the token is CMS SignedData over one TSTInfo whose message imprint is the note's
hash; the signed attributes name that TSTInfo and hold its digest; the signature verifies with the certificate
in the token that the signer identifier names, and that certificate is for time stamping (extended key usage).
Whether that TSA deserves trust is the auditor's call, by the name and certificate fingerprint reported.
"""

from __future__ import annotations

import datetime as dt
import logging
import secrets
import urllib.error
import urllib.request
from collections.abc import Iterable
from dataclasses import dataclass

from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, padding, rsa
from cryptography.x509.oid import ExtendedKeyUsageOID

from provenance.custody import der, note
from provenance.custody.checkpoint import checkpoint_note, log_verifier
from provenance.custody.records import Checkpoint, CustodyStore
from provenance.errors import CustodyError
from provenance.manifest import TSA_TIMEOUT_S, tsa_reachable

log = logging.getLogger(__name__)

SIGNED_DATA = "1.2.840.113549.1.7.2"
TST_INFO = "1.2.840.113549.1.9.16.1.4"
CONTENT_TYPE_ATTRIBUTE = "1.2.840.113549.1.9.3"
MESSAGE_DIGEST_ATTRIBUTE = "1.2.840.113549.1.9.4"
SHA256 = "2.16.840.1.101.3.4.2.1"
HASHES = {SHA256: hashes.SHA256, "2.16.840.1.101.3.4.2.2": hashes.SHA384, "2.16.840.1.101.3.4.2.3": hashes.SHA512}
GRANTED = (0, 1)  # PKIStatus granted, grantedWithMods
REPLY_LIMIT = 1 << 20
NOTHING = der.Node(0, b"", b"")


class TimestampError(CustodyError):
    """A TSA refused, or answered with something that is not a valid timestamp of the checkpoint."""


@dataclass(frozen=True)
class TimestampInfo:
    gen_time: dt.datetime
    tsa: str  # the signing certificate's subject
    tsa_fingerprint: str  # SHA-256 of that certificate, hex
    serial: int
    nonce: int | None


def digest(algorithm: str, data: bytes) -> bytes:
    if algorithm not in HASHES:
        raise TimestampError(f"unsupported digest algorithm {algorithm}")
    hasher = hashes.Hash(HASHES[algorithm]())
    hasher.update(data)
    return hasher.finalize()


def timestamp_request(data: bytes, nonce: int) -> bytes:
    """TimeStampReq (RFC 3161, 2.4.1) for the SHA-256 of `data`, asking for the TSA's certificate in the token."""
    algorithm = der.sequence(der.oid(SHA256), der.tlv(der.NULL, b""))
    imprint = der.sequence(algorithm, der.octet_string(digest(SHA256, data)))
    return der.sequence(der.integer(1), imprint, der.integer(nonce), der.boolean(True))


def request_timestamp(url: str, data: bytes) -> bytes:
    """A timestamp token for `data` from the TSA at `url`, checked before it is returned; raises TimestampError."""
    nonce = secrets.randbits(63)
    request = urllib.request.Request(url, data=timestamp_request(data, nonce), method="POST",
                                     headers={"Content-Type": "application/timestamp-query"})
    try:
        with urllib.request.urlopen(request, timeout=TSA_TIMEOUT_S) as answer:
            reply = answer.read(REPLY_LIMIT)
    except (urllib.error.URLError, OSError) as exc:
        raise TimestampError(f"TSA at {url} unreachable ({getattr(exc, 'reason', exc)})") from None
    try:
        token = _granted_token(reply)
    except (der.DerError, IndexError) as exc:
        raise TimestampError(f"TSA at {url} answered no TimeStampResp ({exc})") from None
    if verify_token(token, data).nonce != nonce:
        raise TimestampError(f"TSA at {url} answered another request (the nonce differs)")
    return token


def _granted_token(reply: bytes) -> bytes:
    status, *token = der.read(reply).expect(der.SEQUENCE).children()
    code = status.expect(der.SEQUENCE).children()[0].as_int()
    if code not in GRANTED or not token:
        raise TimestampError(f"the TSA refused the request (PKIStatus {code})")
    return token[0].raw


def verify_token(token: bytes, data: bytes) -> TimestampInfo:
    """Check a timestamp token against the bytes it should stamp (see the module's docstring)."""
    try:
        return _verify(token, data)
    except (der.DerError, IndexError, ValueError) as exc:
        raise TimestampError(f"not a valid RFC 3161 timestamp token ({exc})") from None


def _verify(token: bytes, data: bytes) -> TimestampInfo:
    content_type, content = der.read(token).expect(der.SEQUENCE).children()
    if content_type.as_oid() != SIGNED_DATA:
        raise TimestampError("the token is not CMS SignedData")
    parts = content.children()[0].expect(der.SEQUENCE).children()
    encapsulated, signer_infos = parts[2].children(), parts[-1].expect(der.SET).children()
    certificates = [x509.load_der_x509_certificate(c.raw) for p in parts[3:-1] if p.tag == 0xA0 for c in p.children()]
    if encapsulated[0].as_oid() != TST_INFO or len(signer_infos) != 1:
        raise TimestampError("the token's content is not one signed TSTInfo")
    tst_info = encapsulated[1].children()[0].expect(der.OCTET_STRING).content
    gen_time, serial, nonce = _read_tst_info(tst_info, data)
    certificate = _check_signer(signer_infos[0], tst_info, certificates)
    return TimestampInfo(gen_time, certificate.subject.rfc4514_string(),
                         certificate.fingerprint(hashes.SHA256()).hex(), serial, nonce)


def _read_tst_info(tst_info: bytes, data: bytes) -> tuple[dt.datetime, int, int | None]:
    """(genTime, serialNumber, nonce) of a TSTInfo whose message imprint is the hash of `data`."""
    _, _, imprint, serial, gen_time, *optional = der.read(tst_info).expect(der.SEQUENCE).children()
    algorithm, hashed = imprint.children()
    if digest(algorithm.children()[0].as_oid(), data) != hashed.expect(der.OCTET_STRING).content:
        raise TimestampError("its message imprint is not the hash of this checkpoint note")
    nonces = [node.as_int() for node in optional if node.tag == der.INTEGER]
    return gen_time.as_time(), serial.as_int(), nonces[0] if nonces else None


def _check_signer(signer_info: der.Node, tst_info: bytes, certificates: list[x509.Certificate]) -> x509.Certificate:
    _, sid, digest_algorithm, signed_attributes, _, signature, *_ = signer_info.children()
    if signed_attributes.tag != 0xA0:
        raise TimestampError("its signer has no signed attributes")
    algorithm = digest_algorithm.children()[0].as_oid()
    attributes = {a.children()[0].as_oid(): a.children()[1].children()[0] for a in signed_attributes.children()}
    if attributes.get(CONTENT_TYPE_ATTRIBUTE, NOTHING).raw != der.oid(TST_INFO):
        raise TimestampError("its signed attributes do not name a TSTInfo")
    if attributes.get(MESSAGE_DIGEST_ATTRIBUTE, NOTHING).content != digest(algorithm, tst_info):
        raise TimestampError("its signed attributes do not hold the TSTInfo's digest")
    certificate = _signer_certificate(sid, certificates)
    signed = bytes([der.SET]) + signed_attributes.raw[1:]  # signed as a SET OF, sent as [0] IMPLICIT
    _verify_signature(certificate.public_key(), signature.expect(der.OCTET_STRING).content, signed, algorithm)
    try:
        usages = list(certificate.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value)
    except x509.ExtensionNotFound:
        usages = []
    if ExtendedKeyUsageOID.TIME_STAMPING not in usages:
        raise TimestampError(f"{certificate.subject.rfc4514_string()} is not a time-stamping certificate")
    return certificate


def _signer_certificate(sid: der.Node, certificates: Iterable[x509.Certificate]) -> x509.Certificate:
    for certificate in certificates:
        if sid.tag == der.SEQUENCE:  # issuerAndSerialNumber
            issuer, serial = sid.children()
            if issuer.raw == certificate.issuer.public_bytes() and serial.as_int() == certificate.serial_number:
                return certificate
        elif sid.tag == der.CONTEXT and _key_identifier(certificate) == sid.content:  # [0] subjectKeyIdentifier
            return certificate
    raise TimestampError("it does not carry its signer's certificate")


def _key_identifier(certificate: x509.Certificate) -> bytes | None:
    try:
        return certificate.extensions.get_extension_for_class(x509.SubjectKeyIdentifier).value.digest
    except x509.ExtensionNotFound:
        return None


def _verify_signature(key: object, signature: bytes, signed: bytes, algorithm: str) -> None:
    hash_type = HASHES[algorithm]()
    try:
        if isinstance(key, rsa.RSAPublicKey):
            key.verify(signature, signed, padding.PKCS1v15(), hash_type)
        elif isinstance(key, ec.EllipticCurvePublicKey):
            key.verify(signature, signed, ec.ECDSA(hash_type))
        elif isinstance(key, ed25519.Ed25519PublicKey):
            key.verify(signature, signed)
        else:
            raise TimestampError(f"unsupported TSA key type {type(key).__name__}")
    except InvalidSignature:
        raise TimestampError("its signature does not verify") from None


# -- the log's side ------------------------------------------------------------------------------------------


def timestamp_checkpoint(store: CustodyStore, public_key: ed25519.Ed25519PublicKey, checkpoint: Checkpoint,
                         tsa_url: str | None) -> bytes | None:
    """Timestamp the checkpoint's signed note and store the token. None, with a warning, when no TSA is set, or
    it is offline or answers badly: the checkpoint stands without one, as C2PA signatures do."""
    if not tsa_url:
        return None
    signed_note = checkpoint_note(checkpoint, public_key)
    try:
        if not tsa_reachable(tsa_url):
            raise TimestampError(f"TSA at {tsa_url} unreachable")
        token = request_timestamp(tsa_url, signed_note.encode())
    except TimestampError as exc:
        log.warning("custody checkpoint of size %d not timestamped: %s", checkpoint.size, exc)
        return None
    store.add_timestamp(checkpoint.size, signed_note, token)
    return token


def verify_timestamps(
    store: CustodyStore, public_key: ed25519.Ed25519PublicKey
) -> tuple[list[tuple[int, TimestampInfo]], str | None]:
    """(each stored timestamp that verifies, with its checkpoint's size; the first problem or None). Each must
    stamp a note the log's key signed; which checkpoints exist and agree is the log verifier's part."""
    verifier, checked = log_verifier(public_key), []
    for stamp in store.timestamps():
        try:
            note.open_note(stamp.checkpoint, [verifier])
            checked.append((stamp.size, verify_token(stamp.token, stamp.checkpoint.encode())))
        except CustodyError as exc:
            return checked, f"the timestamp of the checkpoint of size {stamp.size} is invalid: {exc}"
    return checked, None
