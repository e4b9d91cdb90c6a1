"""The 68-point landmark plugin: it lands on the real face, agrees with MTCNN's eyes, and yields sane poses."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from swapcore import media
from swapcore.errors import SwapcoreError
from swapcore.faces.detectors import create as create_detector
from swapcore.faces.landmarks import JAW, FaceShape, available, create
from swapcore.faces.landmarks.pose import head_pose, mean_face, pose_mismatch
from tests.conftest import shared_file


@pytest.fixture(scope="module")
def astronaut() -> tuple[np.ndarray, list]:
    image = cv2.cvtColor(media.read_image(shared_file("images/astronaut.png")), cv2.COLOR_BGR2RGB)
    return image, create_detector("mtcnn").detect([image])[0]


def test_registry_names_both_plugins_and_refuses_unknown():
    assert available() == ["dlib68", "mtcnn5"]
    with pytest.raises(SwapcoreError, match="unknown landmarker 'nope'"):
        create("nope")


def test_dlib68_agrees_with_mtcnn_eyes_and_outlines_the_face(astronaut):
    image, faces = astronaut
    shape = create("dlib68").locate(image, faces)[0]
    assert shape.points.shape == (68, 2) and shape.dense
    five = np.asarray(faces[0].landmarks)
    eye_error = np.linalg.norm(shape.five[:2] - five[:2], axis=1) / shape.eye_distance
    assert eye_error.max() < 0.12  # same eyes, within a tenth of the eye distance
    outline = shape.outline()
    assert len(outline) == 27
    # the jaw runs below the mouth, the brows above the eyes
    assert shape.points[JAW][8, 1] > five[3:, 1].max() and outline[17:, 1].min() < five[:2, 1].min()
    lifted = shape.outline(forehead=0.5)
    assert np.allclose(lifted[:17], outline[:17]) and (lifted[17:, 1] < outline[17:, 1] - 0.3 * shape.eye_distance).all()


def test_mtcnn5_passes_points_through_and_has_no_outline(astronaut):
    image, faces = astronaut
    shape = create("mtcnn5").locate(image, faces)[0]
    assert np.allclose(shape.points, faces[0].landmarks) and not shape.dense
    assert np.allclose(shape.five, shape.points)
    with pytest.raises(SwapcoreError, match="68-point"):
        shape.outline()
    with pytest.raises(SwapcoreError, match="68-point"):
        head_pose(shape, image.shape[1::-1])


def test_pose_of_a_frontal_face_is_small_and_follows_a_turned_copy(astronaut):
    image, faces = astronaut
    shape = create("dlib68").locate(image, faces)[0]
    size = image.shape[1::-1]
    pose = head_pose(shape, size)
    assert abs(pose.roll) < 15 and abs(pose.pitch) < 25 and abs(pose.yaw) < 25
    # Rolling the image by 20 degrees rolls the solved pose by about as much, and nothing else.
    centre = tuple(float(c) for c in shape.five[:2].mean(0))
    matrix = cv2.getRotationMatrix2D(centre, -20, 1.0)
    rolled = FaceShape(shape.points @ matrix[:, :2].T + matrix[:, 2])
    turned = head_pose(rolled, size)
    assert turned.roll - pose.roll == pytest.approx(20, abs=3)
    assert pose.angle_to(turned) == pytest.approx(20, abs=3)
    assert pose_mismatch(shape, size) < 20  # the crude depth model leaves some disagreement on real faces


def _projected(yaw_degrees: float) -> np.ndarray:
    """The mean face seen from 3 eye distances' scale at 60 cm-like depth, turned by `yaw_degrees`."""
    camera = np.array([[512.0, 0, 256], [0, 512.0, 256], [0, 0, 1]])
    rvec = np.array([0.0, np.radians(yaw_degrees), 0.0])
    points, _ = cv2.projectPoints(mean_face(), rvec, np.array([0.0, 0.0, 8.0]), camera, None)
    return points.reshape(-1, 2)


def test_pose_mismatch_rises_when_a_turned_face_sits_on_a_frontal_head():
    size = (512, 512)
    head = _projected(0)
    assert pose_mismatch(FaceShape(head), size) < 1  # the model agrees with itself
    pasted = head.copy()
    pasted[27:] = _projected(25)[27:]  # nose, eyes and mouth of a face turned 25 degrees; jaw and brows stay
    assert pose_mismatch(FaceShape(pasted), size) > 10
    assert head_pose(FaceShape(_projected(25)), size).yaw == pytest.approx(25, abs=2)


def test_mean_face_is_symmetric_with_the_nose_forward():
    face = mean_face()
    assert face.shape == (68, 3)
    assert face[30, 2] < face[39, 2] < face[0, 2]  # nose tip nearest the camera, the jaw's top ends farthest
    assert face[0, 0] == pytest.approx(-face[16, 0], abs=1e-3) and face[8, 0] == pytest.approx(0, abs=1e-3)
