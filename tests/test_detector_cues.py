"""Each cue responds in the right direction on controlled cases built from a real face (and the score maths)."""

from __future__ import annotations


import cv2
import numpy as np
import pytest

from detector import cues
from detector.cues.blur import sharpness_ratios
from detector.cues.flicker import compute as flicker
from detector.cues.frequency import high_band_ratio
from detector.cues.seams import seam_measures
from detector.analysis import DETECTOR_OPTIONS, single_torch_thread
from detector.cues.temporal import compute as temporal
from detector.cues.temporal import flow_discontinuity, landmark_jitter
from detector.faces import CENTERING, CROP_SIZE, GEOMETRY, FaceTrack, collect_tracks
from detector.fit.model import auc, fit_calibration
from swapcore import media
from swapcore.faces.align import align_face
from swapcore.faces.detectors import create
from tests.conftest import shared_file


@pytest.fixture(scope="module")
def face() -> tuple[np.ndarray, np.ndarray]:
    """A real face (astronaut.png), its 5 landmarks, and its aligned head crop as the detector cuts it."""
    image = media.read_image(shared_file("images/astronaut.png"))
    found = create("mtcnn").detect([cv2.cvtColor(image, cv2.COLOR_BGR2RGB)])[0]
    crop, _ = align_face(image, found[0].landmarks, CROP_SIZE, CENTERING)
    return crop, found[0].landmarks


def _paste(crop: np.ndarray, inside: np.ndarray, edge: float = 0.95, feather: float = 0.0) -> np.ndarray:
    """`inside` replaces `crop` within rho < edge (a face-shaped paste), optionally feathered."""
    alpha = (GEOMETRY.rho < edge).astype(np.float32)
    if feather:
        alpha = cv2.GaussianBlur(alpha, (0, 0), feather)
    return (crop * (1 - alpha[..., None]) + inside * alpha[..., None]).clip(0, 255).astype(np.uint8)


def _track(crops: list[np.ndarray], landmarks: list[np.ndarray] | None = None) -> FaceTrack:
    track = FaceTrack(0)
    for i, crop in enumerate(crops):
        track.add(i, np.array([0, 0, 100, 100.0]), (landmarks or [np.zeros((5, 2))] * len(crops))[i], crop)
    return track


def test_blur_falls_when_a_low_resolution_face_is_pasted(face):
    crop, _ = face
    small = cv2.resize(cv2.resize(crop, (32, 32), interpolation=cv2.INTER_AREA), (CROP_SIZE, CROP_SIZE))
    pasted = _paste(crop, small, feather=2)
    original, blurred = sharpness_ratios(crop), sharpness_ratios(pasted)
    assert blurred[0] < original[0] - 1.0  # Laplacian energy ratio drops by > e-fold
    assert blurred[1] < original[1]
    assert high_band_ratio(pasted) < high_band_ratio(crop) - 1.0
    heat = cues.get("blur").heatmap(pasted)
    assert heat[GEOMETRY.inner].mean() > 3 * cues.get("blur").heatmap(crop)[GEOMETRY.inner].mean()


def test_seam_rises_for_a_colour_shifted_paste_and_a_doubled_outline(face):
    crop, _ = face
    lab = cv2.cvtColor(crop, cv2.COLOR_BGR2LAB).astype(np.int16)
    lab[..., 1:] += np.array([10, -10], np.int16)  # greener, bluer skin: a colour-transfer failure
    tinted = cv2.cvtColor(lab.clip(0, 255).astype(np.uint8), cv2.COLOR_LAB2BGR)
    base = seam_measures(crop)
    assert seam_measures(_paste(crop, tinted))[0] > base[0] + 0.3
    plain = np.full_like(crop, 150)

    def outlines(*radii: float) -> np.ndarray:  # dark face outlines on a plain background
        image = plain.copy()
        for radius in radii:
            image[np.abs(GEOMETRY.rho - radius) < 0.02] = 60
        return image

    single, double = seam_measures(outlines(0.95)), seam_measures(outlines(0.85, 1.05))
    assert double[2] > single[2] + 0.5  # most sectors see the outline twice
    assert cues.get("seams").heatmap(_paste(crop, tinted))[GEOMETRY.band].mean() > cues.get("seams").heatmap(crop)[GEOMETRY.band].mean()


