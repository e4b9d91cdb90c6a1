"""Landmark plugins, Faceswap-style: from a detected face to the shape of that face.

A detector (`swapcore.faces.detectors`) gives a box and 5 points. A landmarker refines them into a `FaceShape`:
`dlib68` gives the 68-point iBUG 300-W layout (jaw line, brows, eyes, nose, lips), which draws the real face
outline and yields a head pose; `mtcnn5` passes the detector's 5 points through and is the fallback where the
68-point model may not be used (its training data, iBUG 300-W, is licensed for non-commercial use only).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

import cv2
import numpy as np

from swapcore.errors import SwapcoreError
from swapcore.plugins import Registry
from swapcore.faces.detectors import Detection

# Index ranges of the iBUG 300-W 68-point layout ("right" is the subject's right: the left of the image).
JAW = slice(0, 17)
RIGHT_BROW, LEFT_BROW = slice(17, 22), slice(22, 27)
NOSE = slice(27, 36)
RIGHT_EYE, LEFT_EYE = slice(36, 42), slice(42, 48)
MOUTH = slice(48, 68)
# The pose cue compares the central face (nose, eyes, mouth corners: what a paste replaces; the lips are left
# out, they move with speech) with the outline around it (jaw line and brows, which stay the head's).
CENTRAL = np.r_[27:48, 48, 54]
OUTER = np.r_[0:27]


@dataclass(frozen=True)
class FaceShape:
    """A face's landmarks in frame pixels: 68 points (iBUG layout) or 5 (eyes, nose, mouth corners)."""

    points: np.ndarray  # (68, 2) or (5, 2)

    @property
    def dense(self) -> bool:
        return len(self.points) == 68

    @property
    def five(self) -> np.ndarray:
        """The 5 alignment points (eye centres, nose tip, mouth corners) whatever the layout."""
        if not self.dense:
            return self.points
        p = self.points
        return np.stack([p[RIGHT_EYE].mean(0), p[LEFT_EYE].mean(0), p[30], p[48], p[54]])

    @property
    def eye_distance(self) -> float:
        five = self.five
        return float(np.linalg.norm(five[1] - five[0]))

    @property
    def up(self) -> np.ndarray:
        """Unit vector from the mouth towards the eyes (the face's 'up', whatever its roll; 68 points only)."""
        return _up(self.points)

    def outline(self, forehead: float = 0.0) -> np.ndarray:
        """The face's outer contour, clockwise from the right jaw: jaw line, then the brows (68 points only).

        `forehead` lifts the brow points by that many eye distances, to cover the forehead a mask reaches.
        """
        if not self.dense:
            raise SwapcoreError("a face outline needs the 68-point landmarks (landmarker 'dlib68')")
        p = self.points
        up = self.up
        brows = np.concatenate([p[LEFT_BROW][::-1], p[RIGHT_BROW][::-1]]) + forehead * self.eye_distance * up
        return np.concatenate([p[JAW], brows])

    def hull(self, which: str = "all") -> np.ndarray:
        """Convex hull (K x 2, float) of all points, or of the inner points ('inner': brows, eyes, nose, mouth)."""
        points = self.points if which == "all" or not self.dense else self.points[17:]
        return cv2.convexHull(points.astype(np.float32)).reshape(-1, 2).astype(np.float64)


def _up(points68: np.ndarray) -> np.ndarray:
    """Unit vector from the mouth towards the eyes (the face's 'up', whatever its roll)."""
    eyes = (points68[RIGHT_EYE].mean(0) + points68[LEFT_EYE].mean(0)) / 2
    direction = eyes - points68[MOUTH].mean(0)
    return direction / max(float(np.linalg.norm(direction)), 1e-6)


class Landmarker(Protocol):
    name: str

    def locate(self, frame_rgb: np.ndarray, faces: list[Detection]) -> list[FaceShape]: ...


_PLUGINS: Registry[Landmarker] = Registry("landmarker")
register, create, available = _PLUGINS.register, _PLUGINS.create, _PLUGINS.available


from swapcore.faces.landmarks import dlib68, mtcnn5  # noqa: E402,F401  (register themselves)
