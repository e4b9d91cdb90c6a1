"""Self-blended manipulations: paste a (degraded) copy of a real face back onto a real frame.

This is how the detector gets positive examples without anyone's deepfakes (after Li et al.'s Face X-ray and
Shiohara & Yamasaki's self-blended images): the artefacts of a swap (soft rendered face, skin-tone seam,
misaligned or jittering paste, box-shaped blend) are produced on purpose, one family dominant per clip and
the others mild, so a model fitted on some families can be evaluated on a family it never saw.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

from swapcore.convert.blend import BlendSettings, paste
from swapcore.convert.masks import hull_mask
from swapcore.faces.align import template, umeyama

FAMILIES = ("resample", "colour", "misalign", "box", "other_frame")
_SIZE = 256
_EYE_WEIGHTS = np.array([2.0, 2.0, 1.0, 1.0, 1.0])


@dataclass(frozen=True)
class Recipe:
    family: str
    scale: float  # render resolution as a fraction of the paste size (1 = untouched)
    colour: tuple[float, float, float]  # Lab offset of the pasted face
    shift: tuple[float, float, float]  # constant paste offset: dx, dy (fraction of crop), log-scale
    jitter: float  # per-frame random paste offset (fraction of the crop)
    mask: str  # "hull", "ellipse" or "box"
    feather: float  # BlendSettings.blur (percent of the face)
    erode: float  # BlendSettings.erode (percent of the face)
    source_offset: int  # paste the face of frame t + offset (0: the frame's own face)


def random_recipe(family: str, rng: np.random.Generator) -> Recipe:
    """A recipe where `family`'s artefact is strong and the rest mild."""
    strong = {
        "resample": dict(scale=rng.uniform(0.2, 0.45)),
        "colour": dict(colour=(rng.uniform(-8, 8), rng.choice([-1, 1]) * rng.uniform(3, 8), rng.choice([-1, 1]) * rng.uniform(3, 8))),
        "misalign": dict(shift=(rng.uniform(-0.04, 0.04), rng.uniform(-0.04, 0.04), rng.uniform(-0.05, 0.05)), jitter=rng.uniform(0.006, 0.015)),
        "box": dict(mask="box", feather=rng.uniform(0.5, 2.0)),
        "other_frame": dict(source_offset=int(rng.choice([-1, 1]) * rng.integers(8, 30))),
    }[family]
    mild = dict(
        scale=rng.uniform(0.6, 1.0),
        colour=tuple(rng.uniform(-2, 2, 3)),
        shift=(rng.uniform(-0.01, 0.01), rng.uniform(-0.01, 0.01), rng.uniform(-0.01, 0.01)),
        jitter=rng.uniform(0.0, 0.003),
        mask=str(rng.choice(["hull", "ellipse"])),
        feather=rng.uniform(2.0, 8.0),
        erode=rng.uniform(-2.0, 4.0),
        source_offset=0,
    )
    return Recipe(family=family, **{**mild, **strong})


def _mask(kind: str) -> np.ndarray:
    points = template(_SIZE, "face")
    if kind == "hull":
        return hull_mask(points, _SIZE)
    mask = np.zeros((_SIZE, _SIZE), np.float32)
    centre = points.mean(0)
    if kind == "ellipse":
        cv2.ellipse(mask, (int(centre[0]), int(centre[1])), (int(_SIZE * 0.36), int(_SIZE * 0.46)), 0, 0, 360, 1.0, -1)
    else:
        lo, hi = (centre - _SIZE * 0.34).astype(int), (centre + _SIZE * 0.36).astype(int)
        cv2.rectangle(mask, tuple(lo), tuple(hi), 1.0, -1)
    return mask


def _render(source_bgr: np.ndarray, landmarks: np.ndarray, recipe: Recipe) -> np.ndarray:
    """The source face as a swap model would hand it over: aligned, low-resolution, tinted (float BGR 0-1)."""
    matrix = umeyama(landmarks, template(_SIZE, "face"), _EYE_WEIGHTS)
    face = cv2.warpAffine(source_bgr, matrix, (_SIZE, _SIZE), flags=cv2.INTER_AREA, borderMode=cv2.BORDER_REPLICATE)
    if recipe.scale < 0.99:
        small = max(16, int(_SIZE * recipe.scale))
        face = cv2.resize(cv2.resize(face, (small, small), interpolation=cv2.INTER_AREA), (_SIZE, _SIZE),
                          interpolation=cv2.INTER_LINEAR)
    lab = cv2.cvtColor(face.astype(np.float32) / 255, cv2.COLOR_BGR2LAB) + np.float32(recipe.colour)
    return np.clip(cv2.cvtColor(lab, cv2.COLOR_LAB2BGR), 0, 1)


def _target_matrix(landmarks: np.ndarray, recipe: Recipe, rng: np.random.Generator) -> np.ndarray:
    """Frame -> crop affine for the paste, offset by the recipe's shift plus this frame's jitter."""
    dx, dy, log_scale = np.asarray(recipe.shift) + np.append(rng.normal(0, recipe.jitter, 2), rng.normal(0, recipe.jitter))
    matrix = umeyama(landmarks, template(_SIZE, "face"), _EYE_WEIGHTS)
    centre = _SIZE / 2
    nudge = np.array([[np.exp(log_scale), 0, (1 - np.exp(log_scale)) * centre + dx * _SIZE],
                      [0, np.exp(log_scale), (1 - np.exp(log_scale)) * centre + dy * _SIZE]])
    return nudge[:, :2] @ matrix[:, :2], nudge[:, :2] @ matrix[:, 2] + nudge[:, 2]


def blend_frame(target_bgr: np.ndarray, target_landmarks: np.ndarray, source_bgr: np.ndarray,
                source_landmarks: np.ndarray, recipe: Recipe, rng: np.random.Generator) -> np.ndarray:
    """One manipulated frame: the rendered source face pasted onto the target frame's face."""
    face = _render(source_bgr, source_landmarks, recipe)
    linear, offset = _target_matrix(target_landmarks, recipe, rng)
    matrix = np.concatenate([linear, offset[:, None]], axis=1)
    frame = target_bgr.copy()
    paste(frame, face, _mask(recipe.mask), matrix, BlendSettings(erode=recipe.erode, blur=recipe.feather))
    return frame
