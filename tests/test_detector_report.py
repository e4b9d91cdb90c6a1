"""The detector end to end: a real clip vs a self-blended copy, the report (JSON schema, HTML, provenance),
the CLI, bad input, and (slow) a real faceproof swap with its seal, watermark, registry and custody."""

from __future__ import annotations

import base64
import json
import subprocess
import threading
from pathlib import Path

import cv2
import numpy as np
import pytest
from django.core.management import call_command
from django.core.management.base import CommandError

from detector import analyse, cues
from detector.analysis import DETECTOR_OPTIONS
from detector.errors import DetectorError
from detector.fit.dataset import Landmarks, Unit, write_clip
from detector.report import SCHEMA
from detector.score import load_calibration
from provenance.custody.log import sha256_file
from provenance.installation import Installation
from swapcore.errors import MediaError
from swapcore.faces.detectors import create
from tests.conftest import shared_file

pytestmark = pytest.mark.needs_data
FRAMES = 16


@pytest.fixture(scope="module")
def clips(tmp_path_factory) -> dict[str, Path]:
    """16 frames of a real clip, re-encoded at CRF 23, and the same frames with a low-resolution face pasted."""
    folder = tmp_path_factory.mktemp("detector_clips")
    landmarks = Landmarks(create("mtcnn", **DETECTOR_OPTIONS))
    source = shared_file("video/d12.mp4")
    return {family: write_clip(Unit("d12", source, 40, FRAMES, family, 23, seed=3), folder / f"{family}.mp4", landmarks)
            for family in ("real", "resample")}


@pytest.fixture(scope="module")
def reports(clips):
    return {family: analyse(path) for family, path in clips.items()}


def _logit(p: float) -> float:
    p = min(max(p, 1e-9), 1 - 1e-9)
    return float(np.log(p / (1 - p)))


def test_self_blended_clip_scores_higher_than_the_real_one(reports):
    real, fake = reports["real"], reports["resample"]
    assert len(real.tracks) == 1 and len(fake.tracks) == 1 and len(real.timeline) >= FRAMES - 1
    # Compared in logits: a clear margin even where both probabilities sit near 0 or 1.
    assert _logit(fake.probability) > _logit(real.probability) + 1.0
    blur = next(r for r in fake.reasons if r["cue"] == "blur")
    assert blur["tail"] < next(r for r in real.reasons if r["cue"] == "blur")["tail"]  # rarer among authentic faces


def test_real_footage_reads_no_signs_found_with_reasons_that_say_so():
    """Untouched footage (d10): "no signs found", every cue checked and none outside the authentic range."""
    report = analyse(shared_file("video/d10.mp4"), max_frames=150)
    assert report.verdict == "no signs found", report.to_json()["analysis"]["reasons"]
    assert report.tracks[0].smallest_tail > report.calibration["alpha_inconclusive"]
    assert not any(r["sign"] or r["weak"] for r in report.reasons)
    assert {"blur", "boundary", "pose", "seams", "blend_fusion", "paste_fusion"} <= {r["cue"] for r in report.reasons}


def test_real_footage_of_a_fit_person_is_not_called_manipulated():
    """d3, whose full clip an earlier calibration called "likely manipulated" (its head motion lifts the temporal
    cue): never "likely manipulated" now."""
    report = analyse(shared_file("video/d3.mp4"))
    assert report.verdict != "likely manipulated"
    assert report.tracks[0].smallest_tail > report.calibration["alpha"]


def test_report_json_has_the_schema_provenance_and_per_track_breakdown(reports, tmp_path):
    data = json.loads(reports["resample"].write_json(tmp_path / "r.json").read_text())
    assert data["schema"] == SCHEMA
    assert list(data)[:4] == ["schema", "headline", "video", "provenance"]  # provenance before the analysis
    assert data["headline"]["kind"] == "analysis" and data["headline"]["label"] == data["analysis"]["verdict"]
    assert data["provenance"]["c2pa"]["state"] == "NoManifest" and len(data["provenance"]["sha256"]) == 64
    assert data["provenance"]["watermark"]["tested"] is False  # this installation has no watermark key
    analysis = data["analysis"]
    assert analysis["verdict"] in ("likely manipulated", "inconclusive", "no signs found")
    assert {r["cue"] for r in analysis["reasons"]} == {*cues.available(), "blend_fusion", "paste_fusion"}
    assert all(0 < r["tail"] <= 1 and "authentic faces" in r["percentile"] for r in analysis["reasons"])
    track = analysis["tracks"][0]
    assert len(track["frames"]) == len(track["frame_probabilities"]) >= FRAMES - 1
    assert track["keyframes"][0]["image"].startswith("data:image/png;base64,")
    picture = cv2.imdecode(np.frombuffer(base64.b64decode(track["keyframes"][0]["image"].split(",", 1)[1]), np.uint8),
                           cv2.IMREAD_COLOR)
    assert picture.shape[1] == 4 * picture.shape[0]  # face, heatmap, boundary map, tone patches (68 points)


