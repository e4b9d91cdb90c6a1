"""Fit the learned blend network (detector/blendnet.pt) in four steps: pack the training faces, train, ship, score.

    .venv/bin/python scripts/fit_blendnet.py pack OUT.npz [--data ../shared/data] [--cache DIR] [--every 2]
    python scripts/fit_blendnet.py train PACK.npz OUT_DIR [--folds 4] [--seconds 44 | --steps 2000] [--workers N]
    .venv/bin/python scripts/fit_blendnet.py ship OUT_DIR
    .venv/bin/python scripts/fit_blendnet.py score OUT_DIR [--cache DIR]

`pack` reads the face tracks `python -m detector.fit.reference` cached (the authentic CRF 18 clips of every person:
2,602 faces of 47 people, 46 MB). `train` needs only numpy, SciPy, OpenCV and torch, so it runs on a GPU machine
that has nothing else (the shipped networks: 44 s each on an H200 with 15 loader workers, 585-766 steps of 128); on
this CPU it completes with `--steps` (about 10 s a step of 64 on 2 cores). It fits the shipped network on everyone,
then one per fold of people, writing each as it is done (`blendnet.pt`, `fold<k>.pt`, their records and the
people's folds in `records.json`). `ship` puts the network fitted on everyone into `detector/` (float16) with its
record; then `score` stores, for every cached reference and paste clip, the values of the fold network that never
saw its person, where `scripts/fit_evidence.py` reads them. Ship and score from the same run: the stored values are
keyed by the shipped network's fingerprint.
"""

from __future__ import annotations

import argparse
import json
import sys
from datetime import date
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from detector.fit import DEFAULT_CACHE  # noqa: E402
from detector.fit import blendnet as fit  # noqa: E402

TRAINING_CONDITION = (18, 1.0)  # (CRF, scale) of the reference clips the training faces come from


def pack(args: argparse.Namespace) -> None:
    from detector.fit.dataset import track_path  # the reference needs the whole detector: import here
    from detector.fit.reference import reference_clips

    faces = []
    for clip in reference_clips(args.data):
        path = track_path(args.cache, clip.key)
        if (clip.crf, clip.scale) != TRAINING_CONDITION or not path.exists():
            continue
        with np.load(path) as track:
            crops, shapes = track["crops"], track["shapes"]
        if shapes.shape[1:] == (68, 2):
            faces += [fit.Face(clip.identity, crops[i], shapes[i]) for i in range(0, len(crops), args.every)]
    if not faces:
        raise SystemExit(f"no cached CRF 18 reference tracks in {args.cache}: run python -m detector.fit.reference")
    fit.write_pack(faces, args.out)
    people = sorted({f.person for f in faces})
    print(f"wrote {args.out}: {len(faces)} faces of {len(people)} people, {args.out.stat().st_size / 1e6:.1f} MB")


def _add_records(folder: Path, entries: dict) -> None:
    """Add to the folder's `records.json` (one file: GPU runs return few), keeping what earlier runs wrote."""
    records = folder / "records.json"
    earlier = json.loads(records.read_text()) if records.exists() else {}
    records.write_text(json.dumps({**earlier, **entries}, indent=1))


def _save(net: torch.nn.Module, record: dict, path: Path) -> None:
    """The weights, and their record in the folder's `records.json`."""
    torch.save(net.state_dict(), path)
    record.update(fitted=f"{date.today():%Y-%m-%d}", width=record["settings"]["width"])
    _add_records(path.parent, {path.stem: record})
    print(f"wrote {path} ({record['steps']} steps, {record['samples']} samples, loss {record['final_loss']})",
          flush=True)


def train(args: argparse.Namespace) -> None:
    faces = fit.read_pack(args.pack)
    folds = fit.person_folds([f.person for f in faces], args.folds)
    args.out.mkdir(parents=True, exist_ok=True)
    _add_records(args.out, {"people_folds": folds})
    settings = fit.Settings(seconds=args.seconds, steps=args.steps, batch=args.batch, workers=args.workers,
                            width=args.width, seed=args.seed)
    runs = [] if args.only == "folds" else [("blendnet", None)]  # the shipped one first
    runs += [] if args.only == "full" else [(f"fold{k}", k) for k in range(args.folds)]
    for name, fold in runs:
        chosen = [f for f in faces if fold is None or folds[f.person] != fold]
        print(f"{name}: {len(chosen)} faces of {len({f.person for f in chosen})} people", flush=True)
        net, record = fit.train(chosen, settings, log=lambda line: print(line, flush=True))
        record["fold"] = fold
        if fold is not None:  # pastes of the fold's own people, whom this network never saw
            unseen = [f for f in faces if folds[f.person] == fold]
            record["unseen_people_synthetic_auc"] = round(
                fit.synthetic_auc(net, unseen, settings, device=next(net.parameters()).device.type), 4)
            print(f"  {name}: AUC {record['unseen_people_synthetic_auc']} on pastes of its unseen people", flush=True)
        _save(net.cpu(), record, args.out / f"{name}.pt")


