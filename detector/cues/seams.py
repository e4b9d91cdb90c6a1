"""Skin-tone seams: colour and gradient discontinuities along the face boundary, and double edges.

A swap blends a rendered face into the frame through a mask whose edge runs around the face (rho ~ 0.8-1.2
in the aligned crop). Where the rendered skin tone differs from the real one, the Lab chroma jumps at that
edge; where the paste is misaligned, the face outline appears twice (two parallel gradient peaks). Profiles
are read along rays from the face centre in 16 sectors and 15 radial bins, so the seam is found wherever
the mask edge lies, not at one fixed radius.
"""

from __future__ import annotations

import cv2
import numpy as np

from detector.cues import Cue, register
from detector.cues._image import lab
from detector.faces import GEOMETRY, FaceTrack

SECTORS, BINS = 16, 15
_RHO_MIN, _RHO_MAX = 0.55, 1.45
_BAND = slice(3, 11)  # radial bins covering rho 0.73 .. 1.21, where blending edges lie
_BIN_OF_PIXEL = np.where(
    (GEOMETRY.rho >= _RHO_MIN) & (GEOMETRY.rho < _RHO_MAX),
    ((GEOMETRY.angle + np.pi) / (2 * np.pi) * SECTORS).astype(int).clip(0, SECTORS - 1) * BINS
    + ((GEOMETRY.rho - _RHO_MIN) / (_RHO_MAX - _RHO_MIN) * BINS).astype(int).clip(0, BINS - 1),
    -1,
).ravel()
_COUNTS = np.bincount(_BIN_OF_PIXEL[_BIN_OF_PIXEL >= 0], minlength=SECTORS * BINS).reshape(SECTORS, BINS)


def radial_profiles(values: np.ndarray) -> np.ndarray:
    """Mean of a crop-sized map per (sector, radial bin): SECTORS x BINS (x channels)."""
    flat = values.reshape(len(_BIN_OF_PIXEL), -1)
    keep = _BIN_OF_PIXEL >= 0
    sums = np.stack([np.bincount(_BIN_OF_PIXEL[keep], weights=flat[keep, c], minlength=SECTORS * BINS)
                     for c in range(flat.shape[1])], axis=-1)
    profile = sums.reshape(SECTORS, BINS, -1) / np.maximum(_COUNTS, 1)[..., None]
    return profile[..., 0] if values.ndim == 2 else profile


def _gradient(channel: np.ndarray) -> np.ndarray:
    return np.hypot(cv2.Sobel(channel, cv2.CV_32F, 1, 0, ksize=3), cv2.Sobel(channel, cv2.CV_32F, 0, 1, ksize=3))


def _peaks(profile: np.ndarray, floor: np.ndarray) -> np.ndarray:
    """Per sector, how many local maxima inside the band rise above `floor`."""
    middle = profile[:, 1:-1]
    is_peak = (middle > profile[:, :-2]) & (middle >= profile[:, 2:]) & (middle > floor[:, None])
    return is_peak[:, _BAND.start - 1 : _BAND.stop - 1].sum(1)


def seam_measures(crop_bgr: np.ndarray) -> tuple[float, float, float]:
    """(chroma step, gradient peak, double-edge fraction) along the face boundary of one aligned crop."""
    colour = lab(crop_bgr)
    chroma = radial_profiles(colour[..., 1:])  # SECTORS x BINS x 2
    steps = np.linalg.norm(np.diff(chroma, axis=1), axis=-1)  # SECTORS x BINS-1
    typical_step = np.median(steps, axis=1) + 0.5
    chroma_step = np.log((steps[:, _BAND].max(1) + 0.5) / typical_step).mean()  # finite on flat (padded) sectors
    gradient = radial_profiles(_gradient(colour[..., 0]) + 0.5 * _gradient(colour[..., 1]) + 0.5 * _gradient(colour[..., 2]))
    typical = np.median(gradient, axis=1) + 1e-3
    peak = np.log((gradient[:, _BAND].max(1) + 1e-3) / typical).mean()
    double = float((_peaks(gradient, 1.3 * typical) >= 2).mean())
    return float(chroma_step), float(peak), double


def compute(track: FaceTrack) -> np.ndarray:
    return np.array([seam_measures(crop) for crop in track.crops], np.float64).reshape(-1, 3)


def heatmap(crop_bgr: np.ndarray) -> np.ndarray:
    """Chroma and lightness edges along the boundary band (where a blending seam would be); 1 = a strong edge."""
    colour = lab(crop_bgr)
    edges = _gradient(colour[..., 1]) + _gradient(colour[..., 2]) + 0.3 * _gradient(colour[..., 0])
    return np.clip(edges * GEOMETRY.band / 40.0, 0.0, 1.0).astype(np.float32)


register(Cue(
    name="seams",
    features=("seam_chroma_step", "seam_gradient_peak", "seam_double_edge"),
    compute=compute,
    reason="Skin tone or texture changes abruptly along a line around the face, like the edge of a pasted "
           "face (a blending seam or a doubled outline).",
    calm="Skin tone and texture run smoothly across the face boundary.",
    heatmap=heatmap,
))
