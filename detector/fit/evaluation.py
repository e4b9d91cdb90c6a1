"""The detector's fit and evaluation sets and metrics, shared by scripts/fit_detector.py (which fits and writes
the calibration) and bench/detector_eval.py (which only evaluates).

Data, all made here from the real clips in the shared data folder (never copied into the repository):
- real: a window of each clip, re-encoded;
- manipulated: the same window self-blended (detector.fit.selfblend), one artefact family dominant per clip:
  resample (low-resolution render), colour (skin-tone mismatch), misalign (offset + jittering paste), box
  (rectangular blend), other_frame (the face of another moment pasted in).
Identities are disjoint: FIT clips fit the model, EVAL clips (other people) evaluate it. Fit clips are encoded
at a CRF drawn from {12, 23, 35}; every evaluation clip at CRF 23 and 35 (H.264, libx264 veryfast). Faces are
detected on every frame here (`collect_tracks`' default), as the shipped calibration was fitted.

The regularisation strength and the cue set are chosen by leave-one-person-out AUC on the fit people alone.
`run_evaluation` prints clip-level AUC, accuracy and TPR at 1 % FPR per condition and family, a held-out-family
evaluation (refit without the family, test on it), and a per-cue ablation (refit without the cue, or with only
it, at the selected strength). Features are cached per clip, so reruns and ablations cost seconds.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np

from detector import cues
from detector.analyse import DETECTOR_OPTIONS, single_torch_thread
from detector.fit.dataset import Landmarks, Unit, cached_features
from detector.fit.model import auc, clip_probabilities, fit_calibration, tpr_at_fpr
from detector.fit.selfblend import FAMILIES
from swapcore.faces.detectors import create

VERSION = "2026.11.23-1"
FIT = {  # identity -> clip under the shared data folder; one person per entry, none shared with EVAL
    "d0": "video/d0.mp4", "d3": "video/d3.mp4", "d9": "video/d9.mp4", "d11": "video/d11.mp4", "d13": "video/d13.mp4",
    "retalk1": "video/retalk1.mp4", "retalk2": "video/retalk2.mp4", "retalk3": "video/retalk3.mp4",
    "andrew": "faces/styletalk_source/andrew_clip_1.mp4", "furious1": "faces/styletalk_style/furious_talk1_clip1.mp4",
    "happyenglish": "faces/styletalk_style/happyenglish_clip1.mp4", "sadgirl": "faces/styletalk_style/sadgirl_clip1.mp4",
}
EVAL = {
    "d6": "video/d6.mp4", "d10": "video/d10.mp4", "d12": "video/d12.mp4", "d14": "video/d14.mp4",
    "retalk4": "video/retalk4.mp4", "retalk5": "video/retalk5.mp4",
    "feifeili": "faces/styletalk_source/feifeili_clip1.mp4", "furious2": "faces/styletalk_style/furious_talk2_clip1.mp4",
}
FIT_CRFS = (12, 23, 35)
CRFS = (23, 35)  # evaluation conditions
START = 30  # leaves room for "other_frame" pastes from up to 30 frames earlier


def build_units(data: Path, frames: int, seed: int) -> tuple[list[Unit], list[Unit]]:
    rng = np.random.default_rng(seed)
    fit, evaluation = [], []
    for number, (identity, relative) in enumerate(FIT.items()):
        for family in ("real", *FAMILIES):
            fit.append(Unit(identity, data / relative, START, frames, family, int(rng.choice(FIT_CRFS)), seed + number))
    for number, (identity, relative) in enumerate(EVAL.items()):
        for family in ("real", *FAMILIES):
            for crf in CRFS:
                evaluation.append(Unit(identity, data / relative, START, frames, family, crf, seed + 1000 + number))
    return fit, evaluation


def features_of(units: list[Unit], cache: Path, landmarks: Landmarks, detect_every: int) -> list[np.ndarray]:
    out = []
    for number, unit in enumerate(units, 1):
        started = time.perf_counter()
        out.append(cached_features(unit, cache, landmarks, detect_every))
        print(f"  [{number}/{len(units)}] {unit.key} {time.perf_counter() - started:.1f} s", flush=True)
    return out


def columns(feature_list: list[str]) -> list[int]:
    return [cues.feature_names().index(f) for f in feature_list]


def fit(units: list[Unit], feats: list[np.ndarray], feature_list: list[str], provenance: dict | None = None,
        l2: float = 1.0):
    idx = columns(feature_list)
    return fit_calibration([f[:, idx] for f in feats], [u.label for u in units], feature_list, version=VERSION,
                           provenance=provenance or {}, l2=l2)


def cross_validated_auc(units: list[Unit], feats: list[np.ndarray], feature_list: list[str], l2: float) -> float:
    """Leave-one-person-out AUC on the fit set alone (the evaluation people are never looked at)."""
    scores = np.zeros(len(units))
    for identity in FIT:
        train = [i for i, u in enumerate(units) if u.identity != identity]
        test = [i for i, u in enumerate(units) if u.identity == identity]
        model = fit([units[i] for i in train], [feats[i] for i in train], feature_list, l2=l2)
        scores[test] = clip_probabilities(model, [feats[i][:, columns(feature_list)] for i in test])
    labels = np.array([u.label for u in units])
    return auc(scores[labels == 0], scores[labels == 1])


def select_model(units: list[Unit], feats: list[np.ndarray]) -> tuple[list[str], float]:
    """Regularisation strength and cue set with the best leave-one-person-out AUC on the fit people."""
    candidates = [cues.feature_names()] + [[f for f in cues.feature_names() if f not in cues.get(name).features]
                                           for name in cues.available()]
    results = {(tuple(features), l2): cross_validated_auc(units, feats, features, l2)
               for features in candidates for l2 in (1.0, 30.0, 1000.0)}
    (features, l2), best = max(results.items(), key=lambda item: item[1])
    dropped = sorted(set(cues.feature_names()) - set(features))
    print(f"model selection (leave-one-person-out on the fit set): AUC {best:.3f} with l2={l2:g}, "
          f"dropped features: {', '.join(dropped) or 'none'}")
    return list(features), l2


def evaluate(calibration, units: list[Unit], feats: list[np.ndarray], family: str | None, crf: int) -> dict:
    idx = columns(calibration.features)
    chosen = [(u, f) for u, f in zip(units, feats) if u.crf == crf and (u.family == "real" or family in (None, u.family))]
    probabilities = clip_probabilities(calibration, [f[:, idx] for _, f in chosen])
    labels = np.array([u.label for u, _ in chosen])
    negative, positive = probabilities[labels == 0], probabilities[labels == 1]
    return {"auc": auc(negative, positive), "accuracy": float(((probabilities >= 0.5) == labels).mean()),
            "tpr_at_zero_fp": float((positive > negative.max()).mean()),
            "tpr_at_1pct_fpr": tpr_at_fpr(negative, positive, 0.01), "real": len(negative), "manipulated": len(positive)}


def report_table(title: str, rows: dict[str, dict[int, dict]]) -> None:
    print(f"\n{title}")
    print(f"{'':24s}" + "".join(f"CRF {crf}: AUC  acc  TPR@1%FPR " for crf in CRFS))
    for name, per_crf in rows.items():
        print(f"{name:24s}" + "".join(f"       {per_crf[c]['auc']:.3f} {per_crf[c]['accuracy']:.2f} {per_crf[c]['tpr_at_1pct_fpr']:.2f}     "
                                       for c in CRFS))


def arguments(description: str) -> argparse.ArgumentParser:
    """The evaluation's command-line options (scripts/fit_detector.py, bench/detector_eval.py)."""
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument("--data", type=Path, default=Path(__file__).resolve().parents[3] / "shared" / "data")
    parser.add_argument("--cache", type=Path, default=Path.home() / ".cache" / "faceproof" / "detector-fit")
    parser.add_argument("--frames", type=int, default=16)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--detect-every", type=int, default=1,
                        help="detect faces on every n-th frame, interpolating between (the shipped fit used 1)")
    return parser


