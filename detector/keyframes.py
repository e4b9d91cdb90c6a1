"""Keyframe pictures for the report: the face, and where the cues saw something, side by side.

Panels, left to right: the aligned face; the blur and seam-band heatmaps (`blur`, `seams` cues) laid over it;
and, for 68-point tracks, the colour step along the boundaries where pasting tools end their masks (`boundary`
cue), drawn on the boundaries themselves, and the skin patches the `tone` cue compares, each group filled with
its own median colour (cheeks and nose bridge against the forehead), so a tone difference is seen, not read.
"""

from __future__ import annotations

import base64

import cv2
import numpy as np

from detector import cues
from detector.cues._image import lab
from detector.cues.boundary import _NEAR, _OFFSETS, _profiles, _resample, boundary_polygons
from detector.cues.tone import PATCH_RADIUS, skin_regions
from detector.errors import DetectorError
from swapcore.faces.landmarks import FaceShape

PANEL = 192


def seam_heatmap(crop_bgr: np.ndarray, points68: np.ndarray) -> np.ndarray:
    """Crop-sized map in [0, 1]: per boundary point, its colour step over the skin's spread (1 = 3 spreads)."""
    colour = lab(crop_bgr) * np.array([0.5, 1.0, 1.0], np.float32)
    heat = np.zeros(crop_bgr.shape[:2], np.float32)
    for polygon in boundary_polygons(FaceShape(points68)):
        points, normals = _resample(polygon)
        profile = _profiles(colour, points, normals)
        inside, outside = profile[:, _NEAR & (_OFFSETS < 0)], profile[:, _NEAR & (_OFFSETS > 0)]
        step = np.linalg.norm(outside.mean(1) - inside.mean(1), axis=1)
        spread = np.linalg.norm(inside.std(1), axis=1) + np.linalg.norm(outside.std(1), axis=1) + 1.0
        layer = np.zeros_like(heat)
        for (x, y), value in zip(points, np.clip(step / spread / 3.0, 0, 1)):
            cv2.circle(layer, (int(round(x)), int(round(y))), 2, float(value), -1)
        np.maximum(heat, layer, out=heat)  # boundaries cross: keep each pixel's strongest step
    return heat


def tone_panel(crop_bgr: np.ndarray, points68: np.ndarray) -> np.ndarray:
    """The crop with the tone cue's inner (cheeks, nose bridge) and forehead patches, each group painted in its
    median colour and outlined (white: inner, black: forehead)."""
    panel = crop_bgr.copy()
    radius = PATCH_RADIUS * FaceShape(points68).eye_distance
    for centres, edge in zip(skin_regions(points68), ((255, 255, 255), (0, 0, 0))):
        inside = np.zeros(crop_bgr.shape[:2], np.uint8)
        for x, y in centres:
            cv2.circle(inside, (int(round(x)), int(round(y))), max(1, int(round(radius))), 1, -1)
        if inside.any():
            panel[inside > 0] = np.median(crop_bgr[inside > 0], axis=0).astype(np.uint8)
        for x, y in centres:
            cv2.circle(panel, (int(round(x)), int(round(y))), max(1, int(round(radius))), edge, 1)
    return panel


def _laid_over(crop_bgr: np.ndarray, heat: np.ndarray) -> np.ndarray:
    coloured = cv2.applyColorMap((heat * 255).astype(np.uint8), cv2.COLORMAP_INFERNO)
    alpha = (0.65 * heat)[..., None]
    return (crop_bgr * (1 - alpha) + coloured * alpha).astype(np.uint8)


def overlay(crop_bgr: np.ndarray, shape: np.ndarray) -> np.ndarray:
    """The crop, its blur/seam-band heatmap and (68-point shapes) its boundary seam map and tone patches, each
    192 px."""
    heat = np.maximum(*(cues.get(name).heatmap(crop_bgr) for name in ("blur", "seams")))
    panels = [crop_bgr, _laid_over(crop_bgr, heat)]
    if len(shape) == 68:
        panels += [_laid_over(crop_bgr, seam_heatmap(crop_bgr, shape)), tone_panel(crop_bgr, shape)]
    return np.concatenate([cv2.resize(p, (PANEL, PANEL), interpolation=cv2.INTER_CUBIC) for p in panels], axis=1)


def png_data_uri(image_bgr: np.ndarray) -> str:
    ok, encoded = cv2.imencode(".png", image_bgr)
    if not ok:
        raise DetectorError("could not encode a keyframe image")
    return "data:image/png;base64," + base64.b64encode(encoded.tobytes()).decode("ascii")
