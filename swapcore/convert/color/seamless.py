"""Poisson seamless cloning (cv2.seamlessClone): keep the rendered face's gradients, take the original's
colour at the mask boundary, and solve for everything in between.

Removes colour seams at the edge even where the lighting differs across the face; slower than the others
(a Poisson solve per face) and it can wash out a face whose boundary crosses hair or background.
"""

from __future__ import annotations

import cv2
import numpy as np

from swapcore.convert.color import inside, register


@register("seamless")
def adjust(swapped: np.ndarray, original: np.ndarray, mask: np.ndarray) -> np.ndarray:
    region = inside(mask).astype(np.uint8) * 255
    # seamlessClone needs the mask off the crop's border (it samples the boundary one pixel outside).
    region[[0, -1], :] = 0
    region[:, [0, -1]] = 0
    x, y, w, h = cv2.boundingRect(region)
    if w < 3 or h < 3:
        return swapped
    source = (np.clip(swapped, 0, 1) * 255 + 0.5).astype(np.uint8)
    target = (np.clip(original, 0, 1) * 255 + 0.5).astype(np.uint8)
    # OpenCV places the mask's bounding box centred on `centre`: this centre keeps the face where it is.
    centre = (x + w // 2, y + h // 2)
    cloned = cv2.seamlessClone(source, target, region, centre, cv2.NORMAL_CLONE)
    return cloned.astype(np.float32) / 255
