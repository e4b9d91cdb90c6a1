"""What a training run is asked to do and what it reports: its configuration, progress, held-out evaluation and
summary, and the device and precision it runs at."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import torch

from swapcore.errors import SwapcoreError
from swapcore.training import augment as aug


@dataclass
class TrainConfig:
    arch: str = "original"
    size: int | None = None  # None: the architecture's default
    batch: int = 16  # faces per identity per iteration
    iterations: int = 100_000  # total, counting iterations done before a resume
    save_every: int = 250
    time_limit: float | None = None  # seconds of this run
    plateau_patience: int | None = None  # stop after this many saves without held-out improvement
    plateau_delta: float = 0.005  # relative improvement that counts
    lr: float = 5e-5
    loss: str = "ssim+l1"
    mask_loss: str = "mse"
    mask_weight: float = 1.0
    precision: str = "auto"  # auto (bf16 where the hardware has it), bf16, fp32
    channels_last: bool = True
    compile: bool = False
    device: str = "auto"  # auto, cpu, cuda, cuda:1 ...
    holdout: int = 4  # faces per identity kept out of training, for previews and evaluation
    seed: int = 0
    alignment: str = field(default="5", metadata={
        "help": "align the faces by their 5 points or by their 68 (where extraction found them; conversion "
                "follows the model's choice)"})
    augment: aug.AugmentConfig = field(default_factory=aug.AugmentConfig)

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


@dataclass
class Progress:
    iteration: int
    iterations: int
    losses: dict[str, float]
    eg_per_s: float
    elapsed: float


@dataclass
class Evaluation:
    loss: dict[str, float]
    ssim: dict[str, float]


@dataclass
class TrainSummary:
    model_dir: Path
    arch: str
    start_iteration: int
    iteration: int
    stop_reason: str
    losses: dict[str, float]
    holdout: Evaluation
    eg_per_s: float
    seconds: float
    rollbacks: int


def pick_device(name: str) -> torch.device:
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    device = torch.device(name)
    if device.type == "cuda" and not torch.cuda.is_available():
        raise SwapcoreError("--device cuda was asked for, but no CUDA GPU is available")
    return device


def wants_bf16(precision: str, device: torch.device) -> bool:
    """bf16 autocast where the hardware runs it natively (Ampere+ GPUs, CPUs with AVX512-BF16/AMX)."""
    if precision not in ("auto", "bf16", "fp32"):
        raise SwapcoreError(f"unknown precision {precision!r}; choose auto, bf16 or fp32")
    if precision != "auto":
        return precision == "bf16"
    if device.type == "cuda":
        return torch.cuda.is_bf16_supported()
    return bool(torch.ops.mkldnn._is_mkldnn_bf16_supported())

