"""Fit `detector/evidence.json`: channel references on the authentic reference, the paste model, and the
verdict thresholds from a false-alarm budget; and measure them person by person.

Every figure is leave-one-person-out: a clip is judged against references and a paste model that never saw its
person (the paste model is cross-fitted over `FOLDS` folds of people; each person's channel references leave
that person out). The blend fusion's logit comes from the shipped calibration, which was fitted on the `fit`
people of `detector.fit.evaluation`: for them that channel is in-sample.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from pathlib import Path

import numpy as np

from detector import cues
from detector.evidence import BLEND, PASTE, Channel, Evidence, PasteModel, feature_statistics
from detector.fit.model import auc
from detector.fit.reference import Clip, measured, paste_clips, reference_clips
from detector.score import Calibration, fit_logistic, load_calibration

FOLDS = 10
L2 = 3.0


def track_statistics(features: np.ndarray, calibration: Calibration) -> dict[str, float]:
    """The cue channels' statistics and the blend fusion's track logit of one track."""
    names = cues.feature_names()
    stats = feature_statistics(features, names)
    blend_columns = [names.index(f) for f in calibration.features]
    stats[BLEND] = float(np.mean(calibration.frame_logits(features[:, blend_columns])))
    return stats


@dataclass
class Table:
    """Per clip: person, group, family, CRF, scale and every channel's statistic (rows of `stats`)."""

    clips: list[Clip]
    stats: np.ndarray  # clips x channels
    channels: list[str]

    def column(self, name: str) -> np.ndarray:
        return self.stats[:, self.channels.index(name)]

    @property
    def real(self) -> np.ndarray:
        return np.array([c.family == "real" for c in self.clips])

    @property
    def people(self) -> np.ndarray:
        return np.array([c.identity for c in self.clips])


def build_table(clips: list[Clip], features: list[np.ndarray], calibration: Calibration) -> Table:
    rows = [track_statistics(f, calibration) for f in features]
    channels = list(rows[0])
    return Table(clips, np.array([[r[c] for c in channels] for r in rows]), channels)


def fit_paste_model(table: Table, rows: np.ndarray) -> PasteModel:
    """Logistic regression, authentic vs pasted, over the cue channels of `rows` (each class weighing the same)."""
    features = [c for c in table.channels if c != BLEND]
    x = table.stats[rows][:, [table.channels.index(f) for f in features]]
    y = (~table.real[rows]).astype(float)
    weights = np.where(y == 1, 1.0 / max(y.sum(), 1), 1.0 / max((1 - y).sum(), 1))
    mean, scale = x.mean(0), x.std(0) + 1e-6
    coefficients, bias = fit_logistic((x - mean) / scale, y, l2=L2, weights=weights)
    return PasteModel(features, mean, scale, coefficients, bias)


def person_folds(people: np.ndarray, folds: int = FOLDS) -> list[np.ndarray]:
    names = sorted(set(people))
    return [np.isin(people, names[k::folds]) for k in range(folds)]


def out_of_fold_paste_logits(table: Table, keep: np.ndarray | None = None) -> np.ndarray:
    """Each clip's paste-model logit from a model fitted without its person's fold (and only on `keep` rows)."""
    keep = np.ones(len(table.clips), bool) if keep is None else keep
    logits = np.empty(len(table.clips))
    for held in person_folds(table.people):
        model = fit_paste_model(table, ~held & keep)
        logits[held] = [model.logit(dict(zip(table.channels, row))) for row in table.stats[held]]
    return logits


def smallest_tails(table: Table, paste_logits: np.ndarray, channels: list[str]) -> np.ndarray:
    """Per clip, the smallest tail probability over `channels`, each judged against the authentic clips of the
    other people (leave-one-person-out)."""
    values = {name: (paste_logits if name == PASTE else table.column(name)) for name in channels}
    out = np.ones(len(table.clips))
    real, people = table.real, table.people
    for person in sorted(set(people)):
        mine = people == person
        others = real & ~mine
        for name in channels:
            channel = Channel(name, np.sort(values[name][others]))
            out[mine] = np.minimum(out[mine], [channel.tail(v) for v in values[name][mine]])
    return out


