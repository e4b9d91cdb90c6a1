"""Similarity alignment (Umeyama) of landmarks to a canonical template, and the aligned crop.

Extraction aligns by the detector's 5 points. A model may be trained and converted with the 68-point alignment
instead ("68"): a similarity fit of the steady 68 points to the mean face (`mean_face_68.json`, see
scripts/mean_face.py), placed in the crop where the 5-point template puts a typical face, as Faceswap aligns.
Faces whose 68 points are unknown keep the 5-point fit.
"""

from __future__ import annotations

import cv2
import numpy as np

from swapcore.errors import SwapcoreError
from swapcore.faces.landmarks import FaceShape
from swapcore.faces.landmarks.pose import mean_face

# ArcFace's 5-point reference layout on a 112 px square, normalised to [0, 1]. Eyes, nose, mouth corners.
_REFERENCE = np.array(
    [[38.2946, 51.6963], [73.5318, 51.5014], [56.0252, 71.7366], [41.5493, 92.3655], [70.7299, 92.2041]]
) / 112.0

# centering -> (zoom, centre of the reference that lands on the crop centre). "face" frames brow to chin with
# a margin for blending; "head" keeps hair, ears and jaw line, for models that learn a mask.
CENTERINGS: dict[str, tuple[float, tuple[float, float]]] = {
    "face": (0.85, (0.5, 0.60)),
    "head": (0.65, (0.5, 0.56)),
}


def template(size: int, centering: str = "face") -> np.ndarray:
    """Where the 5 landmarks land in an aligned crop of `size` pixels."""
    if centering not in CENTERINGS:
        raise SwapcoreError(f"unknown centering {centering!r}; choose one of {', '.join(CENTERINGS)}")
    zoom, centre = CENTERINGS[centering]
    return (0.5 + (_REFERENCE - np.array(centre)) * zoom) * size


# Eyes count double in the fit: they are MTCNN's steadiest points and where viewers judge alignment.
_WEIGHTS = np.array([2.0, 2.0, 1.0, 1.0, 1.0])
ALIGNMENTS = ("5", "68")
# The 68 points a 68-point alignment fits: brows, nose, eyes and mouth corners. The jaw line follows the chin as
# the mouth opens and the lips move with speech; neither would keep the crop still (Faceswap leaves the jaw out).
ALIGN_POINTS = np.r_[17:48, 48, 54]


def umeyama(source: np.ndarray, target: np.ndarray, weights: np.ndarray | None = None) -> np.ndarray:
    """The 2x3 similarity transform (rotation, uniform scale, translation) that best maps source to target.

    Weighted least squares after Umeyama (1991); the determinant check rules out reflections.
    """
    w = np.ones(len(source)) if weights is None else np.asarray(weights, np.float64)
    w = w / w.sum()
    src_mean, dst_mean = w @ source, w @ target
    src, dst = source - src_mean, target - dst_mean
    covariance = (dst * w[:, None]).T @ src
    u, singular, vt = np.linalg.svd(covariance)
    sign = np.eye(2)
    if np.linalg.det(u) * np.linalg.det(vt) < 0:
        sign[1, 1] = -1
    rotation = u @ sign @ vt
    variance = w @ (src**2).sum(1)
    scale = (singular * np.diag(sign)).sum() / variance
    matrix = np.empty((2, 3))
    matrix[:, :2] = scale * rotation
    matrix[:, 2] = dst_mean - scale * rotation @ src_mean
    return matrix


def check_alignment(alignment: str) -> str:
    if alignment not in ALIGNMENTS:
        raise SwapcoreError(f"unknown alignment {alignment!r}; choose 5 or 68 (landmarks)")
    return alignment


def template68(size: int, centering: str = "face") -> np.ndarray:
    """Where the mean face's 68 points land in an aligned crop: placed by the 5-point fit of its own 5 points, so
    a typical face is framed alike by either alignment."""
    mean = mean_face()[:, :2]
    return transform_points(mean, umeyama(FaceShape(mean).five, template(size, centering), _WEIGHTS))


def alignment_matrix(five: np.ndarray, dense: np.ndarray | None, size: int, centering: str = "face",
                     alignment: str = "5") -> np.ndarray:
    """The frame->crop similarity: the steady 68 points fitted to the mean face for alignment "68" where they are
    known, else the eye-weighted fit of the 5 points to the template."""
    if check_alignment(alignment) == "68" and dense is not None:
        return umeyama(np.asarray(dense, np.float64)[ALIGN_POINTS], template68(size, centering)[ALIGN_POINTS])
    return umeyama(np.asarray(five, np.float64), template(size, centering), _WEIGHTS)


def align_face(
    frame: np.ndarray, landmarks: np.ndarray, size: int, centering: str = "face"
) -> tuple[np.ndarray, np.ndarray]:
    """Cut the aligned crop; returns (crop, affine) where affine maps frame pixels to crop pixels."""
    matrix = alignment_matrix(landmarks, None, size, centering)
    return crop_with(frame, matrix, size), matrix


def crop_with(frame: np.ndarray, matrix: np.ndarray, size: int) -> np.ndarray:
    """The aligned crop for a known affine (edge pixels repeat where the crop leaves the frame)."""
    return cv2.warpAffine(frame, matrix, (size, size), flags=cv2.INTER_CUBIC, borderMode=cv2.BORDER_REPLICATE)


def transform_points(points: np.ndarray, matrix: np.ndarray) -> np.ndarray:
    return np.asarray(points) @ matrix[:, :2].T + matrix[:, 2]


# The face outline as (across, down) multiples of (eye-to-eye, eye-centre-to-mouth-centre) from the eye centre:
# forehead, temples, cheeks, jaw and chin around the 5 landmarks, in order round the face.
FACE_OUTLINE = (
    (-0.9, -0.8), (0.9, -0.8), (1.05, 0.2), (0.9, 1.1), (0.45, 1.65), (-0.45, 1.65), (-0.9, 1.1), (-1.05, 0.2),
)


def face_outline(points5: np.ndarray) -> np.ndarray:
    """The face polygon (8 x 2) around 5 landmarks: their hull grown out to forehead, cheeks and chin."""
    points5 = np.asarray(points5, np.float64)
    eyes = (points5[0] + points5[1]) / 2
    across, down = points5[1] - points5[0], (points5[3] + points5[4]) / 2 - eyes
    return np.array([eyes + a * across + d * down for a, d in FACE_OUTLINE])
