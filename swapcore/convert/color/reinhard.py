"""Reinhard et al. (2001) colour transfer: match mean and standard deviation per channel in CIE Lab.

Lab separates lightness from colour, so matching the spread as well as the mean fixes both a tint and a
contrast mismatch (the rendered face is usually flatter than the real one) without crossing channels.
"""

from __future__ import annotations

import cv2
import numpy as np

from swapcore.convert.color import inside, register

_MIN_STD = 1e-3  # a flat channel (e.g. a grey crop) must not blow up the scale


@register("reinhard")
def adjust(swapped: np.ndarray, original: np.ndarray, mask: np.ndarray) -> np.ndarray:
    region = inside(mask)
    source = cv2.cvtColor(swapped.astype(np.float32), cv2.COLOR_BGR2LAB)
    target = cv2.cvtColor(original.astype(np.float32), cv2.COLOR_BGR2LAB)
    mean_s, std_s = source[region].mean(0), source[region].std(0)
    mean_t, std_t = target[region].mean(0), target[region].std(0)
    scaled = (source - mean_s) * (std_t / np.maximum(std_s, _MIN_STD)) + mean_t
    return np.clip(cv2.cvtColor(scaled, cv2.COLOR_LAB2BGR), 0.0, 1.0)
