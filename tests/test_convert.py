"""Conversion end to end on a real clip with a small model trained in the session: frames, timing, audio,
untouched background, face-free pass-through, smoothing, sealing of every writer, refusals."""

from __future__ import annotations

import json
import logging
import math
import shutil
import subprocess
from pathlib import Path

import ffmpeg
import numpy as np
import pytest
import torch
from django.core.management import call_command
from django.core.management.base import CommandError

from provenance import manifest
from provenance.consent import record_consent
from provenance.custody.log import sha256_file
from provenance.errors import ConsentError
from provenance.installation import Installation
from provenance.keys import KeyStore
from provenance.seal import Sealer
from swapcore import alignments as alignments_file
from swapcore import media
from swapcore.convert import SwapSettings, convert
from swapcore.convert.pipeline import swap_frames
from swapcore.convert.smoothing import Observation, TrackSmoother, fit, pose_of, smooth
from swapcore.errors import SwapcoreError
from swapcore.extract import extract
from swapcore.train import load_model
from swapcore.training.data import load_faces
from tests.conftest import consenting_installation, shared_file, train_here

pytestmark = pytest.mark.needs_data
CLIP_START, CLIP_FRAMES = 30, 24  # d3 frames 30..53: 0.8 s of a woman talking, 512x512, 30 fps, aac audio


# ---- fixtures ----------------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def short_clip(tmp_path_factory) -> Path:
    source = shared_file("video/d3.mp4")
    info = media.probe(source)
    path = tmp_path_factory.mktemp("convert_clip") / "d3_short.mp4"
    with media.VideoWriter(path, info.width, info.height, info.fps, audio_from=source,
                           audio_start=CLIP_START / float(info.fps),
                           audio_duration=CLIP_FRAMES / float(info.fps)) as writer:
        for _, frame in media.iter_frames(source, start=CLIP_START, stop=CLIP_START + CLIP_FRAMES, info=info):
            writer.write(frame)
    return path


@pytest.fixture(scope="module")
def short_alignments(short_clip, tmp_path_factory) -> Path:
    return extract(short_clip, tmp_path_factory.mktemp("convert_faces") / "faces", size=64).alignments_path


@pytest.fixture(scope="module")
def model_dir(training_faces, tmp_path_factory) -> Path:
    """A `lite` model after 40 iterations: blurry faces, which is all these geometry tests need."""
    root = tmp_path_factory.mktemp("convert_model")
    with consenting_installation(root / "home", [folder.name for folder in training_faces]):
        train_here(training_faces, root / "model", arch="lite", batch=8, iterations=40, save_every=40, lr=2e-4)
    return root / "model"


@pytest.fixture
def sealer(monkeypatch, tmp_path, training_faces):
    monkeypatch.setenv("FACEPROOF_KEY_PASSPHRASE", "convert tests")
    sealer = Installation.from_environment().sealer()
    form = tmp_path / "consent-form.pdf"
    form.write_bytes(b"signed consent form")
    for folder in training_faces:
        record_consent(sealer.log, identity=folder.name, person=f"{folder.name} (test)", document=form, actor="admin")
    yield sealer
    sealer.close()


# ---- helpers -----------------------------------------------------------------------------------------------
def _audio_duration(path: Path) -> float:
    streams = ffmpeg.probe(str(path), cmd=media.ffprobe_exe())["streams"]
    return float(next(s for s in streams if s["codec_type"] == "audio")["duration"])


def _frames(path: Path) -> list[np.ndarray]:
    return [frame.astype(np.int16) for _, frame in media.iter_frames(path)]


def _trusted(path: Path) -> manifest.VerifyResult:
    result = manifest.verify(path, trust_anchors_pem=Installation.from_environment().key_store().trust_anchors_pem())
    assert result.state == "Trusted", result.failures
    return result


def _outside(shape: tuple[int, ...], box: tuple[int, int, int, int] | None, margin: int = 8) -> np.ndarray:
    """Pixels well away from the touched box (the margin absorbs H.264 block and chroma spread)."""
    outside = np.ones(shape[:2], bool)
    if box is not None:
        x0, y0, x1, y1 = box
        outside[max(0, y0 - margin):y1 + margin, max(0, x0 - margin):x1 + margin] = False
    return outside


