"""The wide authentic reference and the cross-identity paste benchmark, measured the way `analyse` measures.

Reference (calibrates each cue's tail and the false-alarm budget): every real person of the shared data (the
fit and evaluation people of `detector.fit.evaluation` and the 22 people of `wild/`), up to two windows of
`FRAMES` frames each, re-encoded at H.264 CRF 18, 23, 28 and 35 at full size, and at CRF 23 and 35 at half
size. Pastes (`detector.fit.pastes`): one window of every person with another person of the same group pasted
on, every paste family, at CRF 23 and 35 (wild people at CRF 23).

Clips are measured like `analyse` (faces detected every `DETECT_EVERY` frames, 68-point shapes from dlib68);
each clip's longest face track is cached (`.track.npz`, or a `.no-track` note) and its features beside it
under the cues' fingerprint, so the cues can change and be re-measured from stored crops in minutes:

    .venv/bin/python -m detector.fit.reference [--data ../shared/data] [--cache DIR]
"""

from __future__ import annotations

import argparse
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np
from tqdm import tqdm

from detector.analysis import DETECT_EVERY, DETECTOR_OPTIONS, LANDMARKER, single_torch_thread
from detector.faces import FaceTrack
from detector.fit import DEFAULT_CACHE
from detector.fit.dataset import NoFaceTrack, cached_or_made, clip_key, clip_track, stored_features
from detector.fit.evaluation import EVAL, FIT, windows
from detector.fit.pastes import FAMILIES, paste_frame
from swapcore import media
from swapcore.faces.detectors import Detector, create
from swapcore.faces.landmarks import Landmarker
from swapcore.faces.landmarks import create as create_landmarker

WILD = {f"w{n:02d}": [f"wild/w{n:02d}.mp4"] for n in range(1, 23)}
FRAMES = 64
REFERENCE_CONDITIONS = ((18, 1.0), (23, 1.0), (28, 1.0), (35, 1.0), (23, 0.5), (35, 0.5))  # (CRF, scale)
PASTE_CRFS = {"fit": (23, 35), "eval": (23, 35), "wild": (23,)}


@dataclass(frozen=True)
class Clip:
    """One reference or paste clip: a window of a real clip, as it is or with a donor's face pasted on."""

    identity: str
    group: str  # "fit", "eval" or "wild": where the person comes from
    source: Path
    start: int
    family: str  # "real" or a paste family
    crf: int
    scale: float = 1.0
    donor: Path | None = None
    donor_start: int = 0

    @property
    def key(self) -> str:
        return clip_key(self.identity, self.family, self.crf, (self.source.name, self.start, FRAMES, self.family,
                                                               self.crf, self.scale, self.donor, self.donor_start))

    @property
    def label(self) -> int:
        return int(self.family != "real")


def reference_clips(data: Path) -> list[Clip]:
    out = []
    for group, people in (("fit", FIT), ("eval", EVAL), ("wild", WILD)):
        for identity, clips in people.items():
            for source, start in windows(data, clips, FRAMES, 2):
                out += [Clip(identity, group, source, start, "real", crf, scale) for crf, scale in REFERENCE_CONDITIONS]
    return out


def paste_clips(data: Path) -> list[Clip]:
    out = []
    for group, people in (("fit", FIT), ("eval", EVAL), ("wild", WILD)):
        names = list(people)
        for number, identity in enumerate(names):
            found = windows(data, people[identity], FRAMES, 1)
            donor = windows(data, people[names[(number + 1) % len(names)]], FRAMES, 1)
            if not found or not donor:
                continue
            (source, start), (donor_source, donor_start) = found[0], donor[0]
            out += [Clip(identity, group, source, start, family, crf, 1.0, donor_source, donor_start)
                    for family in FAMILIES for crf in PASTE_CRFS[group]]
    return out


