"""Auditor bundles: one JSON file an auditor verifies offline, with no access to our database.

Two scopes:
- "full": every entry (exact canonical bytes) and every signed checkpoint. The verifier recomputes every
  checkpoint root from the entries, which is stronger than any proof, and names the first bad entry.
- "asset": only the entries that touch one SHA-256, each with an RFC 9162 inclusion proof against the
  latest signed checkpoint; for handing one file's history to someone without the rest of the log.
Both may carry a consistency proof from a checkpoint the auditor saw earlier (`known_size`) to the latest,
which is how an auditor detects a log that was rewritten or truncated between two audits.
"""

from __future__ import annotations

import base64
import json
import os
from dataclasses import dataclass
from collections.abc import Callable
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ed25519

from provenance.custody.checkpoint import checkpoint_signed
from provenance.custody.log import (
    CustodyLog,
    LogReport,
    checkpoint_from_json,
    checkpoint_to_json,
    log_id_for,
    utc_now,
    verify_log,
)
from provenance.custody.merkle import ProofError, leaf_hash, verify_consistency, verify_inclusion
from provenance.documents import read_document
from provenance.errors import CustodyError

BUNDLE_FORMAT = "faceproof-custody-bundle"
BUNDLE_VERSION = 1


def _public_key_b64(key: ed25519.Ed25519PublicKey) -> str:
    return base64.b64encode(key.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)).decode()


def export_bundle(
    log: CustodyLog,
    destination: str | os.PathLike,
    *,
    sha256: str | None = None,
    known_size: int | None = None,
    trust_anchors_pem: bytes = b"",
    keep: Callable[[dict[str, Any]], bool] | None = None,
) -> Path:
    """Write a bundle (full log, or one asset's history when `sha256` is given) and return its path.

    `keep` narrows an asset bundle to the entries whose record it accepts (one organisation's, on a log shared by
    several); each kept entry still carries its own inclusion proof, so the bundle verifies as before."""
    if keep is not None and not sha256:
        raise CustodyError("only an asset bundle can leave entries out: a full bundle recomputes every root")
    latest = log.latest_checkpoint()
    bundle: dict[str, Any] = {
        "format": BUNDLE_FORMAT,
        "version": BUNDLE_VERSION,
        "created": utc_now(),
        "scope": "asset" if sha256 else "full",
        "log_id": log.log_id,
        "public_keys": {
            "custody_ed25519": _public_key_b64(log.public_key),
            "c2pa_trust_anchors_pem": trust_anchors_pem.decode("ascii"),
        },
    }
    if sha256:
        seqs = [seq for seq in log.store.lookup(f"sha256:{sha256}")
                if seq < latest.size and (keep is None or keep(log.entry(seq)))]
        if not seqs:
            raise CustodyError(f"no custody entry mentions {sha256}")
        bundle["asset_sha256"] = sha256
        bundle["checkpoints"] = [checkpoint_to_json(latest)]
        bundle["entries"] = [_entry_json(log, seq) for seq in seqs]
        bundle["inclusion"] = [proof.to_json() for proof in log.inclusion_proofs(seqs, latest)]
    else:
        bundle["checkpoints"] = [checkpoint_to_json(c) for c in log.store.checkpoints()]
        bundle["entries"] = [
            {"seq": entry.seq, "body": entry.body.decode("utf-8")} for entry in log.store.entries(0, latest.size)
        ]
    if known_size:
        levels = log.tree_levels(latest.size)
        bundle["consistency"] = {
            "from_size": known_size,
            "to_size": latest.size,
            "path": [h.hex() for h in levels.consistency_proof(known_size)],
        }
    path = Path(destination)
    path.write_text(json.dumps(bundle, indent=1, ensure_ascii=False), encoding="utf-8")
    return path


def _entry_json(log: CustodyLog, seq: int) -> dict[str, Any]:
    for entry in log.store.entries(seq, seq + 1):
        return {"seq": seq, "body": entry.body.decode("utf-8")}
    raise CustodyError(f"custody entry {seq} does not exist")


@dataclass(frozen=True)
class BundleReport:
    scope: str
    log: LogReport
    key_fingerprint: str
    key_from_bundle_only: bool
    known_checkpoint_consistent: bool | None

    @property
    def ok(self) -> bool:
        return self.log.ok and self.known_checkpoint_consistent is not False

    def to_json(self) -> dict[str, Any]:
        return {
            "ok": self.ok,
            "scope": self.scope,
            "log_key_fingerprint": self.key_fingerprint,
            "key_from_bundle_only": self.key_from_bundle_only,
            "known_checkpoint_consistent": self.known_checkpoint_consistent,
            **self.log.to_json(),
        }


def load_bundle(path: str | os.PathLike) -> dict[str, Any]:
    return read_document(Path(path), CustodyError, key="format", name=BUNDLE_FORMAT, versions=(BUNDLE_VERSION,),
                         what="a faceproof custody bundle")


