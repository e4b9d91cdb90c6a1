"""Extraction throughput: frames per second, decode -> detect -> align -> write, on real clips.

    .venv/bin/python -m bench.extract [--every 1] [--device cpu|cuda] [--batch N] [--frames 120]

Uses a 512 px clip (d3) and a 720p clip (d13, 720x1280) from ../shared/data/video.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

from bench.machine import describe
from swapcore import media
from swapcore.extract import extract

DATA = Path(__file__).resolve().parent.parent.parent / "shared" / "data" / "video"
CLIPS = {"512px (d3.mp4)": "d3.mp4", "720p (d13.mp4, 720x1280)": "d13.mp4"}


def measure(clip: Path, frames: int, every: int, batch: int, device: str | None) -> tuple[float, int]:
    with tempfile.TemporaryDirectory() as work:
        short = Path(work) / "clip.mp4"
        info = media.probe(clip)
        with media.VideoWriter(short, info.width, info.height, info.fps) as writer:
            for _, frame in media.iter_frames(clip, stop=frames):
                writer.write(frame)
        extract(short, Path(work) / "warmup", size=256, every=max(1, frames // 4), device=device)
        started = time.perf_counter()
        result = extract(short, Path(work) / "out", every=every, size=256, batch=batch, device=device)
        return result.frames / (time.perf_counter() - started), result.faces


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--every", type=int, default=1)
    parser.add_argument("--frames", type=int, default=120)
    parser.add_argument("--batch", type=int, default=1)
    parser.add_argument("--device")
    args = parser.parse_args()
    print(f"machine: {describe()}")
    for label, name in CLIPS.items():
        fps, faces = measure(DATA / name, args.frames, args.every, args.batch, args.device)
        print(f"extract {label}: {fps:.1f} frames/s ({faces} faces, every={args.every}, batch={args.batch})")


if __name__ == "__main__":
    main()
