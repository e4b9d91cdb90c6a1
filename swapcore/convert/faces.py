"""Where the face to swap is in each frame: from an alignments file that matches the video, or detected now.

Either way the result is one `Observation` (or None) per frame, for one person: the chosen track of the
alignments file, or, when detecting on the fly, the person first seen as the largest face, followed by the
extraction stage's tracker.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import cv2
import numpy as np

from swapcore import alignments as alignments_file
from swapcore.convert.smoothing import Observation
from swapcore.errors import SwapcoreError
from provenance.custody.log import sha256_file
from swapcore.faces.detectors import create
from swapcore.faces.track import Tracker

Frames = Iterator[tuple[int, np.ndarray]]
DETECT_MIN_CONFIDENCE = 0.7  # detections kept for the smoother, which itself trusts only >= MIN_SCORE


def from_alignments(path: str | os.PathLike, target: Path, track: int | None) -> dict[int, Observation]:
    """The chosen track's faces, by frame index, from an alignments file made from this very video."""
    loaded = alignments_file.load(path)
    if loaded.source.get("sha256") != sha256_file(target):
        raise SwapcoreError(
            f"the alignments file {path} was made from {loaded.source.get('name', 'another file')}, not from "
            f"{target.name} (content differs): extract {target.name} again, or convert without --alignments"
        )
    chosen = 0 if track is None else track
    faces = {frame.index: face for frame, face in loaded.faces(kept_only=False) if face.track == chosen}
    if not faces:
        known = ", ".join(sorted(loaded.tracks)) or "none"
        raise SwapcoreError(f"track {chosen} has no faces in {path} (tracks: {known})")
    return {index: Observation(np.asarray(face.landmarks, np.float64), face.score,
                               None if face.landmarks68 is None else np.asarray(face.landmarks68, np.float64))
            for index, face in faces.items()}


def observe_alignments(frames: Frames, faces: dict[int, Observation]) -> Iterator[tuple[tuple[int, np.ndarray], Observation | None]]:
    for index, frame in frames:
        yield (index, frame), faces.get(index)


class _Follower:
    """Keeps to one person across frames: the largest face at first sight, then its geometric track."""

    def __init__(self, max_gap: int) -> None:
        self.tracker = Tracker(max_gap=max_gap)
        self.max_gap = max_gap
        self.chosen: int | None = None
        self.seen = 0  # frame index where the chosen person was last seen

    def pick(self, index: int, boxes: list[np.ndarray], landmarks: list[np.ndarray]) -> int | None:
        ids = self.tracker.update(index, boxes, landmarks)
        if self.chosen in ids:
            self.seen = index
            return ids.index(self.chosen)
        if not boxes or (self.chosen is not None and index - self.seen <= self.max_gap):
            return None  # nobody here, or our person is only briefly unseen: do not jump to someone else
        largest = int(np.argmax([(b[2] - b[0]) * (b[3] - b[1]) for b in boxes]))
        self.chosen, self.seen = ids[largest], index
        return largest


def observe_detected(frames: Frames, device: str | None, max_gap: int
                     ) -> Iterator[tuple[tuple[int, np.ndarray], Observation | None]]:
    """Detect faces frame by frame (MTCNN, batch 1: fastest on a CPU) and follow one person."""
    detector = create("mtcnn", device=device, min_confidence=DETECT_MIN_CONFIDENCE)
    follower = _Follower(max_gap)
    for index, frame in frames:
        found = detector.detect([cv2.cvtColor(frame, cv2.COLOR_BGR2RGB)])[0]
        pick = follower.pick(index, [d.box for d in found], [d.landmarks for d in found])
        yield (index, frame), None if pick is None else Observation(found[pick].landmarks, found[pick].score)
