"""Training quality per unit of compute: a fixed time budget on d6 vs d14, then held-out SSIM per identity.

    .venv/bin/python -m bench.train_quality [--minutes 30] [--arch original] [--batch 16] [--every 3]
        [--work DIR] [--device auto] [--threads N]

Faces are extracted from ../shared/data/video/d6.mp4 and d14.mp4 by `swapcore.extract` (every `--every`th
frame, 64 px, or the architecture's size) into `--work` and reused by later runs. The model trains from scratch
for `--minutes` of wall time, then the held-out faces (16 per identity, never trained on) give the SSIM of each
identity's reconstruction; the swap preview (A, A>A, A>B, B, B>B, B>A) is saved as `train_quality_preview.png`
in `--work`. Compare figures only at the same budget, architecture and machine load. The run uses a throwaway
installation under `--work/home` (consents recorded there, previews sealed there), never the user's own.
"""

from __future__ import annotations

import argparse
import os
import shutil
import tempfile
from collections.abc import Iterable
from pathlib import Path

import torch

from bench.machine import describe
from provenance.consent import record_consent
from provenance.installation import Installation
from provenance.seal import Sealer
from swapcore.extract import extract
from swapcore.models import architecture
from swapcore.train import train
from swapcore.training import report

VIDEO = Path(os.environ.get("FACEPROOF_DATA", Path(__file__).resolve().parent.parent.parent / "shared" / "data")) / "video"
IDENTITIES = ("d6", "d14")
HOLDOUT = 16


def bench_installation(work: Path) -> Installation:
    """The bench's own installation under `work` (keys, consents, sealed outputs): never the user's."""
    return Installation(work / "home", passphrase="bench")


def consenting_sealer(work: Path, names: Iterable[str]) -> Sealer:
    """The bench installation's sealer with a consent per identity (training and sealing require them)."""
    sealer = bench_installation(work).sealer()
    form = work / "consent.txt"
    form.write_text("benchmark consent: public test data")
    for name in names:
        record_consent(sealer.log, identity=name, person=name, document=form, actor="bench")
    return sealer


def faces_of(name: str, work: Path, size: int, every: int) -> Path:
    """The identity's aligned faces, extracted once per (size, every) and reused."""
    folder = work / f"{name}_{size}px_every{every}"
    if not (folder / "alignments.json").is_file():
        extract(VIDEO / f"{name}.mp4", folder, size=size, every=every, overwrite=True)
    return folder


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--minutes", type=float, default=30.0, help="training budget in wall minutes (default 30)")
    parser.add_argument("--arch", default="original")
    parser.add_argument("--batch", type=int, default=16)
    parser.add_argument("--every", type=int, default=3, help="extract every Nth frame (default 3)")
    parser.add_argument("--save-every", type=int, default=250)
    parser.add_argument("--device", default="auto")
    parser.add_argument("--threads", type=int, default=None, help="torch threads (default: torch's, = cores)")
    parser.add_argument("--work", type=Path, default=Path(tempfile.gettempdir()) / "faceproof_train_quality")
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    size = architecture(args.arch).default_size
    args.work.mkdir(parents=True, exist_ok=True)
    folders = [faces_of(name, args.work, size, args.every) for name in IDENTITIES]
    model_dir = args.work / f"model_{args.arch}"
    shutil.rmtree(model_dir, ignore_errors=True)  # every run starts from scratch: the budget is the variable
    print(f"machine: {describe()}")
    with consenting_sealer(args.work, [folder.name for folder in folders]) as sealer:
        summary = train(folders, model_dir, arch=args.arch, batch=args.batch, iterations=10**9,
                        save_every=args.save_every, time_limit=args.minutes * 60, holdout=HOLDOUT,
                        device=args.device, sealer=sealer, actor="bench")
    preview = args.work / "train_quality_preview.png"
    shutil.copyfile(model_dir / report.PREVIEWS / "latest.png", preview)
    ssim = ", ".join(f"{name} {summary.holdout.ssim[folder.name]:.4f}" for name, folder in zip(IDENTITIES, folders))
    print(f"train_quality {args.arch} {args.minutes:g} min budget, batch {args.batch}x2: {summary.iteration} iterations, "
          f"{summary.eg_per_s:.1f} EG/s; held-out SSIM {ssim} ({HOLDOUT} faces each)")
    print(f"preview: {preview}; loss curve: {model_dir / report.LOSS_CURVE}")
    print(f"load after: {', '.join(f'{v:.2f}' for v in os.getloadavg())}")


if __name__ == "__main__":
    main()
