"""Cue plugins: each one file, each turning a face track into per-frame feature columns.

A cue is evidence of one kind (blur, seams, flicker, temporal, frequency); the score (detector.score) weighs
them. Adding one is one file with a `register(Cue(...))` call and one import line below. Every cue also says in
one sentence what its values mean, so a report can give reasons, not just numbers.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

import numpy as np

from detector.faces import FaceTrack


@dataclass(frozen=True)
class Cue:
    name: str
    features: tuple[str, ...]
    compute: Callable[[FaceTrack], np.ndarray]  # -> (len(track), len(features)), finite
    reason: str  # one sentence, said when the cue pushes the score towards "manipulated"
    calm: str  # one sentence, said when it does not
    heatmap: Callable[[np.ndarray], np.ndarray] | None = None  # crop -> crop-sized map in [0, 1]
    needs_dense: bool = False  # reads the track's 68-point shapes (not measured on 5-point tracks)
    # Per feature: +1 where a larger value is more suspicious, -1 where a smaller one is (the evidence tails).
    directions: tuple[int, ...] | None = None
    # Names learned weights the cue reads (None: code alone): part of its cache key, and its reference values in
    # the evidence fit must come from networks that never saw the person (`detector.fit.dataset`).
    weights: Callable[[], str] | None = None

    def direction(self, feature: str) -> int:
        return (self.directions or (1,) * len(self.features))[self.features.index(feature)]


_REGISTRY: dict[str, Cue] = {}


def register(cue: Cue) -> Cue:
    _REGISTRY[cue.name] = cue
    return cue


def available() -> list[str]:
    return list(_REGISTRY)


def get(name: str) -> Cue:
    return _REGISTRY[name]


def cue_of(feature: str) -> Cue:
    return next(cue for cue in _REGISTRY.values() if feature in cue.features)


def feature_names(cues: list[str] | None = None) -> list[str]:
    return [f for name in (cues or available()) for f in _REGISTRY[name].features]


def track_features(track: FaceTrack, cues: list[str] | None = None) -> np.ndarray:
    """All cues' columns side by side: (len(track), len(feature_names(cues)))."""
    names = cues or available()
    # The cues are independent and spend their time in OpenCV and NumPy, which release the GIL.
    with ThreadPoolExecutor(max_workers=max(1, min(len(names), os.cpu_count() or 1))) as pool:
        columns = list(pool.map(lambda name: _REGISTRY[name].compute(track), names))
    for name, column in zip(names, columns):
        if not np.isfinite(column).all():  # a cue bug, not bad input: every cue promises finite values
            raise ValueError(f"cue {name!r} gave non-finite values")
    return np.concatenate(columns, axis=1).astype(np.float64)


from detector.cues import (  # noqa: E402,F401  (register themselves)
    blur, boundary, frequency, flicker, learned_blend, pose, pose_drift, seams, temporal, tone)