# ---- end to end --------------------------------------------------------------------------------------------
def test_mp4_keeps_frames_timing_size_and_audio_and_only_the_face_changes(short_clip, short_alignments, model_dir,
                                                                           sealer, tmp_path):
    output = tmp_path / "out.mp4"
    result = convert(short_clip, model_dir, output, alignments=short_alignments, sealer=sealer, actor="tester")
    source, made = media.probe(short_clip), media.probe(output)
    assert (made.frame_count, made.fps, made.width, made.height) == (CLIP_FRAMES, source.fps, 512, 512)
    assert made.has_audio and _audio_duration(output) == pytest.approx(_audio_duration(short_clip), abs=0.05)
    assert result.frames == CLIP_FRAMES and result.frames_swapped == CLIP_FRAMES
    verified = _trusted(output)
    assert verified.soft_binding_ids == [str(result.sealed[0].watermark_id)]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["consent-form.pdf", "out.mp4"]  # no temp files left

    boxes = [r.box for r in swap_frames(short_clip, load_model(model_dir), alignments=short_alignments)]
    for before, after, box in zip(_frames(short_clip), _frames(output), boxes, strict=True):
        diff = np.abs(after - before).mean(-1)
        outside = _outside(diff.shape, box)
        # Outside the face: only the watermark (a few luma levels) and re-encoding noise.
        assert diff[outside].mean() < 3.0 and np.percentile(diff[outside], 99) < 10
        x0, y0, x1, y1 = box
        assert diff[y0:y1, x0:x1].mean() > 3 * diff[outside].mean()


def test_pixels_outside_the_mask_are_bit_identical(short_clip, short_alignments, model_dir):
    results = list(swap_frames(short_clip, load_model(model_dir), SwapSettings(color="none"),
                               alignments=short_alignments))
    assert [r.index for r in results] == list(range(CLIP_FRAMES))
    for r in results:
        changed = np.any(r.swapped != r.original, axis=-1)
        assert not changed[_outside(changed.shape, r.box, margin=0)].any()
        x0, y0, x1, y1 = r.box
        assert 0.15 < changed[y0:y1, x0:x1].mean() < 0.95  # the face, not the whole box, was replaced


def test_face_free_clip_passes_through(model_dir, sealer, tmp_path):
    clip = tmp_path / "noface.mp4"
    subprocess.run([media.ffmpeg_exe(), "-loglevel", "error", "-f", "lavfi", "-i",
                    "testsrc2=size=256x192:rate=25:duration=0.8", "-f", "lavfi", "-i", "sine=frequency=440:duration=0.8",
                    "-c:v", "libx264", "-pix_fmt", "yuv420p", "-c:a", "aac", "-shortest", str(clip)], check=True)
    result = convert(clip, model_dir, tmp_path / "out.mp4", sealer=sealer, actor="tester")
    assert result.frames == 20 and result.frames_swapped == 0
    made = media.probe(result.output)
    assert (made.frame_count, made.width, made.height, made.has_audio) == (20, 256, 192, True)
    for before, after in zip(_frames(clip), _frames(result.output), strict=True):
        assert np.abs(after - before).mean() < 3.0


def test_frame_range_side_by_side_and_scale(short_clip, model_dir, sealer, tmp_path):
    result = convert(short_clip, model_dir, tmp_path / "pair.mp4", frames=(6, 18), side_by_side=True, scale=0.5,
                     sealer=sealer, actor="tester")
    made = media.probe(result.output)
    assert (made.frame_count, made.width, made.height) == (12, 512, 256)
    assert _audio_duration(result.output) == pytest.approx(0.4, abs=0.05)
    original = [f for _, f in media.iter_frames(short_clip, start=6, stop=18)]
    for before, after in zip(original, _frames(result.output), strict=True):
        half = before[::2, ::2].astype(np.int16)  # the left half is the untouched original, scaled
        assert np.abs(after[:, :256] - half).mean() < 6.0