def test_flicker_sees_face_brightness_jumps_but_not_global_lighting(face):
    crop, _ = face
    face_only = [_paste(crop, crop.astype(np.float32) + (8 if i % 2 else -8), feather=2) for i in range(9)]
    global_change = [np.clip(crop.astype(np.int16) + 3 * i, 0, 255).astype(np.uint8) for i in range(9)]
    flickering, steady = flicker(_track(face_only)), flicker(_track(global_change))
    assert flickering[:, 0].mean() > steady[:, 0].mean() + 1.0


def test_landmark_jitter_ignores_rigid_motion_and_sees_wobble(face):
    _, landmarks = face
    rng = np.random.default_rng(0)

    def moved(angle: float, scale: float, shift: float) -> np.ndarray:
        rotation = np.array([[np.cos(angle), -np.sin(angle)], [np.sin(angle), np.cos(angle)]]) * scale
        return (landmarks - landmarks.mean(0)) @ rotation.T + landmarks.mean(0) + shift

    rigid = [moved(0.05 * i**1.5, 1 + 0.03 * i, 7.0 * i**1.3) for i in range(3)]
    assert landmark_jitter(*rigid) < 0.01
    wobbly = [points + rng.normal(0, 4, points.shape) for points in rigid]
    assert landmark_jitter(*wobbly) > 5 * landmark_jitter(*rigid)


def test_sparse_detection_interpolates_close_to_detection_and_jitter_skips_interpolated_frames():
    clip, detector = shared_file("video/d6.mp4"), create("mtcnn", **DETECTOR_OPTIONS)
    with single_torch_thread():
        dense = max(collect_tracks(media.iter_frames(clip, stop=24), detector).values(), key=len)
        sparse = max(collect_tracks(media.iter_frames(clip, stop=24), detector, detect_every=3).values(), key=len)
    assert dense.frames == sparse.frames == list(range(24)) and all(dense.measured)
    measured = np.array(sparse.measured)
    assert 8 <= measured.sum() <= 10 and measured[0] and not measured[1]  # every 3rd frame (and the first)
    eye = np.linalg.norm(dense.landmarks[0][1] - dense.landmarks[0][0])
    error = np.array([np.linalg.norm(a - b, axis=1).mean() / eye for a, b in zip(dense.landmarks, sparse.landmarks)])
    assert np.all(error[measured] < 1e-6) and 0 < error[~measured].max() < 0.08
    jitter = temporal(sparse)[:, 0]
    # interpolated frames lie on the line between their neighbours: they must not count as perfectly steady
    assert np.allclose(jitter[~measured], np.median(jitter[measured][1:-1]))
    assert jitter.min() > np.log(1e-3) + 1


def test_collect_tracks_shows_every_frame_once_in_order():
    clip, detector, seen = shared_file("video/d6.mp4"), create("mtcnn", **DETECTOR_OPTIONS), []
    with single_torch_thread():
        tracks = collect_tracks(media.iter_frames(clip, stop=14), detector, detect_every=3,
                                on_frame=lambda index, frame: seen.append(index))
    assert seen == list(range(14)) and max(len(t) for t in tracks.values()) == 14


def test_track_features_are_each_cue_side_by_side_in_order(face):
    crop, landmarks = face
    track = FaceTrack(0)
    for i in range(4):
        track.add(i, np.array([0.0, 0.0, 100.0, 100.0]), landmarks + i, np.roll(crop, i, axis=1))
    names = ["temporal", "blur", "flicker"]
    expected = np.concatenate([cues.get(name).compute(track) for name in names], axis=1)
    assert np.array_equal(cues.track_features(track, names), expected)
    assert cues.track_features(track, names).shape[1] == len(cues.feature_names(names))


