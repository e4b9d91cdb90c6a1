"""Temporal smoothing of the aligned transform, so the pasted face does not jitter, and gap filling.

A face's similarity transform is held as a pose: crop centre in frame pixels, log scale and angle. A One-Euro
filter (Casiez et al., CHI 2012) smooths the pose: a low cut-off while the head is still (kills landmark
noise), rising with speed (no lag on real motion). Unreliable detections (low score, or a jump no head makes
in one frame) are dropped, and frames without a reliable face are filled by interpolating the pose between
their neighbours, within `max_gap` frames; beyond that the frames pass through untouched rather than flash.

`TrackSmoother` works on a stream: it holds back at most `max_gap` frames while it waits for the next
reliable face.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Generic, TypeVar

import numpy as np

from swapcore.errors import SwapcoreError
from swapcore.faces.align import alignment_matrix, template, transform_points

Item = TypeVar("Item")

MIN_SCORE = 0.9  # detector confidence below this is not trusted
MAX_JUMP = 0.12  # crop sizes the centre may move per frame (4x a fast head turn at 30 fps); also max log-scale change
_BETA = 1.5  # One-Euro speed coefficient, per (face sizes per second)
_DERIVATIVE_CUTOFF = 1.0  # Hz


@dataclass(frozen=True)
class Observation:
    """One detected face: 5 landmarks in frame pixels, the detector's confidence, and the 68 points if known."""

    landmarks: np.ndarray
    score: float
    dense: np.ndarray | None = None  # 68 x 2 frame pixels (iBUG layout); None when only the 5 are known


@dataclass(frozen=True)
class Placement:
    """Where the face goes in one frame: frame->crop affine, and the crop landmarks when it was observed."""

    matrix: np.ndarray  # 2x3, frame pixels -> crop pixels
    landmarks: np.ndarray  # 5 x 2 in crop pixels (the template's when interpolated)
    interpolated: bool
    dense: np.ndarray | None = None  # 68 x 2 in crop pixels (the last observed face's when interpolated)


def fit(landmarks: np.ndarray, size: int, centering: str, dense: np.ndarray | None = None,
        alignment: str = "5") -> np.ndarray:
    """The frame->crop similarity for a model's crop size, centering and alignment (the same fit as training's)."""
    return alignment_matrix(landmarks, dense, size, centering, alignment)


def pose_of(matrix: np.ndarray, size: int) -> np.ndarray:
    """(centre x, centre y, log scale, angle) of a frame->crop similarity; scale is frame px per crop px."""
    a, b = matrix[0, 0], matrix[1, 0]
    scale = 1.0 / math.hypot(a, b)  # the inverse transform's scale
    angle = -math.atan2(b, a)
    linear_inverse = np.linalg.inv(matrix[:, :2])
    centre = linear_inverse @ (np.array([size / 2, size / 2]) - matrix[:, 2])
    return np.array([centre[0], centre[1], math.log(scale), angle])


def matrix_of(pose: np.ndarray, size: int) -> np.ndarray:
    """The frame->crop similarity for a pose (the inverse of `pose_of`)."""
    cx, cy, log_scale, angle = pose
    zoom = math.exp(-log_scale)
    cos, sin = zoom * math.cos(-angle), zoom * math.sin(-angle)
    linear = np.array([[cos, -sin], [sin, cos]])
    offset = np.array([size / 2, size / 2]) - linear @ np.array([cx, cy])
    return np.hstack([linear, offset[:, None]])


def _alpha(cutoff: np.ndarray | float, dt: float) -> np.ndarray | float:
    tau = 1.0 / (2 * math.pi * cutoff)
    return 1.0 / (1.0 + tau / dt)


class OneEuro:
    """The One-Euro low-pass filter on a vector, with a speed-adaptive cut-off."""

    def __init__(self, min_cutoff: float, beta: float, derivative_cutoff: float = _DERIVATIVE_CUTOFF) -> None:
        self.min_cutoff, self.beta, self.derivative_cutoff = min_cutoff, beta, derivative_cutoff
        self.value: np.ndarray | None = None
        self.speed: np.ndarray | None = None

    def __call__(self, value: np.ndarray, dt: float) -> np.ndarray:
        if self.value is None:
            self.value, self.speed = value.copy(), np.zeros_like(value)
            return value.copy()
        speed = (value - self.value) / dt
        self.speed = self.speed + _alpha(self.derivative_cutoff, dt) * (speed - self.speed)
        cutoff = self.min_cutoff + self.beta * np.abs(self.speed)
        self.value = self.value + _alpha(cutoff, dt) * (value - self.value)
        return self.value.copy()