class _Spy:
    """Wraps the real sealer and counts what passes through each seal session."""

    def __init__(self, sealer: Sealer) -> None:
        self.sealer, self.marked, self.finished, self.kinds = sealer, 0, [], []
        self.log = sealer.log

    def begin(self, request):
        session, spy = self.sealer.begin(request), self
        self.kinds.append(request.kind)

        class Session:
            def mark(self, frame):
                spy.marked += 1
                return session.mark(frame)

            def work_file(self, final, stage, suffix=None):
                return session.work_file(final, stage, suffix)

            def finish(self, encoded, output):
                spy.finished.append(Path(output).name)
                return session.finish(encoded, output)

            def abort(self, reason):
                return session.abort(reason)

        return Session()


@pytest.mark.parametrize("name, kind, files", [("out.mp4", "video", 1), ("out.gif", "video", 1), ("frames", "image", 5)])
def test_every_writer_marks_every_frame_and_seals_every_file(short_clip, model_dir, sealer, tmp_path, name, kind, files):
    spy = _Spy(sealer)
    result = convert(short_clip, model_dir, tmp_path / name, frames=(0, 5), sealer=spy, actor="tester")
    assert spy.marked == 5 and len(spy.finished) == files and set(spy.kinds) == {kind}
    delivered = sorted((tmp_path / name).iterdir()) if files > 1 else [tmp_path / name]
    assert [p.name for p in delivered] == (spy.finished if files > 1 else [name])
    for path in delivered:
        _trusted(path)
    assert len(result.sealed) == files


def test_refuses_without_consent_and_leaves_nothing(short_clip, model_dir, monkeypatch, tmp_path):
    monkeypatch.setenv("FACEPROOF_KEY_PASSPHRASE", "convert tests")
    sealer = Installation.from_environment().sealer()
    with pytest.raises(ConsentError):
        convert(short_clip, model_dir, tmp_path / "out.mp4", sealer=sealer, actor="tester")
    sealer.close()
    assert list(tmp_path.iterdir()) == []


def test_bad_options_fail_before_anything_is_begun(short_clip, model_dir, sealer, tmp_path):
    for settings, message in ((SwapSettings(mask="learned"), "learned mask"), (SwapSettings(color="sepia"), "colour"),
                              (SwapSettings(smooth=2.0), "--smooth"), (SwapSettings(direction="x"), "direction")):
        with pytest.raises(SwapcoreError, match=message):
            convert(short_clip, model_dir, tmp_path / "out.mp4", settings=settings, sealer=sealer, actor="tester")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["consent-form.pdf"]
    assert [e["kind"] for e in sealer.log.events_of_kind("abort")] == []


def test_cli_converts_and_reports_errors_in_one_line(short_clip, model_dir, sealer, tmp_path, capsys):
    sealer.close()  # the command opens the installation itself; consents are in its log
    output = tmp_path / "cli.mp4"
    threads = torch.get_num_threads()
    try:
        call_command("convert", str(short_clip), "--model", str(model_dir), "-o", str(output), "--frames", "0:4",
                     "--color", "avg_color", "--sharpen", "0.5", "--actor", "tester", "--threads", "1")
    finally:
        torch.set_num_threads(threads)  # the option is process-wide; the other tests keep their setting
    assert media.probe(output).frame_count == 4 and "4 frames (4 swapped)" in capsys.readouterr().out
    with pytest.raises(CommandError, match="--frames takes A:B"):
        call_command("convert", str(short_clip), "--model", str(model_dir), "-o", str(output), "--frames", "9:3")


# ---- 68-point masks ------------------------------------------------------------------------------------------
def _version_1(alignments_path: Path, folder: Path) -> Path:
    """The same alignments as a version-1 file (5 points per face, no landmarker), as faceproof wrote before."""
    raw = json.loads(alignments_path.read_text())
    for frame in raw["frames"]:
        for face in frame["faces"]:
            del face["landmarks68"]
    del raw["settings"]["landmarker"]
    old = folder / "v1" / "alignments.json"
    old.parent.mkdir()
    old.write_text(json.dumps({**raw, "version": 1}))
    return old


def _changed(short_clip: Path, model, mask: str, alignments: Path | None) -> list[np.ndarray]:
    settings = SwapSettings(mask=mask, color="none", smooth=0.0)
    return [np.any(r.swapped != r.original, axis=-1)
            for r in swap_frames(short_clip, model, settings, frames=(0, 3), alignments=alignments)]


