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
from provenance.installation import Installation
from provenance.watermark import ClipDetector

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


def c2pa_finding(path: Path, installation: Installation | None) -> dict[str, Any]:
    """The manifest's state; "Trusted" needs a signer among the installation's trust anchors."""
    try:
        anchors = installation.key_store().trust_anchors_pem() if installation else None
        result = manifest.verify(path, trust_anchors_pem=anchors).to_json()
    except ProvenanceError as exc:
        result = {"state": "Unsupported", "failures": [str(exc).replace(str(path), path.name)]}
    result.pop("path", None)  # a report names the file as its user gave it, never where the server keeps it
    result["meaning"] = C2PA_MEANING.get(result["state"], "")
    return result


class WatermarkProbe:
    """Fed frames during the analysis' single decode; tests for this installation's watermark afterwards."""

    def __init__(self, installation: Installation | None) -> None:
        # Without a key this installation never marked anything: a fresh random key could only say "absent".
        secret = installation.watermark_secret() if installation else None
        self._detector = ClipDetector(secret) if secret is not None else None

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


def installation_history(installation: Installation) -> History:
    """Every custody event of a hash in the installation's log: what its operator (the CLI) may see."""
    def history(sha256: str) -> list[dict[str, Any]]:
        if not installation.has_custody_log() or not installation.key_store().exists():
            return []
        log = installation.custody_log()
        try:
            return log.history(sha256)
        finally:
            log.store.close()
    return history


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


def provenance_of(path: Path, c2pa: dict[str, Any], watermark: dict[str, Any], installation: Installation | None, *,
                  history: History | None = None) -> Provenance:
    """Tie the findings together: a watermark ID leads to its registry record and that output's custody.

    `installation` None: the file alone (no registry record, no custody history).
    `history` gives the custody events the report's reader may see; None means the whole installation's log (the
    CLI's operator owns it). A shared installation passes one restricted to the reader's organisation, and then a
    registry record is kept only when the reader may see the event that made the output (its `custody_seq`; the
    reader's own upload of the same file does not count): otherwise it would name another organisation's output
    and when it was made. The watermark finding itself stays, since it is read from the file's own pixels.
    """
    sha256 = sha256_file(path)
    registry = None
    watermark_id = watermark.get("watermark_id")
    known = installation.registry() if installation and watermark_id is not None else None
    if known is not None:
        entry = known.lookup(int(watermark_id))
        known.close()
        registry = entry.to_json() if entry else None
    events = history or (installation_history(installation) if installation else lambda sha256: [])
    custody = events(registry["output_sha256"]) if registry else []
    if registry and history is not None and not any(e.get("seq") == registry["custody_seq"] for e in custody):
        registry, custody = None, []
    if not custody:
        custody = events(sha256)
    return Provenance(sha256, c2pa, watermark, registry, custody)
