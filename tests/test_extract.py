"""Extraction on real faces: detection rate, alignment accuracy, tracks, reference filter, bad input."""

from __future__ import annotations

import json
from pathlib import Path

import cv2
import numpy as np
import pytest
from django.core.management import call_command
from django.core.management.base import CommandError

from swapcore import alignments, media
from swapcore.errors import AlignmentsError, MediaError, SwapcoreError
from swapcore.extract import extract
from swapcore.faces import align
from swapcore.faces.select import select_faces
from tests.conftest import shared_file

pytestmark = pytest.mark.needs_data


def _write_video(path: Path, frames, fps: int = 25) -> Path:
    frames = list(frames)
    height, width = frames[0].shape[:2]
    with media.VideoWriter(path, width, height, fps) as writer:
        for frame in frames:
            writer.write(frame)
    return path


@pytest.fixture(scope="module")
def d3(tmp_path_factory):
    return extract(shared_file("video/d3.mp4"), tmp_path_factory.mktemp("x") / "d3", every=3, size=256)


def test_faces_found_in_nearly_every_frame_of_d3(d3):
    assert d3.frames == 118 and d3.frames_with_faces >= 0.95 * d3.frames
    assert d3.tracks == 1 and d3.faces == d3.frames_with_faces
    assert (d3.out_dir / "contact_sheet.png").is_file()


@pytest.mark.slow
def test_faces_found_in_nearly_every_frame_of_d6(tmp_path):
    result = extract(shared_file("video/d6.mp4"), tmp_path / "d6", every=6, size=128)
    assert result.frames == 168 and result.frames_with_faces >= 0.95 * result.frames


def test_alignments_file_describes_every_face(d3):
    data = alignments.load(d3.out_dir)
    assert data.source["kind"] == "video" and len(data.source["sha256"]) == 64
    frame, face = data.faces()[0]
    assert (d3.out_dir / face.crop).is_file() and face.track == 0
    assert face.quality.confidence > 0.9 and face.quality.size > 100
    crop = media.read_image(d3.out_dir / face.crop)
    assert crop.shape == (256, 256, 3)


def test_alignment_puts_the_eyes_on_the_template(d3):
    data = alignments.load(d3.out_dir)
    target = align.template(256, "face")
    errors = np.array([np.linalg.norm(f.crop_landmarks()[:2] - target[:2], axis=1) for _, f in data.faces()])
    assert np.median(errors) < 3.0 and errors.max() < 8.0


def test_the_affine_maps_the_frame_onto_the_saved_crop(d3):
    data = alignments.load(d3.out_dir)
    frame_record, face = data.faces()[10]
    frame = dict(media.iter_frames(shared_file("video/d3.mp4"), start=frame_record.index, stop=frame_record.index + 1))
    redone = align.crop_with(frame[frame_record.index], face.affine_matrix(), 256)
    saved = media.read_image(d3.out_dir / face.crop)
    assert np.abs(redone.astype(int) - saved.astype(int)).mean() < 2


def test_landmarks_of_a_still_head_hardly_move(tmp_path):
    still = media.read_image(shared_file("images/astronaut.png"))
    clip = _write_video(tmp_path / "still.mp4", [still] * 20)  # real H.264 noise on an unmoving face
    result = extract(clip, tmp_path / "out", size=256)
    points = np.array([f.crop_landmarks() for _, f in alignments.load(result.out_dir).faces()])
    assert len(points) == 20 and points.std(axis=0).max() < 0.5


def test_all_six_faces_of_the_group_photo(tmp_path):
    result = extract(shared_file("images/group_t1.jpg"), tmp_path / "group", size=128)
    assert result.faces == 6 and result.tracks == 6


def test_no_face_in_a_face_free_video(tmp_path):
    rng = np.random.default_rng(0)
    frames = [cv2.GaussianBlur(rng.integers(0, 255, (240, 320, 3), np.uint8), (0, 0), 3) for _ in range(12)]
    result = extract(_write_video(tmp_path / "noise.mp4", frames), tmp_path / "out")
    assert result.frames == 12 and result.faces == 0 and result.contact_sheet is None
    assert alignments.load(result.out_dir).frames[0].faces == []


