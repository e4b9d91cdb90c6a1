"""`faceproof train`: train (or resume) a swap model on aligned faces, one folder per identity."""

from __future__ import annotations

import logging

import torch
from tqdm import tqdm

from swapcore.models import ARCHITECTURES
from swapcore.faces.align import ALIGNMENTS
from swapcore.train import Progress, TrainConfig, train
from swapcore.training.augment import AugmentConfig
from swapcore.training.losses import MASK_LOSSES
from webapp.console.base import StageCommand


class _TqdmHandler(logging.Handler):
    """Log lines printed above the progress bar instead of through it."""

    def emit(self, record: logging.LogRecord) -> None:
        tqdm.write(self.format(record))


class Command(StageCommand):
    help = (
        "Train a face-swap model: one shared encoder, one decoder per identity. Give one folder of aligned faces "
        "per identity (what `faceproof extract` writes). Running it again on the same --model folder resumes."
    )

    def add_arguments(self, parser) -> None:
        parser.add_argument("--faces", nargs="+", required=True, metavar="DIR", help="aligned-face folders, one per identity (A B ...)")
        parser.add_argument("--model", required=True, metavar="MODEL_DIR", help="model folder (created, or resumed)")
        parser.add_argument("--arch", default="original", choices=sorted(ARCHITECTURES), help="model architecture")
        parser.add_argument("--size", type=int, default=None, help="face size in px (hires: 64, 128 or 256)")
        parser.add_argument("--batch", type=int, default=16, help="faces per identity per iteration (default 16)")
        parser.add_argument("--iterations", type=int, default=100_000, help="total iterations to reach (default 100000)")
        parser.add_argument("--save-every", type=int, default=250, help="iterations between checkpoints (default 250)")
        parser.add_argument("--time-limit", type=float, default=None, metavar="MIN", help="stop after this many minutes")
        parser.add_argument("--plateau", type=int, default=None, metavar="SAVES",
                            help="stop after this many saves without held-out improvement")
        parser.add_argument("--lr", type=float, default=5e-5, help="Adam learning rate (default 5e-5)")
        parser.add_argument("--loss", default="ssim+l1", help="loss terms joined by + from ssim, l1, mse, edge")
        parser.add_argument("--mask-loss", default="mse", choices=MASK_LOSSES, help="mask loss (models with a mask)")
        parser.add_argument("--occluders", type=float, default=AugmentConfig.occluders, metavar="SHARE",
                            help=f"{AugmentConfig.__dataclass_fields__['occluders'].metadata['help']} "
                                 f"(default {AugmentConfig.occluders})")
        parser.add_argument("--alignment", default=TrainConfig.alignment, choices=ALIGNMENTS,
                            help=f"{TrainConfig.__dataclass_fields__['alignment'].metadata['help']} "
                                 f"(default {TrainConfig.alignment})")
        parser.add_argument("--precision", default="auto", choices=("auto", "bf16", "fp32"), help="autocast precision")
        parser.add_argument("--no-channels-last", action="store_true", help="keep the default memory layout")
        parser.add_argument("--compile", action="store_true", help="torch.compile the model (slow start, faster steps)")
        parser.add_argument("--device", default="auto", help="auto, cpu, cuda, cuda:N")
        parser.add_argument("--seed", type=int, default=0, help="random seed of a new model")
        parser.add_argument("--threads", type=int, default=None,
                            help="CPU threads (default: one per core; 1 is far faster when other jobs share the cores)")

    def run(self, **options) -> None:
        if options["threads"]:
            torch.set_num_threads(options["threads"])
        handler = _TqdmHandler()
        logger = logging.getLogger("swapcore.training")
        logger.addHandler(handler)
        logger.setLevel(logging.INFO)
        bar = tqdm(total=options["iterations"], unit="it", dynamic_ncols=True)
        sealer = self.installation.sealer()
        try:
            summary = train(
                options["faces"], options["model"], arch=options["arch"], batch=options["batch"],
                iterations=options["iterations"], save_every=options["save_every"],
                time_limit=options["time_limit"] * 60 if options["time_limit"] is not None else None,
                progress=lambda p: self._update(bar, p), size=options["size"], plateau_patience=options["plateau"],
                lr=options["lr"], loss=options["loss"], mask_loss=options["mask_loss"], precision=options["precision"],
                channels_last=not options["no_channels_last"], compile=options["compile"], device=options["device"],
                seed=options["seed"], augment=AugmentConfig(occluders=options["occluders"]),
                alignment=options["alignment"], sealer=sealer,
            )
        finally:
            sealer.close()
            bar.close()
            logger.removeHandler(handler)
        held_out = ", ".join(f"{name} {value:.4f}" for name, value in summary.holdout.loss.items())
        self.stdout.write(
            f"stopped ({summary.stop_reason}) at iteration {summary.iteration}; held-out loss {held_out}; "
            f"{summary.eg_per_s:.1f} EG/s; model in {summary.model_dir}"
        )

    @staticmethod
    def _update(bar: tqdm, progress: Progress) -> None:
        bar.n = progress.iteration
        losses = " ".join(f"{name}={value:.4f}" for name, value in progress.losses.items())
        bar.set_postfix_str(f"{losses} {progress.eg_per_s:.1f} EG/s", refresh=False)
        bar.update(0)
