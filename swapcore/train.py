"""The training stage's public entry points: `train()` (CLI and web jobs call it) and `load_model()` (conversion).

A model folder is self-describing: `load_model(folder)` needs nothing else to rebuild the model and its weights.
Training refuses to start unless every identity (face folder name, recorded in model.json) has a standing
consent in the installation's custody log, and every preview it writes is sealed (watermark, C2PA, custody).
Each run is an operation in that log (`provenance.operation`): begun from the face sets, ended by a `train` event
naming the checkpoint it left, so a run killed in between is found and aborted by the next sweep.
"""

from __future__ import annotations

import getpass
import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import torch

from provenance.consent import require_consent
from provenance.custody.log import AssetRef, sha256_file
from provenance.operation import Custody, logged_operation
from provenance.seal import Sealer
from provenance.work import sweep
from swapcore.errors import SwapcoreError
from swapcore.models import SwapModel, architecture, create
from swapcore.training import bundle
from swapcore.training.data import FaceSet, load_faces
from swapcore.training.report import PREVIEWS, SealedPreviews
from swapcore.training.trainer import Progress, TrainConfig, Trainer, TrainSummary, log

__all__ = ["LoadedModel", "Progress", "TrainConfig", "TrainSummary", "load_model", "train"]


def train(
    face_dirs: Sequence[str | os.PathLike],
    model_dir: str | os.PathLike,
    config: TrainConfig | None = None,
    *,
    progress: Callable[[Progress], None] | None = None,
    actor: str | None = None,
    sealer: Sealer,
    **options: Any,
) -> TrainSummary:
    """Train (or resume training) a swap model on aligned faces, one folder per identity.

    Keyword `options` replace fields of `config` (default: `TrainConfig()`; arch, batch, iterations, save_every,
    time_limit, lr, loss, precision, device, size, ... and `augment=AugmentConfig(...)` from
    swapcore.training.augment). `iterations` is the total to reach (a resumed run continues up to it);
    `time_limit` is in seconds. Stops on iterations, time limit, plateau or SIGINT/SIGTERM, always saving.
    Each identity (its folder's name) needs a standing consent in the custody log of `sealer` (the caller's
    installation; the caller closes it); `actor` (default: the user name) is who the sealed previews name as
    their maker.
    """
    if len(face_dirs) < 2:
        raise SwapcoreError("give at least two face folders, one per identity")
    config = _config(config, options)
    names = [Path(folder).name for folder in face_dirs]  # what load_faces names each FaceSet, and model.json records
    _check_unique_names(names)
    require_consent(sealer.log, names)  # before the faces are even read
    size = config.size or architecture(config.arch).default_size
    facesets = [load_faces(folder, size, holdout=config.holdout, alignment=config.alignment) for folder in face_dirs]
    _check_alignment(config.alignment, facesets)
    main = os.environ.get("RANK", "0") == "0"  # under torchrun, rank 0 owns the model folder and logs the run
    if main:
        for folder in (Path(model_dir), Path(model_dir) / PREVIEWS):  # what a killed run left half-sealed
            sweep(folder, sealer.log)
    actor = actor or getpass.getuser()
    custody = Custody(sealer.log, actor, tuple(names)) if main else None
    faces = [AssetRef(face_set.data_sha256, f"{face_set.name} faces") for face_set in facesets]
    title = f"a swap model of {' and '.join(names)} ({Path(model_dir).name}/)"
    with logged_operation(custody, "train", faces, title) as operation:
        summary = Trainer(facesets, Path(model_dir), config, SealedPreviews(sealer, actor, names)).run(progress)
        if operation:
            operation.end(outputs=(_checkpoint(Path(model_dir)),), parameters={
                "start_iteration": summary.start_iteration, "iteration": summary.iteration,
                "stop_reason": summary.stop_reason})
    return summary


def _checkpoint(model_dir: Path) -> AssetRef:
    return AssetRef(sha256_file(model_dir / bundle.CHECKPOINT), f"{model_dir.name}/{bundle.CHECKPOINT}")


def _config(config: TrainConfig | None, options: dict[str, Any]) -> TrainConfig:
    unknown = set(options) - set(TrainConfig.__dataclass_fields__)
    if unknown:
        raise SwapcoreError(f"unknown training options: {', '.join(sorted(unknown))}")
    config = replace(config or TrainConfig(), **options)
    for name in ("batch", "iterations", "save_every"):
        if getattr(config, name) < 1:
            raise SwapcoreError(f"{name} must be at least 1, got {getattr(config, name)}")
    architecture(config.arch)  # a clear error for a bad name before any data is read
    return config


def _check_alignment(alignment: str, facesets: list[FaceSet]) -> None:
    """A 68-point alignment needs faces with 68 points; those without keep their 5-point crops, and say so."""
    if alignment != "68":
        return
    if not any(face_set.dense for face_set in facesets):
        raise SwapcoreError("--alignment 68 needs faces extracted with 68 points (--landmarks dlib68); these have 5")
    for face_set in facesets:
        if face_set.dense < len(face_set):
            log.warning("%s: %d of %d faces have no 68 points: they stay aligned by their 5", face_set.name,
                        len(face_set) - face_set.dense, len(face_set))


def _check_unique_names(names: list[str]) -> None:
    if len(set(names)) != len(names):
        raise SwapcoreError(f"identity folders need distinct names (got {names}): name each folder after its person")


@dataclass
class LoadedModel:
    model: SwapModel  # eval mode, on the requested device
    description: dict[str, Any]  # model.json: arch, size, identities, input convention, training config
    iteration: int

    def identity(self, name_or_letter: str) -> int:
        """Decoder index of an identity, by folder name or letter (A, B, ...)."""
        for entry in self.description["identities"]:
            if name_or_letter in (entry["name"], entry["letter"]):
                return int(entry["index"])
        known = ", ".join(f"{e['letter']}={e['name']}" for e in self.description["identities"])
        raise SwapcoreError(f"no identity {name_or_letter!r} in this model ({known})")


def load_model(model_dir: str | os.PathLike, device: str | torch.device = "cpu") -> LoadedModel:
    """Rebuild a trained model from its folder alone (falls back to the backup checkpoint if needed)."""
    model_dir = Path(model_dir)
    description = bundle.read_model_json(model_dir)
    model = create(description["arch"], identities=len(description["identities"]), **description["model_config"])
    state = bundle.load_checkpoint(model_dir, "cpu", warn=log.warning, training=False)
    model.load_state_dict(state["model"])
    return LoadedModel(model.to(device).eval(), description, int(state["iteration"]))
