"""`faceproof train`: train (or resume) a swap model on aligned faces, one folder per identity."""

from __future__ import annotations

import logging

import torch
from tqdm import tqdm

from swapcore.options import build
from swapcore.train import Progress, TrainConfig, train
from webapp.console.base import StageCommand
from webapp.options import add_arguments


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
        add_arguments(parser, TrainConfig)
        parser.add_argument("--time-limit", type=float, default=None, metavar="MIN", help="stop after this many minutes")
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
            minutes = options["time_limit"]
            summary = train(options["faces"], options["model"], build(TrainConfig, options),
                            time_limit=minutes * 60 if minutes is not None else None,
                            progress=lambda p: self._update(bar, p), sealer=sealer)
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