def min_cutoff_for(strength: float) -> float:
    """Smoothing strength in (0, 1] -> the filter's resting cut-off in Hz: 0.5 -> 1 Hz, 1 -> 0.1 Hz."""
    return 10.0 ** (1.0 - 2.0 * strength)


class _PoseFilter:
    """One-Euro on a pose, in face-size units so one setting fits every resolution."""

    def __init__(self, strength: float, fps: float, size: int) -> None:
        self.strength, self.dt, self.size = strength, 1.0 / fps, size
        self.filter: OneEuro | None = None
        self.unit = 1.0

    def reset(self) -> None:
        self.filter = None

    def __call__(self, pose: np.ndarray) -> np.ndarray:
        if self.strength <= 0:
            return pose
        if self.filter is None:
            self.filter = OneEuro(min_cutoff_for(self.strength), _BETA)
            self.unit = math.exp(pose[2]) * self.size  # face size in frame pixels
        scaled = pose / np.array([self.unit, self.unit, 1.0, 1.0])
        return self.filter(scaled, self.dt) * np.array([self.unit, self.unit, 1.0, 1.0])


class TrackSmoother(Generic[Item]):
    """Turns a stream of (item, observation or None) into (item, placement or None), in order.

    `item` is carried through untouched (the pipeline passes the frame). Call `push` per frame and `flush` at
    the end; each returns the items that are ready.
    """

    def __init__(self, size: int, centering: str, fps: float, strength: float, max_gap: int,
                 min_score: float = MIN_SCORE, alignment: str = "5") -> None:
        if not 0.0 <= strength <= 1.0:
            raise SwapcoreError(f"--smooth must be between 0 and 1, got {strength}")
        self.size, self.centering, self.max_gap, self.min_score = size, centering, max_gap, min_score
        self.alignment = alignment  # the model's: "68" fits the 68 points where a face has them
        self.filter = _PoseFilter(strength, fps, size)
        self.template = template(size, centering)
        self.pending: list[Item] = []
        self.last: np.ndarray | None = None  # raw pose of the last reliable face
        self.last_dense: np.ndarray | None = None  # its 68 crop points: a bridged frame's mask keeps their shape

    def push(self, item: Item, observation: Observation | None) -> list[tuple[Item, Placement | None]]:
        pose = self._reliable_pose(observation)
        if pose is None:
            self.pending.append(item)
            if len(self.pending) > self.max_gap:  # too long to bridge: let these frames pass through
                return self._give_up()
            return []
        ready = self._bridge(pose)
        self.last = pose
        matrix = matrix_of(self.filter(pose), self.size)
        crop_landmarks = transform_points(observation.landmarks, matrix)
        dense = None if observation.dense is None else transform_points(observation.dense, matrix)
        self.last_dense = dense
        return [*ready, (item, Placement(matrix, crop_landmarks, interpolated=False, dense=dense))]

    def flush(self) -> list[tuple[Item, Placement | None]]:
        return self._give_up()

    def _give_up(self) -> list[tuple[Item, Placement | None]]:
        ready = [(item, None) for item in self.pending]
        self.pending, self.last, self.last_dense = [], None, None
        self.filter.reset()
        return ready

    def _reliable_pose(self, observation: Observation | None) -> np.ndarray | None:
        if observation is None or observation.score < self.min_score:
            return None
        matrix = fit(observation.landmarks, self.size, self.centering, observation.dense, self.alignment)
        pose = pose_of(matrix, self.size)
        if self.last is not None:
            frames = len(self.pending) + 1
            face = math.exp(self.last[2]) * self.size
            moved = math.hypot(*(pose[:2] - self.last[:2])) / face
            if moved > MAX_JUMP * frames or abs(pose[2] - self.last[2]) > MAX_JUMP * frames:
                return None
        return pose

    def _bridge(self, pose: np.ndarray) -> list[tuple[Item, Placement | None]]:
        """Fill the frames since the last reliable face by interpolating the pose (or pass them through)."""
        if self.last is None:
            return self._give_up()
        steps = len(self.pending) + 1
        ready = []
        for k, item in enumerate(self.pending, start=1):
            between = self.last + (pose - self.last) * (k / steps)
            matrix = matrix_of(self.filter(between), self.size)
            ready.append((item, Placement(matrix, self.template, True, self.last_dense)))
        self.pending = []
        return ready


def smooth(stream: Iterator[tuple[Item, Observation | None]], smoother: TrackSmoother[Item]
           ) -> Iterator[tuple[Item, Placement | None]]:
    """Run a whole stream through a smoother."""
    for item, observation in stream:
        yield from smoother.push(item, observation)
    yield from smoother.flush()
