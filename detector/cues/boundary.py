"""Seams where pasting tools end their masks, found by the 68-point face geometry; and doubled brows.

1. Boundary seams. A paste ends where its mask ends: on the hull of the landmarks, on the hull of the inner
   points (brows, eyes, nose, mouth), or a few % inside or outside either, and across the forehead above the
   brows. Along each such candidate boundary the Lab profile is read on the boundary's normal, and per point the
   colour step between just inside and just outside (in units of the skin's own variation there) and the
   gradient peak on the boundary (against the profile's typical gradient) are measured. Points are pooled per
   segment (forehead, each cheek, jaw), since a seam is coherent along a stretch of the boundary, and the
   frame's value is a high quantile over boundaries and segments: a seam is local. (Over time the tail
   statistics take a high quantile too: a seam is persistent.)
2. Double brows. Across each brow (along the face's vertical) an authentic face shows one dark band; a paste
   whose brows do not sit on the head's shows two. Measured as the share of brow points whose lightness
   profile has two separate dark valleys of comparable depth.
"""

from __future__ import annotations

import cv2
import numpy as np

from detector.cues import Cue, register
from detector.cues._image import lab
from detector.faces import FaceTrack
from swapcore.faces.landmarks import LEFT_BROW, RIGHT_BROW, FaceShape

# (which hull, scale about the face centre): the boundaries where masks of pasting tools end.
BOUNDARIES = (("all", 0.88), ("all", 0.94), ("inner", 1.0), ("inner", 1.08), ("inner", 1.16),
              ("forehead", 0.92), ("forehead", 1.0))
SEGMENTS = 4  # forehead, the image's right cheek, jaw, the image's left cheek
QUANTILE = 0.9  # over the boundaries' segments
_SPACING = 3.0  # pixels between sample points along a boundary
_REACH = 9  # profile half-length along the normal, pixels
_OFFSETS = np.arange(-_REACH, _REACH + 1, dtype=np.float32)
_NEAR = (np.abs(_OFFSETS) >= 2) & (np.abs(_OFFSETS) <= 6)


def boundary_polygons(shape: FaceShape) -> list[np.ndarray]:
    """The candidate mask boundaries of one face (crop pixels), in `BOUNDARIES` order."""
    centre = shape.points[17:].mean(0)
    hulls = {"all": shape.hull("all"), "inner": shape.hull("inner"),
             "forehead": cv2.convexHull(shape.outline(forehead=0.45).astype(np.float32)).reshape(-1, 2)}
    return [centre + scale * (hulls[which] - centre) for which, scale in BOUNDARIES]


