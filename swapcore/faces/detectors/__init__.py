"""Face detector plugins, Faceswap-style: one small class per file, registered by name.

A detector takes a batch of same-sized RGB frames and returns, per frame, the faces it found with a box, a
confidence and the 5 landmarks (left eye, right eye, nose, mouth left, mouth right), in frame pixels.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol

import numpy as np

from swapcore.errors import SwapcoreError


@dataclass(frozen=True)
class Detection:
    box: np.ndarray  # (4,) x1, y1, x2, y2
    score: float
    landmarks: np.ndarray  # (5, 2)


class Detector(Protocol):
    name: str

    def detect(self, frames_rgb: list[np.ndarray]) -> list[list[Detection]]: ...


_REGISTRY: dict[str, Callable[..., Detector]] = {}


def register(name: str) -> Callable[[Callable[..., Detector]], Callable[..., Detector]]:
    def add(factory: Callable[..., Detector]) -> Callable[..., Detector]:
        _REGISTRY[name] = factory
        return factory

    return add


def create(name: str, **options) -> Detector:
    if name not in _REGISTRY:
        raise SwapcoreError(f"unknown face detector {name!r}; available: {', '.join(sorted(_REGISTRY))}")
    return _REGISTRY[name](**options)


def available() -> list[str]:
    return sorted(_REGISTRY)


from swapcore.faces.detectors import mtcnn  # noqa: E402,F401  (registers itself)
