"""Conversion's parts on real faces without a model: colour methods, masks, blending, the pose maths."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from swapcore import media
from swapcore.convert import color
from swapcore.convert.blend import BlendSettings, paste
from swapcore.convert.masks import check_kind, hull_mask
from swapcore.convert.pipeline import parse_frames
from swapcore.convert.smoothing import OneEuro, fit, matrix_of, pose_of
from swapcore.errors import SwapcoreError
from swapcore.faces.align import crop_with, template
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


def test_pose_round_trip_and_one_euro_follows_a_step():
    matrix = fit(np.array([[200, 210], [260, 205], [232, 240], [210, 270], [255, 266]], float), 64, "face")
    assert np.allclose(matrix_of(pose_of(matrix, 64), 64), matrix, atol=1e-9)
    smoother = OneEuro(min_cutoff=1.0, beta=0.0)
    values = [smoother(np.array([v]), 1 / 30)[0] for v in [0.0] * 5 + [1.0] * 60]
    assert 0 < values[5] < 0.3 and values[-1] > 0.99  # lags a step at first, then settles on it


def test_parse_frames():
    assert parse_frames("10:20") == (10, 20) and parse_frames(":5") == (0, 5) and parse_frames("7:") == (7, None)
    for bad in ("5", "a:b", "9:3", "-1:4"):
        with pytest.raises(SwapcoreError):
            parse_frames(bad)
