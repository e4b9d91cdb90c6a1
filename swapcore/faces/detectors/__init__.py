"""Face detector plugins, Faceswap-style: one small class per file, registered by name.

A detector takes a batch of same-sized RGB frames and returns, per frame, the faces it found with a box, a
confidence and the 5 landmarks (left eye, right eye, nose, mouth left, mouth right), in frame pixels.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

import numpy as np

from swapcore.plugins import Registry


@dataclass(frozen=True)
class Detection:
    box: np.ndarray  # (4,) x1, y1, x2, y2
    score: float
    landmarks: np.ndarray  # (5, 2)


class Detector(Protocol):
    name: str

    def detect(self, frames_rgb: list[np.ndarray]) -> list[list[Detection]]: ...


_PLUGINS: Registry[Detector] = Registry("face detector")
register, create, available = _PLUGINS.register, _PLUGINS.create, _PLUGINS.available


from swapcore.faces.detectors import mtcnn  # noqa: E402,F401  (registers itself)
