"""Write swapcore/faces/landmarks/mean_face_68.json: the 3-D mean face that head poses are solved against.

x and y are the mean 68-point shape (dlib68) of near-frontal faces in ../shared/data (nose tip within 4 % of
the eye distance of the eyes' midpoint), in eye distances from the eyes' midpoint, made mirror-symmetric.
Depth is a model, not a measurement: an ellipsoidal head (1.25 eye distances deep at the centre, zero at
the jaw's top ends, which sit near the ears) plus the nose's protrusion and slightly recessed eyes,
after adult anthropometric proportions (bizygomatic breadth ~2.2 and tragion-to-eye depth ~1.3 eye distances).

    .venv/bin/python scripts/mean_face.py [../shared/data]
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import cv2
import numpy as np

from swapcore import media
from swapcore.faces.detectors import create
from swapcore.faces.landmarks import LEFT_EYE, RIGHT_EYE, create as create_landmarker

OUT = Path(__file__).resolve().parent.parent / "swapcore" / "faces" / "landmarks" / "mean_face_68.json"
MIRROR = np.array([16, 15, 14, 13, 12, 11, 10, 9, 8, 7, 6, 5, 4, 3, 2, 1, 0, 26, 25, 24, 23, 22, 21, 20, 19, 18,
                   17, 27, 28, 29, 30, 35, 34, 33, 32, 31, 45, 44, 43, 42, 47, 46, 39, 38, 37, 36, 41, 40, 54, 53,
                   52, 51, 50, 49, 48, 59, 58, 57, 56, 55, 64, 63, 62, 61, 60, 67, 66, 65])
# Protrusion above the ellipsoid, in eye distances: nose bridge to tip, nostrils, eyes set back, lips forward.
RELIEF = {27: 0.10, 28: 0.18, 29: 0.26, 30: 0.35, 31: 0.10, 32: 0.18, 33: 0.25, 34: 0.18, 35: 0.10,
          **{i: -0.08 for i in range(36, 48)}, **{i: 0.05 for i in range(48, 68)}}
CENTRE_DEPTH = 1.25


def normalised(points: np.ndarray) -> np.ndarray:
    """Points in eye distances, origin at the eyes' midpoint, eye line horizontal."""
    right, left = points[RIGHT_EYE].mean(0), points[LEFT_EYE].mean(0)
    across = left - right
    distance = float(np.linalg.norm(across))
    c, s = across / distance
    rotate = np.array([[c, s], [-s, c]])
    return (points - (right + left) / 2) @ rotate.T / distance


def frontal_shapes(data: Path, every: int = 10) -> list[np.ndarray]:
    detector, landmarker = create("mtcnn", min_face=48, max_side=448), create_landmarker("dlib68")
    shapes = []
    for clip in sorted((data / "video").glob("*.mp4")) + sorted((data / "wild").glob("*.mp4")):
        for index, frame in media.iter_frames(clip):
            if index % every:
                continue
            rgb = cv2.cvtColor(frame, cv2.COLOR_BGR2RGB)
            faces = detector.detect([rgb])[0]
            if len(faces) != 1:
                continue
            shape = normalised(landmarker.locate(rgb, faces)[0].points)
            if abs(shape[30, 0]) < 0.04:
                shapes.append(shape)
    return shapes


def mean_face(shapes: list[np.ndarray]) -> np.ndarray:
    mean = np.median(np.stack(shapes), axis=0)
    symmetric = (mean + mean[MIRROR] * [-1, 1]) / 2
    half_width = (symmetric[16, 0] - symmetric[0, 0]) / 2
    depth = CENTRE_DEPTH * np.sqrt(np.clip(1 - (symmetric[:, 0] / half_width) ** 2, 0, 1))
    depth += np.array([RELIEF.get(i, 0.0) for i in range(68)])
    return np.column_stack([symmetric, -depth])  # camera looks along +z: what protrudes has smaller z


def main() -> None:
    data = Path(sys.argv[1]) if len(sys.argv) > 1 else Path(__file__).resolve().parent.parent.parent / "shared" / "data"
    shapes = frontal_shapes(data)
    points = mean_face(shapes)
    OUT.write_text(json.dumps({"about": __doc__.split("\n\n")[1].replace("\n", " "), "faces": len(shapes),
                               "points": np.round(points, 4).tolist()}))
    print(f"{OUT}: mean of {len(shapes)} near-frontal faces")


if __name__ == "__main__":
    main()
