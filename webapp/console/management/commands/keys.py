"""faceproof keys init|show|import|export-trust|rotate|trust|tsa: this installation's signing keys.

The passphrase that encrypts the private keys comes from $FACEPROOF_KEY_PASSPHRASE.
"""

from __future__ import annotations

import json
from pathlib import Path

from cryptography import x509

from provenance.errors import SigningKeyError
from provenance.keys import KeyInfo, KeyStore
from webapp.console.base import StageCommand


def _describe(info: KeyInfo) -> str:
    lines = [
        f"key directory:   {info.directory}",
        f"signer:          {info.subject}",
        f"issued by:       {info.issuer}",
        f"algorithm:       {info.alg}",
        f"valid:           {info.not_before:%Y-%m-%d} .. {info.not_after:%Y-%m-%d}",
        f"fingerprint:     sha256:{info.fingerprint_sha256}",
        f"timestamping:    {info.tsa_url or 'off (signed offline; long-lived certificate)'}",
        f"custody log key: ed25519:{info.custody_public_key}",
        f"trust anchors:   {len(info.trust_anchors)}",
        *(f"  - {anchor}" for anchor in info.trust_anchors),
    ]
    return "\n".join(lines)


def _info_json(info: KeyInfo) -> str:
    data = {k: (str(v) if not isinstance(v, (bool, tuple, type(None))) else v) for k, v in info.__dict__.items()}
    return json.dumps({**data, "trust_anchors": list(info.trust_anchors)}, indent=2)


class Command(StageCommand):
    help = "Create, show, import, rotate or export this installation's C2PA signing keys."

    def add_arguments(self, parser):
        actions = parser.add_subparsers(dest="action", required=True)
        init = actions.add_parser("init", help="generate a root CA, a signing certificate and the custody key")
        init.add_argument("--common-name", help="name on the signing certificate (default: faceproof signer (HOST))")
        init.add_argument("--force", action="store_true", help="replace existing keys (old roots stay trusted)")
        show = actions.add_parser("show", help="print the signer, validity and trust anchors")
        show.add_argument("--json", action="store_true")
        imp = actions.add_parser("import", help="sign with an organisation's own chain and key")
        imp.add_argument("--chain", type=Path, help="PEM certificates, signing certificate first")
        imp.add_argument("--key", type=Path, help="PEM private key of the signing certificate")
        imp.add_argument("--pkcs12", type=Path, help="a .p12/.pfx file holding key and chain (instead of PEM)")
        imp.add_argument("--password", help="password of the PEM key or the PKCS#12 file")
        export = actions.add_parser("export-trust", help="write our root certificate(s) so others can verify our files")
        export.add_argument("output", type=Path)
        rotate = actions.add_parser("rotate", help="new root and signing certificate; old roots stay trust anchors")
        rotate.add_argument("--common-name")
        trust = actions.add_parser("trust", help="add another organisation's root as a trust anchor for verify")
        trust.add_argument("certificate", type=Path)
        tsa = actions.add_parser("tsa", help="set (or --clear) the RFC 3161 timestamp authority used when reachable")
        tsa.add_argument("url", nargs="?")
        tsa.add_argument("--clear", action="store_true")

    def run(self, **options):
        store, passphrase = self.installation.key_store(), self.installation.passphrase
        action = options["action"]
        if action == "init":
            self.stdout.write(_describe(store.init(passphrase, common_name=options["common_name"], force=options["force"])))
        elif action == "show":
            info = store.info()
            self.stdout.write(_info_json(info) if options["json"] else _describe(info))
        elif action == "import":
            self.stdout.write(_describe(self._import(store, passphrase, options)))
        elif action == "export-trust":
            self.stdout.write(f"trust anchors written to {store.export_trust(options['output'])}")
        elif action == "rotate":
            self.stdout.write(_describe(store.rotate(passphrase, common_name=options["common_name"])))
        elif action == "trust":
            self._trust(store, options["certificate"])
        else:
            self._tsa(store, options["url"], options["clear"])

    def _import(self, store: KeyStore, passphrase: str | None, options) -> KeyInfo:
        if options["pkcs12"]:
            return store.import_pkcs12(options["pkcs12"], bundle_password=options["password"], passphrase=passphrase)
        if not (options["chain"] and options["key"]):
            raise SigningKeyError("import needs --pkcs12 FILE, or both --chain PEM and --key PEM")
        return store.import_pem(options["chain"], options["key"], key_password=options["password"],
                                passphrase=passphrase)

    def _trust(self, store: KeyStore, path: Path) -> None:
        try:
            certificates = x509.load_pem_x509_certificates(path.read_bytes())
        except (OSError, ValueError) as exc:
            raise SigningKeyError(f"{path.name}: not a PEM certificate file ({exc})") from None
        for certificate in certificates:
            store.add_trust_anchor(certificate)
            self.stdout.write(f"trusted: {certificate.subject.rfc4514_string()}")

    def _tsa(self, store: KeyStore, url: str | None, clear: bool) -> None:
        if not (url or clear):
            raise SigningKeyError("give a timestamp authority URL, or --clear")
        store.set_tsa_url(None if clear else url)
        self.stdout.write(f"timestamp authority: {store.tsa_url or 'off'}")
