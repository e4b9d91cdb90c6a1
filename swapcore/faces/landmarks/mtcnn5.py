"""The fallback landmarker: the detector's own 5 points, unchanged (no extra model, no licence restriction)."""

from __future__ import annotations

import numpy as np

from swapcore.faces.detectors import Detection
from swapcore.faces.landmarks import FaceShape, register


@register("mtcnn5")
class FivePoints:
    name = "mtcnn5"

    def locate(self, frame_rgb: np.ndarray, faces: list[Detection]) -> list[FaceShape]:
        return [FaceShape(np.asarray(face.landmarks, np.float64)) for face in faces]
