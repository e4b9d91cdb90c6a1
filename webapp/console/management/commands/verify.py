"""faceproof verify FILE [--json] [--trust ROOTS.pem]: check a file's C2PA manifest (and its custody claim).

Exits 0 for Trusted or Valid (signed, but by a root this installation does not trust), 1 for Invalid or no
manifest, so scripts can gate on it.
"""

from __future__ import annotations

import json
from pathlib import Path

from django.core.management.base import CommandError

from provenance import manifest
from provenance.custody.log import verify_custody_claim
from provenance.errors import CustodyError, SigningKeyError
from provenance.installation import Installation
from webapp.console.base import StageCommand

STATE_MEANING = {
    "Trusted": "signed by a trusted signer and unaltered",
    "Valid": "unaltered, but the signer is not in your trust anchors (add their root: faceproof keys trust)",
    "Invalid": "ALTERED or badly signed: do not rely on it",
    "NoManifest": "no C2PA manifest: origin unknown",
}


def _anchors(installation: Installation, extra: list[Path]) -> bytes:
    anchors = installation.key_store().trust_anchors_pem()
    for path in extra:
        try:
            anchors += path.read_bytes()
        except OSError as exc:
            raise SigningKeyError(f"{path}: cannot read trust anchors ({exc.strerror})") from None
    return anchors


def custody_finding(installation: Installation, claim: dict | None) -> str | None:
    """What the installation's own log says about the manifest's custody claim (None without a local log)."""
    if not claim or not installation.has_custody_log() or not installation.key_store().exists():
        return None
    log = installation.custody_log()
    try:
        if claim.get("log_id") != log.log_id:
            return "custody: made by another installation (verify with its auditor bundle)"
        return "custody: " + verify_custody_claim(log, claim)
    except CustodyError as exc:
        return f"custody: FAILED: {exc}"
    finally:
        log.store.close()


def _readable(result: manifest.VerifyResult, finding: str | None) -> str:
    lines = [f"{result.path}: {result.state} ({STATE_MEANING[result.state]})"]
    if result.failures:
        lines.append("failures: " + ", ".join(result.failures))
    if result.manifest_label:
        signer = result.signer
        lines += [
            f"title: {result.title}   generator: {result.claim_generator}",
            f"signed by: {signer.get('common_name', '?')} ({signer.get('issuer', '?')}, {signer.get('alg', '?')})"
            + (f" at {signer['time']}" if "time" in signer else " (no trusted timestamp)"),
            "AI-generated: " + ("yes (" + ", ".join(t.rsplit("/", 1)[-1] for t in result.ai_source_types) + ")"
                                if result.ai_generated else "not declared"),
        ]
        lines += [f"action: {a['action']}" + (f" by {a['softwareAgent'].get('name')} {a['softwareAgent'].get('version', '')}"
                                               if isinstance(a.get("softwareAgent"), dict) else "") for a in result.actions]
        lines += [f"ingredient ({i['relationship']}): {i['title']} [{i['format']}]" for i in result.ingredients]
        if result.soft_binding_ids:
            lines.append("watermark ID: " + ", ".join(result.soft_binding_ids))
        for consent in (result.consent or {}).get("consents", []):
            lines.append(f"consent: {consent.get('identity')} by {consent.get('person')} on {consent.get('granted_on')}"
                         f" (custody entry {consent.get('custody_seq')})")
    if finding:
        lines.append(finding)
    return "\n".join(lines)


class Command(StageCommand):
    help = "Verify a file's C2PA manifest: Trusted / Valid / Invalid / NoManifest, with signer, actions and disclosure."

    def add_arguments(self, parser):
        parser.add_argument("file", type=Path)
        parser.add_argument("--json", action="store_true", help="print the structured result as JSON")
        parser.add_argument("--trust", type=Path, action="append", default=[],
                            help="extra PEM root(s) to trust for this check (repeatable)")

    def run(self, **options):
        result = manifest.verify(options["file"], trust_anchors_pem=_anchors(self.installation, options["trust"]))
        finding = custody_finding(self.installation, result.custody)
        if options["json"]:
            self.stdout.write(json.dumps({**result.to_json(), "custody_check": finding}, indent=2))
        else:
            self.stdout.write(_readable(result, finding))
        if result.state in ("Invalid", "NoManifest") or (finding or "").startswith("custody: FAILED"):
            raise CommandError(f"{options['file'].name}: {result.state}", returncode=1)
