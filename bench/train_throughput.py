"""Training throughput: EG/s (examples per second) of the real training step, per model and precision.

    .venv/bin/python -m bench.train_throughput [--models original,lite,hires] [--batch 16] [--steps 6]
        [--threads N] [--device cpu|cuda] [--compile]

Each figure times `Trainer.step()` itself: sampling, batched augmentation (warp, colour, landmark weights and
masks), forward, backward and the Adam update, with `batch` faces per identity and two identities (so one
step is 2 x batch examples). Achieved GFLOP/s = EG/s x the model's FLOPs per example (forward + backward).
Next to it, a probe of what the hardware gives right now: one 3x3 convolution (256 -> 1024 channels at 16 px,
the shape of the models' upscale layers) forward + backward, so a figure on a loaded shared machine can be read
against the compute that was actually available. The faces are random pixels with template landmarks: the
step's cost does not depend on the image content, and the benchmark then needs no extraction.

On a GPU (`--device cuda`) the defaults are bf16 autocast, channels_last and large batches, augmentation runs
on the GPU (the faces live there), and `--compile` adds torch.compile.
"""

from __future__ import annotations

import argparse
import os
import time
from pathlib import Path

import torch

from bench.machine import describe
from swapcore.faces.align import template
from swapcore.models import architecture, flops_per_example
from swapcore.training.data import FaceSet
from swapcore.training.trainer import TrainConfig, Trainer

FACES_PER_IDENTITY = 64


def synthetic_faces(name: str, size: int) -> FaceSet:
    """Random faces with the alignment template's landmarks: the same work per step as real faces."""
    landmarks = torch.tensor(template(size), dtype=torch.float32).expand(FACES_PER_IDENTITY, 5, 2).clone()
    images = torch.randint(0, 256, (FACES_PER_IDENTITY, 3, size, size), dtype=torch.uint8)
    return FaceSet(name, images, landmarks, holdout=torch.arange(4), train=torch.arange(4, FACES_PER_IDENTITY),
                   data_sha256="", centering="face")


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def step_rate(arch: str, batch: int, steps: int, precision: str, channels_last: bool, device: str,
              compile_model: bool) -> tuple[float, float]:
    """(EG/s, FLOPs per example) of `steps` timed training steps after warm-up."""
    size = architecture(arch).default_size
    config = TrainConfig(arch=arch, batch=batch, precision=precision, channels_last=channels_last, device=device,
                         compile=compile_model)
    trainer = Trainer([synthetic_faces("a", size), synthetic_faces("b", size)], Path(os.devnull), config)
    for _ in range(3 if compile_model else 2):  # warm-up: kernel selection, allocator, compilation
        trainer.step()
    _sync(trainer.device)
    started = time.perf_counter()
    for _ in range(steps):
        trainer.step()
    _sync(trainer.device)
    seconds = time.perf_counter() - started
    return steps * batch * 2 / seconds, flops_per_example(trainer.model)


def conv_probe(bf16: bool, device: str, batch: int = 32, repeats: int = 5) -> float:
    """GFLOP/s of one 3x3 conv (256 -> 1024 ch, 16 px) forward + backward: the hardware's rate right now."""
    dev = torch.device(device)
    conv = torch.nn.Conv2d(256, 1024, 3, padding=1).to(dev, memory_format=torch.channels_last)
    x = torch.randn(batch, 256, 16, 16, device=dev).contiguous(memory_format=torch.channels_last)
    x.requires_grad_(True)
    flops = 3 * 2 * batch * 16 * 16 * 1024 * 256 * 9

    def once() -> None:
        with torch.autocast(dev.type, dtype=torch.bfloat16, enabled=bf16):
            out = conv(x)
        out.float().sum().backward()

    once()
    _sync(dev)
    started = time.perf_counter()
    for _ in range(repeats):
        once()
    _sync(dev)
    return repeats * flops / (time.perf_counter() - started) / 1e9


def variants(device: str, compile_model: bool) -> list[tuple[str, str, bool]]:
    """(label, precision, channels_last) to measure: every combination on CPU, the fast path on GPU."""
    if device.startswith("cuda"):
        return [("bf16 channels_last" + (" compiled" if compile_model else ""), "bf16", True)]
    return [("fp32", "fp32", False), ("fp32 channels_last", "fp32", True), ("bf16", "bf16", False),
            ("bf16 channels_last", "bf16", True)]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--models", default="original,lite,hires")
    parser.add_argument("--batch", type=int, default=None, help="faces per identity (default 16 on CPU, 512 on GPU)")
    parser.add_argument("--steps", type=int, default=None, help="timed steps (default 6 on CPU, 50 on GPU)")
    parser.add_argument("--threads", type=int, default=None, help="torch threads (default: torch's, = cores)")
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--compile", action="store_true")
    args = parser.parse_args()
    gpu = args.device.startswith("cuda")
    batch, steps = args.batch or (512 if gpu else 16), args.steps or (50 if gpu else 6)
    if args.threads:
        torch.set_num_threads(args.threads)
    print(f"machine: {describe()}")
    print(f"probe: conv 3x3 fwd+bwd {conv_probe(False, args.device):.0f} GFLOP/s fp32, "
          f"{conv_probe(True, args.device):.0f} GFLOP/s bf16 (what the hardware gives right now)")
    for arch in args.models.split(","):
        for label, precision, channels_last in variants(args.device, args.compile):
            eg_s, flops = step_rate(arch, batch, steps, precision, channels_last, args.device, args.compile)
            print(f"train {arch:8s} {label:28s} batch {batch}x2: {eg_s:8.1f} EG/s, "
                  f"{eg_s * flops / 1e9:7.0f} GFLOP/s ({flops / 1e9:.1f} GFLOP/example fwd+bwd)", flush=True)
    print(f"load after: {', '.join(f'{v:.2f}' for v in os.getloadavg())}")


if __name__ == "__main__":
    main()
