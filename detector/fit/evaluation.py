"""The detector's fit and evaluation sets and metrics, shared by scripts/fit_detector.py (which fits and writes
the calibration) and bench/detector_eval.py (which only evaluates).

Data, all made here from the real clips in the shared data folder (never copied into the repository), in
16-frame windows spread over each person's clips (up to 10 per fit person, 16 per evaluation person):
- real: the window, re-encoded;
- self-blended (detector.fit.selfblend), one artefact family dominant per clip, two families per window in
  turn: resample (low-resolution render), colour (skin-tone mismatch), misalign (offset + jittering paste), box
  (rectangular blend), other_frame (the face of another moment pasted in);
- faceproof: the window converted by faceproof's own pipeline with a `lite` model trained here on a pair of
  people (detector.fit.swaps), conversion options drawn per clip.
Identities are disjoint: FIT people fit the model, EVAL people (others) evaluate it. Fit clips are encoded at a
CRF drawn from {12, 23, 35}; every evaluation clip at CRF 23 and 35 (H.264, libx264 veryfast). Faces are
detected on every frame here (`collect_tracks`' default).

The regularisation strength and the cue set are chosen by leave-one-person-out AUC on the fit people alone.
`run_evaluation` prints clip-level AUC, accuracy and TPR at 1 % FPR per condition and family, a per-cue
ablation (refit without the cue, or with only it) and a held-out-family evaluation (refitted without the
family, tested on it). Face tracks and features are cached, so reruns cost minutes, not hours.
"""

from __future__ import annotations

import argparse
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from tqdm import tqdm

from detector import cues
from detector.analysis import DETECTOR_OPTIONS, single_torch_thread
from detector.faces import CROP_SIZE
from detector.fit import swaps
from detector.fit.dataset import SWAP_FAMILY, Landmarks, NoFaceTrack, Unit, cached_features
from detector.fit.model import auc, clip_probabilities, fit_calibration, tpr_at_fpr
from detector.fit.selfblend import FAMILIES
from swapcore import media
from swapcore.faces.detectors import create

VERSION = "2026.11.23-2"
# identity -> its clips under the shared data folder. One person per entry and no person in both sets; people
# who might be one person (happyenglish and surprisegirl; furious_talk1_clip1, which resembles furious_talk2) are
# kept on one side or left out.
FIT = {
    "d0": ["video/d0.mp4"], "d3": ["video/d3.mp4"], "d9": ["video/d9.mp4"], "d11": ["video/d11.mp4"],
    "d13": ["video/d13.mp4"], "retalk1": ["video/retalk1.mp4"], "retalk2": ["video/retalk2.mp4"],
    "retalk3": ["video/retalk3.mp4"],
    "andrew": ["faces/styletalk_source/andrew_clip_1.mp4", "faces/styletalk_source/andrew_clip_2.mp4"],
    "furious1": ["faces/styletalk_style/furious_talk1_clip2.mp4"],
    "happyenglish": ["faces/styletalk_style/happyenglish_clip1.mp4", "faces/styletalk_style/happyenglish_clip2.mp4"],
    "surprisegirl": ["faces/styletalk_style/surprisegirl_clip2.mp4"],
    "sadgirl": ["faces/styletalk_style/sadgirl_clip1.mp4"], "nice": ["faces/styletalk_style/nice_clip1.mp4"],
    "sadfather": ["faces/styletalk_style/sadfather_clip1.mp4"], "spata": ["faces/styletalk_style/spata_clip1.mp4"],
}
EVAL = {
    "d6": ["video/d6.mp4"], "d10": ["video/d10.mp4"], "d12": ["video/d12.mp4"], "d14": ["video/d14.mp4"],
    "retalk4": ["video/retalk4.mp4"], "retalk5": ["video/retalk5.mp4"],
    "feifeili": [f"faces/styletalk_source/{name}.mp4" for name in ("feifeili_clip1", "feifeili_clip2_short", "feifeili_clip3")],
    "furious2": [f"faces/styletalk_style/furious_talk2_clip{n}.mp4" for n in range(1, 8)],
    "sad_emotion": ["faces/styletalk_style/sad_emotion_clip1.mp4"], "vscodehappy": ["faces/styletalk_style/vscodehappy_clip1.mp4"],
}
# faceproof swap models (detector.fit.swaps): one pair of fit people, one pair of evaluation people.
SWAP_PAIRS = {"fit": ("d3", "d9"), "eval": ("d6", "d14")}
FIT_CRFS = (12, 23, 35)
CRFS = (23, 35)  # evaluation conditions
WINDOWS = {"fit": 10, "eval": 16}  # most 16-frame windows per person, spread over their clips
MANIPULATED_PER_WINDOW = 2  # self-blend families per window, taken in turn
MARGIN = 4  # frames left out at each end of a clip (fades, encoder start-up)
ALL_FAMILIES = (*FAMILIES, SWAP_FAMILY)


