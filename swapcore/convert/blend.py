"""Put a rendered face back into its frame: warp with the inverse affine, refine the mask, sharpen, blend.

Work is confined to the face's bounding box in the frame (the region of interest), so a face costs the same
on a 512 px and a 4K frame. Frame pixels where the final mask is exactly zero are left bit-for-bit untouched.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import cv2
import numpy as np

from swapcore.options import option


@dataclass(frozen=True)
class BlendSettings:
    erode: float = option(0.0, minimum=-20, maximum=20,
                          help="shrink the mask (negative: grow it), % of the face's crop size")
    blur: float = option(4.0, minimum=0, maximum=30, help="feather the mask's edge (Gaussian width), % of the face's crop size")
    sharpen: float = option(0.0, web=False, help="unsharp-mask amount on the pasted face (0 = off, 0.5-1 typical)")


def region_of(matrix: np.ndarray, size: int, height: int, width: int, margin: float) -> tuple[int, int, int, int] | None:
    """The frame box (x0, y0, x1, y1) the crop covers, grown by `margin` frame pixels, clipped to the frame."""
    inverse = cv2.invertAffineTransform(matrix)
    corners = np.array([[0, 0], [size, 0], [size, size], [0, size]], np.float64) @ inverse[:, :2].T + inverse[:, 2]
    x0, y0 = np.floor(corners.min(0) - margin).astype(int)
    x1, y1 = np.ceil(corners.max(0) + margin).astype(int)
    x0, y0, x1, y1 = max(x0, 0), max(y0, 0), min(x1, width), min(y1, height)
    return (x0, y0, x1, y1) if x1 > x0 and y1 > y0 else None


def face_pixels(matrix: np.ndarray, size: int) -> float:
    """The crop's side length in frame pixels."""
    return size / math.hypot(matrix[0, 0], matrix[1, 0])


def _refine(mask: np.ndarray, erode_px: float, blur_px: float) -> np.ndarray:
    if abs(erode_px) >= 1:
        radius = int(round(abs(erode_px)))
        kernel = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * radius + 1, 2 * radius + 1))
        mask = cv2.erode(mask, kernel) if erode_px > 0 else cv2.dilate(mask, kernel)
    if blur_px >= 1:
        mask = cv2.GaussianBlur(mask, (0, 0), blur_px / 2)
    return mask


def _sharpen(face: np.ndarray, amount: float, radius_px: float) -> np.ndarray:
    blurred = cv2.GaussianBlur(face, (0, 0), max(radius_px, 0.8))
    return np.clip(face + amount * (face - blurred), 0.0, 1.0)


def paste(frame: np.ndarray, face: np.ndarray, mask: np.ndarray, matrix: np.ndarray,
          settings: BlendSettings) -> tuple[int, int, int, int] | None:
    """Blend `face` (S x S x 3 BGR float in [0, 1]) into `frame` (uint8, modified in place) through `mask`.

    Returns the frame box that was touched, or None when the face lies outside the frame.
    """
    size = mask.shape[0]
    pixels = face_pixels(matrix, size)
    erode_px, blur_px = settings.erode * pixels / 100, settings.blur * pixels / 100
    box = region_of(matrix, size, *frame.shape[:2], margin=max(erode_px, 0) + blur_px)
    if box is None:
        return None
    x0, y0, x1, y1 = box
    # Map ROI pixels straight to crop pixels: one warp per image, no full-frame buffers.
    to_crop = matrix @ np.array([[1.0, 0.0, x0], [0.0, 1.0, y0], [0.0, 0.0, 1.0]])
    shape = (x1 - x0, y1 - y0)
    inverse_flags = cv2.WARP_INVERSE_MAP
    warped = cv2.warpAffine(face, to_crop, shape, flags=cv2.INTER_CUBIC | inverse_flags, borderMode=cv2.BORDER_REPLICATE)
    alpha = cv2.warpAffine(mask, to_crop, shape, flags=cv2.INTER_LINEAR | inverse_flags, borderValue=0.0)
    alpha = np.clip(_refine(alpha, erode_px, blur_px), 0.0, 1.0)
    if settings.sharpen > 0:
        warped = _sharpen(warped, settings.sharpen, pixels / size)
    roi = frame[y0:y1, x0:x1]
    original = roi.astype(np.float32)
    # Where alpha is 0 this adds exactly 0.0, so rounding gives back the original byte: no masking needed.
    blended = original + alpha[..., None] * (warped * 255 - original)
    np.clip(blended + 0.5, 0, 255, out=blended)
    roi[...] = blended.astype(np.uint8)
    return box
