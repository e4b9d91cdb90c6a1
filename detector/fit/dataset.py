"""Training/evaluation clips: a window of a real clip, as-is or self-blended, encoded at a chosen CRF.

Features of each clip are cached to disk (one .npz per clip, named by its recipe), so a refit or an ablation
costs seconds, and an interrupted run resumes where it stopped.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from detector import cues
from detector.analyse import MIN_TRACK_FRAMES
from detector.errors import DetectorError
from detector.faces import collect_tracks
from detector.fit.selfblend import blend_frame, random_recipe
from swapcore import media
from swapcore.faces.detectors import Detector



@dataclass(frozen=True)
class Unit:
    """One clip of the fitting or evaluation set."""

    identity: str
    source: Path
    start: int
    frames: int
    family: str  # "real" or one of selfblend.FAMILIES
    crf: int
    seed: int

    @property
    def key(self) -> str:
        text = f"{self.source.name}|{self.start}|{self.frames}|{self.family}|{self.crf}|{self.seed}"
        return f"{self.identity}-{self.family}-crf{self.crf}-{hashlib.sha1(text.encode()).hexdigest()[:10]}"

    @property
    def label(self) -> int:
        return int(self.family != "real")


class Landmarks:
    """Largest-face landmarks of source frames, detected once per (clip, frame) however many recipes use it."""

    def __init__(self, detector: Detector) -> None:
        self.detector = detector
        self._known: dict[tuple[str, int], np.ndarray] = {}

    def of(self, source: Path, index: int) -> np.ndarray:
        return self._known[(str(source), index)]

    def prefetch(self, source: Path, frames: dict[int, np.ndarray], batch: int = 4) -> None:
        """Detect the frames not yet known, in batches (MTCNN is several times faster per frame batched)."""
        todo = [i for i in sorted(frames) if (str(source), i) not in self._known]
        for lo in range(0, len(todo), batch):
            group = todo[lo : lo + batch]
            found = self.detector.detect([cv2.cvtColor(frames[i], cv2.COLOR_BGR2RGB) for i in group])
            for index, faces in zip(group, found):
                if not faces:
                    raise DetectorError(f"{source.name}: no face in frame {index}, chosen for blending")
                self._known[(str(source), index)] = max(faces, key=lambda d: (d.box[2] - d.box[0]) * (d.box[3] - d.box[1])).landmarks


def write_clip(unit: Unit, target: Path, landmarks: Landmarks) -> Path:
    """Encode the unit's frames (manipulated unless `real`) at its CRF into `target`."""
    info = media.probe(unit.source)
    rng = np.random.default_rng(unit.seed)
    recipe = random_recipe(unit.family, rng) if unit.family != "real" else None
    offset = recipe.source_offset if recipe else 0
    lo, hi = max(0, unit.start + min(offset, 0)), unit.start + unit.frames + max(offset, 0)
    frames = dict(media.iter_frames(unit.source, start=lo, stop=hi, info=info))
    indices = range(unit.start, unit.start + unit.frames)
    window = [frames[i] for i in indices]
    if recipe is not None:
        sources = {i: int(np.clip(i + offset, min(frames), max(frames))) for i in indices}
        landmarks.prefetch(unit.source, {i: frames[i] for i in {*indices, *sources.values()}})
        window = [blend_frame(frames[i], landmarks.of(unit.source, i), frames[sources[i]],
                              landmarks.of(unit.source, sources[i]), recipe, rng) for i in indices]
    height, width = window[0].shape[:2]
    with media.VideoWriter(target, width - width % 2, height - height % 2, info.fps, crf=unit.crf) as writer:
        for frame in window:
            writer.write(np.ascontiguousarray(frame[: height - height % 2, : width - width % 2]))
    return target


def clip_features(path: Path, detector: Detector, detect_every: int = 1) -> np.ndarray:
    """Per-frame features of the longest face track of a clip (all cues, `cues.feature_names()` order)."""
    tracks = collect_tracks(media.iter_frames(path), detector, detect_every=detect_every)
    longest = max(tracks.values(), key=len, default=None)
    if longest is None or len(longest) < MIN_TRACK_FRAMES:
        raise DetectorError(f"{path.name}: no face track to measure")
    return cues.track_features(longest)


def cached_features(unit: Unit, cache: Path, landmarks: Landmarks, detect_every: int = 1) -> np.ndarray:
    """The unit's features from the cache, computing (and caching) them on a miss."""
    stored = cache / f"{unit.key}.npz"
    if stored.exists():
        data = np.load(stored, allow_pickle=False)
        if list(data["names"]) == cues.feature_names():
            return data["features"]
    clip = write_clip(unit, cache / f"{unit.key}.mp4", landmarks)
    try:
        features = clip_features(clip, landmarks.detector, detect_every)
    finally:
        clip.unlink(missing_ok=True)
    np.savez(stored, features=features, names=np.array(cues.feature_names()))
    return features
