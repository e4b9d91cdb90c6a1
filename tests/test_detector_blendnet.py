"""The learned blend network's training parts: folds of people, the pack of faces, pastes made on the fly with
their blend boundaries, a training run that completes on the CPU, and how the cue samples a track."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from detector import blendnet
from detector.cues.learned_blend import frame_values, sampled
from detector.fit import blendnet as fit
from swapcore import media
from swapcore.faces.landmarks import FaceShape
from tests.conftest import shared_file
from tests.test_detector_geometry import Faces


def test_look_alikes_share_a_fold_and_every_fold_has_people():
    people = ["happyenglish", "surprisegirl", "furious1", "furious2", *[f"w{n:02d}" for n in range(1, 13)]]
    folds = fit.person_folds(people, 4)
    assert folds["happyenglish"] == folds["surprisegirl"] and folds["furious1"] == folds["furious2"]
    assert set(folds.values()) == {0, 1, 2, 3}
    assert fit.person_folds(list(reversed(people)), 4) == folds


@pytest.fixture(scope="module")
def faces() -> list[fit.Face]:
    """Aligned crops with their 68 points: frames of two shared people, as the detector cuts them."""
    finder, out = Faces(), []
    for person in ("d10", "d12"):
        for index, frame in media.iter_frames(shared_file(f"video/{person}.mp4"), stop=31):
            if index % 10 == 0:
                out.append(fit.Face(person, *finder.crop(frame)))
    return out


@pytest.mark.needs_data
def test_the_pack_keeps_faces_and_points(faces, tmp_path):
    fit.write_pack(faces, tmp_path / "pack.npz")
    back = fit.read_pack(tmp_path / "pack.npz")
    assert [f.person for f in back] == [f.person for f in faces]
    assert np.allclose(back[0].points, faces[0].points, atol=1e-3)
    assert np.abs(back[0].crop.astype(int) - faces[0].crop).mean() < 3  # JPEG at quality 95


@pytest.mark.needs_data
def test_a_pasted_sample_has_its_boundary_where_the_mask_ends_and_an_authentic_one_none(faces):
    rng = np.random.default_rng(0)
    labels = []
    for _ in range(40):
        image, edge, label = fit.sample(faces, rng)
        labels.append(label)
        assert image.shape == (blendnet.INPUT_SIZE, blendnet.INPUT_SIZE, 3) and edge.shape == (32, 32)
        assert (edge.max() > 0.3) if label else (edge.max() == 0)
    assert 10 < sum(labels) < 30
    face, donor = faces[0], faces[-1]
    pasted, alpha = fit.blended(face, donor, np.random.default_rng(1))
    edge = fit.boundary(alpha)
    hull = FaceShape(face.points).hull() / (blendnet.INPUT_SIZE / 32)
    ys, xs = np.nonzero(edge > 0.5 * edge.max())
    # the boundary runs round the face, near its hull (masks are grown or shrunk by up to 12 %)
    assert hull[:, 0].min() - 3 <= xs.min() and xs.max() <= hull[:, 0].max() + 3
    assert edge[int(hull[:, 1].mean()), int(hull[:, 0].mean())] < 0.1  # none in the middle of the face
    assert np.abs(pasted.astype(int) - face.crop)[alpha > 0.5].mean() > 5


@pytest.mark.needs_data
def test_training_completes_on_the_cpu(faces):
    settings = fit.Settings(steps=3, batch=4, workers=0)
    torch.manual_seed(settings.seed)
    untrained = blendnet.BlendNet(settings.width).state_dict()
    net, record = fit.train(faces, settings, device="cpu")
    assert record["steps"] == 3 and record["samples"] == 12 and record["device"] == "cpu"
    moved = [name for name, value in net.state_dict().items()
             if value.is_floating_point() and not torch.equal(value, untrained[name])]
    assert "head.1.weight" in moved and "boundary.weight" in moved  # both heads learned from the samples
    logits = blendnet.frame_logits([f.crop for f in faces[:2]], net)
    assert logits.shape == (2,) and np.isfinite(logits).all()


def test_the_cue_reads_a_bounded_number_of_frames_spread_over_the_track():
    assert list(sampled(64)) == list(range(0, 64, 4))
    for length in (300, 3000):
        read = sampled(length)
        assert len(read) <= 48 and read[0] == 0 and length - read[-1] <= np.diff(read).max()
        assert len(set(np.diff(read))) == 1


def test_frames_between_those_read_take_the_nearest_value():
    crops = [np.full((blendnet.INPUT_SIZE, blendnet.INPUT_SIZE, 3), 40 * (i // 4), np.uint8) for i in range(12)]
    values = frame_values(crops)[:, 0]
    assert values.shape == (12,)
    assert values[0] == values[1] == values[2] and values[3] == values[4] == values[5]  # 3 is nearer 4 than 0
    assert values[8] == values[9] == values[11]
    assert len({values[0], values[4], values[8]}) == 3


def test_the_evidence_fit_reads_a_learned_cues_out_of_fold_values_and_never_computes_them(tmp_path):
    """The shipped network saw every reference person: its own values there would be in-sample."""
    from detector import cues
    from detector.fit import dataset
    from detector.fit.dataset import NoFaceTrack, feature_path, stored_features

    for name in cues.available():
        if name != "learned_blend":
            np.save(feature_path(tmp_path, "clip", name), np.zeros((5, len(cues.get(name).features))))

    def no_track():
        raise AssertionError("the track was read")

    with pytest.raises(FileNotFoundError, match="out-of-fold values of the learned cue learned_blend"):
        stored_features("clip", tmp_path, no_track, out_of_fold=True)
    np.save(feature_path(tmp_path, "clip", "learned_blend", out_of_fold=True), np.full((5, 1), 7.0))
    features = stored_features("clip", tmp_path, no_track, out_of_fold=True)
    assert features[:, cues.feature_names().index("learned_blend_logit")].tolist() == [7.0] * 5
    (tmp_path / "faceless.no-track").touch()  # a clip without a face track is skipped, not an error

    def faceless():
        raise NoFaceTrack("faceless")

    with pytest.raises(NoFaceTrack):
        stored_features("faceless", tmp_path, faceless, out_of_fold=True)
    assert dataset.cue_fingerprint("learned_blend") in feature_path(tmp_path, "clip", "learned_blend").name


def test_the_fitting_parts_import_without_the_analysis_stack():
    """The network is fitted on machines that have numpy, OpenCV, SciPy and torch and nothing else of ours."""
    absent = ["dlib", "face_recognition_models", "facenet_pytorch", "c2pa", "django", "PIL", "tqdm", "bchlib",
              "cryptography", "imageio_ffmpeg", "ffmpeg", "huey", "psycopg", "redis"]
    code = (f"import sys\nfor name in {absent!r}:\n    sys.modules[name] = None\n"
            "import detector.fit.blendnet, detector.blendnet\nprint('ok')")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=Path(__file__).parents[1])
    assert done.returncode == 0 and done.stdout.strip() == "ok", done.stderr


def test_refitted_weights_key_the_cues_cached_values_anew(tmp_path, monkeypatch):
    from detector.fit import dataset

    shipped = dataset.cue_fingerprint("learned_blend")
    other = tmp_path / "blendnet.pt"
    weights = bytearray(blendnet.weights_path().read_bytes())
    weights[len(weights) // 2] ^= 1  # one bit of one weight
    other.write_bytes(bytes(weights))
    monkeypatch.setattr(blendnet, "weights_path", lambda: other)
    try:
        blendnet.fingerprint.cache_clear()
        dataset.cue_fingerprint.cache_clear()
        assert dataset.cue_fingerprint("learned_blend") != shipped
    finally:
        monkeypatch.undo()
        blendnet.fingerprint.cache_clear()
        dataset.cue_fingerprint.cache_clear()
    assert dataset.cue_fingerprint("learned_blend") == shipped