@pytest.fixture(scope="module")
def two_people(tmp_path_factory):
    """d3 (a woman) beside d12 (a man), 3 seconds, and a later frame of d12 as the reference photo."""
    folder = tmp_path_factory.mktemp("pair")
    left = media.iter_frames(shared_file("video/d3.mp4"), stop=75)
    right = media.iter_frames(shared_file("video/d12.mp4"), stop=75)
    _write_video(folder / "pair.mp4", (np.hstack([a, b]) for (_, a), (_, b) in zip(left, right)))
    _, later = next(media.iter_frames(shared_file("video/d12.mp4"), start=150, stop=151))
    cv2.imwrite(str(folder / "reference.png"), later)
    return folder


def test_two_people_make_two_tracks(two_people, tmp_path):
    result = extract(two_people / "pair.mp4", tmp_path / "out", every=5, size=128)
    data = alignments.load(result.out_dir)
    assert result.tracks == 2 and result.faces == 2 * result.frames
    left = {f.track for _, f in data.faces() if f.box[0] < 512}
    right = {f.track for _, f in data.faces() if f.box[0] >= 512}
    assert len(left) == len(right) == 1 and left != right  # each person keeps one track all along


def test_reference_keeps_only_the_matching_person(two_people, tmp_path):
    result = extract(two_people / "pair.mp4", tmp_path / "out", every=5, size=128, reference=two_people / "reference.png")
    data = alignments.load(result.out_dir)
    kept = [f for _, f in data.faces()]
    assert len(kept) == result.frames and all(f.box[0] >= 512 for f in kept)  # only the man on the right
    dropped = [f for _, f in data.faces(kept_only=False) if not f.kept]
    assert len(dropped) == result.frames and all("reference" in f.reason for f in dropped)
    assert all((result.out_dir / f.crop).is_file() and f.crop.startswith("rejected/") for f in dropped)
    assert len(list((result.out_dir / "faces").iterdir())) == len(kept)


def test_a_cut_between_two_people_splits_the_track(tmp_path):
    first = (f for _, f in media.iter_frames(shared_file("video/d3.mp4"), stop=40))
    second = (f for _, f in media.iter_frames(shared_file("video/d12.mp4"), stop=40))
    clip = _write_video(tmp_path / "cut.mp4", [*first, *second])
    data = alignments.load(extract(clip, tmp_path / "out", every=4, size=96).out_dir)
    tracks = [f.track for _, f in data.faces()]
    assert len(set(tracks)) == 2 and tracks[:10] == [tracks[0]] * 10 and tracks[-10:] == [tracks[-1]] * 10


def test_image_folder_with_hostile_names_and_a_broken_file(tmp_path):
    folder = tmp_path / "in"
    folder.mkdir()
    astronaut = shared_file("images/astronaut.png").read_bytes()
    (folder / "../../evil name;rm -rf.png".replace("/", "_")).write_bytes(astronaut)
    (folder / "grace.jpg").write_bytes(shared_file("images/grace_hopper.jpg").read_bytes())
    (folder / "broken.png").write_bytes(astronaut[:2000])
    result = extract(folder, tmp_path / "out", size=128)
    data = alignments.load(result.out_dir)
    assert result.faces == 2 and result.tracks == 2  # two different people
    assert [s["name"] for s in data.source["skipped"]] == ["broken.png"]
    for _, face in data.faces():
        assert Path(face.crop).parent.name == "faces" and ";" not in face.crop and " " not in face.crop


@pytest.mark.parametrize("content", [b"", b"not a video at all", b"\x00\x00\x00\x18ftypmp42" + b"\x00" * 64])
def test_bad_input_fails_clearly_and_leaves_nothing(tmp_path, content):
    bad = tmp_path / "bad.mp4"
    bad.write_bytes(content)
    with pytest.raises(MediaError, match="bad.mp4"):
        extract(bad, tmp_path / "out")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["bad.mp4"]


def test_existing_output_is_not_clobbered(d3, tmp_path):
    out = tmp_path / "out"
    out.mkdir()
    (out / "keep.txt").write_text("mine")
    with pytest.raises(SwapcoreError, match="not empty"):
        extract(shared_file("images/astronaut.png"), out)
    assert (out / "keep.txt").read_text() == "mine"