def threshold_for(budget: float, authentic_tails: np.ndarray) -> float:
    """The largest alpha flagging at most `budget` of the authentic clips (tail <= alpha)."""
    ordered = np.sort(authentic_tails)
    allowed = int(np.floor(budget * len(ordered)))
    return float(ordered[allowed] * 0.999) if allowed < len(ordered) else 1.0


@dataclass
class Fitted:
    evidence: Evidence
    tails: np.ndarray  # leave-one-person-out smallest tail per clip
    paste_logits: np.ndarray


def fit_evidence(table: Table, calibration: Calibration, budget: float, inconclusive_budget: float,
                 version: str, provenance: dict) -> Fitted:
    paste_logits = out_of_fold_paste_logits(table)
    channels = [*table.channels, PASTE]
    tails = smallest_tails(table, paste_logits, channels)
    real = table.real
    alpha, alpha_inconclusive = threshold_for(budget, tails[real]), threshold_for(inconclusive_budget, tails[real])
    references = {name: np.sort(table.column(name)[real]) for name in table.channels}
    references[PASTE] = np.sort(paste_logits[real])
    evidence = Evidence(
        version=version, calibration_version=calibration.version,
        channels={name: Channel(name, values) for name, values in references.items()},
        paste=fit_paste_model(table, np.ones(len(table.clips), bool)),
        alpha=alpha, alpha_inconclusive=alpha_inconclusive, provenance=provenance,
    )
    return Fitted(evidence, tails, paste_logits)


def flagged_share(tails: np.ndarray, rows: np.ndarray, alpha: float) -> tuple[int, int]:
    return int((tails[rows] <= alpha).sum()), int(rows.sum())


def family_auc(table: Table, tails: np.ndarray, family: str, crf: int | None = None) -> float:
    rows = np.array([c.family == family and (crf is None or c.crf == crf) for c in table.clips])
    real = table.real & np.array([crf is None or c.crf == crf for c in table.clips])
    return auc(-np.log(tails[real]), -np.log(tails[rows]))


def recall_rows(table: Table, tails: np.ndarray, alpha: float) -> list[tuple[str, str, int, int, int]]:
    """(group, family, CRF, flagged, clips) for every paste family, group and CRF, and for the authentic clips."""
    rows = []
    families = sorted({c.family for c in table.clips})
    for group in ("fit", "eval", "wild"):
        for family in families:
            for crf in sorted({c.crf for c in table.clips}):
                chosen = np.array([c.group == group and c.family == family and c.crf == crf for c in table.clips])
                if chosen.any():
                    rows.append((group, family, crf, *flagged_share(tails, chosen, alpha)))
    return rows


def without(table: Table, dropped: set[str]) -> Table:
    keep = [i for i, name in enumerate(table.channels) if name not in dropped]
    return Table(table.clips, table.stats[:, keep], [table.channels[i] for i in keep])


def leave_one_family_out(table: Table, budget: float) -> dict[str, tuple[int, int]]:
    """Per paste family: the paste model cross-fitted without that family; its recall at the budget's alpha."""
    out = {}
    families = sorted({c.family for c in table.clips} - {"real"})
    for family in families:
        mine = np.array([c.family == family for c in table.clips])
        logits = out_of_fold_paste_logits(table, keep=~mine)
        tails = smallest_tails(table, logits, [*table.channels, PASTE])
        alpha = threshold_for(budget, tails[table.real])
        out[family] = flagged_share(tails, mine, alpha)
    return out


def ablation(table: Table, budget: float) -> dict[str, tuple[float, int, int]]:
    """Per cue left out (channels and paste-model inputs): (pooled AUC, pastes flagged, pastes) at the budget."""
    out = {}
    pasted = ~table.real
    for label, dropped in [("all cues", set())] + [(f"without {name}", set(cues.get(name).features))
                                                    for name in cues.available()]:
        reduced = without(table, dropped)
        logits = out_of_fold_paste_logits(reduced)
        tails = smallest_tails(reduced, logits, [*reduced.channels, PASTE])
        alpha = threshold_for(budget, tails[reduced.real])
        out[label] = (auc(-np.log(tails[reduced.real]), -np.log(tails[pasted])), *flagged_share(tails, pasted, alpha))
    return out


