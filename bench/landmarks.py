"""68-point landmarks (dlib68) against MTCNN's 5 points: eye agreement and cost per face.

    .venv/bin/python -m bench.landmarks [--every 15]

On every `--every`-th frame of the clips in ../shared/data/video and wild/ with one face, prints the distance
between dlib68's eye centres (mean of each eye's 6 points) and MTCNN's eye points in eye distances (median and
95th percentile), the time per face of the 68-point predictor beside MTCNN's time per frame, and how often the
pose cue's two poses (central face, outline) disagree by more than 10 degrees on these authentic faces.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import cv2
import numpy as np

from bench.machine import describe
from swapcore import media
from swapcore.faces.detectors import create as create_detector
from swapcore.faces.landmarks import create
from swapcore.faces.landmarks.pose import pose_mismatch

DATA = Path(__file__).resolve().parent.parent.parent / "shared" / "data"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--every", type=int, default=15)
    args = parser.parse_args()
    detector, landmarker = create_detector("mtcnn", min_face=48, max_side=448), create("dlib68")
    errors, mismatches, detect_seconds, locate_seconds = [], [], 0.0, 0.0
    for clip in sorted((DATA / "video").glob("*.mp4")) + sorted((DATA / "wild").glob("*.mp4")):
        for index, frame in media.iter_frames(clip):
            if index % args.every:
                continue
            rgb = cv2.cvtColor(frame, cv2.COLOR_BGR2RGB)
            started = time.perf_counter()
            faces = detector.detect([rgb])[0]
            detect_seconds += time.perf_counter() - started
            if len(faces) != 1:
                continue
            started = time.perf_counter()
            shape = landmarker.locate(rgb, faces)[0]
            locate_seconds += time.perf_counter() - started
            errors.append(np.linalg.norm(shape.five[:2] - faces[0].landmarks[:2], axis=1).max() / shape.eye_distance)
            mismatches.append(pose_mismatch(shape, (frame.shape[1], frame.shape[0])))
    errors_ = np.array(errors)
    print(describe())
    print(f"{len(errors)} faces: dlib68 eye centres vs MTCNN eyes, worse eye, in eye distances: median "
          f"{np.median(errors_):.3f}, 95th percentile {np.quantile(errors_, 0.95):.3f}, "
          f"over 0.15: {(errors_ > 0.15).mean():.1%}")
    print(f"cost: dlib68 {1000 * locate_seconds / len(errors):.2f} ms per face; MTCNN "
          f"{1000 * detect_seconds / len(errors):.1f} ms per frame")
    print(f"pose mismatch on authentic faces: median {np.median(mismatches):.1f} deg, 99th percentile "
          f"{np.quantile(mismatches, 0.99):.1f} deg, over 10 deg {(np.array(mismatches) > 10).mean():.1%}")


if __name__ == "__main__":
    main()