def test_html_is_self_contained_with_provenance_first(reports, tmp_path):
    page = reports["resample"].write_html(tmp_path / "r.html").read_text()
    assert page.index("Provenance") < page.index("Analysis") < page.index("Faces")
    assert "NoManifest" in page and "<svg" in page and page.count("data:image/png;base64,") >= 2
    assert "src=\"http" not in page and "<script" not in page  # nothing fetched from elsewhere
    assert "proven real" not in page.lower()


def test_cli_writes_both_reports_and_logs_them_in_custody(clips, tmp_path, capsys, monkeypatch):
    monkeypatch.setenv("FACEPROOF_KEY_PASSPHRASE", "detector tests")
    call_command("detect", str(clips["real"]), "--json", str(tmp_path / "out.json"), "--report", str(tmp_path / "out.html"),
                 "--max-frames", "8", "--detect-every", "1", "--actor", "vera@newsroom")
    printed = capsys.readouterr().out
    assert "C2PA: NoManifest" in printed and "verdict:" in printed
    assert json.loads((tmp_path / "out.json").read_text())["video"]["frames"] == 8
    assert (tmp_path / "out.html").read_text().startswith("<!doctype html>")
    # Reports cannot carry C2PA: each is provable from the custody log by its hash, linked to the clip it judged.
    log = Installation.from_environment().custody_log()
    for name in ("out.json", "out.html"):
        (event,) = log.history(sha256_file(tmp_path / name))
        assert event["kind"] == "verify" and event["actor"] == "vera@newsroom"
        assert [ref["sha256"] for ref in event["inputs"]] == [sha256_file(clips["real"])]
    assert log.verify().ok


def test_a_verifiers_first_run_on_a_fresh_installation_succeeds_and_says_how_to_log(clips, tmp_path, capsys,
                                                                                     monkeypatch):
    monkeypatch.delenv("FACEPROOF_KEY_PASSPHRASE", raising=False)
    monkeypatch.setenv("FACEPROOF_HOME", str(tmp_path / "fresh"))
    call_command("detect", str(clips["real"]), "--json", str(tmp_path / "out.json"), "--max-frames", "8")
    printed = capsys.readouterr().out
    assert "verdict:" in printed and json.loads((tmp_path / "out.json").read_text())["video"]["frames"] == 8
    assert "reports not logged" in printed and "FACEPROOF_KEY_PASSPHRASE" in printed
    assert not (tmp_path / "fresh" / "keys").exists()  # nothing was generated behind the user's back


def test_bad_input_is_one_clear_error(tmp_path):
    fake = tmp_path / "clip.mp4"
    fake.write_text("this is not a video")
    with pytest.raises(MediaError, match="not a readable video"):
        analyse(fake)
    with pytest.raises(CommandError, match="clip.mp4: not a readable video"):
        call_command("detect", str(fake))
    with pytest.raises(CommandError, match="no such file"):
        call_command("detect", str(tmp_path / "missing.mp4"))
    with pytest.raises(CommandError, match="detect_every must be between 1 and 30"):
        call_command("detect", str(fake), "--detect-every", "0")


