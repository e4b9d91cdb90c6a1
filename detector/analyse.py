"""`analyse(video)`: one decode of the video, face tracks, cue features, calibrated scores, provenance."""

from __future__ import annotations

import base64
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
from detector.origin import WatermarkProbe, c2pa_finding, provenance_of
from detector.report import Keyframe, Report, TrackResult
from detector.score import Calibration, load_calibration
from swapcore import media
from swapcore.faces.detectors import Detector, create

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


def overlay(crop_bgr: np.ndarray) -> np.ndarray:
    """The crop beside itself with the blur and seam heatmaps laid over it, enlarged to 2 x 192 px."""
    heat = np.maximum(*(cues.get(name).heatmap(crop_bgr) for name in ("blur", "seams")))
    coloured = cv2.applyColorMap((heat * 255).astype(np.uint8), cv2.COLORMAP_INFERNO)
    alpha = (0.65 * heat)[..., None]
    mixed = (crop_bgr * (1 - alpha) + coloured * alpha).astype(np.uint8)
    pair = np.concatenate([crop_bgr, mixed], axis=1)
    return cv2.resize(pair, (384, 192), interpolation=cv2.INTER_CUBIC)


def png_data_uri(image_bgr: np.ndarray) -> str:
    ok, encoded = cv2.imencode(".png", image_bgr)
    if not ok:
        raise DetectorError("could not encode a keyframe image")
    return "data:image/png;base64," + base64.b64encode(encoded.tobytes()).decode("ascii")


def score_track(track: FaceTrack, calibration: Calibration) -> TrackResult:
    """Features -> frame logits -> track probability, per-cue contributions and the most suspicious frames."""
    used = calibration.weighted_cues  # cues the calibration gives no weight are not measured
    names = cues.feature_names(used)
    features = cues.track_features(track, used)[:, [names.index(f) for f in calibration.features]]
    logits = calibration.frame_logits(features)
    worst = np.argsort(-logits)[:KEYFRAMES]
    keyframes = [Keyframe(track.frames[i], float(1 / (1 + np.exp(-logits[i]))), png_data_uri(overlay(track.crops[i])))
                 for i in sorted(worst)]
    return TrackResult(
        track_id=track.track_id,
        frames=list(track.frames),
        frame_probabilities=[float(p) for p in calibration.frame_probabilities(features)],
        probability=calibration.track_probability(logits),
        contributions=calibration.contributions(features),
        face_size=track.face_size,
        keyframes=keyframes,
    )


def analyse(
    video: str | os.PathLike,
    progress: Progress | None = None,
    *,
    calibration: Calibration | None = None,
    detector: Detector | None = None,
    max_frames: int | None = None,
    detect_every: int = DETECT_EVERY,
    name: str | None = None,
    history: Callable[[str], list[dict]] | None = None,
) -> Report:
    """Analyse every frame (up to `max_frames`) of `video` for signs of a face swap; provenance included.

    The report names the file `name` (as its user gave it; default the file's own name), never its path.
    Faces are detected on every `detect_every`-th frame (1: every frame, as the calibration was fitted).

    Raises MediaError (a SwapcoreError) when the file is not a readable video.
    """
    if not 1 <= detect_every <= 30:
        raise DetectorError(f"detect_every must be between 1 and 30 frames, got {detect_every}")
    started = time.perf_counter()
    path = Path(video)
    info = media.probe(path)
    calibration = calibration or load_calibration()
    detector = detector or create("mtcnn", **DETECTOR_OPTIONS)
    total = min(info.frame_count, max_frames) if max_frames else info.frame_count
    watermark = WatermarkProbe()

    def seen(index: int, frame: np.ndarray) -> None:
        watermark.add(frame)
        if progress is not None:
            progress(min(index + 1, total), total)

    with single_torch_thread():
        tracks = collect_tracks(media.iter_frames(path, stop=max_frames, info=info), detector, on_frame=seen,
                                detect_every=detect_every)
    judged = [t for t in tracks.values() if len(t) >= MIN_TRACK_FRAMES and t.face_size >= MIN_FACE_PIXELS]
    results = sorted((score_track(t, calibration) for t in judged), key=lambda r: -r.probability)
    provenance = provenance_of(path, c2pa_finding(path), watermark.finding(), history=history)
    return Report.build(
        video={"name": name or path.name, "width": info.width, "height": info.height, "fps": float(info.fps),
               "frames": total, "duration": info.duration},
        provenance=provenance,
        tracks=results,
        skipped_tracks=len(tracks) - len(judged),
        calibration=calibration,
        seconds=time.perf_counter() - started,
    )