def test_68_point_masks_follow_the_face_and_5_point_faces_get_the_hull(short_clip, short_alignments, model_dir,
                                                                      tmp_path, caplog):
    model = load_model(model_dir)
    hull = _changed(short_clip, model, "hull", short_alignments)
    components = _changed(short_clip, model, "components", short_alignments)
    extended = _changed(short_clip, model, "extended", short_alignments)
    for h, c, e in zip(hull, components, extended, strict=True):
        assert c.any() and not np.array_equal(c, h)
        assert e.sum() > c.sum()  # the raised brow line reaches further up the forehead
    assert not caplog.records
    # A version-1 file still converts; its faces have 5 points, so a 68-point mask is the hull, and says so.
    old = _version_1(short_alignments, tmp_path)
    with caplog.at_level(logging.WARNING, logger="swapcore.convert"):
        fallback = _changed(short_clip, model, "components", old)
    assert all(np.array_equal(f, h) for f, h in zip(fallback, hull, strict=True))
    assert "needs 68-point landmarks" in caplog.text and "hull" in caplog.text
    caplog.clear()
    with caplog.at_level(logging.WARNING, logger="swapcore.convert"):
        _changed(short_clip, model, "extended", None)  # detected during conversion: 5 points too
    assert "detected during conversion" in caplog.text


def test_cli_converts_with_a_68_point_mask(short_clip, short_alignments, model_dir, sealer, tmp_path, capsys):
    sealer.close()  # the command opens the installation itself; consents are in its log
    output = tmp_path / "extended.mp4"
    call_command("convert", str(short_clip), "--model", str(model_dir), "-o", str(output), "--frames", "0:4",
                 "--mask", "extended", "--alignments", str(short_alignments), "--actor", "tester")
    assert media.probe(output).frame_count == 4 and "4 frames (4 swapped)" in capsys.readouterr().out
    with pytest.raises(CommandError, match="invalid choice"):
        call_command("convert", str(short_clip), "--model", str(model_dir), "-o", str(output), "--mask", "jaw")


# ---- smoothing on real detections ---------------------------------------------------------------------------
def _observations(alignments_path: Path) -> list[Observation | None]:
    loaded = alignments_file.load(alignments_path)
    faces = {frame.index: face for frame, face in loaded.faces(kept_only=False) if face.track == 0}
    return [Observation(np.asarray(faces[i].landmarks), faces[i].score) if i in faces else None
            for i in range(CLIP_FRAMES)]


def _poses(observations: list[Observation | None], strength: float) -> np.ndarray:
    smoother = TrackSmoother(64, "face", 30.0, strength, max_gap=15)
    placed = list(smooth(iter(enumerate(observations)), smoother))
    assert [i for i, _ in placed] == list(range(len(observations)))
    poses = np.array([pose_of(p.matrix, 64) for _, p in placed])
    face = math.exp(poses[:, 2].mean()) * 64
    return poses / np.array([face, face, 1.0, 1.0])  # centre in face sizes, log scale, angle


def _jitter(poses: np.ndarray) -> float:
    """Mean size of the frame-to-frame acceleration of the pasted face (what a viewer sees as shake)."""
    return float(np.linalg.norm(np.diff(poses, n=2, axis=0), axis=1).mean())


def test_smoothing_lowers_jitter_of_the_pasted_face(short_alignments):
    observations = _observations(short_alignments)
    assert all(o is not None for o in observations)
    raw, smoothed = _jitter(_poses(observations, 0.0)), _jitter(_poses(observations, 0.5))
    assert smoothed < 0.6 * raw, (raw, smoothed)


def test_unreliable_detections_are_skipped_and_interpolated(short_alignments):
    observations = _observations(short_alignments)
    clean = _poses(observations, 0.0)
    jumped = Observation(observations[10].landmarks + np.array([80.0, 0.0]), observations[10].score)
    doubtful = Observation(observations[14].landmarks + np.array([0.0, 60.0]), 0.5)
    broken = [*observations[:10], jumped, *observations[11:14], doubtful, None, *observations[16:]]
    repaired = _poses(broken, 0.0)
    for index in (10, 14, 15):  # the bad ones were bridged from their neighbours: near the truth, not the jump
        assert np.abs(repaired[index] - clean[index])[:2].max() < 0.03  # within 3 % of the face size


