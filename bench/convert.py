"""Conversion throughput: frames per second end to end on real clips, on this machine.

    .venv/bin/python -m bench.convert [--arch original] [--frames 120] [--device cpu|cuda] [--model DIR] [--threads N]

Per clip (512 px d3, 720p d13) it times, after a warm-up:
  swap+encode     decode -> find face (alignments) -> smooth -> model -> colour -> blend -> H.264 encode
  detect+swap     the same with faces detected on the fly (MTCNN) instead of read from alignments
  sealed          convert() itself: swap+encode plus the watermark on every frame, C2PA signing, custody log
and then each stage of `sealed` on its own, one after another (decode, place, model, colour and blend, watermark,
encode, seal), in wall ms per frame, against the pipelined run (decoding and placement read ahead on one thread,
the watermark and the encoder's input written behind on another).
Without --model it trains a throwaway model for one iteration (weights do not change the cost).
Each figure is wall-clock frames/s and, because this machine is shared, CPU milliseconds per frame summed over
this process and its ffmpeg children (decode, encode): on a busy machine the second is the steadier one.
"""

from __future__ import annotations

import argparse
import os
import resource
import tempfile
import time
from collections.abc import Callable
from typing import Any
from pathlib import Path

from bench.machine import describe
from bench.train_quality import consenting_sealer

DATA = Path(__file__).resolve().parent.parent.parent / "shared" / "data"
CLIPS = {"512px (d3.mp4)": "d3.mp4", "720p (d13.mp4, 720x1280)": "d13.mp4"}
FACES = {"andrew": "andrew_clip_1.mp4", "feifeili": "feifeili_clip2_short.mp4"}


def throwaway_model(work: Path, arch: str) -> Path:
    from swapcore.extract import extract
    from swapcore.train import train

    folders = []
    for name, clip in FACES.items():
        extract(DATA / "faces" / "styletalk_source" / clip, work / name, size=64, every=25)
        folders.append(work / name)
    with consenting_sealer(work, FACES) as sealer:
        train(folders, work / "model", arch=arch, batch=4, iterations=1, save_every=1, sealer=sealer, actor="bench")
    return work / "model"


def short_clip(clip: Path, frames: int, out: Path) -> Path:
    from swapcore import media

    info = media.probe(clip)
    with media.VideoWriter(out, info.width, info.height, info.fps, audio_from=clip,
                           audio_duration=frames / float(info.fps)) as writer:
        for _, frame in media.iter_frames(clip, stop=frames, info=info):
            writer.write(frame)
    return out


def _cpu_seconds() -> float:
    own, children = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + children.ru_utime + children.ru_stime


def timed(run: Callable[[], int]) -> tuple[float, float]:
    """(frames/s wall, CPU ms per frame) of a run that returns its frame count."""
    wall, cpu = time.perf_counter(), _cpu_seconds()
    frames = run()
    return frames / (time.perf_counter() - wall), 1000 * (_cpu_seconds() - cpu) / frames


def swap_and_encode(clip: Path, model_dir: Path, alignments: Path | None, out: Path, device: str) -> int:
    """Frames/s of the unsealed core (the bench's own encoder; no deliverable is made)."""
    from swapcore import media
    from swapcore.convert.pipeline import SwapSettings, swap_frames
    from swapcore.train import load_model

    info = media.probe(clip)
    model = load_model(model_dir, device)
    with media.VideoWriter(out, info.width, info.height, info.fps, audio_from=clip) as writer:
        for result in swap_frames(clip, model, SwapSettings(device=device), alignments=alignments, info=info):
            writer.write(result.swapped)
    out.unlink()
    return writer.frames_written


def sealed(clip: Path, model_dir: Path, alignments: Path, out: Path, device: str) -> int:
    from swapcore.convert import SwapSettings, convert

    with consenting_sealer(out.parent, FACES) as sealer:
        result = convert(clip, model_dir, out, settings=SwapSettings(device=device), alignments=alignments,
                         sealer=sealer, actor="bench")
    return result.frames


