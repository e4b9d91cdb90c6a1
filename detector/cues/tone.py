"""Skin-tone seam: the inner face's skin colour against the forehead's, on either side of where masks end.

A pasted face keeps its donor's skin tone unless the tool corrects it, and pasting masks end at the brows (the
hull of the 68 points) or a little above them. So the chroma (Lab a*, b*) of the cheeks and nose bridge, inside
every such mask, is compared with the forehead's, outside it. On an authentic face the two are the same skin
under the same light and differ by a few units; an uncorrected paste differs by the two people's tones.
Hair and shadow are not skin: forehead pixels much darker than the lighter of the cheeks and the forehead's lit
skin are left out (the lighter one, so that a donor much lighter than its target still leaves the forehead
counted), and a frame whose forehead is mostly hidden (fringe, hat: little left, or what is left far darker than
the cheeks) has no value of its own and takes the track's median. Lightness itself is not compared: light falls
unevenly on a face.
"""

from __future__ import annotations

import numpy as np

from detector.cues import Cue, register
from detector.cues._image import lab
from detector.cues._track import fill_edges
from detector.faces import CROP_SIZE, FaceTrack
from swapcore.faces.landmarks import FaceShape

PATCH_RADIUS = 0.12  # of the eye distance
FOREHEAD_LIFT = 0.42  # forehead patches: this many eye distances above the brows (above where masks end)
SKIN_LIGHTNESS = 0.75  # forehead pixels darker than this share of min(cheeks, its lit 10 %) are hair or shadow
MIN_LIGHTNESS = 0.5  # a forehead whose skin is darker than this share of the cheeks' lightness is under hair
MIN_SKIN_SHARE = 0.3  # below this share of skin pixels the forehead is hidden
_Y, _X = np.mgrid[0:CROP_SIZE, 0:CROP_SIZE].astype(np.float32)


def _patch_pixels(colour: np.ndarray, centres: list[np.ndarray], radius: float) -> np.ndarray:
    inside = np.zeros(colour.shape[:2], bool)
    for x, y in centres:
        inside |= (_X - x) ** 2 + (_Y - y) ** 2 <= radius * radius
    return colour[inside]


def skin_regions(points68: np.ndarray) -> tuple[list[np.ndarray], list[np.ndarray]]:
    """Centres of the inner skin patches (both cheeks high and low, nose bridge) and of the forehead patches."""
    p, shape = points68, FaceShape(points68)
    inner = [(p[2] + p[31]) / 2, (p[14] + p[35]) / 2, (p[3] + p[48]) / 2, (p[13] + p[54]) / 2, (p[28] + p[29]) / 2]
    lift = FOREHEAD_LIFT * shape.eye_distance * shape.up
    outer = [p[19] + lift, p[24] + lift, (p[21] + p[22]) / 2 + lift]
    return inner, outer


def tone_gap(crop_bgr: np.ndarray, points68: np.ndarray) -> float:
    """Chroma distance (Lab units) between inner-face and forehead skin; nan where the forehead is hidden."""
    colour = lab(crop_bgr)
    inner_centres, outer_centres = skin_regions(points68)
    radius = PATCH_RADIUS * FaceShape(points68).eye_distance
    inner, outer = _patch_pixels(colour, inner_centres, radius), _patch_pixels(colour, outer_centres, radius)
    if len(inner) == 0 or len(outer) == 0:
        return float("nan")
    cheeks = float(np.median(inner[:, 0]))
    skin = outer[outer[:, 0] >= SKIN_LIGHTNESS * min(cheeks, float(np.quantile(outer[:, 0], 0.9)))]
    if len(skin) < MIN_SKIN_SHARE * len(outer) or np.median(skin[:, 0]) < MIN_LIGHTNESS * cheeks:
        return float("nan")
    return float(np.linalg.norm(np.median(inner[:, 1:], axis=0) - np.median(skin[:, 1:], axis=0)))


def compute(track: FaceTrack) -> np.ndarray:
    gaps = np.array([tone_gap(crop, shape) for crop, shape in zip(track.crops, track.shapes)], np.float64)
    return fill_edges(gaps, np.isfinite(gaps)).reshape(-1, 1)


register(Cue(
    name="tone",
    features=("tone_gap",),
    compute=compute,
    reason="The skin of the cheeks and nose has a different tone than the forehead above the brows, where "
           "pasting masks end: a face pasted from someone else without matching its colour.",
    calm="The cheeks and the forehead have the same skin tone.",
    needs_dense=True,
))