@pytest.mark.slow
def test_learned_mask_of_a_hires_model_is_used_and_clipped_by_the_hull(training_faces, training_consent, short_clip,
                                                                        short_alignments, tmp_path):
    train_here(training_faces, tmp_path / "hires", arch="hires", batch=2, iterations=2, save_every=2)
    model = load_model(tmp_path / "hires")

    def changed(mask: str) -> list[np.ndarray]:
        settings = SwapSettings(mask=mask, color="none")
        return [np.any(r.swapped != r.original, axis=-1)
                for r in swap_frames(short_clip, model, settings, frames=(0, 3), alignments=short_alignments)]

    hull, learned, both = changed("hull"), changed("learned"), changed("learned+hull")
    for h, l, b in zip(hull, learned, both, strict=True):
        assert not np.array_equal(h, l) and b.any()
        assert not (b & ~h).any()  # learned+hull never reaches beyond the hull


# ---- a conversion killed at any point leaves nothing unsigned, and its end is logged ----------------------------
_KILLED_AT = {
    # where the child process SIGKILLs itself: a real kill, at a point chosen rather than raced for
    "before encoding": ("swapcore.media", "VideoWriter", "__init__", 1),
    "mid-encoding": ("provenance.seal", "SealSession", "mark", 3),
    "between encoding and signing": ("provenance.manifest", None, "sign", 1),
    "after signing, before the registry": ("provenance.registry", "WatermarkRegistry", "record", 1),
}
_CHILD = """
import importlib, os, signal, sys
module_name, class_name, function, at = sys.argv[1], sys.argv[2] or None, sys.argv[3], int(sys.argv[4])
module = importlib.import_module(module_name)
owner = getattr(module, class_name) if class_name else module
original, calls = getattr(owner, function), []
def killing(*args, **kwargs):
    calls.append(1)
    if len(calls) == at:
        os.kill(os.getpid(), signal.SIGKILL)
    return original(*args, **kwargs)
setattr(owner, function, killing)
from provenance.installation import Installation
from swapcore.convert import convert
with Installation.from_environment().sealer() as sealer:
    convert(sys.argv[5], sys.argv[6], sys.argv[7], actor="killed@studio", sealer=sealer)
"""


@pytest.mark.parametrize("point", list(_KILLED_AT))
def test_a_killed_conversion_is_swept_and_logged_as_interrupted_and_a_rerun_is_trusted(
        short_clip, model_dir, sealer, tmp_path, capsys, point):
    import sys

    out = tmp_path / "out"
    out.mkdir()
    module_name, class_name, function, at = _KILLED_AT[point]
    child = subprocess.run([sys.executable, "-c", _CHILD, module_name, class_name or "", function, str(at),
                            str(short_clip), str(model_dir), str(out / "x.mp4")], capture_output=True)
    assert child.returncode == -9, child.stderr.decode()[-2000:]
    left = sorted(p.name for p in out.iterdir())
    assert left and all("faceproof-work-" in name for name in left) and "x.mp4" not in left
    assert any(name.endswith(".operation.json") for name in left)
    aborts_before = [e for e in sealer.log.history(sha256_file(short_clip)) if e["kind"] == "abort"]
    signed = point.startswith("after signing")  # its sign event ends it in the log; the sweep adds the abort
    begun = sealer.log.open_operations()  # the killed one, unless it was signed: begun, never ended
    assert [event["actor"] for event in begun] == ([] if signed else ["killed@studio"])
    call_command("custody", "log", "--open")
    listing = capsys.readouterr().out
    assert f"{len(begun)} operation(s) begun and not ended" in listing
    assert signed or "ended without finishing: the next sweep logs its abort" in listing

    result = convert(short_clip, model_dir, out / "x.mp4", sealer=sealer, actor="producer@studio")
    assert sorted(p.name for p in out.iterdir()) == ["x.mp4"]  # every fragment swept, nothing unsigned remains
    assert not _work_left_in(Installation.from_environment().home)
    _trusted(result.output)
    aborts = [e for e in sealer.log.history(sha256_file(short_clip)) if e["kind"] == "abort"]
    assert len(aborts) == len(aborts_before) + 1  # exactly one abort for the one interrupted operation
    assert aborts[-1]["actor"] == "killed@studio" and "interrupted: process" in aborts[-1]["reason"]
    assert sealer.log.verify().ok and sealer.log.open_operations() == []
    assert convert(short_clip, model_dir, out / "y.mp4", sealer=sealer, actor="producer@studio").output.exists()
    assert len([e for e in sealer.log.history(sha256_file(short_clip)) if e["kind"] == "abort"]) == len(aborts)