def stage_breakdown(clip: Path, model_dir: Path, alignments: Path, out: Path, device: str) -> dict[str, float]:
    """Wall milliseconds per frame of each stage of a sealed conversion, run one after another on the same frames
    (no overlap), so their sum against the pipelined run shows what the overlap gains and where time goes."""
    from swapcore import media
    from swapcore.convert.pipeline import SwapSettings, Swapper, placements
    from swapcore.faces.align import crop_with
    from swapcore.train import load_model

    info = media.probe(clip)
    swapper = Swapper(load_model(model_dir, device), SwapSettings(device=device))
    stages: dict[str, float] = {}

    def clock(stage: str, run: Callable[[], Any]) -> Any:
        started = time.perf_counter()
        value = run()
        stages[stage] = stages.get(stage, 0.0) + time.perf_counter() - started
        return value

    frames = clock("decode", lambda: list(media.iter_frames(clip, info=info)))
    placed = clock("place (alignments, smoothing)",
                   lambda: [(item, p) for item, p in placements(iter(frames), clip, swapper, info, alignments) if p])
    crops = [crop_with(frame, p.matrix, swapper.size) for (_, frame), p in placed]
    size = swapper.settings.batch
    rendered = clock("model", lambda: [swapper.render(crops[i:i + size]) for i in range(0, len(crops), size)])
    faces = [face for batch, _ in rendered for face in batch]
    outputs = clock("colour and blend", lambda: [swapper.blend(frame, crop, face, None, p)[0]
                                                 for ((_, frame), p), crop, face in zip(placed, crops, faces)])
    sealer = consenting_sealer(out.parent, FACES)
    session = sealer.begin(_bench_request(model_dir))
    marked = clock("watermark", lambda: [session.mark(frame) for frame in outputs])
    encoded = out.with_name(f"encoded_{out.name}")

    def encode() -> None:
        with media.VideoWriter(encoded, info.width, info.height, info.fps, audio_from=clip) as writer:
            for frame in marked:
                writer.write(frame)

    clock("encode", encode)
    clock("seal (sign, log, register)", lambda: session.finish(encoded, out))
    sealer.close()
    return {stage: 1000 * seconds / len(frames) for stage, seconds in stages.items()}


def _bench_request(model_dir: Path):
    from provenance.seal import SealRequest

    return SealRequest(kind="video", title="stage breakdown", actor="bench", inputs=[model_dir / "model.json"],
                       consents=list(FACES))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--arch", default="original")
    parser.add_argument("--frames", type=int, default=120)
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--model", type=Path)
    parser.add_argument("--threads", type=int, help="torch threads (1 avoids spin-waiting on a busy machine)")
    args = parser.parse_args()
    if args.threads:
        import torch

        torch.set_num_threads(args.threads)
    with tempfile.TemporaryDirectory() as folder:
        work = Path(folder)
        from swapcore.extract import extract

        model_dir = args.model or throwaway_model(work, args.arch)
        print(f"machine: {describe()}")
        for label, name in CLIPS.items():
            clip = short_clip(DATA / "video" / name, args.frames, work / f"short_{name}")
            alignments = extract(clip, work / f"faces_{name}", size=64).alignments_path
            swap_and_encode(clip, model_dir, alignments, work / "warmup.mp4", args.device)
            figures = {
                "swap+encode": timed(lambda: swap_and_encode(clip, model_dir, alignments, work / "a.mp4", args.device)),
                "detect+swap": timed(lambda: swap_and_encode(clip, model_dir, None, work / "b.mp4", args.device)),
                "sealed": timed(lambda: sealed(clip, model_dir, alignments, work / f"sealed_{name}", args.device)),
            }
            shown = "; ".join(f"{k} {fps:.1f} frames/s ({cpu:.0f} CPU ms/frame)" for k, (fps, cpu) in figures.items())
            print(f"convert {label}, {args.arch}, {args.frames} frames: {shown}; load {os.getloadavg()[0]:.2f}")
            stages = stage_breakdown(clip, model_dir, alignments, work / f"stages_{name}", args.device)
            serial = sum(stages.values())
            print(f"  stages one after another (wall ms/frame): " + ", ".join(f"{k} {v:.1f}" for k, v in stages.items())
                  + f"; sum {serial:.1f} ms = {1000 / serial:.1f} frames/s against {figures['sealed'][0]:.1f} "
                  f"pipelined")


if __name__ == "__main__":
    main()