def verify_bundle(
    path: str | os.PathLike,
    *,
    trusted_public_key: ed25519.Ed25519PublicKey | None = None,
    known_checkpoint: dict[str, Any] | None = None,
) -> BundleReport:
    """Check a bundle offline. Pass the producer's key obtained out of band, or the bundle's own is used."""
    bundle = load_bundle(path)
    bundled_key = _bundled_key(bundle)
    if trusted_public_key is not None and log_id_for(trusted_public_key) != log_id_for(bundled_key):
        raise CustodyError("the bundle is signed by a different custody key than the one you trust")
    key = trusted_public_key or bundled_key
    checkpoints = [checkpoint_from_json(c) for c in bundle.get("checkpoints", [])]
    if bundle.get("scope") == "asset":
        report = _verify_asset_scope(bundle, checkpoints, key)
    else:
        entries = ((str(e["body"]).encode("utf-8"), None) for e in bundle.get("entries", []))
        report = verify_log(entries, checkpoints, key)
    consistent = _check_known_checkpoint(bundle, checkpoints, key, known_checkpoint) if report.ok else None
    return BundleReport(bundle.get("scope", "full"), report, log_id_for(key), trusted_public_key is None, consistent)


def _bundled_key(bundle: dict[str, Any]) -> ed25519.Ed25519PublicKey:
    try:
        raw = base64.b64decode(bundle["public_keys"]["custody_ed25519"])
        return ed25519.Ed25519PublicKey.from_public_bytes(raw)
    except (KeyError, TypeError, ValueError) as exc:
        raise CustodyError(f"the bundle's custody public key is missing or malformed ({exc})") from None


def _verify_asset_scope(bundle: dict[str, Any], checkpoints: list, key: ed25519.Ed25519PublicKey) -> LogReport:
    entries = bundle.get("entries", [])
    if len(checkpoints) != 1:
        return LogReport(len(entries), len(checkpoints), 0, "an asset bundle must carry exactly one checkpoint", None, 0)
    checkpoint = checkpoints[0]
    if not checkpoint_signed(checkpoint, key):
        return LogReport(len(entries), 1, 0, "checkpoint #0 has an invalid signature: forged or altered", None, 0)
    if checkpoint.log_id != log_id_for(key):
        return LogReport(len(entries), 1, 0, "checkpoint #0 belongs to another log", None, 0)
    proofs = bundle.get("inclusion", [])
    if len(proofs) != len(entries):
        return LogReport(len(entries), 1, 0, f"{len(entries)} entries but {len(proofs)} inclusion proofs", None, None)
    asset = bundle.get("asset_sha256", "")
    for entry, proof in zip(entries, proofs):
        problem = _asset_entry_problem(entry, proof, checkpoint, asset)
        if problem:
            return LogReport(len(entries), 1, 0, problem, int(entry.get("seq", -1)), None)
    return LogReport(len(entries), 1, checkpoint.size)


def _asset_entry_problem(entry: dict[str, Any], proof: dict[str, Any], checkpoint, asset: str) -> str | None:
    seq = int(entry.get("seq", -1))
    body = str(entry.get("body", "")).encode("utf-8")
    try:
        record = json.loads(body)
    except ValueError:
        return f"entry {seq} is not a custody record (altered or corrupt)"
    if record.get("seq") != seq or proof.get("seq") != seq:
        return f"entry {seq} is labelled inconsistently (record says {record.get('seq')}, proof {proof.get('seq')})"
    mentioned = {a.get("sha256") for a in (*record.get("inputs", []), *record.get("outputs", []))}
    if asset not in mentioned:
        return f"entry {seq} does not mention the asset {asset[:16]}..."
    try:
        path = [bytes.fromhex(h) for h in proof.get("path", [])]
        verify_inclusion(seq, checkpoint.size, leaf_hash(body), path, checkpoint.root)
    except (ProofError, ValueError) as exc:
        return f"entry {seq} is not in the signed log: {exc}"
    return None


def _check_known_checkpoint(
    bundle: dict[str, Any], checkpoints: list, key: ed25519.Ed25519PublicKey, known: dict[str, Any] | None
) -> bool | None:
    """True when the latest checkpoint provably extends the one the auditor kept from an earlier audit."""
    if known is None:
        return None
    previous = checkpoint_from_json(known)
    if not checkpoint_signed(previous, key):
        return False
    latest = max(checkpoints, key=lambda c: c.size)
    proof = bundle.get("consistency") or {}
    if proof.get("from_size") != previous.size or proof.get("to_size") != latest.size:
        return False
    try:
        verify_consistency(previous.size, latest.size, [bytes.fromhex(h) for h in proof["path"]], previous.root, latest.root)
    except (ProofError, ValueError, KeyError):
        return False
    return True
