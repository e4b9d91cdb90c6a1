"""Small image helpers shared by the cues (colour space, sharpness, regional means)."""

from __future__ import annotations

import cv2
import numpy as np


def lab(crop_bgr: np.ndarray) -> np.ndarray:
    """CIE Lab with L in [0, 100] and a, b roughly in [-128, 127] (float32)."""
    return cv2.cvtColor(crop_bgr.astype(np.float32) / 255.0, cv2.COLOR_BGR2LAB)


def gray(crop_bgr: np.ndarray) -> np.ndarray:
    return cv2.cvtColor(crop_bgr, cv2.COLOR_BGR2GRAY).astype(np.float32)


def laplacian_energy(gray_image: np.ndarray) -> np.ndarray:
    return cv2.Laplacian(gray_image, cv2.CV_32F, ksize=3) ** 2


def detail_energy(gray_image: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per-pixel energy of the finest band (sigma < 1 px) and of the next band (1-3 px)."""
    fine = cv2.GaussianBlur(gray_image, (0, 0), 1.0)
    coarse = cv2.GaussianBlur(gray_image, (0, 0), 3.0)
    return (gray_image - fine) ** 2, (fine - coarse) ** 2