class Shapes:
    """68-point landmarks of the largest face of source frames, found once per (clip, frame)."""

    def __init__(self, detector: Detector, landmarker: Landmarker) -> None:
        self.detector, self.landmarker = detector, landmarker
        self._known: dict[tuple[str, int], np.ndarray | None] = {}

    def of(self, source: Path, index: int, frame: np.ndarray) -> np.ndarray | None:
        key = (str(source), index)
        if key not in self._known:
            rgb = cv2.cvtColor(frame, cv2.COLOR_BGR2RGB)
            faces = self.detector.detect([rgb])[0]
            largest = max(faces, key=lambda d: (d.box[2] - d.box[0]) * (d.box[3] - d.box[1]), default=None)
            self._known[key] = None if largest is None else self.landmarker.locate(rgb, [largest])[0].points
        return self._known[key]


def _frames(source: Path, start: int) -> list[np.ndarray]:
    return [frame for _, frame in media.iter_frames(source, start=start, stop=start + FRAMES)]


def clip_frames(clip: Clip, shapes: Shapes) -> list[np.ndarray]:
    """The clip's frames before encoding: the window, pasted where a face was found in both, then scaled."""
    frames = _frames(clip.source, clip.start)
    if clip.donor is not None:
        donors = _frames(clip.donor, clip.donor_start)
        rng = np.random.default_rng(int(clip.key[-10:], 16))
        for i, (frame, donor) in enumerate(zip(frames, donors)):
            target68 = shapes.of(clip.source, clip.start + i, frame)
            donor68 = shapes.of(clip.donor, clip.donor_start + i, donor)
            if target68 is not None and donor68 is not None:
                frames[i] = paste_frame(frame, target68, donor, donor68, clip.family, rng)
    if clip.scale != 1.0:
        frames = [cv2.resize(f, None, fx=clip.scale, fy=clip.scale, interpolation=cv2.INTER_AREA) for f in frames]
    return frames


def write(clip: Clip, target: Path, shapes: Shapes) -> Path:
    frames = clip_frames(clip, shapes)
    height, width = (d - d % 2 for d in frames[0].shape[:2])
    fps = media.probe(clip.source).fps
    with media.VideoWriter(target, width, height, fps, crf=clip.crf) as writer:
        for frame in frames:
            writer.write(np.ascontiguousarray(frame[:height, :width]))
    return target


def cached_track(clip: Clip, cache: Path, shapes: Shapes) -> FaceTrack:
    """The clip's longest face track, measured as `analyse` measures, from the cache or made now."""
    return cached_or_made(cache, clip.key, lambda video: write(clip, video, shapes),
                          lambda video: clip_track(video, shapes.detector, DETECT_EVERY, shapes.landmarker))


def measured(clips: list[Clip], cache: Path, out_of_fold: bool = True) -> list[tuple[Clip, np.ndarray]]:
    """Each clip with a measurable face track and its features (`cues.feature_names()` order), made and cached
    where missing; tracks are read one at a time (their crops do not fit in memory together). Learned cues give
    their out-of-fold values (`out_of_fold`, for the evidence) or the shipped network's."""
    cache.mkdir(parents=True, exist_ok=True)
    shapes = Shapes(create("mtcnn", **DETECTOR_OPTIONS), create_landmarker(LANDMARKER))
    out = []
    with single_torch_thread():
        for clip in tqdm(clips, desc="clips", unit="clip", mininterval=10):
            try:
                out.append((clip, stored_features(clip.key, cache, lambda: cached_track(clip, cache, shapes),
                                                  out_of_fold=out_of_fold)))
            except NoFaceTrack:
                continue
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--data", type=Path, default=Path(__file__).resolve().parents[3] / "shared" / "data")
    parser.add_argument("--cache", type=Path, default=DEFAULT_CACHE)
    args = parser.parse_args()
    for name, clips in (("reference", reference_clips(args.data)), ("pastes", paste_clips(args.data))):
        print(f"{name}: {len(measured(clips, args.cache, out_of_fold=False))} of {len(clips)} clips have a face track")


if __name__ == "__main__":
    main()
