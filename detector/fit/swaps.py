"""faceproof's own swaps as detector data: swap models trained here, per identity pair, and swapped windows.

A pair (A, B) gets one `lite` model trained on faces extracted from both people's clips (consents recorded
in a private installation under the work folder, as the pipeline requires). A swapped window is the target
clip's frames run through `swapcore.convert.pipeline.swap_frames` (the conversion pipeline: detection,
smoothing, the model, mask, colour match, blend) with conversion options drawn per clip. Those frames are
detector data that is measured and deleted (`detector.fit.dataset`), never delivered, so they are not sealed.

Fit and evaluation pairs are made of fit and evaluation people respectively (`detector.fit.evaluation`).
"""

from __future__ import annotations

import functools
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import torch

from provenance.consent import consent_status, record_consent
from provenance.installation import Installation
from swapcore.convert import color
from swapcore.convert.blend import BlendSettings
from swapcore.convert.pipeline import SwapSettings, swap_frames
from swapcore.extract import extract
from swapcore.models import architecture
from swapcore.train import LoadedModel, load_model, train

ARCH = "lite"
EVERY = 2  # every 2nd frame of each clip is a training face


def model_dir(work: Path, a: str, b: str) -> Path:
    return work / f"model_{a}_{b}"


def private_installation(work: Path) -> Installation:
    """The installation (keys, custody log, consents) that owns the detector's swap models and their outputs:
    never the user's."""
    return Installation(work / "home", passphrase="detector-fit")


def train_pair(work: Path, a: tuple[str, Path], b: tuple[str, Path], minutes: float, threads: int = 1) -> Path:
    """Train (or resume) the pair's swap model for `minutes` of wall time, in the private installation;
    returns the model folder."""
    torch.set_num_threads(threads)
    size = architecture(ARCH).default_size
    folders = []
    for name, clip in (a, b):
        folder = work / f"{name}_{size}px"
        if not (folder / "alignments.json").is_file():
            extract(clip, folder, size=size, every=EVERY, overwrite=True)
        folders.append(folder)
    form = work / "consent.txt"
    form.write_text("detector fitting: public test data, swaps are measured and deleted, never published")
    target = model_dir(work, a[0], b[0])
    with private_installation(work).sealer() as sealer:
        for folder in folders:
            if consent_status(sealer.log, folder.name) is None:
                record_consent(sealer.log, identity=folder.name, person=folder.name, document=form,
                               actor="detector-fit")
        train(folders, target, arch=ARCH, batch=16, iterations=10**9, save_every=500, time_limit=minutes * 60,
              sealer=sealer, actor="detector-fit", device="cpu")
    return target


def random_settings(rng: np.random.Generator, direction: str) -> SwapSettings:
    """Conversion options as users vary them: colour method (any registered), feathering, erosion, smoothing (a
    lite model has no learned mask, so the mask is the landmark hull)."""
    blend = BlendSettings(erode=float(rng.uniform(-2, 4)), blur=float(rng.uniform(2, 8)))
    return SwapSettings(direction=direction, color=str(rng.choice(color.available())), mask="hull", blend=blend,
                        smooth=float(rng.uniform(0.2, 0.8)), device="cpu")


def swapped_window(model: LoadedModel, clip: Path, start: int, frames: int, settings: SwapSettings) -> Iterator[np.ndarray]:
    """The clip's frames [start, start + frames) with the main face swapped."""
    for result in swap_frames(clip, model, settings, frames=(start, start + frames)):
        yield result.swapped


@functools.cache
def load(folder: Path) -> LoadedModel:
    """A trained pair model, loaded once per process however many windows it swaps."""
    return load_model(folder, device="cpu")
