"""Link detections across frames into tracks: box overlap plus landmark distance, reset on scene cuts.

Identity embeddings are too slow to compute for every face on a CPU (~0.1 s each), so tracks are built from
geometry and a cheap colour-histogram cut detector; identity is then judged per track (see extract).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import cv2
import numpy as np
from scipy.optimize import linear_sum_assignment

_NO_MATCH = 1e6


def iou(a: np.ndarray, b: np.ndarray) -> float:
    x1, y1 = max(a[0], b[0]), max(a[1], b[1])
    x2, y2 = min(a[2], b[2]), min(a[3], b[3])
    inter = max(0.0, x2 - x1) * max(0.0, y2 - y1)
    union = (a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter
    return float(inter / union) if union > 0 else 0.0


def landmark_distance(a: np.ndarray, b: np.ndarray) -> float:
    """Mean landmark displacement in units of the first face's eye distance."""
    scale = max(float(np.linalg.norm(a[1] - a[0])), 1.0)
    return float(np.linalg.norm(a - b, axis=1).mean() / scale)


@dataclass
class _Track:
    track_id: int
    box: np.ndarray
    landmarks: np.ndarray
    last_frame: int


@dataclass
class Tracker:
    """Online tracker. `max_gap` is how many frames a track may go unseen before a new face starts a new one."""

    max_gap: int
    min_iou: float = 0.1
    max_landmark_distance: float = 1.0
    _active: list[_Track] = field(default_factory=list)
    _next_id: int = 0

    def cut(self) -> None:
        """A scene cut: no face after it continues a track from before it."""
        self._active.clear()

    def update(self, frame_index: int, boxes: list[np.ndarray], landmarks: list[np.ndarray]) -> list[int]:
        self._active = [t for t in self._active if frame_index - t.last_frame <= self.max_gap]
        ids = [-1] * len(boxes)
        if self._active and boxes:
            cost = np.array([[self._cost(t, b, lm) for b, lm in zip(boxes, landmarks)] for t in self._active])
            for row, col in zip(*linear_sum_assignment(cost)):
                if cost[row, col] < _NO_MATCH:
                    track = self._active[row]
                    track.box, track.landmarks, track.last_frame = boxes[col], landmarks[col], frame_index
                    ids[col] = track.track_id
        for col, track_id in enumerate(ids):
            if track_id == -1:
                ids[col] = self._start(frame_index, boxes[col], landmarks[col])
        return ids

    def _cost(self, track: _Track, box: np.ndarray, landmarks: np.ndarray) -> float:
        overlap = iou(track.box, box)
        moved = landmark_distance(track.landmarks, landmarks)
        if overlap < self.min_iou or moved > self.max_landmark_distance:
            return _NO_MATCH
        return (1.0 - overlap) + moved

    def _start(self, frame_index: int, box: np.ndarray, landmarks: np.ndarray) -> int:
        track = _Track(self._next_id, box, landmarks, frame_index)
        self._next_id += 1
        self._active.append(track)
        return track.track_id


class CutDetector:
    """Flags hard scene cuts by the Bhattacharyya distance between consecutive frames' HSV histograms."""

    def __init__(self, threshold: float = 0.5) -> None:
        self.threshold = threshold
        self._previous: np.ndarray | None = None

    def is_cut(self, frame_bgr: np.ndarray) -> bool:
        small = cv2.resize(frame_bgr, (160, 90), interpolation=cv2.INTER_AREA)
        hsv = cv2.cvtColor(small, cv2.COLOR_BGR2HSV)
        hist = cv2.calcHist([hsv], [0, 1], None, [32, 16], [0, 180, 0, 256])
        cv2.normalize(hist, hist)
        previous, self._previous = self._previous, hist
        if previous is None:
            return False
        return cv2.compareHist(previous, hist, cv2.HISTCMP_BHATTACHARYYA) > self.threshold
