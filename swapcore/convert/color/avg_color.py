"""Average colour: shift each BGR channel so the face's mean matches the original face's mean.

The cheapest fix for a global tint; it keeps the rendered face's contrast.
"""

from __future__ import annotations

import numpy as np

from swapcore.convert.color import inside, register


@register("avg_color")
def adjust(swapped: np.ndarray, original: np.ndarray, mask: np.ndarray) -> np.ndarray:
    region = inside(mask)
    shift = original[region].mean(0) - swapped[region].mean(0)
    return np.clip(swapped + shift, 0.0, 1.0)
