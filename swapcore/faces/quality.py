"""Quality scores of a detected face: sharpness, size, confidence and a pose estimate from 5 landmarks."""

from __future__ import annotations

import math

import cv2
import numpy as np

from swapcore.alignments import Quality

# Nose-tip depth in front of the eyes relative to half the eye distance (anthropometric average).
_NOSE_DEPTH = 0.8


def sharpness(crop_bgr: np.ndarray) -> float:
    """Variance of the Laplacian on a 128 px version of the crop, so scores compare across crop sizes."""
    grey = cv2.cvtColor(cv2.resize(crop_bgr, (128, 128), interpolation=cv2.INTER_AREA), cv2.COLOR_BGR2GRAY)
    return float(cv2.Laplacian(grey, cv2.CV_64F).var())


def pose(landmarks: np.ndarray) -> tuple[float, float, float]:
    """(yaw, pitch, roll) in degrees. Rough, but monotonic in the true angles, which is what sorting needs."""
    left_eye, right_eye, nose, mouth_left, mouth_right = np.asarray(landmarks, np.float64)
    eye_vector = right_eye - left_eye
    roll = math.degrees(math.atan2(eye_vector[1], eye_vector[0]))
    # Undo roll so that x runs along the eye line.
    c, s = math.cos(math.radians(-roll)), math.sin(math.radians(-roll))
    rotate = np.array([[c, -s], [s, c]])
    eyes_mid = (left_eye + right_eye) / 2
    nose_r, mouth_r = rotate @ (nose - eyes_mid), rotate @ ((mouth_left + mouth_right) / 2 - eyes_mid)
    half_eye_distance = max(np.linalg.norm(eye_vector) / 2, 1e-6)
    yaw = math.degrees(math.atan2(nose_r[0] / half_eye_distance, _NOSE_DEPTH))
    # Frontal faces put the nose tip halfway between eye line and mouth (ArcFace template: 0.5).
    ratio = nose_r[1] / max(mouth_r[1], 1e-6)
    pitch = math.degrees(math.asin(float(np.clip((ratio - 0.5) * 2, -1, 1))))
    return yaw, pitch, roll


def score_face(crop_bgr: np.ndarray, box: np.ndarray, confidence: float, landmarks: np.ndarray) -> Quality:
    yaw, pitch, roll = pose(landmarks)
    width, height = box[2] - box[0], box[3] - box[1]
    return Quality(
        sharpness=round(sharpness(crop_bgr), 3),
        size=round(float(math.sqrt(max(width * height, 0.0))), 2),
        confidence=round(confidence, 5),
        yaw=round(yaw, 2),
        pitch=round(pitch, 2),
        roll=round(roll, 2),
    )
