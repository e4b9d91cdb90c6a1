"""Add the watermark to BGR frames: the same luma pattern every frame, scaled by local texture.

Adding one value to B, G and R changes BT.601 luma by exactly that value and leaves both chroma differences
unchanged, so the mark lives entirely in luma and survives 4:2:0 subsampling untouched.
"""

from __future__ import annotations

import cv2
import numpy as np

from provenance.watermark.errors import WatermarkError
from provenance.watermark.pattern import render_pattern, watermark_tile, work_scale

# Strength (luma levels of the unit-RMS pattern) = clip(FLOOR + GAIN * local activity, FLOOR, CEILING).
# Flat areas (skin, sky) get only FLOOR; texture hides up to CEILING.
STRENGTH_FLOOR = 1.0
STRENGTH_GAIN = 0.4
STRENGTH_CEILING = 3.5
# Per-frame cap on the mark's RMS, as a PSNR: very textured frames are scaled down to it. Set 0.5 dB above the
# 41 dB target to leave room for rounding to uint8 (about +1/12 level^2 of error).
PSNR_FLOOR_DB = 41.5
_MAX_RMS = 255.0 / 10 ** (PSNR_FLOOR_DB / 20)
_DETAIL_SIGMA = 1.0  # working cells: what counts as texture
_ACTIVITY_SIGMA = 2.0  # working cells: how far texture masks its surroundings


def _check_frame(frame: np.ndarray) -> None:
    if frame.ndim != 3 or frame.shape[2] != 3 or frame.dtype != np.uint8:
        raise WatermarkError(f"expected a BGR uint8 frame (H, W, 3), got {frame.dtype} {frame.shape}")


def embedding_strength(frame_bgr: np.ndarray) -> np.ndarray:
    """Per-pixel pattern amplitude from local luma activity, measured on the working grid (cheap at 4K)."""
    height, width = frame_bgr.shape[:2]
    scale = work_scale(height, width)
    luma = cv2.cvtColor(frame_bgr, cv2.COLOR_BGR2GRAY)
    small = cv2.resize(luma, (round(width * scale), round(height * scale)), interpolation=cv2.INTER_AREA)
    small = small.astype(np.float32)
    detail = small - cv2.GaussianBlur(small, (0, 0), _DETAIL_SIGMA)
    activity = cv2.sqrt(cv2.GaussianBlur(detail * detail, (0, 0), _ACTIVITY_SIGMA))
    strength = np.clip(STRENGTH_FLOOR + STRENGTH_GAIN * activity, STRENGTH_FLOOR, STRENGTH_CEILING)
    return cv2.resize(strength, (width, height), interpolation=cv2.INTER_LINEAR)


class FrameEmbedder:
    """Watermarks the frames of one video (any sizes): renders the pattern once per frame size, then
    each frame costs a texture measurement, a multiply and a saturating add."""

    def __init__(self, secret: bytes, payload_id: int) -> None:
        self._tile = watermark_tile(secret, payload_id)
        self._patterns: dict[tuple[int, int], np.ndarray] = {}

    def _pattern(self, height: int, width: int) -> np.ndarray:
        if (height, width) not in self._patterns:
            self._patterns[(height, width)] = render_pattern(self._tile, height, width)
        return self._patterns[(height, width)]

    def __call__(self, frame_bgr: np.ndarray) -> np.ndarray:
        _check_frame(frame_bgr)
        height, width = frame_bgr.shape[:2]
        delta = cv2.multiply(self._pattern(height, width), embedding_strength(frame_bgr))
        rms = np.sqrt(cv2.mean(cv2.multiply(delta, delta))[0])
        if rms > _MAX_RMS:
            delta *= _MAX_RMS / rms
        # cv2.add rounds and saturates to uint8 in one pass.
        return cv2.add(frame_bgr, cv2.merge([delta, delta, delta]), dtype=cv2.CV_8U)


def embed_frame(frame_bgr: np.ndarray, secret: bytes, payload_id: int) -> np.ndarray:
    """One watermarked copy of one frame; for a video use one `FrameEmbedder` (it caches the pattern)."""
    return FrameEmbedder(secret, payload_id)(frame_bgr)