def _resample(polygon: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Points every `_SPACING` px along a closed polygon, and their outward unit normals."""
    closed = np.vstack([polygon, polygon[:1]])
    lengths = np.linalg.norm(np.diff(closed, axis=0), axis=1)
    along = np.concatenate([[0], np.cumsum(lengths)])
    t = np.arange(0, along[-1], _SPACING)
    points = np.column_stack([np.interp(t, along, closed[:, 0]), np.interp(t, along, closed[:, 1])])
    tangent = np.roll(points, -1, axis=0) - np.roll(points, 1, axis=0)
    normal = np.column_stack([tangent[:, 1], -tangent[:, 0]])
    normal /= np.maximum(np.linalg.norm(normal, axis=1, keepdims=True), 1e-6)
    outward = np.sign(((points - polygon.mean(0)) * normal).sum(1, keepdims=True))
    return points, normal * np.where(outward == 0, 1, outward)


def _profiles(image: np.ndarray, points: np.ndarray, normals: np.ndarray) -> np.ndarray:
    """Image values along each point's normal: (points, offsets, channels), bilinear."""
    xy = points[:, None, :] + _OFFSETS[None, :, None] * normals[:, None, :]
    map_x, map_y = xy[..., 0].astype(np.float32), xy[..., 1].astype(np.float32)
    return cv2.remap(image, map_x, map_y, cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)


def _segment_of(points: np.ndarray, centre: np.ndarray) -> np.ndarray:
    angle = np.degrees(np.arctan2(points[:, 1] - centre[1], points[:, 0] - centre[0]))  # y down: -90 is up
    return (((angle + 135) % 360) // 90).astype(int)  # 0 forehead, 1 right of the image, 2 jaw, 3 left


def seam_cells(colour: np.ndarray, shape: FaceShape) -> tuple[np.ndarray, np.ndarray]:
    """(colour step, gradient peak) per boundary and segment: two BOUNDARIES x SEGMENTS arrays (nan: no points).

    Colour step: |mean Lab just outside - just inside| over the segment, over the mean spread of Lab on either
    side (lightness counts half: shading changes lightness, pastes change hue). Gradient peak: log of the Lab
    gradient along the normal at the boundary over its median along the profile, averaged over the segment.
    """
    weights = np.array([0.5, 1.0, 1.0], np.float32)
    centre = shape.points[17:].mean(0)
    steps = np.full((len(BOUNDARIES), SEGMENTS), np.nan)
    peaks = np.full((len(BOUNDARIES), SEGMENTS), np.nan)
    for b, polygon in enumerate(boundary_polygons(shape)):
        points, normals = _resample(polygon)
        profile = _profiles(colour, points, normals) * weights  # n x offsets x 3
        inside, outside = profile[:, _NEAR & (_OFFSETS < 0)], profile[:, _NEAR & (_OFFSETS > 0)]
        jump = outside.mean(1) - inside.mean(1)  # n x 3
        spread = np.linalg.norm(inside.std(1), axis=1) + np.linalg.norm(outside.std(1), axis=1)
        gradient = np.linalg.norm(np.diff(profile, axis=1), axis=2)  # n x (offsets - 1)
        at_edge = gradient[:, _REACH - 2 : _REACH + 2].max(1)
        peak = np.log((at_edge + 0.5) / (np.median(gradient, axis=1) + 0.5))
        segment = _segment_of(points, centre)
        for s in range(SEGMENTS):
            chosen = segment == s
            if chosen.sum() >= 3:
                steps[b, s] = np.linalg.norm(jump[chosen].mean(0)) / (spread[chosen].mean() + 1.0)
                peaks[b, s] = peak[chosen].mean()
    return steps, peaks


def double_brows(colour: np.ndarray, shape: FaceShape) -> float:
    """Share of brow points whose lightness across the brow has two separate dark valleys of similar depth."""
    points = shape.points
    eyes = (points[36:42].mean(0) + points[42:48].mean(0)) / 2
    up = eyes - points[48:68].mean(0)
    up /= max(float(np.linalg.norm(up)), 1e-6)
    eye_distance = shape.eye_distance
    offsets = np.linspace(-0.45, 0.18, 32, dtype=np.float32) * eye_distance  # above the brow to above the eye
    brows = np.concatenate([points[RIGHT_BROW], points[LEFT_BROW]])
    xy = brows[:, None, :] - offsets[None, :, None] * up[None, None, :]
    lightness = cv2.remap(np.ascontiguousarray(colour[..., 0]), xy[..., 0].astype(np.float32),
                          xy[..., 1].astype(np.float32), cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)
    lightness = cv2.GaussianBlur(lightness, (1, 0), sigmaX=1.2, sigmaY=0) if lightness.shape[1] > 1 else lightness
    gap = 0.12 * eye_distance / (offsets[1] - offsets[0])
    doubled = 0
    for row in lightness:
        depth = np.median(row) - row
        valleys = [i for i in range(1, len(row) - 1) if row[i] < row[i - 1] and row[i] <= row[i + 1] and depth[i] > 3.0]
        if len(valleys) < 2:
            continue
        deepest = max(valleys, key=lambda i: depth[i])
        doubled += any(abs(i - deepest) >= gap and depth[i] > 0.5 * depth[deepest] for i in valleys)
    return doubled / len(lightness)


def frame_measures(crop_bgr: np.ndarray, points68: np.ndarray) -> tuple[float, float, float]:
    """(seam colour step, seam gradient peak, double-brow share) of one aligned crop with its 68 points."""
    colour = lab(crop_bgr)
    shape = FaceShape(points68)
    steps, peaks = seam_cells(colour, shape)
    return (float(np.nanquantile(steps, QUANTILE)), float(np.nanquantile(peaks, QUANTILE)),
            double_brows(colour, shape))


def compute(track: FaceTrack) -> np.ndarray:
    return np.array([frame_measures(crop, shape) for crop, shape in zip(track.crops, track.shapes)],
                    np.float64).reshape(-1, 3)


register(Cue(
    name="boundary",
    features=("boundary_colour_step", "boundary_gradient_peak", "boundary_double_brow"),
    compute=compute,
    reason="Along a line where pasting tools end their masks (around the inner face, across the forehead or "
           "above the jaw), skin tone or texture jumps, or the brows appear twice: the edge of a pasted face.",
    calm="Skin tone and texture run smoothly across the lines where a pasted face would end, and each brow "
         "appears once.",
    needs_dense=True,
))