def evaluate_evidence(data: Path, cache: Path, budget: float, inconclusive_budget: float) -> tuple[Fitted, dict]:
    """Measure (or read from `cache`) the reference and the pastes, fit the evidence, print its evaluation."""
    calibration = load_calibration()
    pairs = measured(reference_clips(data) + paste_clips(data), cache)
    table = build_table([clip for clip, _ in pairs], [features for _, features in pairs], calibration)
    fitted = fit_evidence(table, calibration, budget, inconclusive_budget, version=f"{date.today():%Y.%m.%d}",
                          provenance={})
    return fitted, report(table, fitted, budget)


def report(table: Table, fitted: Fitted, budget: float) -> dict:
    """Print the evaluation; return its headline figures for the file's provenance."""
    evidence, tails, real = fitted.evidence, fitted.tails, table.real
    wild = real & np.array([c.group == "wild" for c in table.clips])
    flagged, total = flagged_share(tails, real, evidence.alpha)
    wild_flagged, wild_total = flagged_share(tails, wild, evidence.alpha)
    unsure, _ = flagged_share(tails, real, evidence.alpha_inconclusive)
    print(f"\nalpha {evidence.alpha:.2e} (budget {budget:.0%}), inconclusive at {evidence.alpha_inconclusive:.2e}")
    print(f"authentic clips read 'likely manipulated': {flagged} of {total} ({flagged / total:.1%}); wild/ alone "
          f"{wild_flagged} of {wild_total}; 'inconclusive' or worse: {unsure} of {total}")
    for crf, scale in sorted({(c.crf, c.scale) for c in table.clips if c.family == "real"}):
        rows = real & np.array([c.crf == crf and c.scale == scale for c in table.clips])
        print(f"  authentic CRF {crf} scale {scale}: {flagged_share(tails, rows, evidence.alpha)}")
    print("\npastes read 'likely manipulated' (group, family, CRF: flagged of clips), leave-one-person-out:")
    recall = recall_rows(table, tails, evidence.alpha)
    for group, family, crf, hit, n in recall:
        if family != "real":
            print(f"  {group:5s} {family:9s} CRF {crf}: {hit:3d} of {n:3d} ({hit / n:.0%})")
    aucs = {f: {crf: family_auc(table, tails, f, crf) for crf in (23, 35)}
            for f in sorted({c.family for c in table.clips} - {"real"})}
    print("\nAUC per family (smallest tail, all groups) CRF 23 / 35:")
    for family, per in aucs.items():
        print(f"  {family:9s} {per[23]:.3f} / {per[35]:.3f}")
    lofo = leave_one_family_out(table, budget)
    print("\nleave-one-family-out recall at the budget (paste model fitted without the family):")
    for family, (hit, n) in lofo.items():
        print(f"  {family:9s} {hit} of {n} ({hit / n:.0%})")
    print("\ncue ablation (pooled AUC; pastes flagged at the budget):")
    for label, (area, hit, n) in ablation(table, budget).items():
        print(f"  {label:22s} AUC {area:.3f}  {hit} of {n} ({hit / n:.0%})")
    return {
        "budget": budget, "measured_false_alarms": f"{flagged} of {total}", "wild_false_alarms": f"{wild_flagged} of {wild_total}",
        "reference": f"{total} authentic clips of {len(set(table.people[real]))} people (shared data incl. wild/), "
                     f"CRF 18/23/28/35 full size and CRF 23/35 half size, 64-frame windows, leave-one-person-out",
        "paste_recall": {f"{g}/{f}/crf{c}": f"{h} of {n}" for g, f, c, h, n in recall if f != "real"},
        "auc": {f: {str(k): round(v, 3) for k, v in per.items()} for f, per in aucs.items()},
        "leave_one_family_out": {f: f"{h} of {n}" for f, (h, n) in lofo.items()},
    }

