"""The training loop: iterate, report progress, save every `save_every` iterations, and stop cleanly."""

from __future__ import annotations

import signal
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING

import torch

from swapcore.training import distributed
from swapcore.training.settings import Progress, TrainSummary

if TYPE_CHECKING:
    from swapcore.training.trainer import Trainer


@contextmanager
def stop_on_signals(stop: threading.Event) -> Iterator[None]:
    """SIGINT/SIGTERM ask for a clean stop (which saves) instead of killing; only in the main thread."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    handlers = {sig: signal.getsignal(sig) for sig in (signal.SIGINT, signal.SIGTERM)}
    for sig in handlers:
        signal.signal(sig, lambda signum, frame: stop.set())
    try:
        yield
    finally:
        for sig, handler in handlers.items():
            signal.signal(sig, handler)


def run(trainer: Trainer, progress: Callable[[Progress], None] | None = None) -> TrainSummary:
    """Start or resume, then iterate and save until the iterations, the time limit, a plateau or a stop request
    (SIGINT/SIGTERM in the main thread) ends the run; a clean stop always saves what it learned since the last save."""
    trainer.start()
    stop = threading.Event()
    start_iteration, started = trainer.iteration, time.perf_counter()
    interval = _interval(trainer)
    reason, evaluation, last_losses = "iterations", None, {}
    with stop_on_signals(stop):
        while trainer.iteration < trainer.config.iterations:
            timed_out = trainer.config.time_limit is not None and time.perf_counter() - started >= trainer.config.time_limit
            if distributed.any_rank(trainer.world, stop.is_set() or timed_out, trainer.device):  # all stop together
                reason = "time limit" if timed_out else "interrupted"
                break
            per_identity = trainer.step()
            if per_identity is None:
                interval = _interval(trainer)
                continue
            interval.add(per_identity)
            if progress and trainer.world.main:
                progress(Progress(trainer.iteration, trainer.config.iterations, interval.last(trainer.names),
                                  interval.rate(), time.perf_counter() - started))
            if trainer.iteration % trainer.config.save_every == 0:
                last_losses = interval.mean(trainer.names)
                evaluation = trainer.save(last_losses, interval.rate())
                interval = _interval(trainer)
                if trainer.plateaued(evaluation):
                    reason = "plateau"
                    break
        if interval.count:  # a clean stop always saves what the last interval learned
            last_losses = interval.mean(trainer.names)
            evaluation = trainer.save(last_losses, interval.rate())
    if evaluation is None:
        evaluation, _ = trainer.evaluate()
    seconds = time.perf_counter() - started
    done = trainer.iteration - start_iteration
    return TrainSummary(
        model_dir=trainer.model_dir, arch=trainer.config.arch, start_iteration=start_iteration,
        iteration=trainer.iteration, stop_reason=reason, losses=last_losses,
        holdout=evaluation, eg_per_s=done * trainer.config.batch * len(trainer.names) / seconds if seconds else 0.0,
        seconds=seconds, rollbacks=trainer.rollbacks,
    )


def _interval(trainer: Trainer) -> Interval:
    return Interval(len(trainer.names), trainer.config.batch * len(trainer.names))


class Interval:
    """Per-identity losses and throughput since the last save."""

    def __init__(self, identities: int, examples_per_step: int) -> None:
        self.total = torch.zeros(identities)
        self.latest = torch.zeros(identities)
        self.count = 0
        self.examples_per_step = examples_per_step
        self.started = time.perf_counter()

    def add(self, per_identity: torch.Tensor) -> None:
        self.latest = per_identity.float().cpu()
        self.total += self.latest
        self.count += 1

    def last(self, names: list[str]) -> dict[str, float]:
        return dict(zip(names, self.latest.tolist()))

    def mean(self, names: list[str]) -> dict[str, float]:
        return dict(zip(names, (self.total / max(1, self.count)).tolist()))

    def rate(self) -> float:
        seconds = time.perf_counter() - self.started
        return self.count * self.examples_per_step / seconds if seconds > 0 else 0.0

