"""No colour adjustment: the model's colours as rendered."""

from __future__ import annotations

import numpy as np

from swapcore.convert.color import register


@register("none")
def adjust(swapped: np.ndarray, original: np.ndarray, mask: np.ndarray) -> np.ndarray:
    return swapped
