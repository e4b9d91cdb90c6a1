"""Head pose from 68 landmarks: solvePnP against a 3-D mean face (`mean_face_68.json`, see scripts/mean_face.py).

The camera is an assumed pinhole with a focal length of the frame's longer side and its centre in the middle:
enough for angles of a few degrees' precision, which is what the pose cues compare (two poses of one face,
solved with the same camera, so the assumption cancels).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from functools import lru_cache
from importlib import resources

import cv2
import numpy as np

from swapcore.errors import SwapcoreError
from swapcore.faces.landmarks import CENTRAL, OUTER, FaceShape


@lru_cache(maxsize=1)
def mean_face() -> np.ndarray:
    """(68, 3) model points in eye distances: x right, y down, z away from the camera."""
    data = json.loads((resources.files("swapcore.faces.landmarks") / "mean_face_68.json").read_text())
    return np.asarray(data["points"], np.float64)


@dataclass(frozen=True)
class Pose:
    rotation: np.ndarray  # 3x3, model -> camera
    yaw: float  # degrees; positive: the face turns to the image's right
    pitch: float  # degrees; positive: the face tilts up
    roll: float  # degrees; positive: the face rolls clockwise in the image

    def angle_to(self, other: Pose) -> float:
        """The angle (degrees) of the rotation that takes one pose to the other."""
        relative = self.rotation.T @ other.rotation
        return float(np.degrees(np.arccos(np.clip((np.trace(relative) - 1) / 2, -1.0, 1.0))))


def _frontal_guess(shape: FaceShape, camera: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """A start for the iterative solver: facing the camera, rolled like the eye line, at the eyes' distance.

    Without it the solver sometimes settles in the mirror solution (the face seen from behind, roll ~180).
    """
    five = shape.five
    across = five[1] - five[0]
    depth = camera[0, 0] / max(float(np.linalg.norm(across)), 1e-6)  # the model's eye distance is 1
    eyes = (five[0] + five[1]) / 2
    tvec = np.array([(eyes[0] - camera[0, 2]) * depth / camera[0, 0], (eyes[1] - camera[1, 2]) * depth / camera[1, 1],
                     depth])
    return np.array([0.0, 0.0, float(np.arctan2(across[1], across[0]))]), tvec


def head_pose(shape: FaceShape, frame_size: tuple[int, int], points: np.ndarray | None = None) -> Pose:
    """The pose of a 68-point face in a frame of (width, height); `points` picks a subset of landmark indices."""
    if not shape.dense:
        raise SwapcoreError("a head pose needs the 68-point landmarks (landmarker 'dlib68')")
    chosen = np.arange(68) if points is None else np.asarray(points)
    width, height = frame_size
    focal = float(max(width, height))
    camera = np.array([[focal, 0, width / 2], [0, focal, height / 2], [0, 0, 1]], np.float64)
    rvec, tvec = _frontal_guess(shape, camera)
    ok, rvec, _ = cv2.solvePnP(mean_face()[chosen], shape.points[chosen].astype(np.float64), camera, None,
                               rvec, tvec, useExtrinsicGuess=True, flags=cv2.SOLVEPNP_ITERATIVE)
    if not ok:
        raise SwapcoreError("head pose could not be solved for these landmarks")
    rotation, _ = cv2.Rodrigues(rvec)
    # Euler angles of R = Rz(roll) Ry(yaw) Rx(pitch) (x right, y down, z into the scene).
    yaw = np.degrees(np.arcsin(-np.clip(rotation[2, 0], -1, 1)))
    pitch = np.degrees(np.arctan2(rotation[2, 1], rotation[2, 2]))
    roll = np.degrees(np.arctan2(rotation[1, 0], rotation[0, 0]))
    return Pose(rotation, float(yaw), float(-pitch), float(roll))


def central_and_outline(shape: FaceShape, frame_size: tuple[int, int]) -> tuple[Pose, Pose]:
    """The pose of the central face (eyes, nose, mouth corners) and the pose of its outline (jaw, brows).

    After Yang, Li and Lyu (ICASSP 2019), who compare the central face with the whole: a face pasted onto another
    head keeps its own central features while the jaw line and brows stay the head's, so the two poses disagree
    more than on an authentic face. Comparing with the outline alone keeps the central points from pulling both
    poses together.
    """
    return head_pose(shape, frame_size, CENTRAL), head_pose(shape, frame_size, OUTER)


def pose_mismatch(shape: FaceShape, frame_size: tuple[int, int]) -> float:
    """Degrees between the pose of the central face and the pose of its outline (`central_and_outline`)."""
    central, outline = central_and_outline(shape, frame_size)
    return central.angle_to(outline)
