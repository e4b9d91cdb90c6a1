"""Cross-identity pastes: another person's face put onto a target face by its 68 landmarks, as pasting tools do.

Families (one artefact each, all with the donor's face warped onto the target's by a similarity fit of the 68
points, masked by the target's landmark hull intersected with the warped donor's):
- hard: a hard-edged hull mask, colour matched (Reinhard) - the crude paste whose seam anyone sees;
- nocolour: a lightly feathered hull mask without colour correction (the donor's skin tone stays);
- feather: a wide feather (about 6 % of the face), colour matched - a careful paste;
- poisson: Poisson blending (`cv2.seamlessClone`), which removes the colour step and keeps the gradients;
- lowres: the donor's face rendered about 64 px wide and upscaled, feathered and colour matched;
- jitter: the target's landmarks jittered per frame before the fit (an unsteady tracker), feathered;
- hull5: the mask drawn from the 5 points (a face polygon of eyes, nose and mouth corners), feathered.
Only the shared data's real people are used; nothing made here leaves the cache.
"""

from __future__ import annotations

import cv2
import numpy as np

from swapcore.convert.color import get as colour_method
from swapcore.faces.align import face_outline, umeyama
from swapcore.faces.landmarks import FaceShape

FAMILIES = ("hard", "nocolour", "feather", "poisson", "lowres", "jitter", "hull5")
RENDER_WIDTH = 64  # lowres: the donor face's width in pixels before it is enlarged again


def _fill(polygon: np.ndarray, shape: tuple[int, int]) -> np.ndarray:
    mask = np.zeros(shape, np.uint8)
    cv2.fillConvexPoly(mask, np.round(polygon).astype(np.int32), 1)
    return mask


def _five_point_polygon(points68: np.ndarray) -> np.ndarray:
    """The face polygon the 5-point masks draw (eyes, nose and mouth corners grown out to brow, cheeks, chin)."""
    return face_outline(FaceShape(points68).five)


def _feather(mask: np.ndarray, sigma: float) -> np.ndarray:
    """A soft mask that stays inside the hard one (eroded by about the blur's reach before blurring)."""
    reach = int(round(1.5 * sigma))
    kernel = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * reach + 1, 2 * reach + 1))
    inner = cv2.erode(mask, kernel) if reach else mask
    return cv2.GaussianBlur(inner.astype(np.float32), (0, 0), sigma) if sigma > 0 else inner.astype(np.float32)


def paste_frame(target: np.ndarray, target68: np.ndarray, donor: np.ndarray, donor68: np.ndarray, family: str,
                rng: np.random.Generator) -> np.ndarray:
    """`target` (BGR) with `donor`'s face pasted onto it the `family`'s way (worked on the face's region only)."""
    face_width = float(np.ptp(target68[:, 0]))
    margin = int(0.6 * face_width)
    x0, y0 = (max(0, int(v) - margin) for v in target68.min(0))
    x1, y1 = (min(limit, int(v) + margin) for v, limit in zip(target68.max(0), target.shape[1::-1]))
    out = target.copy()
    out[y0:y1, x0:x1] = _paste_region(target[y0:y1, x0:x1], target68 - (x0, y0), donor, donor68, family, rng)
    return out


def _paste_region(target: np.ndarray, target68: np.ndarray, donor: np.ndarray, donor68: np.ndarray,
                  family: str, rng: np.random.Generator) -> np.ndarray:
    height, width = target.shape[:2]
    face_width = float(np.ptp(target68[:, 0]))
    aim = target68 + (rng.normal(0, 0.03 * face_width, target68.shape) if family == "jitter" else 0)
    matrix = umeyama(donor68, aim)
    warped = cv2.warpAffine(donor, matrix, (width, height), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REFLECT)
    donor_hull = cv2.convexHull((donor68 @ matrix[:, :2].T + matrix[:, 2]).astype(np.float32)).reshape(-1, 2)
    outline = _five_point_polygon(target68) if family == "hull5" else FaceShape(target68).hull()
    hard = _fill(outline, (height, width)) & _fill(donor_hull, (height, width))
    if family == "lowres":
        scale = min(1.0, RENDER_WIDTH / max(face_width, 1.0))
        small = cv2.resize(warped, None, fx=scale, fy=scale, interpolation=cv2.INTER_AREA)
        warped = cv2.resize(small, (width, height), interpolation=cv2.INTER_CUBIC)
    if family == "poisson":
        x, y, w, h = cv2.boundingRect(hard)
        return cv2.seamlessClone(warped, target, hard * 255, (x + w // 2, y + h // 2), cv2.NORMAL_CLONE)
    if family != "nocolour":
        warped = (colour_method("reinhard")(warped / 255.0, target / 255.0, hard.astype(np.float32)) * 255)
    sigma = {"hard": 0.0, "nocolour": 0.015, "feather": 0.06}.get(family, 0.03) * face_width
    alpha = _feather(hard, sigma)[..., None]
    return (target * (1 - alpha) + warped * alpha).clip(0, 255).astype(np.uint8)
