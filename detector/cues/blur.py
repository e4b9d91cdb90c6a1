"""Blur: is the face softer than the skin and hair right around it?

Swapped faces are rendered at the model's resolution (often 64-256 px) and upscaled into the frame, so the
face interior loses fine detail that its surroundings keep. Measured as log ratios, face interior over the
ring just outside, of (1) Laplacian energy and (2) the finest band's energy relative to the next band's.
Negative values mean the face is softer than its surroundings. Compression softens both regions alike, so the
ratio survives re-encoding better than absolute sharpness does.
"""

from __future__ import annotations

import cv2
import numpy as np

from detector.cues import Cue, register
from detector.cues._image import detail_energy, gray, laplacian_energy
from detector.faces import GEOMETRY, FaceTrack

_EPS = 1e-3


def sharpness_ratios(crop_bgr: np.ndarray) -> tuple[float, float]:
    """(log Laplacian-energy ratio, log fine/next-band ratio), face interior over the surrounding ring."""
    image = gray(crop_bgr)
    energy = laplacian_energy(image)
    laplacian = np.log((energy[GEOMETRY.inner].mean() + _EPS) / (energy[GEOMETRY.ring].mean() + _EPS))
    fine, next_band = detail_energy(image)
    inner = (fine[GEOMETRY.inner].mean() + _EPS) / (next_band[GEOMETRY.inner].mean() + _EPS)
    ring = (fine[GEOMETRY.ring].mean() + _EPS) / (next_band[GEOMETRY.ring].mean() + _EPS)
    return float(laplacian), float(np.log(inner / ring))


def compute(track: FaceTrack) -> np.ndarray:
    return np.array([sharpness_ratios(crop) for crop in track.crops], np.float64).reshape(-1, 2)


def heatmap(crop_bgr: np.ndarray) -> np.ndarray:
    """Where the face is softer than the ring's typical sharpness (1 = 20x less Laplacian energy, or more)."""
    energy = cv2.blur(laplacian_energy(gray(crop_bgr)), (9, 9))
    reference = float(np.median(energy[GEOMETRY.ring])) + _EPS
    deficit = np.clip(-np.log((energy + _EPS) / reference), 0.0, None) * (GEOMETRY.rho < 1.1)
    return np.clip(deficit / 3.0, 0.0, 1.0).astype(np.float32)


register(Cue(
    name="blur",
    features=("blur_laplacian", "blur_fine_band"),
    compute=compute,
    reason="The face is noticeably softer than the skin and hair around it, as when a face is rendered at low "
           "resolution and enlarged into the frame.",
    calm="The face is about as sharp as its surroundings.",
    heatmap=heatmap,
    directions=(-1, -1),  # a softer face than its surroundings is the sign
))
