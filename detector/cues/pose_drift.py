"""Pose drift: over time, the central face turns unlike the jaw line and brows around it.

The `pose` cue compares, frame by frame, the head pose solved from the central face (eyes, nose, mouth corners)
with the pose solved from its outline (jaw, brows): `swapcore.faces.landmarks.pose.central_and_outline`. That
difference has a constant part that belongs to the person: a face shaped unlike the 3-D mean face gives the two
solves a steady offset, and people's offsets spread wider than a paste moves them. This cue removes it. It
follows the yaw difference (central minus outline) through the track and measures how far it moves away from
the track's own level: on an authentic face the central face turns with its head, so the difference stays put
up to landmark noise; a face taken from another video keeps turning the way its own head turned there, while
the outline follows this head.

Per frame: the yaw difference, averaged over `SMOOTH` frames (landmark noise is frame to frame, head turns are
slower), minus its running median over `LEVEL` frames (the track's own level, local so that a long clip is
measured like a short one), in degrees, absolute.
"""

from __future__ import annotations

import numpy as np
from scipy.ndimage import median_filter, uniform_filter1d

from detector.cues import Cue, register
from detector.faces import CROP_SIZE, FaceTrack
from swapcore.faces.landmarks import FaceShape
from swapcore.faces.landmarks.pose import central_and_outline

SMOOTH = 5  # frames averaged before the drift is measured (about 0.2 s)
LEVEL = 61  # frames over which the running median sets the track's own level (about 2 s)


def yaw_difference(points68: np.ndarray) -> float:
    """Yaw of the central face minus yaw of its outline, in degrees, for 68 points in crop pixels."""
    central, outline = central_and_outline(FaceShape(points68), (CROP_SIZE, CROP_SIZE))
    return central.yaw - outline.yaw


def drift(differences: np.ndarray) -> np.ndarray:
    """Per frame: how far the smoothed yaw difference lies from its running level (degrees, >= 0)."""
    smooth = uniform_filter1d(np.asarray(differences, np.float64), SMOOTH, mode="nearest")
    level = median_filter(smooth, size=min(LEVEL, len(smooth)), mode="nearest")
    return np.abs(smooth - level)


def compute(track: FaceTrack) -> np.ndarray:
    if not track.shapes:
        return np.zeros((0, 1))
    return drift(np.array([yaw_difference(shape) for shape in track.shapes])).reshape(-1, 1)


register(Cue(
    name="pose_drift",
    features=("pose_drift",),
    compute=compute,
    reason="Over time the eyes, nose and mouth turn differently from the jaw line and brows around them, as when "
           "a face from another video is pasted onto this head.",
    calm="The central face turns together with the head around it.",
    needs_dense=True,
))
