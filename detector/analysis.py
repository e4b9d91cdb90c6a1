"""`analyse(video)`: one decode of the video, face tracks, cue features, calibrated scores, provenance."""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import cv2
import numpy as np
import torch

from detector import cues
from detector.errors import DetectorError
from detector.faces import FaceTrack, collect_tracks
from detector.keyframes import overlay, png_data_uri
from detector.origin import WatermarkProbe, c2pa_finding, provenance_of
from detector.report import Keyframe, Report, TrackResult, reasons
from detector.evidence import BLEND, PASTE, Evidence, load_evidence
from detector.score import Calibration, load_calibration
from provenance.installation import Installation
from swapcore import media
from swapcore.faces.detectors import Detector, create
from swapcore.faces.landmarks import Landmarker
from swapcore.faces.landmarks import create as create_landmarker

Progress = Callable[[int, int], None]
MIN_TRACK_FRAMES = 3  # temporal cues need a frame on each side
MIN_FACE_PIXELS = 40  # smaller faces carry too little detail to judge (and MTCNN misses most of them)
KEYFRAMES = 2
# Face detection settings shared by analysis and fitting (landmark noise, hence the jitter cue, depends on
# them). Crops are still cut from full-resolution frames; only detection runs on the shrunk frame.
DETECTOR_OPTIONS = {"min_face": 48, "max_side": 448}
# Faces are detected on every DETECT_EVERY-th frame and interpolated between (detector.faces); the
# calibration was fitted with detection on every frame (see the README's Detector section).
DETECT_EVERY = 3
# The geometric cues (boundary seams, double edges, pose) need dlib's 68 points; "mtcnn5" is the fallback for
# uses the 68-point model's non-commercial licence rules out: those cues are then not measured.
LANDMARKER = "dlib68"


@contextmanager
def single_torch_thread() -> Iterator[None]:
    """MTCNN's small convolutions run fastest on one thread: on this 2-core machine two threads were 2-50x
    slower per frame (spin-waiting against the other cores' load). Restores the caller's setting."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(before)


def measured_cues(track: FaceTrack, calibration: Calibration, evidence: Evidence) -> list[str]:
    """The cues this track is measured with: those the fusion weighs or the evidence compares, less those needing
    68-point shapes where the track has only 5 points."""
    wanted = set(calibration.weighted_cues) | {cues.cue_of(name).name for name in evidence.channels
                                               if name not in (BLEND, PASTE)}
    return [name for name in cues.available() if name in wanted and (track.dense or not cues.get(name).needs_dense)]


def _keyframes(tails: dict[str, float], features: np.ndarray, names: list[str], logits: np.ndarray) -> np.ndarray:
    """The frames where the channel nearest to deciding the verdict is strongest (a fusion: its frame logits), so
    the pictures under the reasons show what the first reason measured."""
    leading = min(tails, key=tails.get)
    if leading in names:
        frame_values = cues.cue_of(leading).direction(leading) * features[:, names.index(leading)]
    else:
        frame_values = logits
    return np.argsort(-frame_values, kind="stable")[:KEYFRAMES]


def score_track(track: FaceTrack, calibration: Calibration, evidence: Evidence) -> TrackResult:
    """Features -> frame logits, per-channel tail probabilities among authentic faces, and keyframes."""
    used = measured_cues(track, calibration, evidence)
    names = cues.feature_names(used)
    features = cues.track_features(track, used)
    logits = calibration.frame_logits(features[:, [names.index(f) for f in calibration.features]])
    tails = evidence.tails(evidence.track_statistics(features, names, float(np.mean(logits))))
    keyframes = [Keyframe(track.frames[i], float(1 / (1 + np.exp(-logits[i]))), png_data_uri(overlay(track.crops[i], track.shapes[i])))
                 for i in sorted(_keyframes(tails, features, names, logits))]
    return TrackResult(
        track_id=track.track_id,
        frames=list(track.frames),
        frame_probabilities=[float(p) for p in 1 / (1 + np.exp(-logits))],
        probability=calibration.track_probability(logits),
        tails=tails,
        reasons=reasons(tails, evidence),
        face_size=track.face_size,
        keyframes=keyframes,
    )


def analyse(
    video: str | os.PathLike,
    progress: Progress | None = None,
    *,
    calibration: Calibration | None = None,
    evidence: Evidence | None = None,
    detector: Detector | None = None,
    landmarker: Landmarker | None = None,
    max_frames: int | None = None,
    detect_every: int = DETECT_EVERY,
    name: str | None = None,
    installation: Installation | None = None,
    history: Callable[[str], list[dict]] | None = None,
) -> Report:
    """Analyse every frame (up to `max_frames`) of `video` for signs of a face swap; provenance included.

    The report names the file `name` (as its user gave it; default the file's own name), never its path.
    Provenance is read against `installation` (its trust anchors, watermark key, registry and custody log, of
    which `history` may narrow what the reader sees); None judges the file alone.
    Faces are detected on every `detect_every`-th frame (1: every frame, as the calibration was fitted).

    Raises MediaError (a SwapcoreError) when the file is not a readable video.
    """
    if not 1 <= detect_every <= 30:
        raise DetectorError(f"detect_every must be between 1 and 30 frames, got {detect_every}")
    started = time.perf_counter()
    path = Path(video)
    info = media.probe(path)
    calibration = calibration or load_calibration()
    evidence = evidence or load_evidence(calibration)
    detector = detector or create("mtcnn", **DETECTOR_OPTIONS)
    landmarker = landmarker or create_landmarker(LANDMARKER)
    total = min(info.frame_count, max_frames) if max_frames else info.frame_count
    watermark = WatermarkProbe(installation)

    def seen(index: int, frame: np.ndarray) -> None:
        watermark.add(frame)
        if progress is not None:
            progress(min(index + 1, total), total)

    with single_torch_thread():
        tracks = collect_tracks(media.iter_frames(path, stop=max_frames, info=info), detector, on_frame=seen,
                                detect_every=detect_every, landmarker=landmarker)
    judged = [t for t in tracks.values() if len(t) >= MIN_TRACK_FRAMES and t.face_size >= MIN_FACE_PIXELS]
    results = sorted((score_track(t, calibration, evidence) for t in judged), key=lambda r: r.smallest_tail)
    provenance = provenance_of(path, c2pa_finding(path, installation), watermark.finding(), installation,
                               history=history)
    return Report.build(
        video={"name": name or path.name, "width": info.width, "height": info.height, "fps": float(info.fps),
               "frames": total, "duration": info.duration},
        provenance=provenance,
        tracks=results,
        skipped_tracks=len(tracks) - len(judged),
        calibration=calibration,
        evidence=evidence,
        seconds=time.perf_counter() - started,
    )
