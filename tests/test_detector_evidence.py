"""The evidence layer: tail probabilities among authentic faces, the budgeted thresholds, and verdicts whose
reasons always support them."""

from __future__ import annotations

import numpy as np
import pytest

from detector.evidence import BLEND, PASTE, Channel, Evidence, PasteModel, load_evidence
from detector.fit.evidence import threshold_for
from detector.origin import Provenance
from detector import cues
from detector.report import FUSIONS, UNUSUAL, UNUSUAL_TAIL, Report, TrackResult, reasons
from detector.score import load_calibration


def _channel(seed: int = 0, n: int = 400) -> Channel:
    return Channel("boundary_colour_step", np.sort(np.random.default_rng(seed).normal(size=n)))


def test_tail_falls_with_the_value_and_extends_past_the_reference():
    channel = _channel()
    values = np.linspace(-3, 8, 200)
    tails = [channel.tail(v) for v in values]
    assert all(a >= b for a, b in zip(tails, tails[1:]))
    assert channel.tail(-10) == pytest.approx(1.0, abs=0.01) and channel.tail(0.0) == pytest.approx(0.5, abs=0.06)
    top = channel.reference[-1]
    assert channel.tail(top + 1) < 1 / (len(channel.reference) + 1)  # beyond the reference: the fitted tail
    for p in (0.05, 0.003, 1e-5):
        assert channel.tail(channel.value_at(p)) == pytest.approx(p, rel=1e-6)


def test_threshold_keeps_the_false_alarm_budget():
    authentic = np.random.default_rng(1).uniform(size=500) ** 3
    alpha = threshold_for(0.01, authentic)
    assert (authentic <= alpha).mean() <= 0.01
    assert (authentic <= threshold_for(0.05, authentic)).mean() > 0.03


def _evidence() -> Evidence:
    channels = {name: _channel(i) for i, name in enumerate(("boundary_colour_step", "pose_mismatch", BLEND, PASTE))}
    channels = {name: Channel(name, c.reference) for name, c in channels.items()}
    return Evidence("test", "test", channels, PasteModel(["boundary_colour_step"], np.zeros(1), np.ones(1),
                                                           np.ones(1), 0.0), alpha=1e-3, alpha_inconclusive=2e-2,
                    provenance={})


@pytest.mark.parametrize("extreme", [0.0, 2.5, 3.3, 6.0])
def test_the_verdict_and_its_reasons_never_contradict_each_other(extreme):
    evidence = _evidence()
    tails = {name: channel.tail(extreme if name == "pose_mismatch" else 0.0) for name, channel in evidence.channels.items()}
    track = TrackResult(0, [0, 1], [0.1, 0.1], 0.1, tails, reasons(tails, evidence), 100.0, [])
    report = Report.build(video={"name": "clip.mp4", "frames": 2}, tracks=[track], skipped_tracks=0,
                          provenance=Provenance("0" * 64, {"state": "NoManifest"}, {"tested": False}),
                          calibration=load_calibration(), evidence=evidence, seconds=1.0)
    signs = [r for r in report.reasons if r["sign"]]
    weak = [r for r in report.reasons if r["weak"]]
    if report.verdict == "likely manipulated":
        assert signs and signs[0]["cue"] == "pose" and "99.9" in signs[0]["percentile"]
    elif report.verdict == "inconclusive":
        assert weak and not signs
    else:
        assert report.verdict == "no signs found" and not signs and not weak
        calm = {r["cue"]: FUSIONS[r["cue"]][1] if r["cue"] in FUSIONS else cues.get(r["cue"]).calm for r in report.reasons}
        for r in report.reasons:  # checked, and in the authentic range; unusual values are said to be unusual
            assert r["reason"] == (UNUSUAL if r["tail"] < UNUSUAL_TAIL else calm[r["cue"]])
    assert report.reasons[0]["cue"] == "pose" or extreme == 0.0


def test_shipped_evidence_matches_the_shipped_calibration_and_keeps_its_budget():
    evidence = load_evidence(load_calibration())
    assert evidence.alpha < evidence.alpha_inconclusive < 0.2
    assert evidence.provenance["budget"] == 0.01
    flagged, total = (int(x) for x in evidence.provenance["measured_false_alarms"].split(" of "))
    assert total >= 300 and flagged / total <= 0.01
    assert {BLEND, PASTE, "boundary_colour_step", "pose_mismatch"} <= set(evidence.channels)


def test_a_foreign_or_mismatched_evidence_file_is_refused(tmp_path):
    import json

    from detector.errors import DetectorError

    calibration = load_calibration()
    path = tmp_path / "evidence.json"
    path.write_text(json.dumps({"schema": "something/else"}))
    with pytest.raises(DetectorError, match="not a detector evidence file"):
        load_evidence(calibration, path)
    data = _evidence().to_json()
    path.write_text(json.dumps(data))
    with pytest.raises(DetectorError, match="fitted with calibration test"):
        load_evidence(calibration, path)
    path.write_text(json.dumps({**data, "calibration_version": calibration.version}))
    assert load_evidence(calibration, path).channels[PASTE].tail(10.0) < 1e-3