def test_flow_breaks_when_the_face_slides_over_the_head(face):
    crop, _ = face
    whole = flow_discontinuity(crop, np.roll(crop, 3, axis=1))  # the whole head moves: no break
    slid = _paste(crop, np.roll(crop, 3, axis=1), feather=1.5)  # only the face moves
    assert flow_discontinuity(crop, slid) > whole + 0.3


def test_logistic_fusion_separates_and_calibrates():
    rng = np.random.default_rng(1)
    real = [rng.normal(0, 1, (20, 3)) for _ in range(20)]
    fake = [rng.normal(0, 1, (20, 3)) + [1.0, 0, -0.5] for _ in range(20)]
    calibration = fit_calibration(real + fake, [0] * 20 + [1] * 20, ["a", "b", "c"], version="t", provenance={})
    assert calibration.weights[0] > 0.5 and calibration.weights[2] < -0.2 and abs(calibration.weights[1]) < 0.3
    scores = [calibration.track_probability(calibration.frame_logits(c)) for c in real + fake]
    assert auc(np.array(scores[:20]), np.array(scores[20:])) > 0.95
    assert np.mean(scores[:20]) < 0.2 and np.mean(scores[20:]) > 0.8



def test_sparse_detection_pairs_two_faces_listed_in_another_order():
    """Two faces whose order the detector swaps between frames are still paired (this used to raise: removing
    the matched face compared numpy arrays)."""
    from detector.faces import _pairs
    from swapcore.faces.detectors import Detection

    def face(x: float) -> Detection:
        return Detection(box=np.array([x, 10, x + 50, 60.0]), score=0.99, landmarks=np.full((5, 2), x + 25.0))

    left, right = face(0), face(200)
    pairs = _pairs([left, right], [face(202), face(2)])
    assert pairs is not None and [a is right for a, _ in pairs] == [True, False]


def _projected(yaw_outline: float, yaw_central: float) -> np.ndarray:
    """The 3-D mean face seen by the crop's camera: its outline turned by one yaw, its central face by another."""
    from swapcore.faces.landmarks import CENTRAL
    from swapcore.faces.landmarks.pose import mean_face

    def seen(yaw: float) -> np.ndarray:
        angle = np.radians(yaw)
        rotation = np.array([[np.cos(angle), 0, np.sin(angle)], [0, 1, 0], [-np.sin(angle), 0, np.cos(angle)]])
        camera = (mean_face() - mean_face().mean(0)) @ rotation.T + [0, 0, 5.0]  # 5 eye distances away
        return CROP_SIZE * camera[:, :2] / camera[:, 2:] + CROP_SIZE / 2  # focal length: the crop's side
    points = seen(yaw_outline)
    points[CENTRAL] = seen(yaw_central)[CENTRAL]
    return points


def test_pose_drift_sees_a_central_face_that_turns_on_its_own_but_not_a_steady_offset():
    """The head turns +-12 degrees; the central face turning with it, with a steady 8 degree offset (a face shaped
    unlike the mean face), or on its own (+-6 degrees against the head, as a face taken from another video)."""
    from detector.cues.pose_drift import drift, yaw_difference

    head = 12 * np.sin(np.linspace(0, 3 * np.pi, 90))
    own = 6 * np.sin(np.linspace(0, 5 * np.pi, 90) + 1.0)
    level = {name: np.quantile(drift([yaw_difference(_projected(h, h + extra)) for h, extra in zip(head, turn)]), 0.75)
             for name, turn in (("with", np.zeros(90)), ("offset", np.full(90, 8.0)), ("own", own))}
    assert level["with"] < 0.5 and level["offset"] < 0.5
    assert level["own"] > 2.0
