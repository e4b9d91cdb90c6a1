"""The face's parts from its 68 points, as Faceswap's landmark masks draw them: shared by conversion's
`components` and `extended` masks and by training's face target, so the two always mean the same region."""

from __future__ import annotations

import cv2
import numpy as np

from swapcore.faces.landmarks import LEFT_BROW, LEFT_EYE, RIGHT_BROW, RIGHT_EYE


def fill_hulls(polygons: list[np.ndarray], size: int) -> np.ndarray:
    """The union of the convex hulls of `polygons`, anti-aliased, as float32 in [0, 1]."""
    mask = np.zeros((size, size), np.uint8)
    for polygon in polygons:
        hull = cv2.convexHull(np.round(np.asarray(polygon) * 16).astype(np.int32))
        cv2.fillConvexPoly(mask, hull, 255, cv2.LINE_AA, shift=4)
    return mask.astype(np.float32) / 255


def component_parts(points: np.ndarray) -> list[np.ndarray]:
    """Faceswap's 'components' groups of the 68 points: jaw halves, cheeks, nose ridge, eye regions, nose.

    Each group reaches down to the chin (point 8) or across to the nose, so the union of their hulls covers the
    face from the brows to the chin, mouth included, and follows the jaw line where a single hull would not.
    """
    p = np.asarray(points, np.float64)
    chin, nose_top, nostrils = p[8:9], p[27:28], p[31:36]
    return [
        np.concatenate([p[0:9], p[17:18]]),  # right jaw
        np.concatenate([p[8:17], p[26:27]]),  # left jaw
        np.concatenate([p[17:20], chin]),  # right cheek
        np.concatenate([p[24:27], chin]),  # left cheek
        np.concatenate([p[19:25], chin]),  # nose ridge
        np.concatenate([p[RIGHT_BROW], nose_top, nostrils, chin]),  # right eye
        np.concatenate([p[LEFT_BROW], nose_top, nostrils, chin]),  # left eye
        np.concatenate([p[27:31], nostrils]),  # nose
    ]


def raised_brows(points: np.ndarray) -> np.ndarray:
    """The 68 points with each brow moved up by half its distance from the eye below, as Faceswap's 'extended'.

    The brow point is paired with a point of the eye line (the outer ones with points halfway out to the jaw),
    so the raise follows the face's roll and scale.
    """
    p = np.asarray(points, np.float64).copy()
    right_out = (p[36] + (p[36] + p[0]) / 2) / 2
    left_out = (p[45] + (p[45] + p[16]) / 2) / 2
    right_below = np.stack([right_out, *p[36:40]])
    left_below = np.stack([*p[42:46], left_out])
    p[RIGHT_BROW] += (p[RIGHT_BROW] - right_below) / 2
    p[LEFT_BROW] += (p[LEFT_BROW] - left_below) / 2
    return p
