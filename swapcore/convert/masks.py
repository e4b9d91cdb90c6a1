"""Which pixels of the rendered face replace the original: the landmark hull, the model's learned mask, or both.

Masks are built in the aligned crop (S x S, float32 in [0, 1]); erosion and feathering happen later, in frame
pixels (see blend.py), so that they mean the same on a 64 px and a 256 px model.
"""

from __future__ import annotations

import cv2
import numpy as np
import torch

from swapcore.errors import SwapcoreError
from swapcore.training.augment import face_outline

KINDS = ("hull", "learned", "learned+hull")


def check_kind(kind: str, has_learned: bool) -> str:
    """The mask kind to use ("auto": learned+hull when the model learned a mask, else hull)."""
    if kind == "auto":
        return "learned+hull" if has_learned else "hull"
    if kind not in KINDS:
        raise SwapcoreError(f"unknown mask {kind!r}; choose one of auto, {', '.join(KINDS)}")
    if "learned" in kind and not has_learned:
        raise SwapcoreError(f"--mask {kind} needs a model with a learned mask (hires); this one has none: use hull")
    return kind


def hull_mask(landmarks: np.ndarray, size: int) -> np.ndarray:
    """The face polygon around the 5 crop landmarks (the same outline training weighted), filled.

    Uses training's outline so the swap covers exactly the region the model was taught to render.
    """
    polygon = face_outline(torch.from_numpy(np.asarray(landmarks, np.float32))[None])[0].numpy()
    mask = np.zeros((size, size), np.uint8)
    cv2.fillConvexPoly(mask, np.round(polygon * 16).astype(np.int32), 255, cv2.LINE_AA, shift=4)
    return mask.astype(np.float32) / 255


def face_mask(kind: str, landmarks: np.ndarray, learned: np.ndarray | None, size: int) -> np.ndarray:
    """The crop-space mask of one face. "learned+hull" keeps the learned mask only inside the hull, which
    stops an under-trained mask from pasting background or hair."""
    if kind == "hull":
        return hull_mask(landmarks, size)
    assert learned is not None  # check_kind() refused learned masks for models without one
    if kind == "learned":
        return learned
    return learned * hull_mask(landmarks, size)
