"""Face tracks for analysis: detect, link and cut an aligned "head" crop of every face in every frame.

Cues work in the aligned crop, where the face sits at a fixed place whatever the head's pose or size, so
"inside the face", "the blending boundary" and "just outside it" are fixed pixel sets (see `CropGeometry`).
Crops keep a margin beyond the face so that the seam a swap leaves at its mask edge falls inside the crop.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from functools import cached_property

import cv2
import numpy as np

from swapcore.faces.align import align_face, template
from swapcore.faces.detectors import Detector
from swapcore.faces.track import CutDetector, Tracker

CROP_SIZE = 128
CENTERING = "head"


@dataclass(frozen=True)
class CropGeometry:
    """An ellipse fitted to the face template of the aligned crop, and the normalised radius of every pixel.

    rho < 1 is the face; a swap's blending edge lies at rho ~ 0.8-1.2 (face-hull masks of faceproof and of
    other tools alike); rho in [1.15, 1.5] is the ring of skin, hair and background just outside.
    """

    size: int = CROP_SIZE

    @cached_property
    def _ellipse(self) -> tuple[float, float, float, float]:
        points = template(self.size, CENTERING)
        eyes, mouth = points[:2].mean(0), points[3:].mean(0)
        eye_distance = float(np.linalg.norm(points[1] - points[0]))
        centre = eyes + 0.45 * (mouth - eyes)
        return float(centre[0]), float(centre[1]), 1.05 * eye_distance, 1.45 * eye_distance

    @cached_property
    def rho(self) -> np.ndarray:
        cx, cy, ax, ay = self._ellipse
        y, x = np.mgrid[0 : self.size, 0 : self.size].astype(np.float32)
        return np.sqrt(((x - cx) / ax) ** 2 + ((y - cy) / ay) ** 2)

    @cached_property
    def angle(self) -> np.ndarray:
        cx, cy, _, _ = self._ellipse
        y, x = np.mgrid[0 : self.size, 0 : self.size].astype(np.float32)
        return np.arctan2(y - cy, x - cx)

    @cached_property
    def inner(self) -> np.ndarray:
        return self.rho < 0.75

    @cached_property
    def ring(self) -> np.ndarray:
        return (self.rho > 1.15) & (self.rho < 1.5)

    @cached_property
    def band(self) -> np.ndarray:
        return (self.rho >= 0.75) & (self.rho <= 1.2)


GEOMETRY = CropGeometry()


@dataclass
class FaceTrack:
    """One face followed through the video: per observation its frame index, box, landmarks and crop."""

    track_id: int
    frames: list[int] = field(default_factory=list)
    boxes: list[np.ndarray] = field(default_factory=list)
    landmarks: list[np.ndarray] = field(default_factory=list)
    crops: list[np.ndarray] = field(default_factory=list)  # CROP_SIZE x CROP_SIZE BGR uint8

    def __len__(self) -> int:
        return len(self.frames)

    def add(self, frame_index: int, box: np.ndarray, landmarks: np.ndarray, crop: np.ndarray) -> None:
        self.frames.append(frame_index)
        self.boxes.append(box)
        self.landmarks.append(landmarks)
        self.crops.append(crop)

    @property
    def face_size(self) -> float:
        """Median face box side in frame pixels."""
        return float(np.median([max(b[2] - b[0], b[3] - b[1]) for b in self.boxes]))


def _batched(frames: Iterable[tuple[int, np.ndarray]], size: int) -> Iterator[list[tuple[int, np.ndarray]]]:
    batch: list[tuple[int, np.ndarray]] = []
    for item in frames:
        batch.append(item)
        if len(batch) == size:
            yield batch
            batch = []
    if batch:
        yield batch


def collect_tracks(
    frames: Iterable[tuple[int, np.ndarray]],
    detector: Detector,
    *,
    on_frame: Callable[[int, np.ndarray], None] | None = None,
    batch: int = 4,
) -> dict[int, FaceTrack]:
    """Detect faces in every (index, BGR frame), link them into tracks and cut their aligned crops.

    `on_frame` sees every frame once (the watermark test and the progress bar ride on this single decode).
    """
    tracker, cuts = Tracker(max_gap=3), CutDetector()
    tracks: dict[int, FaceTrack] = {}
    for group in _batched(frames, batch):
        detections = detector.detect([cv2.cvtColor(f, cv2.COLOR_BGR2RGB) for _, f in group])
        for (index, frame), found in zip(group, detections):
            if on_frame is not None:
                on_frame(index, frame)
            if cuts.is_cut(frame):
                tracker.cut()
            ids = tracker.update(index, [d.box for d in found], [d.landmarks for d in found])
            for track_id, det in zip(ids, found):
                crop, _ = align_face(frame, det.landmarks, CROP_SIZE, CENTERING)
                tracks.setdefault(track_id, FaceTrack(track_id)).add(index, det.box, det.landmarks, crop)
    return tracks
