"""Evidence measured against authentic faces: each cue's clip statistic, and each fused score, as a tail
probability among authentic clips, and the verdict rule that a false-alarm budget sets.

A *channel* is one number per face track, oriented so that larger is more suspicious: a cue feature's
persistent level over the track (its 75th percentile over frames, of the value times the cue's direction), the
learned blend fusion's track logit (`detector.score`), or the paste model's logit (a logistic regression over
all channels' statistics, fitted on cross-identity pastes). Each channel keeps the sorted values it took on a
wide reference of authentic clips (every real person of the shared data, four CRFs, two sizes) and reports
`tail(x)`: the share of authentic clips at least as extreme, from their ranks inside the reference and from an
exponential tail fitted to the top 10 % beyond it (peaks over threshold), so "stronger than in 99.9 % of
authentic faces" is defined where the reference has few clips. The verdict takes the smallest tail probability
of a track's channels: "likely manipulated" at or below `alpha`, "inconclusive" at or below `alpha_inconclusive`.
Both were chosen so that at most the recorded share of authentic clips, each judged against a reference
without its own person (leave-one-person-out), is flagged. One channel far outside the authentic range is
enough, whatever the fitted weights learned to ignore.

The file `evidence.json` is written by `scripts/fit_evidence.py --write`, which records what it measured; it
names the blend calibration it was fitted with, and loading refuses a mismatch.
"""

from __future__ import annotations

from dataclasses import dataclass
from importlib import resources
from pathlib import Path

import numpy as np

from detector import cues
from detector.errors import DetectorError
from detector.score import Calibration, read_fitted

SCHEMA = "faceproof.detector.evidence/1"
PERSISTENCE = 0.75  # the quantile over a track's frames that stands for the track: persistent, not a mean
TAIL_SHARE = 0.10  # the top share of the reference the exponential tail is fitted to
BLEND, PASTE = "blend_fusion", "paste_fusion"


def statistic(values: np.ndarray, direction: int) -> float:
    """A feature's track statistic: the persistent level of its suspicious orientation."""
    return float(np.quantile(direction * np.asarray(values, np.float64), PERSISTENCE))


def feature_statistics(features: np.ndarray, names: list[str]) -> dict[str, float]:
    """Every feature's track statistic (`features`: frames x `names`)."""
    return {name: statistic(features[:, i], cues.cue_of(name).direction(name)) for i, name in enumerate(names)}


@dataclass(frozen=True)
class Channel:
    name: str
    reference: np.ndarray  # sorted authentic track statistics (oriented: larger is more suspicious)

    @property
    def _tail(self) -> tuple[float, float]:
        start = float(np.quantile(self.reference, 1 - TAIL_SHARE))
        excess = self.reference[self.reference > start] - start
        return start, max(float(excess.mean()) if len(excess) else 0.0, 1e-6)

    def tail(self, value: float) -> float:
        """P(an authentic track's statistic >= value)."""
        start, scale = self._tail
        if value > start:
            return float(TAIL_SHARE * np.exp(-(value - start) / scale))
        beyond = len(self.reference) - np.searchsorted(self.reference, value, side="left")
        return float((1 + beyond) / (1 + len(self.reference)))

    def value_at(self, p: float) -> float:
        """The statistic whose tail probability is `p` (inverse of `tail` in the fitted tail)."""
        start, scale = self._tail
        if p < TAIL_SHARE:
            return start - scale * float(np.log(p / TAIL_SHARE))
        return float(np.quantile(self.reference, 1 - p))


@dataclass(frozen=True)
class PasteModel:
    """A logistic regression over standardised channel statistics (the cues' channels, in `features` order)."""

    features: list[str]
    mean: np.ndarray
    scale: np.ndarray
    weights: np.ndarray
    bias: float

    def logit(self, stats: dict[str, float]) -> float:
        x = np.array([stats[f] for f in self.features])
        return float(((x - self.mean) / self.scale) @ self.weights + self.bias)


@dataclass(frozen=True)
class Evidence:
    version: str
    calibration_version: str
    channels: dict[str, Channel]
    paste: PasteModel
    alpha: float
    alpha_inconclusive: float
    provenance: dict

    def track_statistics(self, features: np.ndarray, names: list[str], blend_logit: float) -> dict[str, float]:
        """Every channel's statistic for one track (`features`: frames x `names`)."""
        stats = {name: value for name, value in feature_statistics(features, names).items() if name in self.channels}
        stats[BLEND] = blend_logit
        if all(f in stats for f in self.paste.features):
            stats[PASTE] = self.paste.logit(stats)
        return stats

    def tails(self, stats: dict[str, float]) -> dict[str, float]:
        return {name: self.channels[name].tail(value) for name, value in stats.items()}

    def verdict(self, smallest_tail: float | None) -> str:
        if smallest_tail is None:
            return "no faces analysed"
        if smallest_tail <= self.alpha:
            return "likely manipulated"
        return "inconclusive" if smallest_tail <= self.alpha_inconclusive else "no signs found"

    def to_json(self) -> dict:
        return {
            "schema": SCHEMA, "version": self.version, "calibration_version": self.calibration_version,
            "decision": {"alpha": self.alpha, "alpha_inconclusive": self.alpha_inconclusive},
            "channels": {name: np.round(c.reference, 6).tolist() for name, c in self.channels.items()},
            "paste_model": {"features": self.paste.features, "mean": self.paste.mean.tolist(),
                            "scale": self.paste.scale.tolist(), "weights": self.paste.weights.tolist(),
                            "bias": self.paste.bias},
            "provenance": self.provenance,
        }


def default_path() -> Path:
    return Path(str(resources.files("detector") / "evidence.json"))


def load_evidence(calibration: Calibration, path: str | Path | None = None) -> Evidence:
    path = Path(path) if path else default_path()
    data = read_fitted(path, SCHEMA, "detector evidence file")
    if data["calibration_version"] != calibration.version:
        raise DetectorError(f"{path.name} was fitted with calibration {data['calibration_version']}, not "
                            f"{calibration.version}: refit it (scripts/fit_evidence.py --write)")
    known = set(cues.feature_names()) | {BLEND, PASTE}
    missing = sorted(set(data["channels"]) - known)
    if missing:
        raise DetectorError(f"{path.name}: evidence uses cues this version lacks: {', '.join(missing)}")
    model = data["paste_model"]
    return Evidence(
        version=str(data["version"]), calibration_version=data["calibration_version"],
        channels={name: Channel(name, np.sort(np.asarray(values, np.float64))) for name, values in data["channels"].items()},
        paste=PasteModel(list(model["features"]), np.asarray(model["mean"]), np.asarray(model["scale"]),
                         np.asarray(model["weights"]), float(model["bias"])),
        alpha=float(data["decision"]["alpha"]), alpha_inconclusive=float(data["decision"]["alpha_inconclusive"]),
        provenance=dict(data.get("provenance") or {}),
    )
