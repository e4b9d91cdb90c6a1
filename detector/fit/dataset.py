"""Training/evaluation clips: a window of a real clip, as-is, self-blended or swapped by faceproof's own
pipeline, encoded at a chosen CRF, and measured.

Each clip's face track (crops, landmarks, boxes) is cached to disk once (one .npz per clip, named by its
recipe, or a .no-track note where no face could be followed); features are computed from the stored track and cached beside it under a fingerprint of the cues'
code, so a changed or new cue costs a pass over stored crops rather than a new decode and face detection, and
an interrupted run resumes. Tracks themselves depend on the face detector and the crop geometry
(`detector.faces`): after changing those, empty the cache.
"""

from __future__ import annotations

import functools
import hashlib
import inspect
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from detector import cues
from detector.analysis import MIN_TRACK_FRAMES
from detector.errors import DetectorError
from detector.faces import FaceTrack, collect_tracks
from detector.fit import swaps as swap_models
from detector.fit.selfblend import blend_frame, random_recipe
from swapcore import media
from swapcore.faces.detectors import Detector
from swapcore.faces.landmarks import Landmarker

SWAP_FAMILY = "faceproof"


class NoFaceTrack(DetectorError):
    """A clip in which no face could be followed for long enough to measure."""


def clip_key(identity: str, family: str, crf: int, described: tuple[object, ...]) -> str:
    """A clip's cache name: readable, and unique to everything that makes the clip (`described`)."""
    text = "|".join(str(part) for part in described)
    return f"{identity}-{family}-crf{crf}-{hashlib.sha1(text.encode()).hexdigest()[:10]}"


@dataclass(frozen=True)
class Unit:
    """One clip of the fitting or evaluation set."""

    identity: str
    source: Path
    start: int
    frames: int
    family: str  # "real", one of selfblend.FAMILIES, or SWAP_FAMILY
    crf: int
    seed: int
    swap: str = ""  # SWAP_FAMILY only: "<model folder>:<a2b|b2a>"

    @property
    def key(self) -> str:
        return clip_key(self.identity, self.family, self.crf,
                        (self.source.name, self.start, self.frames, self.family, self.crf, self.seed, self.swap))

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


def _blended(unit: Unit, landmarks: Landmarks, info: media.VideoInfo) -> list[np.ndarray]:
    rng = np.random.default_rng(unit.seed)
    recipe = random_recipe(unit.family, rng) if unit.family != "real" else None
    offset = recipe.source_offset if recipe else 0
    lo, hi = max(0, unit.start + min(offset, 0)), unit.start + unit.frames + max(offset, 0)
    frames = dict(media.iter_frames(unit.source, start=lo, stop=hi, info=info))
    indices = range(unit.start, unit.start + unit.frames)
    if recipe is None:
        return [frames[i] for i in indices]
    sources = {i: int(np.clip(i + offset, min(frames), max(frames))) for i in indices}
    landmarks.prefetch(unit.source, {i: frames[i] for i in {*indices, *sources.values()}})
    return [blend_frame(frames[i], landmarks.of(unit.source, i), frames[sources[i]],
                        landmarks.of(unit.source, sources[i]), recipe, rng) for i in indices]


def _swapped(unit: Unit, swaps: Path | None) -> list[np.ndarray]:
    if swaps is None:
        raise DetectorError(f"{unit.key}: a faceproof swap needs the folder of trained swap models")
    folder, _, direction = unit.swap.partition(":")
    settings = swap_models.random_settings(np.random.default_rng(unit.seed), direction)
    return list(swap_models.swapped_window(swap_models.load(swaps / folder), unit.source, unit.start, unit.frames,
                                           settings))


def write_clip(unit: Unit, target: Path, landmarks: Landmarks, swaps: Path | None = None) -> Path:
    """Encode the unit's frames (manipulated unless `real`) at its CRF into `target`."""
    info = media.probe(unit.source)
    window = _swapped(unit, swaps) if unit.family == SWAP_FAMILY else _blended(unit, landmarks, info)
    height, width = window[0].shape[:2]
    with media.VideoWriter(target, width - width % 2, height - height % 2, info.fps, crf=unit.crf) as writer:
        for frame in window:
            writer.write(np.ascontiguousarray(frame[: height - height % 2, : width - width % 2]))
    return target


def clip_track(path: Path, detector: Detector, detect_every: int = 1,
               landmarker: Landmarker | None = None) -> FaceTrack:
    """The longest face track of a clip."""
    tracks = collect_tracks(media.iter_frames(path), detector, detect_every=detect_every, landmarker=landmarker)
    longest = max(tracks.values(), key=len, default=None)
    if longest is None or len(longest) < MIN_TRACK_FRAMES:
        raise NoFaceTrack(f"{path.name}: no face track to measure")
    return longest


def save_track(track: FaceTrack, path: Path) -> None:
    np.savez_compressed(path, frames=np.array(track.frames), boxes=np.array(track.boxes),
                        landmarks=np.array(track.landmarks), crops=np.array(track.crops),
                        measured=np.array(track.measured), shapes=np.array(track.shapes))