def ship(args: argparse.Namespace) -> None:
    """The network fitted on everyone into `detector/` (float16: half the size, within 0.002 of its logits) with
    its record, the folds and what each fold network reached on its unseen people."""
    from detector import blendnet

    records = json.loads((args.models / "records.json").read_text())
    state = torch.load(args.models / "blendnet.pt", map_location="cpu", weights_only=True)
    torch.save({name: value.half() if value.is_floating_point() else value for name, value in state.items()},
               blendnet.weights_path())
    folds = {name: {key: record[key] for key in ("steps", "samples", "seconds", "device", "final_loss",
                                                   "unseen_people_synthetic_auc")}
             for name, record in records.items() if name.startswith("fold")}
    record = {**records["blendnet"], "people_folds": records["people_folds"], "fold_networks": folds,
              "stored": "float16 (trained with float32 weights under bfloat16 autocast)"}
    blendnet.weights_path().with_suffix(".json").write_text(json.dumps(record, indent=1) + "\n")
    print(f"wrote {blendnet.weights_path()} and its record")


def score(args: argparse.Namespace) -> None:
    """Every cached reference and paste clip's learned-blend values from the fold network without its person,
    stored where the evidence fit reads them (`detector.fit.dataset.feature_path(..., out_of_fold=True)`)."""
    from tqdm import tqdm

    from detector import blendnet
    from detector.cues.learned_blend import frame_values
    from detector.fit.dataset import feature_path, track_path
    from detector.fit.reference import paste_clips, reference_clips

    folds = json.loads((args.models / "records.json").read_text())["people_folds"]
    nets = {int(p.stem[4:]): blendnet.load(p) for p in sorted(args.models.glob("fold*.pt"))}
    torch.set_num_threads(args.threads)
    scored = 0
    for clip in tqdm(reference_clips(args.data) + paste_clips(args.data), desc="scoring", unit="clip"):
        path = track_path(args.cache, clip.key)
        if path.exists():
            with np.load(path) as track:
                crops = list(track["crops"])
            np.save(feature_path(args.cache, clip.key, "learned_blend", out_of_fold=True),
                    frame_values(crops, nets[folds[clip.identity]]))
            scored += 1
    print(f"wrote the out-of-fold values of {scored} clips into {args.cache}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    steps = parser.add_subparsers(dest="step", required=True)
    default_data = Path(__file__).resolve().parents[2] / "shared" / "data"
    p = steps.add_parser("pack")
    p.add_argument("out", type=Path)
    p.add_argument("--data", type=Path, default=default_data)
    p.add_argument("--cache", type=Path, default=DEFAULT_CACHE)
    p.add_argument("--every", type=int, default=2, help="take every Nth frame of each track (default 2)")
    p = steps.add_parser("train")
    p.add_argument("pack", type=Path)
    p.add_argument("out", type=Path)
    p.add_argument("--folds", type=int, default=4)
    p.add_argument("--only", choices=["all", "folds", "full"], default="all")
    p.add_argument("--seconds", type=float, default=0.0, help="training time per network (0: --steps)")
    p.add_argument("--steps", type=int, default=fit.Settings.steps)
    p.add_argument("--batch", type=int, default=fit.Settings.batch)
    p.add_argument("--width", type=int, default=fit.Settings.width)
    p.add_argument("--workers", type=int, default=fit.Settings.workers)
    p.add_argument("--seed", type=int, default=fit.Settings.seed)
    p = steps.add_parser("ship")
    p.add_argument("models", type=Path)
    p = steps.add_parser("score")
    p.add_argument("models", type=Path)
    p.add_argument("--data", type=Path, default=default_data)
    p.add_argument("--cache", type=Path, default=DEFAULT_CACHE)
    p.add_argument("--threads", type=int, default=2)
    args = parser.parse_args()
    {"pack": pack, "train": train, "ship": ship, "score": score}[args.step](args)


if __name__ == "__main__":
    main()
