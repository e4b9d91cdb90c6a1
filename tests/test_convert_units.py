"""Conversion's parts on real faces without a model: colour methods, masks, blending, the pose maths."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from swapcore import media
from swapcore.convert import color
from swapcore.convert.blend import BlendSettings, paste
from swapcore.convert.masks import check_kind, choices, face_mask, hull_mask
from swapcore.convert.pipeline import parse_frames
from swapcore.convert.smoothing import Observation, OneEuro, TrackSmoother, fit, matrix_of, pose_of, smooth
from swapcore.errors import SwapcoreError
from swapcore.faces.align import crop_with, template, transform_points
from swapcore.faces import landmarks
from swapcore.faces.detectors import create
from tests.conftest import shared_file

SIZE = 128


@pytest.fixture(scope="module")
def faces() -> dict[str, tuple[np.ndarray, np.ndarray, np.ndarray]]:
    """(frame, frame->crop affine, aligned crop) of two real people under different light."""
    detector = create("mtcnn")
    found = {}
    for name in ("images/grace_hopper.jpg", "images/astronaut.png"):
        frame = media.read_image(shared_file(name))
        face = detector.detect([cv2.cvtColor(frame, cv2.COLOR_BGR2RGB)])[0][0]
        matrix = fit(face.landmarks, SIZE, "face")
        found[name] = (frame, matrix, crop_with(frame, matrix, SIZE))
    return found


@pytest.fixture(scope="module")
def shapes() -> list[tuple[np.ndarray, np.ndarray, np.ndarray]]:
    """(MTCNN's 5 points, dlib's 68, MTCNN's box corners) in crop pixels, for 9 real faces of 9 people."""
    detector, dlib68 = create("mtcnn"), landmarks.create("dlib68")
    found = []
    for name in ("images/group_t1.jpg", "images/grace_hopper.jpg", "images/astronaut.png", "images/messi5.jpg"):
        rgb = cv2.cvtColor(media.read_image(shared_file(name)), cv2.COLOR_BGR2RGB)
        detections = detector.detect([rgb])[0]
        for face, shape in zip(detections, dlib68.locate(rgb, detections), strict=True):
            matrix = fit(face.landmarks, SIZE, "face")
            x0, y0, x1, y1 = face.box
            corners = np.array([[x0, y0], [x1, y0], [x1, y1], [x0, y1]])
            found.append(tuple(transform_points(p, matrix) for p in (face.landmarks, shape.points, corners)))
    assert len(found) == 9
    return found


def _lab_stats(image: np.ndarray, region: np.ndarray) -> np.ndarray:
    lab = cv2.cvtColor(image.astype(np.float32), cv2.COLOR_BGR2LAB)[region]
    return np.concatenate([lab.mean(0), lab.std(0)])


@pytest.mark.parametrize("method", ["avg_color", "reinhard", "hist_match", "seamless"])
def test_each_colour_method_moves_lab_statistics_towards_the_target(faces, method):
    (_, _, hopper), (_, _, astronaut) = faces.values()
    swapped, original = hopper.astype(np.float32) / 255, astronaut.astype(np.float32) / 255
    mask = hull_mask(template(SIZE, "face"), SIZE)
    region = mask > 0.5
    target = _lab_stats(original, region)
    adjusted = color.get(method)(swapped, original, mask)
    assert adjusted.shape == swapped.shape and adjusted.dtype == np.float32
    before = np.abs(_lab_stats(swapped, region) - target)
    after = np.abs(_lab_stats(adjusted, region) - target)
    assert after[:3].sum() < 0.5 * before[:3].sum(), (method, before, after)  # means
    if method in ("reinhard", "hist_match"):  # these match the spread too
        assert after[3:].sum() < 0.5 * before[3:].sum(), (method, before, after)


def test_no_colour_change_is_identity(faces):
    (_, _, hopper), (_, _, astronaut) = faces.values()
    swapped = hopper.astype(np.float32) / 255
    assert color.get("none")(swapped, astronaut.astype(np.float32) / 255, np.ones((SIZE, SIZE), np.float32)) is swapped


def test_unknown_names_are_refused():
    with pytest.raises(SwapcoreError, match="colour method"):
        color.get("sepia")
    with pytest.raises(SwapcoreError, match="learned mask"):
        check_kind("learned+hull", has_learned=False)
    assert check_kind("auto", has_learned=True) == "learned+hull" and check_kind("auto", False) == "hull"


def test_paste_touches_only_the_masked_face_and_puts_it_in_place(faces):
    frame, matrix, crop = faces["images/grace_hopper.jpg"]
    red = np.zeros((SIZE, SIZE, 3), np.float32)
    red[..., 2] = 1.0
    mask = hull_mask(template(SIZE, "face"), SIZE)
    out = frame.copy()
    box = paste(out, red, mask, matrix, BlendSettings(erode=2, blur=4))
    changed = np.any(out != frame, axis=-1)
    x0, y0, x1, y1 = box
    assert changed[y0:y1, x0:x1].any() and changed.sum() == changed[y0:y1, x0:x1].sum()
    # Pulled back into the crop, the pasted face sits where the mask said: red inside, untouched outside.
    back = crop_with(out, matrix, SIZE)
    inner = cv2.erode((mask > 0.5).astype(np.uint8), np.ones((15, 15), np.uint8)).astype(bool)
    assert back[inner][:, 2].mean() > 240 and back[inner][:, :2].mean() < 15
    assert np.abs(back[mask == 0].astype(int) - crop[mask == 0]).mean() < 12  # only the feathered rim differs


@pytest.mark.parametrize("kind", ["components", "extended"])
def test_68_point_masks_cover_eyes_nose_and_mouth_and_stay_inside_the_head(shapes, kind):
    for five, dense, box in shapes:
        mask = face_mask(kind, five, None, SIZE, dense) > 0.5
        inside = cv2.distanceTransform(mask.astype(np.uint8), cv2.DIST_L2, 5)
        eye_distance = np.linalg.norm(five[1] - five[0])
        # MTCNN's eyes, nose tip and mouth corners (another model than the mask's) lie well inside the mask ...
        depth = inside[np.round(five[:, 1]).astype(int), np.round(five[:, 0]).astype(int)] / eye_distance
        assert depth.min() > 0.08, depth
        # ... and so do dlib's own eye, nose and lip points.
        for region in (landmarks.RIGHT_EYE, landmarks.LEFT_EYE, landmarks.NOSE, landmarks.MOUTH):
            points = np.round(dense[region]).astype(int)
            assert mask[points[:, 1], points[:, 0]].all(), region
        # The head: MTCNN's box (brows to chin, cheek to cheek) grown by 12 % of its side on every side.
        low, high = box.min(0), box.max(0)
        grown = (high - low) * 0.12
        ys, xs = np.nonzero(mask)
        assert xs.min() >= low[0] - grown[0] and xs.max() <= high[0] + grown[0]
        assert ys.min() >= low[1] - grown[1] and ys.max() <= high[1] + grown[1]
        assert 0.25 < mask.sum() / np.prod(high - low) < 0.8  # a face, not a sliver or the whole box


def test_extended_mask_adds_forehead_above_the_eyes(shapes):
    for five, dense, _ in shapes:
        components = face_mask("components", five, None, SIZE, dense) > 0.5
        extended = face_mask("extended", five, None, SIZE, dense) > 0.5
        added = extended & ~components
        assert (components & ~extended).sum() < 0.01 * components.sum()
        assert added.sum() > 0.03 * components.sum()
        # Crops are upright: nearly all that is added lies above the eyes (the rest is where the hulls from the raised
        # brows down to the chin widen the temples a little).
        eyes = five[:2, 1].mean()
        assert (np.nonzero(added)[0] < eyes).mean() > 0.9, (np.nonzero(added)[0] < eyes).mean()


def test_a_face_known_by_5_points_gets_the_hull_for_68_point_masks(shapes):
    five = shapes[0][0]
    assert {"auto", "hull", "components", "extended"} <= set(choices())
    for kind in ("components", "extended"):
        assert check_kind(kind, has_learned=False) == kind
        assert np.array_equal(face_mask(kind, five, None, SIZE, None), hull_mask(five, SIZE))


def test_pose_round_trip_and_one_euro_follows_a_step():
    matrix = fit(np.array([[200, 210], [260, 205], [232, 240], [210, 270], [255, 266]], float), 64, "face")
    assert np.allclose(matrix_of(pose_of(matrix, 64), 64), matrix, atol=1e-9)
    smoother = OneEuro(min_cutoff=1.0, beta=0.0)
    values = [smoother(np.array([v]), 1 / 30)[0] for v in [0.0] * 5 + [1.0] * 60]
    assert 0 < values[5] < 0.3 and values[-1] > 0.99  # lags a step at first, then settles on it


def test_the_68_points_travel_through_the_smoother_and_bridge_a_gap(shapes):
    five, dense, _ = shapes[1]
    seen = Observation(five, 0.99, dense)
    placed = [p for _, p in smooth(iter(enumerate([seen, None, seen])), TrackSmoother(SIZE, "face", 30.0, 0.0, 5))]
    assert [p.interpolated for p in placed] == [False, True, False]
    assert np.allclose(placed[0].dense, transform_points(dense, placed[0].matrix))
    assert np.array_equal(placed[1].dense, placed[0].dense)  # a bridged frame keeps the last face's shape
    plain = [p for _, p in smooth(iter([(0, Observation(five, 0.99))]), TrackSmoother(SIZE, "face", 30.0, 0.0, 5))]
    assert plain[0].dense is None


def test_parse_frames():
    assert parse_frames("10:20") == (10, 20) and parse_frames(":5") == (0, 5) and parse_frames("7:") == (7, None)
    for bad in ("5", "a:b", "9:3", "-1:4"):
        with pytest.raises(SwapcoreError):
            parse_frames(bad)
