"""Temporal inconsistency: landmark jitter beyond rigid head motion, and motion that breaks at the face edge.

1. Landmark jitter: the neighbouring frames' landmarks are mapped onto this frame's by a similarity
   transform (removing rigid head motion), and the frame's deviation from their midpoint (a second
   difference, which also cancels smooth expression changes) is measured in eye distances. A face rendered
   frame by frame wobbles on the head; a real face does not.
2. Flow discontinuity: dense optical flow between consecutive aligned crops; inside the face and just
   outside it should move together. The difference of their mean motion per sector, relative to the overall
   motion, is large when the face slides over the head.
"""

from __future__ import annotations

import cv2
import numpy as np

from detector.cues import Cue, register
from detector.cues._track import consecutive, fill_edges
from detector.cues._image import gray
from detector.faces import GEOMETRY, FaceTrack
from swapcore.faces.align import transform_points, umeyama

_FLOW_SIZE = 64
_SECTORS = 8
_SMALL_RHO = cv2.resize(GEOMETRY.rho, (_FLOW_SIZE, _FLOW_SIZE), interpolation=cv2.INTER_AREA)
_SMALL_ANGLE = cv2.resize(GEOMETRY.angle, (_FLOW_SIZE, _FLOW_SIZE), interpolation=cv2.INTER_NEAREST)
_SECTOR = ((_SMALL_ANGLE + np.pi) / (2 * np.pi) * _SECTORS).astype(int).clip(0, _SECTORS - 1)
_INSIDE = (_SMALL_RHO > 0.55) & (_SMALL_RHO < 0.9)
_OUTSIDE = (_SMALL_RHO > 1.1) & (_SMALL_RHO < 1.45)


def landmark_jitter(previous: np.ndarray, current: np.ndarray, following: np.ndarray, weight: float = 0.5) -> float:
    """Non-rigid deviation of `current` from where its neighbours put it, in eye distances.

    `weight` is how far `current` lies from `previous` towards `following` in time (0.5: half-way).
    """
    to_current = [transform_points(p, umeyama(p, current)) for p in (previous, following)]
    midpoint = (1 - weight) * to_current[0] + weight * to_current[1]
    eye_distance = max(float(np.linalg.norm(current[1] - current[0])), 1.0)
    return float(np.linalg.norm(current - midpoint, axis=1).mean() / eye_distance)


def flow_discontinuity(before_bgr: np.ndarray, after_bgr: np.ndarray) -> float:
    """Mean over sectors of |inside motion - outside motion| / (typical motion + 0.2 px)."""
    small = [cv2.resize(gray(c), (_FLOW_SIZE, _FLOW_SIZE), interpolation=cv2.INTER_AREA) for c in (before_bgr, after_bgr)]
    flow = cv2.calcOpticalFlowFarneback(small[0], small[1], None, 0.5, 2, 9, 2, 5, 1.1, 0)
    gaps = []
    for sector in range(_SECTORS):
        here = _SECTOR == sector
        inside, outside = flow[here & _INSIDE], flow[here & _OUTSIDE]
        if len(inside) and len(outside):
            gaps.append(np.linalg.norm(inside.mean(0) - outside.mean(0)))
    typical = float(np.median(np.linalg.norm(flow, axis=-1)))
    return float(np.mean(gaps) / (typical + 0.2)) if gaps else 0.0


def _jitter(track: FaceTrack, follows: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Jitter on measured landmarks only, each against the nearest measured ones before and after it.

    Interpolated landmarks (sparse detection) lie on the line between their neighbours by construction, so
    they would read as perfectly steady; they take the track's median instead (`fill_edges`). With detection
    on every frame this is the second difference of consecutive frames that the calibration was fitted on.
    """
    count = len(track)
    jitter, valid = np.zeros(count), np.zeros(count, bool)
    measured = np.flatnonzero(track.measured)
    for before, i, after in zip(measured, measured[1:], measured[2:]):
        if follows[before + 1 : after + 1].all():
            span = track.frames[after] - track.frames[before]
            weight = (track.frames[i] - track.frames[before]) / span
            jitter[i] = landmark_jitter(track.landmarks[before], track.landmarks[i], track.landmarks[after], weight)
            valid[i] = True
    return jitter, valid


def compute(track: FaceTrack) -> np.ndarray:
    count = len(track)
    follows = consecutive(track)
    jitter, jitter_ok = _jitter(track, follows)
    flow = np.zeros(count)
    for i in np.flatnonzero(follows):
        flow[i] = flow_discontinuity(track.crops[i - 1], track.crops[i])
    columns = np.stack([np.log(fill_edges(jitter, jitter_ok) + 1e-3), np.log1p(fill_edges(flow, follows))], axis=1)
    return columns


register(Cue(
    name="temporal",
    features=("temporal_landmark_jitter", "temporal_flow_break"),
    compute=compute,
    reason="The face wobbles on the head or moves differently from its surroundings between frames, beyond "
           "what the head's own motion explains.",
    calm="The face moves together with the head and its surroundings.",
))