def test_alignments_round_trip_and_reject_malformed_files(d3, tmp_path):
    data = alignments.load(d3.out_dir)
    copy = data.save(tmp_path / "copy.json")
    assert alignments.load(copy).to_json() == data.to_json()
    raw = json.loads(copy.read_text())
    cases = {
        "not json": "{",
        "wrong schema": json.dumps({**raw, "schema": "other"}),
        "future version": json.dumps({**raw, "version": 99}),
        "bad landmarks": json.dumps({**raw, "frames": [{"index": 0, "faces": [{**raw["frames"][0]["faces"][0], "landmarks": [[1, 2]]}]}]}),
        "bad 68 points": json.dumps({**raw, "frames": [{"index": 0, "faces": [{**raw["frames"][0]["faces"][0], "landmarks68": [[1, 2]] * 67}]}]}),
        "68 points in version 1": json.dumps({**raw, "version": 1}),
        "escaping crop path": json.dumps({**raw, "frames": [{"index": 0, "faces": [{**raw["frames"][0]["faces"][0], "crop": "../../etc/passwd"}]}]}),
    }
    for label, text in cases.items():
        copy.write_text(text)
        with pytest.raises(AlignmentsError):
            alignments.load(copy)


def test_68_points_are_stored_beside_the_5_and_agree_with_them(d3):
    data = alignments.load(d3.out_dir)
    assert data.settings["landmarker"] == "dlib68"
    faces = [f for _, f in data.faces()]
    assert all(f.landmarks68 is not None and f.shape().dense for f in faces)
    five, dense = np.array([f.landmarks for f in faces]), np.array([f.shape().five for f in faces])
    eye_distance = np.linalg.norm(five[:, 1] - five[:, 0], axis=1)
    eyes = np.linalg.norm(dense[:, :2] - five[:, :2], axis=2) / eye_distance[:, None]
    assert np.median(eyes) < 0.1  # two models, one face: the README's bench measured a median of 0.047


def test_a_version_1_file_loads_with_5_points_and_saves_as_version_2(d3, tmp_path):
    raw = json.loads((d3.out_dir / "alignments.json").read_text())
    for frame in raw["frames"]:
        for face in frame["faces"]:
            del face["landmarks68"]
    settings = {k: v for k, v in raw["settings"].items() if k != "landmarker"}
    old = tmp_path / "v1.json"
    old.write_text(json.dumps({**raw, "version": 1, "settings": settings}))
    loaded = alignments.load(old)
    assert loaded.settings["landmarker"] == "mtcnn5" and all(f.landmarks68 is None for _, f in loaded.faces())
    assert [f.shape().points.tolist() for _, f in loaded.faces()] == [f.landmarks for _, f in loaded.faces()]
    upgraded = json.loads(loaded.save(tmp_path / "v2.json").read_text())
    assert upgraded["version"] == alignments.VERSION == 2
    assert alignments.load(tmp_path / "v2.json").to_json() == loaded.to_json()


def test_cli_chooses_the_landmarker(tmp_path, capsys, monkeypatch):
    monkeypatch.setenv("FACEPROOF_KEY_PASSPHRASE", "extract tests")  # the CLI logs the extraction in custody
    call_command("extract", str(shared_file("images/grace_hopper.jpg")), "-o", str(tmp_path / "five"),
                 "--landmarks", "mtcnn5", "--size", "128")
    data = alignments.load(tmp_path / "five")
    assert data.settings["landmarker"] == "mtcnn5" and [f.landmarks68 for _, f in data.faces()] == [None]
    assert "1 faces" in capsys.readouterr().out
    with pytest.raises(CommandError, match="invalid choice"):
        call_command("extract", str(shared_file("images/grace_hopper.jpg")), "-o", str(tmp_path / "x"),
                     "--landmarks", "dlib5")


def test_sort_drops_blurry_and_duplicate_faces_but_loses_nothing(tmp_path):
    frames = []
    for i, frame in media.iter_frames(shared_file("video/d10.mp4"), every=4, stop=160):
        frames.append(cv2.GaussianBlur(frame, (0, 0), 4) if i % 8 == 4 else frame)
    result = extract(_write_video(tmp_path / "mixed.mp4", frames), tmp_path / "out", size=128)
    outcome = select_faces(result.out_dir, dedupe=0.995)
    data = alignments.load(result.out_dir)
    blurry = {f.crop for _, f in data.faces(kept_only=False) if f.reason.startswith("sharpness")}
    blurred_frames = {fr.index for fr, f in data.faces(kept_only=False) if fr.index % 2 == 1}
    assert outcome.dropped["blurry"] >= 0.8 * len(blurred_frames)
    assert all(fr.index % 2 == 1 for fr, f in data.faces(kept_only=False) if f.crop in blurry)
    total = len(data.faces(kept_only=False))
    assert outcome.kept + sum(outcome.dropped.values()) == total
    assert len(list((result.out_dir / "faces").iterdir())) + len(list((result.out_dir / "rejected").iterdir())) == total
    few = select_faces(result.out_dir, max_faces=5)
    assert few.kept == 5
