"""The detector's fitting data: person-disjoint windows, every family in every evaluation condition."""

from __future__ import annotations

import numpy as np
import pytest

from detector.fit import swaps
from detector.fit.dataset import SWAP_FAMILY
from detector.fit.evaluation import EVAL, FIT, SWAP_PAIRS, build_units
from detector.fit.selfblend import FAMILIES
from swapcore import media
from swapcore.convert.color import available as colour_plugins
from tests.conftest import shared_file

pytestmark = pytest.mark.needs_data


def test_fit_and_evaluation_sets_are_person_disjoint_and_resolve_one_percent_fpr():
    data = shared_file("video/d3.mp4").parents[1]
    fit, evaluation = build_units(data, 16, seed=7)
    assert not {u.identity for u in fit} & {u.identity for u in evaluation}
    assert not {u.source for u in fit} & {u.source for u in evaluation}  # no clip on both sides
    assert {u.identity for u in fit} == set(FIT) and {u.identity for u in evaluation} == set(EVAL)
    lengths = {source: media.probe(source).frame_count for source in {u.source for u in fit + evaluation}}
    for unit in fit + evaluation:
        assert 0 <= unit.start and unit.start + unit.frames <= lengths[unit.source]
        if unit.family == SWAP_FAMILY:
            assert unit.identity in SWAP_PAIRS["fit"] + SWAP_PAIRS["eval"] and unit.swap.endswith((":a2b", ":b2a"))
    for crf in (23, 35):
        real = [u for u in evaluation if u.family == "real" and u.crf == crf]
        assert len(real) >= 100  # one false positive allowed at 1 % FPR
        assert len({(u.source, u.start) for u in real}) == len(real)
        assert {u.family for u in evaluation if u.crf == crf} == {"real", *FAMILIES, SWAP_FAMILY}


def test_swap_options_are_real_conversion_options():
    """The faceproof-swap family draws every colour plugin swapcore has, and settings conversion accepts."""
    rng = np.random.default_rng(0)
    drawn = {swaps.random_settings(rng, "a2b").color for _ in range(200)}
    assert drawn == set(colour_plugins())
    settings = swaps.random_settings(rng, "b2a")
    assert settings.direction == "b2a" and settings.mask == "hull" and 0 < settings.smooth < 1


def test_a_clip_without_a_face_track_is_remembered_not_remade(tmp_path, monkeypatch):
    from detector.analysis import DETECTOR_OPTIONS
    from detector.fit import dataset
    from detector.fit.dataset import Landmarks, NoFaceTrack, Unit, cached_track
    from swapcore.faces.detectors import create

    source = tmp_path / "pattern.mp4"
    with media.VideoWriter(source, 128, 96, 25, crf=23) as writer:
        for i in range(12):
            writer.write(np.full((96, 128, 3), 40 + 10 * i, np.uint8))  # no face anywhere
    unit = Unit("nobody", source, 0, 8, "real", 23, 0)
    landmarks = Landmarks(create("mtcnn", **DETECTOR_OPTIONS))
    with pytest.raises(NoFaceTrack):
        cached_track(unit, tmp_path, landmarks)
    assert (tmp_path / f"{unit.key}.no-track").is_file() and not (tmp_path / f"{unit.key}.mp4").exists()

    def remade(*args, **kwargs):
        raise AssertionError("the clip was made again")

    monkeypatch.setattr(dataset, "write_clip", remade)
    with pytest.raises(NoFaceTrack, match="no face track"):
        cached_track(unit, tmp_path, landmarks)


def test_features_are_cached_per_cue_and_only_an_edited_cue_is_measured_again(tmp_path, monkeypatch):
    from detector import cues
    from detector.fit import dataset

    requested: list[list[str]] = []

    def measure(track, names):
        requested.append(list(names))
        return np.concatenate([np.full((3, len(cues.get(n).features)), i, float) for i, n in enumerate(names)], 1)

    loads = []
    monkeypatch.setattr(cues, "track_features", measure)
    first = dataset.stored_features("clip", tmp_path, lambda: loads.append(1))
    assert requested == [cues.available()] and first.shape == (3, len(cues.feature_names()))
    assert np.array_equal(dataset.stored_features("clip", tmp_path, lambda: loads.append(1)), first)
    assert len(requested) == 1 and len(loads) == 1  # all cached: the track is not even loaded

    edited = cues.available()[-1]
    original = dataset.cue_fingerprint
    monkeypatch.setattr(dataset, "cue_fingerprint", lambda name: "edited" if name == edited else original(name))
    again = dataset.stored_features("clip", tmp_path, lambda: loads.append(1))
    assert requested[-1] == [edited] and len(loads) == 2
    width = len(cues.get(edited).features)
    assert np.array_equal(again[:, :-width], first[:, :-width]) and (again[:, -width:] == 0).all()
