"""The trainer: shared encoder, per-identity decoders, checkpointed, resumable and self-healing.

Every iteration draws `batch` faces per identity, augments them as one batch, runs them through the shared
encoder together (one large batch uses the hardware better than N small ones) and each identity's slice
through its own decoder. A save writes the checkpoint, evaluates the fixed held-out faces, and appends to
metrics.jsonl, the preview grid and the loss curve (both sealed). A non-finite loss rolls back to the last save.
The loop that drives it is `swapcore.training.loop`; what it is configured with and reports, `.settings`.
"""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path
from typing import Any

import torch
from torch import nn

from swapcore import __version__
from swapcore.errors import SwapcoreError
from swapcore.models import SwapModel, architecture, create
from swapcore.training import augment as aug
from swapcore.training import bundle, distributed, loop, losses, report
from swapcore.training.data import FaceSet
from swapcore.training.settings import (
    Evaluation, Progress, TrainConfig, TrainSummary, pick_device, wants_bf16,
)

log = logging.getLogger("swapcore.training")
MAX_CONSECUTIVE_ROLLBACKS = 3


class TrainingDivergedError(SwapcoreError):
    """The loss kept turning NaN/inf even after rolling back and lowering the learning rate."""


def identity_letter(index: int) -> str:
    return chr(ord("A") + index) if index < 26 else f"#{index}"


