"""X.509 for C2PA: the certificates an installation generates, and the rules c2pa-rs holds a signer to.

Certificates follow what c2pa-rs accepts (see NOTES.md): CA root with keyCertSign; a non-CA leaf with
digitalSignature, EKU emailProtection and an AuthorityKeyIdentifier. Leaves are long-lived because outputs
signed offline (no timestamp) turn Invalid once the leaf expires.
"""

from __future__ import annotations

import datetime as dt

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from provenance.errors import SigningKeyError

ROOT_VALIDITY = dt.timedelta(days=365 * 30)
LEAF_VALIDITY = dt.timedelta(days=365 * 25)
EC_ALGS = {"secp256r1": "es256", "secp384r1": "es384", "secp521r1": "es512"}  # the curves C2PA signs with

SigningKey = ec.EllipticCurvePrivateKey | ed25519.Ed25519PrivateKey | rsa.RSAPrivateKey


def utc_now() -> dt.datetime:
    return dt.datetime.now(dt.timezone.utc)


def fingerprint(cert: x509.Certificate) -> str:
    return cert.fingerprint(hashes.SHA256()).hex()


def is_self_signed(cert: x509.Certificate) -> bool:
    return cert.subject == cert.issuer


def alg_for(key: SigningKey) -> str:
    """The C2PA algorithm name for a key, refusing keys c2pa-rs rejects."""
    if isinstance(key, ec.EllipticCurvePrivateKey):
        if key.curve.name not in EC_ALGS:
            raise SigningKeyError(f"EC curve {key.curve.name} is not usable for C2PA (use P-256, P-384 or P-521)")
        return EC_ALGS[key.curve.name]
    if isinstance(key, ed25519.Ed25519PrivateKey):
        return "ed25519"
    if isinstance(key, rsa.RSAPrivateKey):
        if key.key_size < 2048:
            raise SigningKeyError(f"RSA-{key.key_size} is too weak for C2PA: use at least 2048 bits")
        return "ps256"
    raise SigningKeyError(f"unsupported private key type {type(key).__name__}")


def _name(common_name: str) -> x509.Name:
    return x509.Name(
        [
            x509.NameAttribute(NameOID.COMMON_NAME, common_name),
            x509.NameAttribute(NameOID.ORGANIZATION_NAME, "faceproof installation"),
        ]
    )


def issue_root(common_name: str) -> tuple[x509.Certificate, ec.EllipticCurvePrivateKey]:
    key = ec.generate_private_key(ec.SECP256R1())
    name = _name(common_name)
    now = utc_now()
    public = key.public_key()
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(public)
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + ROOT_VALIDITY)
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(
            x509.KeyUsage(False, False, False, False, False, True, True, False, False), critical=True
        )  # keyCertSign + cRLSign
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(public), critical=False)
        .sign(key, hashes.SHA256())
    )
    return cert, key


def issue_leaf(
    root: x509.Certificate, root_key: ec.EllipticCurvePrivateKey, common_name: str
) -> tuple[x509.Certificate, ec.EllipticCurvePrivateKey]:
    key = ec.generate_private_key(ec.SECP256R1())
    now = utc_now()
    public = key.public_key()
    cert = (
        x509.CertificateBuilder()
        .subject_name(_name(common_name))
        .issuer_name(root.subject)
        .public_key(public)
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(min(now + LEAF_VALIDITY, root.not_valid_after_utc))
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(
            x509.KeyUsage(True, False, False, False, False, False, False, False, False), critical=True
        )  # digitalSignature
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.EMAIL_PROTECTION]), critical=False)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(public), critical=False)
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(root_key.public_key()), critical=False
        )
        .sign(root_key, hashes.SHA256())
    )
    return cert, key


def check_leaf_for_c2pa(leaf: x509.Certificate, key: SigningKey) -> None:
    """Refuse, with the reason, a certificate that c2pa-rs would reject at signing or verification."""
    if leaf.public_key().public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    ) != key.public_key().public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo):
        raise SigningKeyError("the private key does not belong to the first certificate of the chain")
    extensions = leaf.extensions
    try:
        if extensions.get_extension_for_class(x509.BasicConstraints).value.ca:
            raise SigningKeyError("the signing certificate is a CA certificate: C2PA needs an end-entity leaf")
    except x509.ExtensionNotFound:
        pass
    try:
        usages = extensions.get_extension_for_class(x509.ExtendedKeyUsage).value
    except x509.ExtensionNotFound:
        raise SigningKeyError("the signing certificate has no extended key usage: C2PA needs emailProtection") from None
    if ExtendedKeyUsageOID.EMAIL_PROTECTION not in usages:
        raise SigningKeyError("the signing certificate's extended key usage lacks emailProtection, which C2PA needs")
    try:
        extensions.get_extension_for_class(x509.AuthorityKeyIdentifier)
    except x509.ExtensionNotFound:
        raise SigningKeyError("the signing certificate has no AuthorityKeyIdentifier, which C2PA requires") from None
    if leaf.not_valid_after_utc <= utc_now():
        raise SigningKeyError(f"the signing certificate expired on {leaf.not_valid_after_utc:%Y-%m-%d}")
    alg_for(key)


def alg_for_certificate(cert: x509.Certificate) -> str:
    """The C2PA algorithm name of a certificate's key, "?" for one C2PA cannot use."""
    public = cert.public_key()
    if isinstance(public, ec.EllipticCurvePublicKey):
        return EC_ALGS.get(public.curve.name, "?")
    if isinstance(public, ed25519.Ed25519PublicKey):
        return "ed25519"
    return "ps256" if isinstance(public, rsa.RSAPublicKey) else "?"