def run_evaluation(data: Path, cache: Path, frames: int, seed: int, detect_every: int = 1) -> tuple[list[Unit], list[np.ndarray], list[str], float, dict]:
    """Build (or read from `cache`) both sets' features, select, fit and print every evaluation table.

    `detect_every` > 1 measures the clips with sparse face detection (as `detector.analyse` does by default),
    cached apart. Returns the fit units and features, the selected features and strength, and the main evaluation table.
    """
    cache = cache if detect_every == 1 else cache / f"detect-every-{detect_every}"
    cache.mkdir(parents=True, exist_ok=True)
    with single_torch_thread():
        fit_units, eval_units = build_units(data, frames, seed)
        landmarks = Landmarks(create("mtcnn", **DETECTOR_OPTIONS))
        print(f"features: {len(fit_units)} fit clips, {len(eval_units)} evaluation clips (cache {cache})")
        fit_feats = features_of(fit_units, cache, landmarks, detect_every)
        eval_feats = features_of(eval_units, cache, landmarks, detect_every)
        all_features = cues.feature_names()
        chosen, l2 = select_model(fit_units, fit_feats)

        full = fit(fit_units, fit_feats, chosen, l2=l2)
        table = {"all families": {c: evaluate(full, eval_units, eval_feats, None, c) for c in CRFS}}
        table.update({family: {c: evaluate(full, eval_units, eval_feats, family, c) for c in CRFS} for family in FAMILIES})
        report_table("Evaluation on held-out identities (clip level; real vs manipulated)", table)

        held_out = {}
        for family in FAMILIES:
            keep = [i for i, u in enumerate(fit_units) if u.family != family]
            model = fit([fit_units[i] for i in keep], [fit_feats[i] for i in keep], chosen, l2=l2)
            held_out[family] = {c: evaluate(model, eval_units, eval_feats, family, c) for c in CRFS}
        report_table("Held-out manipulation family (fitted without it, tested on it)", held_out)

        ablation = {"selected model": table["all families"], "all cues": {c: evaluate(fit(fit_units, fit_feats, all_features, l2=l2), eval_units, eval_feats, None, c) for c in CRFS}}
        for name in cues.available():
            kept = [f for f in all_features if f not in cues.get(name).features]
            model = fit(fit_units, fit_feats, kept, l2=l2)
            ablation[f"without {name}"] = {c: evaluate(model, eval_units, eval_feats, None, c) for c in CRFS}
            model = fit(fit_units, fit_feats, list(cues.get(name).features), l2=l2)
            ablation[f"only {name}"] = {c: evaluate(model, eval_units, eval_feats, None, c) for c in CRFS}
        report_table("Cue ablation (all families pooled)", ablation)
    real = table["all families"][CRFS[0]]["real"]
    print(f"\nTPR@1%FPR: the share of manipulated clips scored above every real clip but the top 1 %. With {real} real "
          f"clips per condition the smallest resolvable FPR step is {1 / real:.1%}, so 1 % FPR cannot be resolved: "
          f"the figure is the TPR at zero false positives.")
    return fit_units, fit_feats, chosen, l2, table
