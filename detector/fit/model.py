"""Fit a `Calibration` from per-clip feature matrices, and the metrics the evaluation prints."""

from __future__ import annotations

import numpy as np
from scipy.stats import rankdata

from detector.score import Calibration, fit_logistic


def auc(scores_negative: np.ndarray, scores_positive: np.ndarray) -> float:
    """Area under the ROC curve (Mann-Whitney), ties counted half."""
    ranks = rankdata(np.concatenate([scores_negative, scores_positive]))
    n_neg, n_pos = len(scores_negative), len(scores_positive)
    return float((ranks[n_neg:].sum() - n_pos * (n_pos + 1) / 2) / (n_neg * n_pos))


def tpr_at_fpr(scores_negative: np.ndarray, scores_positive: np.ndarray, fpr: float) -> float:
    """Share of positives scored above the threshold that lets at most `fpr` of the negatives through.

    With n negatives only FPR steps of 1/n are resolvable: below 1/n this is the TPR at zero false positives.
    """
    allowed = int(np.floor(fpr * len(scores_negative)))
    threshold = np.sort(scores_negative)[::-1][allowed]
    return float((np.asarray(scores_positive) > threshold).mean())


def fit_calibration(clips: list[np.ndarray], labels: list[int], features: list[str], *, version: str,
                    provenance: dict, l2: float = 1.0) -> Calibration:
    """Frame-level logistic regression (each clip and each class weighing the same), then a Platt map from a
    clip's mean frame logit to its probability, fitted on the same clips."""
    labels_arr = np.asarray(labels)
    rows = np.concatenate(clips)
    y = np.concatenate([np.full(len(c), label) for c, label in zip(clips, labels)])
    class_share = {label: float((labels_arr == label).sum()) for label in (0, 1)}
    weights = np.concatenate([np.full(len(c), 1.0 / (len(c) * class_share[label])) for c, label in zip(clips, labels)])
    mean, scale = rows.mean(0), rows.std(0) + 1e-6
    coefficients, bias = fit_logistic((rows - mean) / scale, y, l2=l2, weights=weights)
    clip_logits = np.array([(((c - mean) / scale) @ coefficients + bias).mean() for c in clips])[:, None]
    clip_weights = np.array([1.0 / class_share[label] for label in labels])
    slope, intercept = fit_logistic(clip_logits, labels_arr.astype(float), l2=1e-3, weights=clip_weights)
    real_rows = np.concatenate([c for c, label in zip(clips, labels) if label == 0])
    return Calibration(
        version=version, features=list(features), mean=mean, scale=scale, weights=coefficients, bias=bias,
        real_centre=((real_rows - mean) / scale).mean(0), video_slope=float(slope[0]), video_intercept=intercept,
        provenance=provenance,
    )


def clip_probabilities(calibration: Calibration, clips: list[np.ndarray]) -> np.ndarray:
    return np.array([calibration.track_probability(calibration.frame_logits(c)) for c in clips])
