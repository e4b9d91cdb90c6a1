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

from swapcore.faces.align import align_face, template, transform_points
from swapcore.faces.detectors import Detection, Detector
from swapcore.faces.landmarks import Landmarker
from swapcore.faces.track import CutDetector, Tracker
from swapcore.pipelining import read_ahead

CROP_SIZE = 256  # 512 px footage has ~200 px faces: a 128 px head crop hid mild softening (see README)
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
    """One face followed through the video: per observation its frame index, box, landmarks and crop.

    `shapes` are the face's landmarks in crop pixels: 68 points where a 68-point landmarker ran, else the 5.
    """

    track_id: int
    frames: list[int] = field(default_factory=list)
    boxes: list[np.ndarray] = field(default_factory=list)
    landmarks: list[np.ndarray] = field(default_factory=list)
    crops: list[np.ndarray] = field(default_factory=list)  # CROP_SIZE x CROP_SIZE BGR uint8
    measured: list[bool] = field(default_factory=list)  # False where box and landmarks were interpolated
    shapes: list[np.ndarray] = field(default_factory=list)

    def __len__(self) -> int:
        return len(self.frames)

    def add(self, frame_index: int, box: np.ndarray, landmarks: np.ndarray, crop: np.ndarray,
            measured: bool = True, shape: np.ndarray | None = None) -> None:
        self.frames.append(frame_index)
        self.boxes.append(box)
        self.landmarks.append(landmarks)
        self.crops.append(crop)
        self.measured.append(measured)
        self.shapes.append(np.asarray(landmarks if shape is None else shape, np.float64))

    @property
    def dense(self) -> bool:
        """True when every observation has its 68 landmarks (the geometric cues need them)."""
        return bool(self.shapes) and all(len(shape) == 68 for shape in self.shapes)

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


Faces = list[Detection]


def _centre_size(box: np.ndarray) -> tuple[np.ndarray, float]:
    return (box[:2] + box[2:]) / 2, float(max(box[2] - box[0], box[3] - box[1], 1.0))


def _pairs(before: Faces, after: Faces) -> list[tuple[Detection, Detection]] | None:
    """Each face of `after` with the face of `before` it continues, or None when some face moved too far.

    Faces between two detected frames are only interpolated when every face is still there, has moved less
    than a fifth of its size and kept its size within 20 %; otherwise the frames between are detected too.
    """
    if len(before) != len(after):
        return None
    pairs, free = [], list(before)
    for face in after:
        centre, size = _centre_size(face.box)
        match = min(free, key=lambda f: float(np.linalg.norm(_centre_size(f.box)[0] - centre)))
        old_centre, old_size = _centre_size(match.box)
        if np.linalg.norm(old_centre - centre) > 0.2 * size or not 0.8 <= size / old_size <= 1.25:
            return None
        pairs.append((match, face))
        free = [f for f in free if f is not match]  # by identity: Detection's generated __eq__ compares arrays
    return pairs


def _interpolated(pairs: list[tuple[Detection, Detection]], weight: float) -> Faces:
    return [Detection(box=(1 - weight) * a.box + weight * b.box, score=min(a.score, b.score),
                      landmarks=(1 - weight) * a.landmarks + weight * b.landmarks) for a, b in pairs]


def _detect(detector: Detector, frames: list[np.ndarray]) -> list[Faces]:
    return detector.detect([cv2.cvtColor(f, cv2.COLOR_BGR2RGB) for f in frames]) if frames else []


