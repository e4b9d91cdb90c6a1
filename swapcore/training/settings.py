"""What a training run is asked to do and what it reports: its configuration, progress, held-out evaluation and
summary, and the device and precision it runs at."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import torch

from swapcore.errors import SwapcoreError
from swapcore.faces.align import ALIGNMENTS
from swapcore.models import ARCHITECTURES
from swapcore.options import option
from swapcore.training import augment as aug
from swapcore.training import losses

PRECISIONS = ("auto", "bf16", "fp32")  # auto: bf16 where the hardware runs it natively


@dataclass
class TrainConfig:
    arch: str = option("original", choices=lambda: sorted(ARCHITECTURES), help="model architecture")
    size: int | None = option(None, minimum=32, maximum=512,
                              help="model face size in px (default: the architecture's; hires: 64, 128 or 256)")
    batch: int = option(16, minimum=1, maximum=256, help="faces per identity per iteration")
    iterations: int = option(100_000, minimum=1, maximum=10_000_000, label="Total iterations",
                             help="total iterations to reach, counting those before a resume")
    save_every: int = option(250, minimum=1, maximum=100_000, label="Checkpoint and preview every",
                             help="iterations between checkpoints")
    time_limit: float | None = None  # seconds of this run
    plateau_patience: int | None = option(None, flag="plateau", web=False,
                                          help="stop after this many saves without held-out improvement")
    plateau_delta: float = 0.005  # relative improvement that counts
    lr: float = option(5e-5, web=False, help="Adam learning rate")
    loss: str = option("ssim+l1", web=False, help="loss terms joined by + from ssim, l1, mse, edge")
    mask_loss: str = option("mse", choices=losses.MASK_LOSSES, web=False, help="mask loss (models with a mask)")
    mask_weight: float = 1.0
    precision: str = option("auto", choices=PRECISIONS, web=False,
                            help="autocast precision; auto uses bf16 where the hardware has it")
    channels_last: bool = option(True, web=False, help="use the channels-last memory layout (faster convolutions)")
    compile: bool = option(False, web=False, help="torch.compile the model (slow start, faster steps)")
    device: str = option("auto", web=False, help="auto, cpu, cuda, cuda:N")
    holdout: int = 4  # faces per identity kept out of training, for previews and evaluation
    seed: int = option(0, web=False, help="random seed of a new model")
    alignment: str = option("5", choices=ALIGNMENTS, web=False,
                            help="align the faces by their 5 points or by their 68 (where extraction found them; "
                                 "conversion follows the model's choice)")
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
    if precision not in PRECISIONS:
        raise SwapcoreError(f"unknown precision {precision!r}; choose one of {', '.join(PRECISIONS)}")
    if precision != "auto":
        return precision == "bf16"
    if device.type == "cuda":
        return torch.cuda.is_bf16_supported()
    return bool(torch.ops.mkldnn._is_mkldnn_bf16_supported())

