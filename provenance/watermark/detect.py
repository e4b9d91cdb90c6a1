"""Decide whether a clip carries this key's watermark, and which ID, with a stated false-positive rate.

Two tests, each run at ALPHA / 2, so a clip without the mark is reported present with probability <= ALPHA:

* sync: the best sync-correlation z-score over every hypothesis tried (TILE^2 shifts x (MAX_SCALE_HYPOTHESES
  lattices + the SCAN_ANGLES rotations scanned) x 2 mirrors; only the SCAN_DECODED best scanned ones are kept,
  but every scanned one is counted). Without the mark (or with another key's) each z is a weighted sum of the key's random
  +-1 sync chips with unit-norm weights fixed by the picture, and for any such Rademacher sum
  P(z >= x) <= (2e^3/9) Q(x) (Pinelis 1994), Gaussian or not; Bonferroni gives p_sync.
* payload: for each decoded (lattice, mirror) hypothesis the soft read is decoded (BCH + OSD); without the mark the
  signs of the soft bits are fair coins given their magnitudes, so `code.null_probability` gives the exact
  chance that some valid ID agrees as well; Bonferroni over the decoded hypotheses gives p_id.

The clip's p-value is min(1, 2 * min(p_sync, p_id)); an ID is reported only when p_id <= ALPHA / 2.
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterable
from dataclasses import asdict, dataclass

import numpy as np

from provenance.watermark.code import CODE_BITS, DecodedPayload, decode_payload
from provenance.watermark.errors import WatermarkError
from provenance.watermark.keys import check_secret, key_fingerprint
from provenance.watermark.pattern import tile_layout
from provenance.watermark.sync import (
    MAX_SCALE_HYPOTHESES,
    SCAN_DECODED,
    Alignment,
    aligned_tile,
    angle_scan,
    band_limited_spectrum,
    fold,
    locate,
    nominal_periods,
    residual,
    scale_hypotheses,
    sync_hypotheses_tested,
)

ALPHA = 1e-6  # false-positive rate per clip, by construction
DECODE_HYPOTHESES = 2 * MAX_SCALE_HYPOTHESES + SCAN_DECODED


@dataclass(frozen=True)
class Detection:
    present: bool
    p_value: float  # probability that an unmarked clip scores at least this well
    watermark_id: int | None
    confidence: float  # 1 - p_id: how sure the ID is not a random decode (0 when no ID)
    frames_used: int
    sync_z: float
    sync_p_value: float
    id_p_value: float
    bit_errors: int | None  # channel bits the code corrected (of 125)
    flipped: bool | None  # the clip is mirrored (None when nothing was found)
    scale: tuple[float, float] | None  # lattice period relative to an untouched clip (x, y)
    key: str  # fingerprint of the key tested (public)

    def to_json(self) -> str:
        return json.dumps(asdict(self), sort_keys=True)


# P(sum_i a_i e_i >= x) <= PINELIS * Q(x) for fair +-1 signs e_i and sum_i a_i^2 = 1 (Pinelis 1994).
PINELIS = 2 * math.e**3 / 9


def _rademacher_tail(z: float) -> float:
    return min(1.0, PINELIS * 0.5 * math.erfc(z / math.sqrt(2.0)))


def soft_bits(tile: np.ndarray, secret: bytes) -> np.ndarray:
    """Per channel bit, the correlation of its chips with their spreading signs (positive = bit 0)."""
    layout = tile_layout(secret)
    weights = (tile * layout.payload_chips).ravel()
    return np.bincount(layout.bit_of_chip.ravel(), weights=weights, minlength=CODE_BITS)


def frame_soft_bits(frame_bgr: np.ndarray, secret: bytes, alignment: Alignment) -> np.ndarray:
    """Soft bits read from a single frame under a known alignment (e.g. one found on the whole clip)."""
    folded = fold(residual(frame_bgr), alignment.period_x, alignment.period_y, alignment.flipped, alignment.angle)
    return soft_bits(aligned_tile(band_limited_spectrum(folded), alignment), secret)


class ClipDetector:
    """Accumulates frames' residuals (constant memory), then tests the sum once."""

    def __init__(self, secret: bytes) -> None:
        self._secret = check_secret(secret)
        self._sum: np.ndarray | None = None
        self._frame_shape: tuple[int, int] | None = None
        self.frames_used = 0
        self.alignment: Alignment | None = None  # the winning hypothesis, set by detect()

    def add(self, frame_bgr: np.ndarray) -> None:
        if frame_bgr.ndim != 3 or frame_bgr.shape[2] != 3:
            raise WatermarkError(f"expected BGR frames (H, W, 3), got shape {frame_bgr.shape}")
        if self._frame_shape is None:
            self._frame_shape = frame_bgr.shape[:2]
        elif frame_bgr.shape[:2] != self._frame_shape:
            raise WatermarkError(f"frame size changed within the clip: {frame_bgr.shape[:2]} after {self._frame_shape}")
        frame_residual = residual(frame_bgr)
        self._sum = frame_residual if self._sum is None else self._sum + frame_residual
        self.frames_used += 1

    def _decode_hypotheses(self) -> list[tuple[Alignment, DecodedPayload | None]]:
        mean_residual = self._sum / self.frames_used
        layout, nominal = tile_layout(self._secret), nominal_periods(*self._frame_shape)
        located = []
        for periods in scale_hypotheses(mean_residual, nominal):
            for flipped in (False, True):
                spectrum = band_limited_spectrum(fold(mean_residual, *periods[:2], flipped, periods[2]))
                located.append((locate(spectrum, layout, periods, flipped), spectrum))
        located += angle_scan(mean_residual, layout, nominal)
        return [(alignment, decode_payload(self._secret, soft_bits(aligned_tile(spectrum, alignment), self._secret)))
                for alignment, spectrum in located]

    def _relative_scale(self) -> tuple[float, float]:
        nominal_x, nominal_y = nominal_periods(*self._frame_shape)
        return round(float(self.alignment.period_x / nominal_x), 4), round(float(self.alignment.period_y / nominal_y), 4)

    def detect(self) -> Detection:
        if not self.frames_used:
            raise WatermarkError("no frames to test")
        results = self._decode_hypotheses()
        best_sync = max(results, key=lambda item: item[0].z_score)[0]
        decoded = [(alignment, payload) for alignment, payload in results if payload is not None]
        best_id = min(decoded, key=lambda item: item[1].null_probability) if decoded else None
        p_sync = min(1.0, sync_hypotheses_tested() * _rademacher_tail(best_sync.z_score))
        p_id = min(1.0, DECODE_HYPOTHESES * best_id[1].null_probability) if best_id else 1.0
        id_found = p_id <= ALPHA / 2
        p_value = min(1.0, 2 * min(p_sync, p_id))
        present = p_value <= ALPHA
        self.alignment = best_id[0] if id_found else best_sync
        return Detection(
            present=present,
            p_value=p_value,
            watermark_id=best_id[1].payload_id if id_found else None,
            confidence=1.0 - p_id if id_found else 0.0,
            frames_used=self.frames_used,
            sync_z=round(best_sync.z_score, 3),
            sync_p_value=p_sync,
            id_p_value=p_id,
            bit_errors=best_id[1].distance if id_found else None,
            flipped=self.alignment.flipped if present else None,
            scale=self._relative_scale() if present else None,
            key=key_fingerprint(self._secret),
        )


def detect_frames(frames: Iterable[np.ndarray], secret: bytes, max_frames: int | None = None) -> Detection:
    """Test BGR frames (one clip, one size) for the watermark of `secret`; reads at most `max_frames`."""
    detector = ClipDetector(secret)
    for frame in frames:
        if max_frames is not None and detector.frames_used >= max_frames:
            break
        detector.add(frame)
    return detector.detect()