def test_a_video_cut_off_midway_fails_with_a_reason_and_leaves_no_worker(tmp_path):
    whole, cut = tmp_path / "whole.mp4", tmp_path / "cut.mp4"
    subprocess.run(["ffmpeg", "-loglevel", "error", "-i", str(shared_file("video/d6.mp4")), "-t", "3", "-c", "copy",
                    "-movflags", "+faststart", str(whole)], check=True)  # index first: decoding starts, then fails
    cut.write_bytes(whole.read_bytes()[: whole.stat().st_size // 2])
    with pytest.raises(MediaError, match="truncated or corrupt"):
        analyse(cut)
    assert not any(t.name == "faceproof-detect" for t in threading.enumerate())


def test_shipped_calibration_matches_the_cues_and_bad_files_are_refused(tmp_path):
    shipped = load_calibration()
    assert set(shipped.features) <= set(cues.feature_names()) and len(shipped.features) >= 5 and np.all(shipped.scale > 0)
    fit, held_out = set(shipped.provenance["fit_identities"]), set(shipped.provenance["eval_identities"])
    assert fit and held_out and not fit & held_out
    broken = tmp_path / "calibration.json"
    broken.write_text(json.dumps({"schema": "something/else"}))
    with pytest.raises(DetectorError, match="not a detector calibration"):
        load_calibration(broken)
    broken.write_text("{ not json")
    with pytest.raises(DetectorError, match="cannot read"):
        load_calibration(broken)


def test_a_sealed_faceproof_output_is_headed_declared_ai_generated(clips, tmp_path, capsys, monkeypatch):
    """Whatever the pixels say, a file whose trusted manifest declares AI generation leads with that declaration,
    in the CLI's first line and in the JSON's top-level headline; the report names the file, not its path."""
    from provenance import manifest
    from provenance.consent import record_consent
    from provenance.installation import Installation
    from provenance.keys import KeyStore
    from provenance.seal import Sealer, SealRequest
    from swapcore import media

    monkeypatch.setenv("FACEPROOF_KEY_PASSPHRASE", "detector tests")
    sealer = Installation.from_environment().sealer()
    try:
        form = tmp_path / "consent.pdf"
        form.write_bytes(b"signed consent form")
        record_consent(sealer.log, identity="alice", person="Alice Example", document=form, actor="admin")
        session = sealer.begin(SealRequest(kind="video", title="alice", actor="editor@example", inputs=[clips["real"]],
                                           parent=clips["real"], model={"arch": "original", "sha256": "9f" * 32},
                                           consents=["alice"], parameters={}))
        info = media.probe(clips["real"])
        encoded = tmp_path / "encoded.mp4"
        with media.VideoWriter(encoded, info.width, info.height, info.fps, crf=18) as writer:
            for _, frame in media.iter_frames(clips["real"]):
                writer.write(session.mark(frame))
        sealed = session.finish(encoded, tmp_path / "sealed.mp4").output
    finally:
        sealer.close()
    signer = manifest.verify(sealed, trust_anchors_pem=Installation.from_environment().key_store().trust_anchors_pem()).signer["common_name"]
    call_command("detect", str(sealed), "--json", str(tmp_path / "sealed.json"), "--detect-every", "1")
    first_line = capsys.readouterr().out.splitlines()[0]
    assert first_line == f"Declared AI-generated, signed by {signer}."
    data = json.loads((tmp_path / "sealed.json").read_text())
    assert data["headline"] == {"kind": "declared-ai", "label": "declared AI-generated", "text": first_line}
    assert data["provenance"]["watermark"]["present"] and data["provenance"]["registry"]["output_name"] == "sealed.mp4"
    assert str(tmp_path) not in json.dumps(data) and data["video"]["name"] == "sealed.mp4"
    page = (analyse(sealed, name="tip from reader.mp4")).write_html(tmp_path / "sealed.html").read_text()
    assert page.index("Declared AI-generated, signed by") < page.index("Provenance") and "tip from reader.mp4" in page



def test_without_the_68_point_model_the_geometric_cues_are_left_out_not_guessed(clips):
    """`--landmarks mtcnn5` (the licence fallback): boundary, pose, pose drift, tone and the paste model, which need
    68 points, are not measured; the other cues (the learned network reads the crop alone) still give a verdict."""
    from swapcore.faces.landmarks import create as create_landmarker

    report = analyse(clips["real"], landmarker=create_landmarker("mtcnn5"))
    judged = {r["cue"] for r in report.reasons}
    assert judged == {"blur", "flicker", "frequency", "seams", "temporal", "learned_blend", "blend_fusion"}
    assert report.verdict in ("no signs found", "inconclusive", "likely manipulated")
    png = base64.b64decode(report.tracks[0].keyframes[0].image.split(",", 1)[1])
    picture = cv2.imdecode(np.frombuffer(png, np.uint8), cv2.IMREAD_COLOR)
    assert picture.shape[1] == 2 * picture.shape[0]  # the face and its heatmap; no boundary map or tone patches without 68 points
