"""Fusion of cue features into calibrated probabilities, with coefficients from a small versioned JSON file.

Per frame: logistic regression on standardised features -> logit. Per track: the mean frame logit, mapped
by a one-dimensional logistic (Platt) calibration fitted on whole clips -> probability that the track's face
was manipulated. The verdict does not read this probability directly: the track logit is one channel of the
evidence compared against authentic faces (`detector.evidence`), which sets the thresholds by a false-alarm budget.

The shipped file `calibration.json` is written by `scripts/fit_detector.py`, which also records what it was
fitted and evaluated on; refit it with that script.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from importlib import resources
from pathlib import Path

import numpy as np
from scipy.optimize import minimize

from detector import cues
from detector.errors import DetectorError

SCHEMA = "faceproof.detector.calibration/1"


def sigmoid(x: np.ndarray | float) -> np.ndarray | float:
    return 1.0 / (1.0 + np.exp(-np.clip(x, -40, 40)))


def fit_logistic(x: np.ndarray, y: np.ndarray, l2: float = 1.0, weights: np.ndarray | None = None) -> tuple[np.ndarray, float]:
    """L2-regularised logistic regression (L-BFGS); returns (coefficients, intercept). Intercept unpenalised."""
    sample = np.ones(len(y)) if weights is None else np.asarray(weights, np.float64)
    sample = sample / sample.mean()

    def loss(theta: np.ndarray) -> tuple[float, np.ndarray]:
        logits = x @ theta[:-1] + theta[-1]
        p = sigmoid(logits)
        nll = np.sum(sample * (np.logaddexp(0, logits) - y * logits))
        grad_logits = sample * (p - y)
        grad = np.append(x.T @ grad_logits + l2 * theta[:-1], grad_logits.sum())
        return nll + 0.5 * l2 * float(theta[:-1] @ theta[:-1]), grad

    result = minimize(loss, np.zeros(x.shape[1] + 1), jac=True, method="L-BFGS-B")
    return result.x[:-1], float(result.x[-1])


@dataclass(frozen=True)
class Calibration:
    version: str
    features: list[str]
    mean: np.ndarray
    scale: np.ndarray
    weights: np.ndarray
    bias: float
    real_centre: np.ndarray  # standardised mean of real faces: contributions are measured from here
    video_slope: float
    video_intercept: float
    provenance: dict  # what it was fitted and evaluated on, as the fitting script recorded it

    def standardise(self, features: np.ndarray) -> np.ndarray:
        return (np.asarray(features, np.float64) - self.mean) / self.scale

    def frame_logits(self, features: np.ndarray) -> np.ndarray:
        return self.standardise(features) @ self.weights + self.bias

    def frame_probabilities(self, features: np.ndarray) -> np.ndarray:
        return sigmoid(self.frame_logits(features))

    def track_probability(self, frame_logits: np.ndarray) -> float:
        return float(sigmoid(self.video_slope * float(np.mean(frame_logits)) + self.video_intercept))

    def contributions(self, features: np.ndarray) -> dict[str, float]:
        """Mean logit each cue adds relative to a typical real face (positive = towards manipulated)."""
        per_feature = (self.standardise(features) - self.real_centre) * self.weights
        mean = per_feature.mean(0) if per_feature.ndim == 2 else per_feature
        out: dict[str, float] = {}
        for name in self.weighted_cues:
            columns = [self.features.index(f) for f in cues.get(name).features if f in self.features]
            out[name] = float(mean[columns].sum())
        return out

    @property
    def weighted_cues(self) -> list[str]:
        """The cue plugins with at least one feature in this calibration (the others carry no weight)."""
        return [name for name in cues.available() if set(cues.get(name).features) & set(self.features)]

    def to_json(self) -> dict:
        return {
            "schema": SCHEMA,
            "version": self.version,
            "features": self.features,
            "mean": self.mean.tolist(),
            "scale": self.scale.tolist(),
            "weights": self.weights.tolist(),
            "bias": self.bias,
            "real_centre": self.real_centre.tolist(),
            "video": {"slope": self.video_slope, "intercept": self.video_intercept},
            "provenance": self.provenance,
        }


def default_path() -> Path:
    return Path(str(resources.files("detector") / "calibration.json"))


def read_fitted(path: Path, schema: str, what: str) -> dict:
    """A fitted file's JSON, refused with a DetectorError naming `what` it should be when unreadable or foreign."""
    try:
        data = json.loads(path.read_text())
    except (OSError, ValueError) as exc:
        raise DetectorError(f"{path.name}: cannot read the {what} ({exc})") from None
    if not isinstance(data, dict) or data.get("schema") != schema:
        found = data.get("schema") if isinstance(data, dict) else None
        raise DetectorError(f"{path.name}: not a {what} (schema {found!r}, want {schema})")
    return data


def load_calibration(path: str | Path | None = None) -> Calibration:
    path = Path(path) if path else default_path()
    data = read_fitted(path, SCHEMA, "detector calibration")
    missing = sorted(set(data["features"]) - set(cues.feature_names()))
    if missing:
        raise DetectorError(f"{path.name}: calibration uses cues this version lacks: {', '.join(missing)}")
    return Calibration(
        version=str(data["version"]),
        features=list(data["features"]),
        mean=np.asarray(data["mean"], np.float64),
        scale=np.asarray(data["scale"], np.float64),
        weights=np.asarray(data["weights"], np.float64),
        bias=float(data["bias"]),
        real_centre=np.asarray(data["real_centre"], np.float64),
        video_slope=float(data["video"]["slope"]),
        video_intercept=float(data["video"]["intercept"]),
        provenance=dict(data.get("provenance") or {}),
    )
