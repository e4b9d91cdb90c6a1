"""Histogram matching: map each BGR channel of the face through the original face's cumulative histogram.

Matches the whole distribution, not only its first two moments, so skin highlights and shadows land where
the original's were; at the cost of some banding on small faces.
"""

from __future__ import annotations

import numpy as np

from swapcore.convert.color import inside, register

_LEVELS = 256


def _cdf(values: np.ndarray) -> np.ndarray:
    counts = np.bincount(values, minlength=_LEVELS).astype(np.float64)
    return np.cumsum(counts) / counts.sum()


@register("hist_match")
def adjust(swapped: np.ndarray, original: np.ndarray, mask: np.ndarray) -> np.ndarray:
    region = inside(mask)
    source = np.clip(swapped * (_LEVELS - 1) + 0.5, 0, _LEVELS - 1).astype(np.intp)
    target = np.clip(original * (_LEVELS - 1) + 0.5, 0, _LEVELS - 1).astype(np.intp)
    levels = np.arange(_LEVELS, dtype=np.float32)
    out = np.empty_like(swapped, dtype=np.float32)
    for channel in range(3):
        # Each source level goes to the target level at the same cumulative fraction.
        lookup = np.interp(_cdf(source[..., channel][region]), _cdf(target[..., channel][region]), levels)
        out[..., channel] = lookup[source[..., channel]]
    return out / (_LEVELS - 1)