def _work_left_in(folder: Path) -> list[str]:
    return [p.name for p in folder.rglob("*") if "faceproof-work-" in p.name or p.name.endswith((".tmp", ".partial"))]


def test_a_conversion_killed_after_delivering_before_its_clean_up_is_not_aborted(
        short_clip, model_dir, sealer, tmp_path):
    """Only the record's removal was left undone: the output is delivered signed, and the log must not say otherwise."""
    import sys

    out = tmp_path / "out"
    out.mkdir()
    child = subprocess.run([sys.executable, "-c", _CHILD, "provenance.seal", "", "end_operation", "1",
                            str(short_clip), str(model_dir), str(out / "x.mp4")], capture_output=True)
    assert child.returncode == -9, child.stderr.decode()[-2000:]
    assert [name.endswith(".operation.json") for name in sorted(p.name for p in out.iterdir())] == [True, False]
    convert(short_clip, model_dir, out / "y.mp4", sealer=sealer, actor="producer@studio")
    assert sorted(p.name for p in out.iterdir()) == ["x.mp4", "y.mp4"]
    _trusted(out / "x.mp4")
    assert not sealer.log.events_of_kind("abort") and sealer.log.open_operations() == [] and sealer.log.verify().ok


# ---- 68-point alignment -----------------------------------------------------------------------------------------
def _placed(short_clip: Path, model, alignments: Path) -> list:
    settings = SwapSettings(color="none", smooth=0.0)
    return [r.placement.matrix for r in swap_frames(short_clip, model, settings, frames=(0, 3), alignments=alignments)]


def test_a_model_aligned_by_68_points_records_it_and_conversion_follows(training_faces, training_consent, short_clip,
                                                                        short_alignments, tmp_path):
    train_here(training_faces, tmp_path / "m68", arch="lite", batch=2, iterations=2, save_every=2, alignment="68")
    model = load_model(tmp_path / "m68")
    assert model.description["input"]["alignment"] == "68"
    loaded = alignments_file.load(short_alignments)
    for (frame, face), matrix in zip(loaded.faces()[:3], _placed(short_clip, model, short_alignments), strict=True):
        five, dense = np.asarray(face.landmarks), np.asarray(face.landmarks68)
        assert np.allclose(matrix, fit(five, 64, "face", dense, "68"))
        assert not np.allclose(matrix, fit(five, 64, "face"), atol=1e-3)  # not the 5-point fit
    # The crops it trained on were moved to the 68-point alignment: their steady points sit on the mean face.
    aligned = load_faces(training_faces[0], 64, alignment="68")
    plain = load_faces(training_faces[0], 64)
    assert aligned.dense == len(aligned) and not torch.equal(aligned.images, plain.images)
    # Its eye loss regions come from the 68 points: they cover both eyes' outlines, not discs round 5 points.
    assert not torch.equal(aligned.regions[:, 1], plain.regions[:, 1])


def test_version_1_faces_train_by_5_points_and_refuse_68(training_faces, training_consent, short_clip,
                                                          short_alignments, tmp_path):
    old_faces = []
    for folder in training_faces:
        copy = tmp_path / folder.name
        shutil.copytree(folder, copy)
        (tmp_path / f"{folder.name}-v1").mkdir()
        old = _version_1(folder / "alignments.json", tmp_path / f"{folder.name}-v1")
        shutil.copy(old, copy / "alignments.json")
        old_faces.append(copy)
    train_here(old_faces, tmp_path / "m5", arch="lite", batch=2, iterations=2, save_every=2)
    model = load_model(tmp_path / "m5")
    assert model.description["input"]["alignment"] == "5" and load_faces(old_faces[0], 64).dense == 0
    assert len(_placed(short_clip, model, _version_1(short_alignments, tmp_path))) == 3
    with pytest.raises(SwapcoreError, match="68 points"):
        train_here(old_faces, tmp_path / "m68", arch="lite", batch=2, iterations=2, save_every=2, alignment="68")
