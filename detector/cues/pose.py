"""Face/head pose mismatch (Yang, Li and Lyu, ICASSP 2019): a pasted central face turned unlike its head.

The head pose is solved twice per frame against a 3-D mean face (`swapcore.faces.landmarks.pose`): from the
central face (eyes, nose, mouth corners) and from its outline (jaw line, brows). On an authentic face the two
agree within the landmark noise; a face pasted from a differently turned source keeps its own central pose while
the outline stays the head's. Measured in degrees, in the aligned crop (so every face is solved with one camera).
"""

from __future__ import annotations

import numpy as np

from detector.cues import Cue, register
from detector.faces import CROP_SIZE, FaceTrack
from swapcore.faces.landmarks import FaceShape
from swapcore.faces.landmarks.pose import pose_mismatch


def compute(track: FaceTrack) -> np.ndarray:
    return np.array([pose_mismatch(FaceShape(shape), (CROP_SIZE, CROP_SIZE)) for shape in track.shapes],
                    np.float64).reshape(-1, 1)


register(Cue(
    name="pose",
    features=("pose_mismatch",),
    compute=compute,
    reason="The eyes, nose and mouth face a different way than the jaw line and brows around them, as when a "
           "face is pasted onto another head.",
    calm="The central face and the head around it face the same way.",
    needs_dense=True,
))