class Trainer:
    """Owns one model folder's training: build or resume, iterate, save, evaluate."""

    def __init__(self, facesets: list[FaceSet], model_dir: Path, config: TrainConfig,
                 previews: report.SealedPreviews | None = None) -> None:
        if len(facesets) < 2:
            raise SwapcoreError("training needs faces of at least 2 identities")
        self.facesets, self.model_dir, self.config = facesets, model_dir, config
        self.previews = previews  # None only for step-level use (benchmarks): saving needs it
        self.names = [face_set.name for face_set in facesets]
        self.device = pick_device(config.device)
        self.world = distributed.join(self.device.type)
        if self.world.shared and self.device.type == "cuda":
            self.device = torch.device("cuda", self.world.local_rank)  # torchrun: one GPU per process
        self.bf16 = wants_bf16(config.precision, self.device)
        self.terms = losses.parse_spec(config.loss)
        # Occluders only teach a mask to leave them out: a model without one would just lose those pixels.
        self.augment = config.augment if architecture(config.arch).has_mask else replace(config.augment, occluders=0.0)
        self.model = self._build_model()
        self._check_sizes()
        self.memory_format = torch.channels_last if config.channels_last else torch.contiguous_format
        self.model.to(self.device, memory_format=self.memory_format)
        self.optimizer = torch.optim.Adam(self.model.parameters(), lr=config.lr, **self._adam_options())
        self.generator = torch.Generator().manual_seed(config.seed + self.world.rank)  # each rank its own faces
        self.encoder, self.decoders, self.occlusion = self._runners()
        self.images = [face_set.images.to(self.device) for face_set in facesets]
        self.landmarks = [face_set.landmarks.to(self.device) for face_set in facesets]
        maps = [face_set.regions for face_set in facesets]  # None only for synthetic sets (benchmarks)
        self.regions = None if any(m is None for m in maps) else [m.to(self.device) for m in maps]
        self.iteration = 0
        self.plateau = {"best": math.inf, "stale": 0}
        self.rollbacks = self.consecutive_rollbacks = 0

    def _build_model(self) -> SwapModel:
        """The model with weights initialised from the config's seed (without touching the global RNG)."""
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(self.config.seed)
            options: dict[str, Any] = {"size": self.config.size} if self.config.size else {}
            if self.augment.occluders > 0:  # what learns to see them (hires' occlusion net)
                options["occlusion"] = True
            return create(self.config.arch, identities=len(self.facesets), **options)

    def _check_sizes(self) -> None:
        for face_set in self.facesets:
            if face_set.images.shape[-1] != self.model.size:
                raise SwapcoreError(f"{face_set.name}: faces are {face_set.images.shape[-1]} px, model needs {self.model.size}")

    def _adam_options(self) -> dict[str, Any]:
        # The fused kernel updates all parameters in one pass: noticeably faster on CPU and GPU alike.
        return {"fused": True} if self.device.type in ("cpu", "cuda") else {}

    def _runners(self) -> tuple[nn.Module, list[nn.Module], nn.Module | None]:
        """The modules the hot loop calls: replicated over torchrun's processes and/or compiled when asked."""
        runners = [distributed.replicate(module, self.world, self.device) for module in self._parts()]
        if self.config.compile:
            runners = [torch.compile(runner) for runner in runners]
        occlusion = runners.pop() if self.model.occlusion is not None else None
        return runners[0], runners[1:], occlusion

    def _parts(self) -> list[nn.Module]:
        """Encoder, decoders, then the occlusion net where the model has one."""
        occlusion = [] if self.model.occlusion is None else [self.model.occlusion]
        return [self.model.encoder, *self.model.decoders, *occlusion]

    # ----- the model folder -------------------------------------------------------------------------------
    def model_description(self) -> dict[str, Any]:
        return {
            "schema": bundle.SCHEMA,
            "version": bundle.VERSION,
            "faceproof_version": __version__,
            "arch": self.config.arch,
            "size": self.model.size,
            "has_mask": self.model.has_mask,
            "model_config": self.model.config(),
            "input": {"channels": "rgb", "range": [0, 1], "layout": "NCHW", "centering": self.facesets[0].centering,
                      "alignment": self.config.alignment},
            "identities": [
                {"index": i, "letter": identity_letter(i), "name": s.name, "faces": len(s), "data_sha256": s.data_sha256}
                for i, s in enumerate(self.facesets)
            ],
            "config": self.config.to_json(),
        }

    def start(self) -> None:
        """Resume from the folder's checkpoint, or start it: model.json plus a save at iteration 0."""
        if self.previews is None:
            raise SwapcoreError("training needs a sealer for its previews (swapcore.train.train passes one)")
        self.model_dir.mkdir(parents=True, exist_ok=True)
        resuming = (self.model_dir / bundle.MODEL_JSON).exists()
        distributed.barrier(self.world)  # every rank has looked before rank 0 writes
        if resuming:
            self._resume()
        else:
            if self.world.main:
                bundle.write_json_atomic(self.model_dir / bundle.MODEL_JSON, self.model_description())
            self.save(train_losses={}, eg_per_s=0.0)

    def _resume(self) -> None:
        existing = bundle.read_model_json(self.model_dir)
        if existing["arch"] != self.config.arch or existing["model_config"] != self.model.config():
            raise bundle.ModelFolderError(
                f"{self.model_dir} holds a {existing['arch']} model ({_described(existing['model_config'])}), not "
                f"{self.config.arch} ({_described(self.model.config())}): pick the same --arch, --size and --occluders "
                f"(0 or not) or a new --model folder"
            )
        if existing["input"].get("alignment", "5") != self.config.alignment:
            raise bundle.ModelFolderError(f"{self.model_dir} was aligned by {existing['input'].get('alignment', '5')} "
                                          f"points, not {self.config.alignment}: pick the same --alignment")
        old_names = [identity["name"] for identity in existing["identities"]]
        if old_names != self.names:
            raise bundle.ModelFolderError(
                f"{self.model_dir} was trained on identities {old_names}; got {self.names} (same order needed)"
            )
        changed = [
            s.name for s, old in zip(self.facesets, existing["identities"]) if s.data_sha256 != old["data_sha256"]
        ]
        if changed and self.world.main:
            log.warning("training data changed since the last run for %s; model.json updated", ", ".join(changed))
            bundle.write_json_atomic(self.model_dir / bundle.MODEL_JSON, self.model_description())
        self.restore(bundle.load_checkpoint(self.model_dir, self.device, warn=log.warning))
        if self.world.main:
            report.truncate_metrics(self.model_dir, self.iteration)
        log.info("resumed %s at iteration %d", self.model_dir, self.iteration)

    def state(self) -> dict[str, Any]:
        state = {
            "iteration": self.iteration,
            "model": self.model.state_dict(),
            "optimizer": self.optimizer.state_dict(),
            "generator": self.generator.get_state(),
            "torch_rng": torch.get_rng_state(),
            "plateau": dict(self.plateau),
        }
        if self.device.type == "cuda":
            state["cuda_rng"] = torch.cuda.get_rng_state_all()
        return state

    def restore(self, state: dict[str, Any]) -> None:
        self.model.load_state_dict(state["model"])
        self.optimizer.load_state_dict(state["optimizer"])
        self.generator.set_state(state["generator"].cpu())
        torch.set_rng_state(state["torch_rng"].cpu())
        if "cuda_rng" in state and self.device.type == "cuda":
            torch.cuda.set_rng_state_all([s.cpu() for s in state["cuda_rng"]])
        self.iteration = int(state["iteration"])
        self.plateau = dict(state["plateau"])
        if self.world.shared:  # rank 0's saved generator would give every rank the same faces
            self.generator.manual_seed(self.config.seed + self.world.rank + self.world.size * self.iteration)

    # ----- one iteration ----------------------------------------------------------------------------------
    def _sample(self) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor | None]:
        """`batch` random training faces per identity (uint8), their landmarks and region maps, identity by identity."""
        picks = []
        for face_set in self.facesets:
            drawn = face_set.train[torch.randint(len(face_set.train), (self.config.batch,), generator=self.generator)]
            picks.append(drawn.to(self.device))
        images = torch.cat([set_images[p] for set_images, p in zip(self.images, picks)])
        landmarks = torch.cat([set_landmarks[p] for set_landmarks, p in zip(self.landmarks, picks)])
        regions = None if self.regions is None else torch.cat([maps[p] for maps, p in zip(self.regions, picks)])
        return images, landmarks, regions

    def _autocast(self) -> torch.autocast:
        return torch.autocast(self.device.type, dtype=torch.bfloat16, enabled=self.bf16)

    def _identity_losses(self, batch: aug.Batch) -> torch.Tensor:
        """Mean loss per identity (N), forward pass included."""
        inputs = batch.inputs.contiguous(memory_format=self.memory_format)
        with self._autocast():
            latents = self.encoder(inputs).split(self.config.batch)
            outputs = [torch.sigmoid(decoder(latent)) for decoder, latent in zip(self.decoders, latents)]
            visible = torch.sigmoid(self.occlusion(inputs)) if self.occlusion is not None else None
        per_identity = []
        for index, (output, targets, weights, masks) in enumerate(zip(
            outputs, *(t.split(self.config.batch) for t in (batch.targets, batch.weights, batch.masks))
        )):
            output = output.float()
            loss = losses.reconstruction_loss(output[:, :3], targets, weights, self.terms)
            if self.model.has_mask:
                mask = output[:, 3:4]
                if visible is not None:  # as SwapModel.forward combines them
                    mask = mask * visible.split(self.config.batch)[index].float()
                loss = loss + self.config.mask_weight * losses.mask_loss(mask, masks, self.config.mask_loss)
            per_identity.append(loss.mean())
        return torch.stack(per_identity)

    def step(self) -> torch.Tensor | None:
        """One optimiser step; returns the per-identity losses, or None after a non-finite loss (rolled back)."""
        images, landmarks, regions = self._sample()
        params = aug.draw(len(images), self.augment, self.generator).to(self.device)
        batch = aug.augment(images, landmarks, params, self.augment, regions)
        per_identity = self._identity_losses(batch)
        total = per_identity.sum()
        if distributed.any_rank(self.world, not bool(torch.isfinite(total)), self.device):  # all roll back together
            self.roll_back(f"the loss became {total.item()} at iteration {self.iteration + 1}")
            return None
        self.optimizer.zero_grad(set_to_none=True)
        total.backward()
        self.optimizer.step()
        self.iteration += 1
        return per_identity.detach()

    def roll_back(self, reason: str) -> None:
        """Return to the last saved state with half the learning rate, or give up after repeated failures."""
        self.rollbacks += 1
        self.consecutive_rollbacks += 1
        if self.consecutive_rollbacks > MAX_CONSECUTIVE_ROLLBACKS:
            raise TrainingDivergedError(
                f"{reason}; training diverged {MAX_CONSECUTIVE_ROLLBACKS} times in a row even after rolling back "
                "and halving the learning rate: lower --lr or check the training faces"
            )
        self.restore(bundle.load_checkpoint(self.model_dir, self.device, warn=log.warning))
        for group in self.optimizer.param_groups:
            group["lr"] = group["lr"] / 2
        log.warning(
            "%s: rolled back to the last save (iteration %d) and lowered the learning rate to %.3g",
            reason, self.iteration, self.optimizer.param_groups[0]["lr"],
        )

    # ----- evaluation and saving --------------------------------------------------------------------------
    @torch.no_grad()
    def evaluate(self) -> tuple[Evaluation, list[tuple[str, torch.Tensor]]]:
        """Held-out loss and SSIM per identity (fp32, no augmentation), and the preview grid's rows."""
        was_training = self.model.training
        self.model.eval()
        loss, ssim, rows = {}, {}, []
        count = len(self.facesets)
        try:
            for index, face_set in enumerate(self.facesets):
                picks = face_set.holdout.to(self.device)
                faces = self.images[index][picks].float() / 255
                weights, target_mask = self._targets(index, picks)
                own, own_mask = self.model(faces.contiguous(memory_format=self.memory_format), index)
                value = losses.reconstruction_loss(own, faces, weights, self.terms)
                if own_mask is not None:
                    value = value + self.config.mask_weight * losses.mask_loss(own_mask, target_mask, self.config.mask_loss)
                loss[face_set.name] = value.mean().item()
                ssim[face_set.name] = losses.ssim_map(own, faces).mean().item()
                other = (index + 1) % count
                swapped, _ = self.model(faces.contiguous(memory_format=self.memory_format), other)
                letter, other_letter = identity_letter(index), identity_letter(other)
                rows += [(letter, faces), (f"{letter}>{letter}", own), (f"{letter}>{other_letter}", swapped)]
        finally:
            self.model.train(was_training)
        return Evaluation(loss, ssim), rows

    def _targets(self, index: int, picks: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Loss weights and face mask target of some faces of one identity, as they are (no augmentation)."""
        if self.regions is None:
            landmarks = self.landmarks[index][picks]
            return aug.region_weights(landmarks, self.model.size, self.config.augment), aug.face_mask(landmarks, self.model.size)
        maps = self.regions[index][picks].float() / 255
        return aug.weights_of(maps[:, 1:], self.config.augment), maps[:, :1]

    def save(self, train_losses: dict[str, float], eg_per_s: float) -> Evaluation:
        """Checkpoint, then the held-out evaluation, metrics row, preview grid and loss curve (written by rank 0;
        every rank evaluates, so all take the same plateau decision)."""
        evaluation, rows = self.evaluate()
        self.consecutive_rollbacks = 0
        if self.world.main:
            self._write(evaluation, rows, train_losses, eg_per_s)
        distributed.barrier(self.world)  # a roll-back on any rank reads what rank 0 wrote
        return evaluation

    def _write(self, evaluation: Evaluation, rows: list[tuple[str, torch.Tensor]], train_losses: dict[str, float],
               eg_per_s: float) -> None:
        bundle.save_checkpoint(self.model_dir, self.state())
        report.append_metrics(self.model_dir, {
            "iteration": self.iteration,
            "time": time.time(),
            "loss": train_losses,
            "holdout_loss": evaluation.loss,
            "holdout_ssim": evaluation.ssim,
            "eg_per_s": eg_per_s,
            "lr": self.optimizer.param_groups[0]["lr"],
        })
        self.previews.write(self.model_dir, self.iteration, self.config.arch, report.preview_grid(rows))

    def plateaued(self, evaluation: Evaluation) -> bool:
        """True once `plateau_patience` saves in a row brought no real held-out improvement."""
        if self.config.plateau_patience is None:
            return False
        current = sum(evaluation.loss.values())
        if current < self.plateau["best"] * (1 - self.config.plateau_delta):
            self.plateau = {"best": current, "stale": 0}
        else:
            self.plateau["stale"] += 1
        return self.plateau["stale"] >= self.config.plateau_patience

    # ----- the loop ---------------------------------------------------------------------------------------
    def run(self, progress: Callable[[Progress], None] | None = None) -> TrainSummary:
        return loop.run(self, progress)


def _described(config: dict[str, Any]) -> str:
    """A model's settings as a person reads them: "size 64, occlusion True"."""
    return ", ".join(f"{name} {value}" for name, value in config.items()) or "defaults"