def load_track(path: Path) -> FaceTrack:
    data = np.load(path, allow_pickle=False)
    track = FaceTrack(0)
    shapes = data["shapes"] if "shapes" in data else data["landmarks"]  # tracks cached before 68-point shapes
    for frame, box, points, crop, measured, shape in zip(data["frames"], data["boxes"], data["landmarks"],
                                                         data["crops"], data["measured"], shapes):
        track.add(int(frame), box, points, crop, bool(measured), shape)
    return track


def cached_track(unit: Unit, cache: Path, landmarks: Landmarks, detect_every: int = 1,
                 swaps: Path | None = None) -> FaceTrack:
    """The unit's face track from the cache, making and measuring its clip on a miss."""
    return cached_or_made(cache, unit.key, lambda video: write_clip(unit, video, landmarks, swaps),
                          lambda video: clip_track(video, landmarks.detector, detect_every))


def track_path(cache: Path, key: str) -> Path:
    """Where the face track of the clip cached under `key` is stored."""
    return cache / f"{key}.track.npz"


def faceless_path(cache: Path, key: str) -> Path:
    """The note that the clip cached under `key` has no face track."""
    return cache / f"{key}.no-track"


def cached_or_made(cache: Path, key: str, make: Callable[[Path], Path],
                   measure: Callable[[Path], FaceTrack]) -> FaceTrack:
    """The face track stored under `key`, or `measure(make(video))` stored now (the video deleted after).

    A clip found to have no face track is remembered too, so reruns do not make and search it again."""
    stored, faceless = track_path(cache, key), faceless_path(cache, key)
    if stored.exists():
        return load_track(stored)
    if faceless.exists():
        raise NoFaceTrack(faceless.read_text())
    video = make(cache / f"{key}.mp4")
    try:
        track = measure(video)
    except NoFaceTrack as error:
        faceless.write_text(str(error))
        raise
    finally:
        video.unlink(missing_ok=True)
    save_track(track, stored)
    return track


@functools.cache
def cue_fingerprint(name: str) -> str:
    """Names one cue and the code it runs: editing a cue invalidates its own cached features, not the tracks nor
    the other cues' features (the registry itself is not hashed: it computes nothing).

    Read once per process: every clip of a run is keyed alike even if a cue file is edited meanwhile."""
    cue = cues.get(name)
    modules = {sys.modules[cue.compute.__module__], sys.modules["detector.cues._image"],
               sys.modules["detector.cues._track"], sys.modules["detector.faces"]}
    text = "|".join(cue.features) + "".join(sorted(inspect.getsource(m) for m in modules))
    text += cue.weights() if cue.weights else ""
    return hashlib.sha1(text.encode()).hexdigest()[:10]


def feature_path(cache: Path, key: str, name: str, out_of_fold: bool = False) -> Path:
    """Where a cue's features of the clip cached under `key` are stored; `out_of_fold`: a learned cue's values
    from the network fitted without the clip's person (`scripts/fit_blendnet.py score` writes them)."""
    return cache / f"{key}.{name}-{cue_fingerprint(name)}{'.out-of-fold' if out_of_fold else ''}.npy"


def stored_features(key: str, cache: Path, track: Callable[[], FaceTrack], out_of_fold: bool = False) -> np.ndarray:
    """The features (`cues.feature_names()` order) of the clip cached under `key`: each cue's columns from the
    cache, the missing cues' computed from `track()` (called at most once) and stored.

    `out_of_fold` (the evidence fit): learned cues' columns are their out-of-fold values, never computed here,
    since the shipped network saw every reference person."""
    learned = {name for name in cues.available() if out_of_fold and cues.get(name).weights}
    paths = {name: feature_path(cache, key, name, name in learned) for name in cues.available()}
    absent = sorted(name for name in learned if not paths[name].exists())
    if absent and not faceless_path(cache, key).exists():  # a clip without a face track has no values to read
        raise FileNotFoundError(f"no out-of-fold values of the learned cue {', '.join(absent)} for clip {key}: "
                                f"run scripts/fit_blendnet.py score")
    missing = [name for name, path in paths.items() if not path.exists()]
    if missing:
        computed = cues.track_features(track(), missing)
        widths = np.cumsum([0] + [len(cues.get(name).features) for name in missing])
        for name, start, stop in zip(missing, widths[:-1], widths[1:]):
            np.save(paths[name], computed[:, start:stop])
    return np.concatenate([np.load(path) for path in paths.values()], axis=1)


def cached_features(unit: Unit, cache: Path, landmarks: Landmarks, detect_every: int = 1,
                    swaps: Path | None = None) -> np.ndarray:
    """The unit's features (`cues.feature_names()` order) from the cache, computed from its track on a miss."""
    return stored_features(unit.key, cache, lambda: cached_track(unit, cache, landmarks, detect_every, swaps))
