"""This installation's signing keys: a root CA, a C2PA signing certificate and the custody log's Ed25519 key.

Layout of a key directory (every file 0600, the directory 0700):
    signing-chain.pem        leaf certificate first, then any intermediates (what C2PA embeds)
    signing-key.pem          the leaf's private key, PKCS#8 encrypted with the installation passphrase
    root-ca.pem / root-ca-key.pem   the generated root (absent after importing an organisation's chain)
    custody-key.pem / custody-public.pem   Ed25519 key that signs custody checkpoints
    trust/<sha256>.pem       every root this installation ever signed under (rotation keeps old ones)
    config.json              algorithm and optional timestamp-authority URL

The certificates themselves, and what C2PA requires of them, are `provenance.certificates`.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import socket
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ed25519
from cryptography.hazmat.primitives.serialization import pkcs12

from provenance.certificates import (
    SigningKey, alg_for, alg_for_certificate, check_leaf_for_c2pa, fingerprint, is_self_signed, issue_leaf, issue_root,
)
from provenance.errors import SigningKeyError



@dataclass(frozen=True)
class SigningIdentity:
    """Everything `manifest.sign` needs. The key stays in memory; it is never written unencrypted."""

    chain_pem: bytes
    private_key: SigningKey
    alg: str
    tsa_url: str | None

    def private_key_pem(self) -> bytes:
        return self.private_key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )

    @property
    def leaf(self) -> x509.Certificate:
        return x509.load_pem_x509_certificates(self.chain_pem)[0]


@dataclass(frozen=True)
class KeyInfo:
    """What `faceproof keys show` prints: nothing secret."""

    directory: Path
    subject: str
    issuer: str
    fingerprint_sha256: str
    not_before: dt.datetime
    not_after: dt.datetime
    alg: str
    tsa_url: str | None
    trust_anchors: tuple[str, ...]
    custody_public_key: str
    generated_root: bool


def resolve_passphrase(passphrase: str | None) -> bytes:
    """The passphrase as bytes; never a silent empty one (the installation reads $FACEPROOF_KEY_PASSPHRASE)."""
    value = passphrase
    if not value:
        raise SigningKeyError(
            "no key passphrase: set FACEPROOF_KEY_PASSPHRASE (or pass one) to unlock this installation's signing keys"
        )
    return value.encode("utf-8")


def _write_private(path: Path, data: bytes) -> None:
    """Create the file with 0600 from the first byte (no window where it is world-readable)."""
    tmp = path.with_name(path.name + ".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as handle:
        handle.write(data)
        handle.flush()
        os.fsync(handle.fileno())
    os.chmod(tmp, 0o600)
    os.replace(tmp, path)


def _encrypt(key: SigningKey | ed25519.Ed25519PrivateKey, passphrase: bytes) -> bytes:
    return key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.BestAvailableEncryption(passphrase),
    )


class KeyStore:
    """The key directory of one installation. Private keys are only ever decrypted into memory."""

    def __init__(self, directory: str | os.PathLike) -> None:
        self.directory = Path(directory)

    # -- paths ------------------------------------------------------------------------------------------
    @property
    def chain_path(self) -> Path:
        return self.directory / "signing-chain.pem"

    @property
    def key_path(self) -> Path:
        return self.directory / "signing-key.pem"

    @property
    def root_path(self) -> Path:
        return self.directory / "root-ca.pem"

    @property
    def root_key_path(self) -> Path:
        return self.directory / "root-ca-key.pem"

    @property
    def custody_key_path(self) -> Path:
        return self.directory / "custody-key.pem"

    @property
    def custody_public_path(self) -> Path:
        return self.directory / "custody-public.pem"

    @property
    def trust_dir(self) -> Path:
        return self.directory / "trust"

    @property
    def config_path(self) -> Path:
        return self.directory / "config.json"

    def exists(self) -> bool:
        return self.chain_path.exists() and self.key_path.exists() and self.custody_key_path.exists()

    def _require(self) -> None:
        if not self.exists():
            raise SigningKeyError(f"no signing keys in {self.directory}: run `faceproof keys init` first")

    # -- creation ---------------------------------------------------------------------------------------
    def init(self, passphrase: str | None = None, *, common_name: str | None = None, force: bool = False) -> KeyInfo:
        """Generate a root CA, a signing leaf and the custody key. Refuses to overwrite unless `force`."""
        secret = resolve_passphrase(passphrase)
        if self.exists() and not force:
            raise SigningKeyError(f"signing keys already exist in {self.directory} (use rotate to replace them)")
        self._prepare_directory()
        self._generate_root_and_leaf(secret, common_name)
        if not self.custody_key_path.exists() or force:
            self._generate_custody_key(secret)
        self._write_config({"tsa_url": None})
        return self.info()

    def rotate(self, passphrase: str | None = None, *, common_name: str | None = None) -> KeyInfo:
        """New root and leaf; every earlier root stays a trust anchor so old outputs keep verifying."""
        secret = resolve_passphrase(passphrase)
        self._require()
        self.signing_identity(passphrase)  # proves the passphrase before anything is replaced
        self._generate_root_and_leaf(secret, common_name)
        return self.info()

    def _prepare_directory(self) -> None:
        self.directory.mkdir(parents=True, exist_ok=True)
        os.chmod(self.directory, 0o700)
        self.trust_dir.mkdir(exist_ok=True)
        os.chmod(self.trust_dir, 0o700)

    def _generate_root_and_leaf(self, secret: bytes, common_name: str | None) -> None:
        host = socket.gethostname()
        root, root_key = issue_root(f"faceproof root CA ({host})")
        leaf, leaf_key = issue_leaf(root, root_key, common_name or f"faceproof signer ({host})")
        _write_private(self.root_path, root.public_bytes(serialization.Encoding.PEM))
        _write_private(self.root_key_path, _encrypt(root_key, secret))
        self._install_chain([leaf], leaf_key, secret)
        self.add_trust_anchor(root)

    def _generate_custody_key(self, secret: bytes) -> None:
        key = ed25519.Ed25519PrivateKey.generate()
        _write_private(self.custody_key_path, _encrypt(key, secret))
        public = key.public_key().public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
        )
        _write_private(self.custody_public_path, public)

    def _install_chain(self, chain: list[x509.Certificate], key: SigningKey, secret: bytes) -> None:
        check_leaf_for_c2pa(chain[0], key)
        pem = b"".join(cert.public_bytes(serialization.Encoding.PEM) for cert in chain)
        _write_private(self.key_path, _encrypt(key, secret))
        _write_private(self.chain_path, pem)

    # -- import -----------------------------------------------------------------------------------------
    def import_pem(
        self,
        chain_file: str | os.PathLike,
        key_file: str | os.PathLike,
        *,
        key_password: str | None = None,
        passphrase: str | None = None,
    ) -> KeyInfo:
        """Use an organisation's own chain (leaf first) and key; a self-signed last cert becomes an anchor."""
        chain = x509.load_pem_x509_certificates(Path(chain_file).read_bytes())
        try:
            key = serialization.load_pem_private_key(
                Path(key_file).read_bytes(), key_password.encode() if key_password else None
            )
        except (ValueError, TypeError) as exc:
            raise SigningKeyError(f"{Path(key_file).name}: cannot read the private key ({exc})") from None
        return self._import(chain, key, passphrase)

    def import_pkcs12(
        self, bundle_file: str | os.PathLike, *, bundle_password: str | None = None, passphrase: str | None = None
    ) -> KeyInfo:
        try:
            key, cert, extra = pkcs12.load_key_and_certificates(
                Path(bundle_file).read_bytes(), bundle_password.encode() if bundle_password else None
            )
        except ValueError as exc:
            raise SigningKeyError(f"{Path(bundle_file).name}: cannot open the PKCS#12 file ({exc})") from None
        if key is None or cert is None:
            raise SigningKeyError(f"{Path(bundle_file).name}: the PKCS#12 file holds no key and certificate")
        return self._import([cert, *extra], key, passphrase)

    def _import(self, chain: list[x509.Certificate], key: SigningKey, passphrase: str | None) -> KeyInfo:
        if not chain:
            raise SigningKeyError("the certificate chain is empty")
        secret = resolve_passphrase(passphrase)
        self._prepare_directory()
        anchors = [cert for cert in chain[1:] if is_self_signed(cert)]
        embedded = [chain[0], *(cert for cert in chain[1:] if not is_self_signed(cert))]
        self._install_chain(embedded, key, secret)
        for anchor in anchors:
            self.add_trust_anchor(anchor)
        if not self.custody_key_path.exists():
            self._generate_custody_key(secret)
        if not self.config_path.exists():
            self._write_config({"tsa_url": None})
        return self.info()

    # -- trust ------------------------------------------------------------------------------------------
    def add_trust_anchor(self, cert: x509.Certificate) -> None:
        self._prepare_directory()
        _write_private(self.trust_dir / f"{fingerprint(cert)}.pem", cert.public_bytes(serialization.Encoding.PEM))

    def trust_anchors(self) -> list[x509.Certificate]:
        if not self.trust_dir.is_dir():
            return []
        return [x509.load_pem_x509_certificate(p.read_bytes()) for p in sorted(self.trust_dir.glob("*.pem"))]

    def trust_anchors_pem(self) -> bytes:
        return b"".join(cert.public_bytes(serialization.Encoding.PEM) for cert in self.trust_anchors())

    def export_trust(self, destination: str | os.PathLike) -> Path:
        """Write every root (public only) so others can verify our files; not secret, so 0644."""
        anchors = self.trust_anchors_pem()
        if not anchors:
            raise SigningKeyError(f"no trust anchors in {self.directory}: run `faceproof keys init` first")
        path = Path(destination)
        path.write_bytes(anchors)
        return path

    # -- use --------------------------------------------------------------------------------------------
    def signing_identity(self, passphrase: str | None = None) -> SigningIdentity:
        self._require()
        key = self._load_private(self.key_path, passphrase)
        chain_pem = self.chain_path.read_bytes()
        return SigningIdentity(chain_pem, key, alg_for(key), self.tsa_url)

    def custody_key(self, passphrase: str | None = None) -> ed25519.Ed25519PrivateKey:
        self._require()
        key = self._load_private(self.custody_key_path, passphrase)
        if not isinstance(key, ed25519.Ed25519PrivateKey):
            raise SigningKeyError(f"{self.custody_key_path.name} is not an Ed25519 key")
        return key

    def custody_public_key(self) -> ed25519.Ed25519PublicKey:
        self._require()
        key = serialization.load_pem_public_key(self.custody_public_path.read_bytes())
        if not isinstance(key, ed25519.Ed25519PublicKey):
            raise SigningKeyError(f"{self.custody_public_path.name} is not an Ed25519 public key")
        return key

    def _load_private(self, path: Path, passphrase: str | None):
        try:
            return serialization.load_pem_private_key(path.read_bytes(), resolve_passphrase(passphrase))
        except (ValueError, TypeError):
            raise SigningKeyError(f"cannot unlock {path.name}: wrong passphrase or damaged key file") from None

    # -- configuration ----------------------------------------------------------------------------------
    @property
    def tsa_url(self) -> str | None:
        if not self.config_path.exists():
            return None
        return json.loads(self.config_path.read_text()).get("tsa_url") or None

    def set_tsa_url(self, url: str | None) -> None:
        self._write_config({"tsa_url": url or None})

    def _write_config(self, config: dict) -> None:
        self._prepare_directory()
        _write_private(self.config_path, json.dumps(config, indent=2).encode())

    def info(self) -> KeyInfo:
        self._require()
        leaf = x509.load_pem_x509_certificates(self.chain_path.read_bytes())[0]
        public = self.custody_public_key().public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
        return KeyInfo(
            directory=self.directory,
            subject=leaf.subject.rfc4514_string(),
            issuer=leaf.issuer.rfc4514_string(),
            fingerprint_sha256=fingerprint(leaf),
            not_before=leaf.not_valid_before_utc,
            not_after=leaf.not_valid_after_utc,
            alg=alg_for_certificate(leaf),
            tsa_url=self.tsa_url,
            trust_anchors=tuple(cert.subject.rfc4514_string() for cert in self.trust_anchors()),
            custody_public_key=public.hex(),
            generated_root=self.root_path.exists(),
        )
