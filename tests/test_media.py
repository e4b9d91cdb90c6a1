"""Media I/O on real clips and on broken inputs: one clear error type, nothing half-written."""

from __future__ import annotations

import subprocess

import numpy as np
import pytest

from swapcore import media
from swapcore.errors import MediaError
from tests.conftest import shared_file


def test_probe_reads_size_rate_count_and_audio():
    info = media.probe(shared_file("video/d3.mp4"))
    assert (info.width, info.height, float(info.fps), info.frame_count) == (512, 512, 30.0, 354)
    assert info.has_audio and info.audio[0].codec == "aac"
    assert info.duration == pytest.approx(11.8, abs=0.1)


def test_probe_with_a_pixel_limit_refuses_larger_frames_before_decoding_them():
    from swapcore.errors import FrameTooLargeError

    clip = shared_file("video/d0.mp4")
    with pytest.raises(FrameTooLargeError, match="d0.mp4: its frames are 512 x 512 pixels, more than the 1000") as caught:
        media.probe(clip, max_pixels=1000)
    assert (caught.value.width, caught.value.height) == (512, 512)
    info = media.probe(clip, max_pixels=512 * 512)
    assert (info.width, info.height, info.streams) == (512, 512, len(media.probe(clip).audio) + 1)


def test_portrait_clip_keeps_its_orientation():
    info = media.probe(shared_file("video/d13.mp4"))
    index, frame = next(media.iter_frames(info.path, info=info))
    assert (info.width, info.height) == (720, 1280) and frame.shape == (1280, 720, 3)


def test_iter_frames_streams_every_nth_frame_in_a_range():
    path = shared_file("video/d3.mp4")
    assert sum(1 for _ in media.iter_frames(path)) == 354
    assert [i for i, _ in media.iter_frames(path, every=6)][:4] == [0, 6, 12, 18]
    assert [i for i, _ in media.iter_frames(path, every=2, start=10, stop=20)] == [10, 12, 14, 16, 18]


def test_rotation_metadata_is_applied(tmp_path):
    rotated = tmp_path / "rotated.mp4"
    source = shared_file("video/d12.mp4")
    subprocess.run([media.ffmpeg_exe(), "-v", "error", "-i", str(source), "-t", "1", "-metadata:s:v:0", "rotate=90",
                    "-c", "copy", str(rotated)], check=True)
    info = media.probe(rotated)
    assert info.rotation in (90, 270) and (info.width, info.height) == (512, 512)
    _, frame = next(media.iter_frames(rotated, info=info))
    _, upright = next(media.iter_frames(source))
    turned = np.rot90(upright, 1 if info.rotation == 90 else -1)
    assert np.abs(frame.astype(int) - turned.astype(int)).mean() < 4


@pytest.fixture
def broken_inputs(tmp_path):
    original = shared_file("video/d3.mp4").read_bytes()
    corrupt = bytearray(original)
    rng = np.random.default_rng(1)
    corrupt[100_000::211] = rng.integers(0, 256, len(corrupt[100_000::211]), dtype=np.uint8).tobytes()
    files = {
        "empty.mp4": b"",
        "text.mp4": b"this is not a video\n",
        "truncated.mp4": original[:700_000],
        "corrupt.mp4": bytes(corrupt),
        "image_as_video.mp4": shared_file("images/astronaut.png").read_bytes(),
    }
    for name, data in files.items():
        (tmp_path / name).write_bytes(data)
    return tmp_path


@pytest.mark.parametrize("name", ["empty.mp4", "text.mp4", "truncated.mp4", "corrupt.mp4", "missing.mp4"])
def test_bad_video_raises_one_clear_error(broken_inputs, name):
    with pytest.raises(MediaError) as error:
        for _ in media.iter_frames(broken_inputs / name):
            pass
    message = str(error.value)
    assert message.startswith(name) and "Traceback" not in message


def test_still_image_is_not_mistaken_for_a_video(broken_inputs):
    # ffmpeg opens a PNG as a one-frame stream; decoding it as video must still work or fail clearly.
    frames = list(media.iter_frames(broken_inputs / "image_as_video.mp4"))
    assert len(frames) == 1 and frames[0][1].shape == (512, 512, 3)


def test_writer_encodes_h264_yuv420p_with_the_source_audio(tmp_path):
    source = shared_file("video/d3.mp4")
    info = media.probe(source)
    out = tmp_path / "copy.mp4"
    with media.VideoWriter(out, info.width, info.height, info.fps, audio_from=source) as writer:
        for _, frame in media.iter_frames(source):
            writer.write(frame)
    written = media.probe(out)
    assert (written.codec, written.pix_fmt, written.frame_count) == ("h264", "yuv420p", 354)
    assert written.fps == info.fps and written.has_audio
    assert written.duration == pytest.approx(info.duration, abs=0.1)
    first_in, first_out = next(media.iter_frames(source))[1], next(media.iter_frames(out))[1]
    assert np.abs(first_in.astype(int) - first_out.astype(int)).mean() < 3


def test_writer_leaves_nothing_behind_on_failure(tmp_path):
    out = tmp_path / "failed.mp4"
    with pytest.raises(RuntimeError):
        with media.VideoWriter(out, 64, 64, 25) as writer:
            writer.write(np.zeros((64, 64, 3), np.uint8))
            raise RuntimeError("the caller failed mid-way")
    assert list(tmp_path.iterdir()) == []
    with pytest.raises(MediaError):
        media.VideoWriter(out, 63, 64, 25)


def test_unreadable_image_raises_media_error(broken_inputs):
    with pytest.raises(MediaError, match="not a readable image"):
        media.read_image(broken_inputs / "text.mp4")
