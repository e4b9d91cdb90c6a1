"""The 68-point cues (boundary seams, double brows, pose mismatch) move the right way on controlled pastes built
from real faces: another person's face pasted hard-edged, without colour correction and Poisson-blended."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from detector import blendnet
from detector.analysis import DETECTOR_OPTIONS
from detector.cues.boundary import frame_measures
from detector.cues.tone import tone_gap
from detector.faces import CENTERING, CROP_SIZE
from detector.fit.pastes import paste_frame
from swapcore import media
from swapcore.faces.align import align_face, transform_points
from swapcore.faces.detectors import create
from swapcore.faces.landmarks import FaceShape
from swapcore.faces.landmarks import create as create_landmarker
from swapcore.faces.landmarks.pose import pose_mismatch
from tests.conftest import shared_file

pytestmark = pytest.mark.needs_data
FRAMES = (10, 30, 50, 70, 90, 110)


class Faces:
    def __init__(self) -> None:
        self.detector = create("mtcnn", **DETECTOR_OPTIONS)
        self.landmarker = create_landmarker("dlib68")

    def find(self, frame: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(5 points, 68 points) of the frame's face, in frame pixels."""
        rgb = cv2.cvtColor(frame, cv2.COLOR_BGR2RGB)
        faces = self.detector.detect([rgb])[0]
        return faces[0].landmarks, self.landmarker.locate(rgb, faces[:1])[0].points

    def crop(self, frame: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """The detector's aligned crop of the frame's face and its 68 points in crop pixels, as `analyse` cuts them."""
        five, dense = self.find(frame)
        crop, matrix = align_face(frame, five, CROP_SIZE, CENTERING)
        return crop, transform_points(dense, matrix)


@pytest.fixture(scope="module")
def pasted() -> dict[str, list[tuple[np.ndarray, np.ndarray]]]:
    """Per family, per frame: the aligned crop and its 68 points of d12 frames, untouched ('real') or with d10's
    face pasted on; 'nocolour-d14' pastes d14's face, whose lighter, less saturated skin is about 16 Lab chroma
    units from d12's (d10's is about 5)."""
    return _crops(Faces(), FRAMES, ("real", "hard", "nocolour", "poisson", "nocolour-d14"))


def _crops(faces: Faces, indices: tuple[int, ...] | range,
           names: tuple[str, ...]) -> dict[str, list[tuple[np.ndarray, np.ndarray]]]:
    """Per name (a paste family, or 'real'; '-d14' names another donor than d10), the aligned crop and its 68
    points of d12's frames at `indices`, with the donor's frame of the same index pasted on frame by frame."""
    stop = max(indices) + 1
    targets = dict(media.iter_frames(shared_file("video/d12.mp4"), stop=stop))
    donors = {name: dict(media.iter_frames(shared_file(f"video/{name}.mp4"), stop=stop))
              for name in {name.partition("-")[2] or "d10" for name in names if name != "real"}}
    rng = np.random.default_rng(0)
    out: dict[str, list] = {}
    for name in names:
        family, _, donor = name.partition("-")
        for i in indices:
            frame = targets[i]
            if family != "real":
                source = donors[donor or "d10"][i]
                frame = paste_frame(frame, faces.find(frame)[1], source, faces.find(source)[1], family, rng)
            out.setdefault(name, []).append(faces.crop(frame))
    return out


@pytest.fixture(scope="module")
def measured(pasted) -> dict[str, np.ndarray]:
    """Per family, the median over frames of (seam colour step, seam gradient peak, double brows, pose mismatch,
    skin-tone gap)."""
    return {family: np.median([(*frame_measures(crop, points), pose_mismatch(FaceShape(points), (CROP_SIZE, CROP_SIZE)),
                                tone_gap(crop, points)) for crop, points in rows], axis=0)
            for family, rows in pasted.items()}


def test_a_hard_edged_paste_of_another_face_leaves_a_seam(measured):
    real, hard = measured["real"], measured["hard"]
    assert hard[1] > real[1] + 0.3  # a gradient ridge where the mask ends
    assert hard[0] > real[0] + 0.15  # and a colour step across it


def test_a_paste_without_colour_correction_shows_its_skin_tone_step(measured):
    assert measured["nocolour"][0] > measured["real"][0] + 0.25


def test_an_uncorrected_paste_has_another_skin_tone_than_the_forehead(measured):
    """The cheeks carry the donor's tone, the forehead above the mask the target's; colour matching removes it."""
    real, nocolour, hard = measured["real"][4], measured["nocolour-d14"][4], measured["hard"][4]
    assert nocolour > real + 4.0  # Lab chroma units
    assert hard < real + 2.0  # a colour-matched paste is the seam cues' case, not this one's


def test_a_poisson_blended_paste_is_seen_by_its_pose(measured):
    """Poisson blending removes the colour step by design: the donor face's pose on the head gives it away."""
    real, poisson = measured["real"], measured["poisson"]
    assert poisson[3] > real[3] + 1.5  # degrees: the donor face sits turned on the head (3.2 -> 5.6 here)


def test_doubled_brows_are_counted():
    faces = Faces()
    frame = next(f for i, f in media.iter_frames(shared_file("video/d12.mp4"), start=30, stop=31))
    crop, points = faces.crop(frame)
    shape = FaceShape(points)
    up = int(round(0.25 * shape.eye_distance))
    doubled = crop.copy()
    x0, x1 = int(points[17:27, 0].min()) - 4, int(points[17:27, 0].max()) + 4
    y0, y1 = int(points[17:27, 1].min()) - 5, int(points[17:27, 1].max()) + 5
    doubled[y0 - up : y1 - up, x0:x1] = np.minimum(crop[y0 - up : y1 - up, x0:x1], crop[y0:y1, x0:x1])
    assert frame_measures(doubled, points)[2] > frame_measures(crop, points)[2] + 0.3


def test_the_learned_blend_network_scores_pastes_above_the_untouched_face(pasted):
    """The shipped network (`detector.blendnet`) on the same frames: every paste family above the untouched face.
    d10, d12 and d14 are among the people it was trained on (as authentic faces; these pastes it never saw), so
    this guards the network and its input, not how it judges new people (bench.detector_eval does)."""
    logits = {family: float(np.median(blendnet.frame_logits([crop for crop, _ in rows])))
              for family, rows in pasted.items()}
    for family in ("hard", "nocolour", "poisson", "nocolour-d14"):
        assert logits[family] > logits["real"] + 0.8, logits


@pytest.fixture(scope="module")
def turning() -> dict[str, float]:
    """Per family, the pose-drift statistic (75th percentile over frames, as the evidence reads it) of d12's first
    60 frames, untouched or with the first 60 frames of d10 pasted on frame by frame."""
    from detector.cues.pose_drift import drift, yaw_difference

    crops = _crops(Faces(), range(60), ("real", "feather", "hard"))
    return {family: float(np.quantile(drift(np.array([yaw_difference(points) for _, points in rows])), 0.75))
            for family, rows in crops.items()}


def test_a_face_pasted_from_another_video_drifts_against_its_head(turning):
    """The pasted face keeps turning as d10 turned in her video while the outline follows d12's head (measured:
    real 1.3 degrees, feather 2.3, hard 1.75)."""
    assert turning["feather"] > turning["real"] + 0.3
    assert turning["hard"] > turning["real"] + 0.3
