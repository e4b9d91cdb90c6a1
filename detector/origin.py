"""Provenance findings for the report: C2PA manifest state, watermark, registry record, custody history.

These come first in a report because they are facts (a valid signature, a decoded watermark ID) where the
pixel analysis is only evidence. Everything is read-only: nothing here creates keys, logs or registries.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from provenance import manifest
from provenance.custody.log import sha256_file
from provenance.errors import ProvenanceError
from provenance.home import custody_db_path, has_custody_log, keys_dir, watermark_key_path
from provenance.keys import KeyStore
from provenance.registry import WatermarkRegistry
from provenance.seal import installation_log
from provenance.watermark import ClipDetector, load_or_create_watermark_key

# The custody events of a SHA-256 that the report's reader may see (see `provenance_of`).
History = Callable[[str], list[dict[str, Any]]]
WATERMARK_FRAMES = 90  # enough for a confident ID after CRF 28 (see provenance/watermark), bounded cost

C2PA_MEANING = {
    "Trusted": "Signed by a signer this installation trusts, and unaltered since signing.",
    "Valid": "Signed and unaltered, but by a signer this installation does not (yet) trust.",
    "Invalid": "The file carries a manifest that does not validate: it was altered after signing or badly signed.",
    "NoManifest": "The file carries no C2PA manifest: its origin is not documented (most videos have none).",
    "Unsupported": "C2PA manifests cannot be read from this file format.",
}


def c2pa_finding(path: Path) -> dict[str, Any]:
    try:
        anchors = KeyStore(keys_dir()).trust_anchors_pem()
        result = manifest.verify(path, trust_anchors_pem=anchors).to_json()
    except ProvenanceError as exc:
        result = {"state": "Unsupported", "failures": [str(exc).replace(str(path), path.name)]}
    result.pop("path", None)  # a report names the file as its user gave it, never where the server keeps it
    result["meaning"] = C2PA_MEANING.get(result["state"], "")
    return result


class WatermarkProbe:
    """Fed frames during the analysis' single decode; tests for this installation's watermark afterwards."""

    def __init__(self) -> None:
        key = watermark_key_path()
        # Without a key this installation never marked anything: a fresh random key could only say "absent".
        self._detector = ClipDetector(load_or_create_watermark_key(key)) if key.exists() else None

    def add(self, frame_bgr: np.ndarray) -> None:
        if self._detector is not None and self._detector.frames_used < WATERMARK_FRAMES:
            self._detector.add(frame_bgr)

    def finding(self) -> dict[str, Any]:
        if self._detector is None:
            return {"tested": False, "reason": "this installation has no watermark key, so it has marked nothing"}
        if not self._detector.frames_used:
            return {"tested": False, "reason": "no frames could be read"}
        detection = self._detector.detect()
        return {"tested": True, "present": detection.present, "watermark_id": detection.watermark_id,
                "p_value": detection.p_value, "confidence": detection.confidence,
                "frames_used": detection.frames_used, "key": detection.key}


def installation_history(sha256: str) -> list[dict[str, Any]]:
    """Every custody event of the hash in this installation's log: what its operator (the CLI) may see."""
    if not has_custody_log() or not KeyStore(keys_dir()).exists():  # SQLite file or PostgreSQL
        return []
    log = installation_log()
    try:
        return log.history(sha256)
    finally:
        log.store.close()


@dataclass
class Provenance:
    sha256: str
    c2pa: dict[str, Any]
    watermark: dict[str, Any]
    registry: dict[str, Any] | None = None  # the signed output a decoded watermark ID belongs to
    custody: list[dict[str, Any]] = field(default_factory=list)  # custody events of that output / this file

    def to_json(self) -> dict[str, Any]:
        return {"sha256": self.sha256, "c2pa": self.c2pa, "watermark": self.watermark,
                "registry": self.registry, "custody": self.custody}


def provenance_of(path: Path, c2pa: dict[str, Any], watermark: dict[str, Any], *,
                  history: History | None = None) -> Provenance:
    """Tie the findings together: a watermark ID leads to its registry record and that output's custody.

    `history` gives the custody events the report's reader may see; None means the whole installation's log (the
    CLI's operator owns it). A shared installation passes one restricted to the reader's organisation, and then a
    registry record is kept only when the reader may see the event that made the output (its `custody_seq`; the
    reader's own upload of the same file does not count): otherwise it would name another organisation's output
    and when it was made. The watermark finding itself stays, since it is read from the file's own pixels.
    """
    sha256 = sha256_file(path)
    registry = None
    watermark_id = watermark.get("watermark_id")
    if watermark_id is not None and custody_db_path().exists():  # the registry always lives in the SQLite file
        entry = WatermarkRegistry(custody_db_path()).lookup(int(watermark_id))
        registry = entry.to_json() if entry else None
    events = history or installation_history
    custody = events(registry["output_sha256"]) if registry else []
    if registry and history is not None and not any(e.get("seq") == registry["custody_seq"] for e in custody):
        registry, custody = None, []
    if not custody:
        custody = events(sha256)
    return Provenance(sha256, c2pa, watermark, registry, custody)