def windows(data: Path, clips: list[str], frames: int, most: int) -> list[tuple[Path, int]]:
    """Up to `most` non-overlapping windows, shared among a person's clips by length and spread evenly."""
    lengths = {clip: media.probe(data / clip).frame_count - 2 * MARGIN for clip in clips}
    fits = {clip: max(0, length // frames) for clip, length in lengths.items()}
    total = sum(fits.values())
    out = []
    for clip, room in fits.items():
        share = min(room, max(1, round(most * room / total))) if total else 0
        starts = np.linspace(MARGIN, MARGIN + lengths[clip] - frames, share).astype(int) if share else []
        out.extend((data / clip, int(start)) for start in starts)
    return out[:most]


def _units_of(side: str, people: dict[str, list[str]], data: Path, frames: int, seed: int,
              rng: np.random.Generator) -> list[Unit]:
    units, turn = [], 0
    pair = SWAP_PAIRS[side]
    for number, (identity, clips) in enumerate(people.items()):
        for w, (source, start) in enumerate(windows(data, clips, frames, WINDOWS[side])):
            unit_seed = seed + 1000 * (side == "eval") + 100 * number + w
            families = ["real"] + [FAMILIES[(turn + k) % len(FAMILIES)] for k in range(MANIPULATED_PER_WINDOW)]
            turn += MANIPULATED_PER_WINDOW
            swap = ""
            if identity in pair:
                families.append(SWAP_FAMILY)
                swap = f"{swaps.model_dir(Path(), *pair).name}:{'a2b' if identity == pair[0] else 'b2a'}"
            crfs = CRFS if side == "eval" else None
            for family in families:
                for crf in crfs or [int(rng.choice(FIT_CRFS))]:
                    units.append(Unit(identity, source, start, frames, family, crf, unit_seed,
                                      swap if family == SWAP_FAMILY else ""))
    return units


def build_units(data: Path, frames: int, seed: int) -> tuple[list[Unit], list[Unit]]:
    rng = np.random.default_rng(seed)
    return _units_of("fit", FIT, data, frames, seed, rng), _units_of("eval", EVAL, data, frames, seed, rng)


def features_of(units: list[Unit], cache: Path, landmarks: Landmarks, detect_every: int,
                swap_work: Path) -> tuple[list[Unit], list[np.ndarray]]:
    """The units the detector could measure, and their features.

    A clip in which no face track can be followed (a swap so poor that MTCNN loses the face) gets no verdict
    from `analyse` either; it is left out of the set and counted aloud, so the figures say what they cover."""
    kept, feats, lost = [], [], []
    for unit in tqdm(units, desc="clips", unit="clip", mininterval=5):
        try:
            feats.append(cached_features(unit, cache, landmarks, detect_every, swap_work))
            kept.append(unit)
        except NoFaceTrack:
            lost.append(unit.key)
    if lost:
        print(f"left out {len(lost)} clip(s) with no measurable face track: {', '.join(lost)}")
    return kept, feats


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
    parser.add_argument("--swaps", type=Path, default=Path.home() / ".cache" / "faceproof" / "detector-swaps",
                        help="folder of the faceproof swap models (trained there when missing)")
    parser.add_argument("--swap-minutes", type=float, default=40.0,
                        help="training time of each missing swap model (default 40; resumes where one stopped)")
    parser.add_argument("--frames", type=int, default=16)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--detect-every", type=int, default=1,
                        help="detect faces on every n-th frame, interpolating between (the shipped fit used 1)")
    return parser


def ensure_swap_models(data: Path, work: Path, minutes: float) -> None:
    """Train each pair's faceproof swap model that `work` lacks (one `lite` model per pair)."""
    for side, (a, b) in SWAP_PAIRS.items():
        if not (swaps.model_dir(work, a, b) / "model.json").is_file():
            people = FIT if side == "fit" else EVAL
            print(f"training the {side} swap model {a} <-> {b} for {minutes:g} minutes")
            swaps.train_pair(work, (a, data / people[a][0]), (b, data / people[b][0]), minutes)


def collect(data: Path, cache: Path, frames: int, seed: int, detect_every: int, swap_work: Path,
            swap_minutes: float) -> tuple[list[Unit], list[np.ndarray], list[Unit], list[np.ndarray]]:
    """Both sets' units and per-clip features, made (and cached) where missing."""
    cache = cache / f"crop{CROP_SIZE}" / ("" if detect_every == 1 else f"detect-every-{detect_every}")
    cache.mkdir(parents=True, exist_ok=True)
    ensure_swap_models(data, swap_work, swap_minutes)
    with single_torch_thread():
        fit_units, eval_units = build_units(data, frames, seed)
        landmarks = Landmarks(create("mtcnn", **DETECTOR_OPTIONS))
        print(f"features: {len(fit_units)} fit clips, {len(eval_units)} evaluation clips (cache {cache})")
        fit_units, fit_feats = features_of(fit_units, cache, landmarks, detect_every, swap_work)
        eval_units, eval_feats = features_of(eval_units, cache, landmarks, detect_every, swap_work)
    return fit_units, fit_feats, eval_units, eval_feats


def held_out_families(run: "Evaluation") -> dict[str, dict[int, dict]]:
    """Per family: refit without it (absent from the whole fit), test on it alone."""
    out = {}
    for family in ALL_FAMILIES:
        keep = [i for i, u in enumerate(run.fit_units) if u.family != family]
        model = fit([run.fit_units[i] for i in keep], [run.fit_feats[i] for i in keep], run.chosen, l2=run.l2)
        out[family] = {c: evaluate(model, run.eval_units, run.eval_feats, family, c) for c in CRFS}
    return out


def ablation(fit_units: list[Unit], fit_feats: list[np.ndarray], eval_units: list[Unit],
             eval_feats: list[np.ndarray], l2: float) -> dict[str, dict[int, dict]]:
    """All families pooled: every cue, each cue left out, each cue alone (same strength)."""
    all_features = cues.feature_names()
    rows = {"all cues": all_features}
    for name in cues.available():
        rows[f"without {name}"] = [f for f in all_features if f not in cues.get(name).features]
        rows[f"only {name}"] = list(cues.get(name).features)
    return {label: {c: evaluate(fit(fit_units, fit_feats, features, l2=l2), eval_units, eval_feats, None, c)
                    for c in CRFS} for label, features in rows.items()}


@dataclass
class Evaluation:
    """What `run_evaluation` measured: both sets' units and features, the selected fusion, its main table."""

    fit_units: list[Unit]
    fit_feats: list[np.ndarray]
    eval_units: list[Unit]
    eval_feats: list[np.ndarray]
    chosen: list[str]
    l2: float
    table: dict[str, dict[int, dict]]


def run_evaluation(data: Path, cache: Path, frames: int, seed: int, detect_every: int = 1,
                   swap_work: Path | None = None, swap_minutes: float = 40.0) -> Evaluation:
    """Build (or read from `cache`) both sets' features, select, fit, and print the main table, the cue
    ablation and the held-out families.

    `detect_every` > 1 measures the clips with sparse face detection (as `detector.analyse` does by default),
    cached apart.
    """
    swap_work = swap_work or Path.home() / ".cache" / "faceproof" / "detector-swaps"
    fit_units, fit_feats, eval_units, eval_feats = collect(data, cache, frames, seed, detect_every, swap_work,
                                                           swap_minutes)
    chosen, l2 = select_model(fit_units, fit_feats)
    full = fit(fit_units, fit_feats, chosen, l2=l2)
    table = {"all families": {c: evaluate(full, eval_units, eval_feats, None, c) for c in CRFS}}
    table.update({family: {c: evaluate(full, eval_units, eval_feats, family, c) for c in CRFS}
                  for family in ALL_FAMILIES})
    run = Evaluation(fit_units, fit_feats, eval_units, eval_feats, chosen, l2, table)
    report_table("Evaluation on held-out identities (clip level; real vs manipulated)", table)
    report_table("Held-out manipulation family (fitted without it, tested on it)", held_out_families(run))
    report_table("Cue ablation (all families pooled)",
                 {"selected model": table["all families"], **ablation(fit_units, fit_feats, eval_units, eval_feats, l2)})
    real = table["all families"][CRFS[0]]["real"]
    resolvable = "resolves 1 % FPR" if real >= 100 else "cannot resolve 1 % FPR: the figure is the TPR at zero false positives"
    print(f"\nTPR@1%FPR: the share of manipulated clips scored above every real clip but the top 1 %. {real} real "
          f"clips per condition (smallest FPR step {1 / real:.1%}) {resolvable}. Windows of one person's clip are "
          f"not independent samples.")
    return run