class _SparseDetection:
    """Detects faces on every `every`-th frame and fills the frames between by linear interpolation.

    A stretch between two detected frames is detected frame by frame instead when a shot cut falls in it or
    the faces at its ends do not continue each other (`_pairs`). `every=1` detects every frame.
    """

    def __init__(self, detector: Detector, every: int) -> None:
        self.detector, self.every = detector, every
        self.anchor: tuple[int, Faces] | None = None  # the last detected frame of the previous window

    def window(self, items: list[tuple[int, np.ndarray]], cut: list[bool]) -> list[tuple[Faces, bool]]:
        """(faces, measured) for each (index, frame) of a window; `measured` is False where interpolated."""
        keys = [p for p in range(len(items)) if (p + 1) % self.every == 0 or p == len(items) - 1
                or (p == 0 and self.anchor is None)]
        found: dict[int, tuple[Faces, bool]] = {
            p: (faces, True) for p, faces in zip(keys, _detect(self.detector, [items[p][1] for p in keys]))}
        redo: list[int] = []
        start = (-1, *self.anchor) if self.anchor is not None else None
        for key in keys:
            if start is not None and key - start[0] > 1:
                between = range(start[0] + 1, key)
                pairs = None if any(cut[p] for p in range(start[0] + 1, key + 1)) else _pairs(start[2], found[key][0])
                if pairs is None:
                    redo.extend(between)
                else:
                    span = items[key][0] - start[1]
                    found.update({p: (_interpolated(pairs, (items[p][0] - start[1]) / span), False) for p in between})
            start = (key, items[key][0], found[key][0])
        found.update({p: (faces, True) for p, faces in zip(redo, _detect(self.detector, [items[p][1] for p in redo]))})
        self.anchor = (items[keys[-1]][0], found[keys[-1]][0])
        return [found[p] for p in range(len(items))]




def _detected_groups(frames: Iterable[tuple[int, np.ndarray]], sparse: _SparseDetection,
                     size: int) -> Iterator[tuple[list[tuple[int, np.ndarray]], list[bool], list[tuple[Faces, bool]]]]:
    """(frames, shot-cut flags, (faces, measured) per frame) for consecutive groups of `size` frames."""
    cuts = CutDetector()
    for group in _batched(frames, size):
        cut = [cuts.is_cut(frame) for _, frame in group]
        yield group, cut, sparse.window(group, cut)


def _shapes(landmarker: Landmarker | None, frame_bgr: np.ndarray, faces: Faces) -> list[np.ndarray]:
    """Each face's landmarks in frame pixels: the landmarker's where there is one, else the detector's 5."""
    if landmarker is None or not faces:
        return [face.landmarks for face in faces]
    return [shape.points for shape in landmarker.locate(cv2.cvtColor(frame_bgr, cv2.COLOR_BGR2RGB), faces)]


def collect_tracks(
    frames: Iterable[tuple[int, np.ndarray]],
    detector: Detector,
    *,
    on_frame: Callable[[int, np.ndarray], None] | None = None,
    batch: int = 4,
    detect_every: int = 1,
    landmarker: Landmarker | None = None,
) -> dict[int, FaceTrack]:
    """Detect faces in (index, BGR frame)s, link them into tracks and cut their aligned crops.

    Faces are detected on every `detect_every`-th frame (and interpolated between, see `_SparseDetection`);
    each observation records whether its landmarks were measured. `on_frame` sees every frame once (the
    watermark test and the progress bar ride on this single decode). Decoding and detection run a little ahead
    on a worker thread (`swapcore.pipelining.read_ahead`). A `landmarker` (e.g. dlib68) adds each face's dense landmarks, in crop
    pixels, as the track's `shapes`; the crop itself stays aligned on the detector's 5 points.
    """
    tracker = Tracker(max_gap=3)
    groups = _detected_groups(frames, _SparseDetection(detector, detect_every), batch * detect_every)
    tracks: dict[int, FaceTrack] = {}
    for group, cut, found_per_frame in read_ahead(groups, name="faceproof-detect"):
        for (index, frame), (found, measured), is_cut in zip(group, found_per_frame, cut):
            if on_frame is not None:
                on_frame(index, frame)
            if is_cut:
                tracker.cut()
            ids = tracker.update(index, [d.box for d in found], [d.landmarks for d in found])
            shapes = _shapes(landmarker, frame, found)
            for track_id, det, shape in zip(ids, found, shapes):
                crop, matrix = align_face(frame, det.landmarks, CROP_SIZE, CENTERING)
                tracks.setdefault(track_id, FaceTrack(track_id)).add(
                    index, det.box, det.landmarks, crop, measured, transform_points(shape, matrix))
    return tracks
