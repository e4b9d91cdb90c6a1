"""Detector throughput: frames per second of `detector.analyse` (decode, detect, track, cues, score, report).

    .venv/bin/python -m bench.detect [--frames 300] [--every 3 1]

Uses the first `--frames` frames of a 512 px clip (d3, 30 fps: 300 frames = the 10 s of the issue's target)
from ../shared/data/video, and prints, for each face-detection spacing in `--every` (detect on every n-th
frame, interpolate between; 1 = every frame, as the calibration was fitted) the time spent in face detection.
Detection runs on a read-ahead thread (`swapcore.pipelining.read_ahead`) while crops, tracking and the watermark probe
run on the main one, so the total is less than detection plus the rest.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

from bench.machine import describe
from detector import analyse
from detector.analysis import DETECT_EVERY, DETECTOR_OPTIONS
from swapcore.faces.detectors import create

DATA = Path(__file__).resolve().parent.parent.parent / "shared" / "data" / "video"


class TimedDetector:
    """Wraps the face detector to time it apart from the detector's own work."""

    def __init__(self) -> None:
        self.inner = create("mtcnn", **DETECTOR_OPTIONS)
        self.name = self.inner.name
        self.seconds = 0.0
        self.calls = 0

    def detect(self, frames):
        self.calls += len(frames)
        started = time.perf_counter()
        try:
            return self.inner.detect(frames)
        finally:
            self.seconds += time.perf_counter() - started


def measure(frames: int, every: int) -> str:
    """One timed analysis of the first `frames` frames of d3 with faces detected on every `every`-th frame."""
    clip = DATA / "d3.mp4"
    detector = TimedDetector()
    started = time.perf_counter()
    report = analyse(clip, max_frames=frames, detector=detector, detect_every=every)
    total = time.perf_counter() - started
    count = report.video["frames"]
    return (f"{clip.name}, detect every {every}: {count} frames ({report.video['width']}x{report.video['height']}) "
            f"in {total:.1f} s = {count / total:.1f} frames/s; face detection {detector.seconds:.1f} s "
            f"({detector.calls} frames, on the read-ahead thread); "
            f"score {report.probability:.2f} ({report.verdict})")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--frames", type=int, default=300)
    parser.add_argument("--every", type=int, nargs="+", default=[DETECT_EVERY, 1])
    args = parser.parse_args()
    analyse(DATA / "d3.mp4", max_frames=8)  # warm-up: model load, first allocations
    print(describe())
    for every in args.every:
        print(measure(args.frames, every))


if __name__ == "__main__":
    main()
