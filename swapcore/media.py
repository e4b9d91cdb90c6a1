"""Media I/O in one place: probe, stream-decode and encode video through ffmpeg, read still images.

Everything that touches ffmpeg lives here so that failures turn into one error type (`MediaError`) with a
message a person can act on, never a traceback from inside a subprocess.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from fractions import Fraction
from pathlib import Path
from typing import IO, Any, Protocol

import cv2
import ffmpeg
import numpy as np

from swapcore.errors import FrameTooLargeError, MediaError

_TOO_MANY_PIXELS = re.compile(r"Picture size (\d+)x(\d+) exceeds specified max pixel count")  # libavutil's words
IMAGE_SUFFIXES = frozenset({".png", ".jpg", ".jpeg", ".bmp", ".webp", ".tif", ".tiff"})
VIDEO_SUFFIXES = frozenset({".mp4", ".mov", ".m4v", ".avi", ".mkv", ".webm", ".mpg", ".mpeg", ".wmv", ".flv"})


def ffmpeg_exe() -> str:
    """The ffmpeg binary: $FACEPROOF_FFMPEG, the system's, or the one inside the imageio-ffmpeg wheel."""
    explicit = os.environ.get("FACEPROOF_FFMPEG")
    if explicit:
        return explicit
    found = shutil.which("ffmpeg")
    if found:
        return found
    import imageio_ffmpeg

    return imageio_ffmpeg.get_ffmpeg_exe()


def ffprobe_exe() -> str:
    explicit = os.environ.get("FACEPROOF_FFPROBE")
    found = explicit or shutil.which("ffprobe")
    if not found:
        raise MediaError("ffprobe was not found: run scripts/setup.sh or install your system's ffmpeg package")
    return found


@dataclass(frozen=True)
class AudioStream:
    index: int
    codec: str
    channels: int
    sample_rate: int


@dataclass(frozen=True)
class VideoInfo:
    """What a video holds, as a viewer sees it (width/height already account for rotation)."""

    path: Path
    width: int
    height: int
    fps: Fraction
    frame_count: int
    duration: float
    rotation: int
    codec: str
    pix_fmt: str
    audio: tuple[AudioStream, ...] = field(default_factory=tuple)
    streams: int = 1  # every stream of the container (video, audio, subtitles, data): callers bound it

    @property
    def has_audio(self) -> bool:
        return bool(self.audio)


def _check_readable(path: Path) -> None:
    if not path.exists():
        raise MediaError(f"{path.name}: no such file")
    if not path.is_file():
        raise MediaError(f"{path.name}: not a file")
    if path.stat().st_size == 0:
        raise MediaError(f"{path.name}: the file is empty (0 bytes)")


def _last_line(stderr: bytes | str | None) -> str:
    text = stderr.decode("utf-8", "replace") if isinstance(stderr, bytes) else (stderr or "")
    lines = [ln.strip() for ln in text.splitlines() if ln.strip()]
    return lines[-1] if lines else "ffmpeg gave no reason"


def _rotation(stream: dict) -> int:
    for side in stream.get("side_data_list", []) or []:
        if "rotation" in side:
            return int(round(float(side["rotation"]))) % 360
    tag = (stream.get("tags") or {}).get("rotate")
    return (-int(tag)) % 360 if tag else 0


def _frame_count(stream: dict, fps: Fraction, duration: float) -> int:
    frames = stream.get("nb_frames")
    if frames and str(frames).isdigit() and int(frames) > 0:
        return int(frames)
    return max(1, int(round(duration * float(fps))))


def probe(path: str | os.PathLike, *, max_pixels: int | None = None) -> VideoInfo:
    """Size, frame rate, frame count, duration, rotation and audio streams of a video file.

    ffprobe decodes a few frames to learn a stream's parameters: `max_pixels` makes its decoders refuse frames
    larger than that before allocating them (FrameTooLargeError), for files from strangers."""
    path = Path(path)
    _check_readable(path)
    try:
        meta = ffmpeg.probe(str(path), cmd=ffprobe_exe(), **({"max_pixels": max_pixels} if max_pixels else {}))
    except ffmpeg.Error as exc:
        declared = _TOO_MANY_PIXELS.search((exc.stderr or b"").decode("utf-8", "replace"))
        if declared and max_pixels:
            raise FrameTooLargeError(path.name, int(declared[1]), int(declared[2]), max_pixels) from None
        reason = _last_line(exc.stderr).replace(f"{path}: ", "")
        raise MediaError(f"{path.name}: not a readable video ({reason})") from None
    videos = [s for s in meta.get("streams", []) if s.get("codec_type") == "video"]
    videos = [s for s in videos if not (s.get("disposition") or {}).get("attached_pic")]
    if not videos:
        raise MediaError(f"{path.name}: contains no video stream")
    video = videos[0]
    rate = video.get("avg_frame_rate") or video.get("r_frame_rate") or "0/1"
    fps = Fraction(rate) if rate not in ("0/0", "0/1") else Fraction(video.get("r_frame_rate", "0/1"))
    if fps <= 0:
        raise MediaError(f"{path.name}: the video stream has no usable frame rate")
    duration = float(video.get("duration") or meta.get("format", {}).get("duration") or 0.0)
    rotation = _rotation(video)
    width, height = int(video["width"]), int(video["height"])
    if rotation in (90, 270):
        width, height = height, width
    audio = tuple(
        AudioStream(int(s["index"]), s.get("codec_name", "?"), int(s.get("channels", 0)), int(s.get("sample_rate", 0)))
        for s in meta["streams"]
        if s.get("codec_type") == "audio"
    )
    return VideoInfo(
        path=path,
        width=width,
        height=height,
        fps=fps,
        frame_count=_frame_count(video, fps, duration),
        duration=duration,
        rotation=rotation,
        codec=video.get("codec_name", "?"),
        pix_fmt=video.get("pix_fmt", "?"),
        audio=audio,
        streams=len(meta["streams"]),
    )


def _popen(stream: ffmpeg.nodes.OutputStream, **pipes: int) -> subprocess.Popen:
    """Start ffmpeg for a built stream graph; global flags go first, where ffmpeg expects them."""
    args = [ffmpeg_exe(), "-nostdin", "-hide_banner", "-loglevel", "error", *ffmpeg.get_args(stream)]
    return subprocess.Popen(args, stderr=subprocess.PIPE, **pipes)


class _StderrDrain(threading.Thread):
    """Reads a subprocess's stderr so its pipe never fills and blocks it; keeps the tail for messages."""

    def __init__(self, stream: IO[bytes]) -> None:
        super().__init__(daemon=True)
        self._stream = stream
        self.text = b""

    def run(self) -> None:
        for chunk in iter(lambda: self._stream.read(4096), b""):
            self.text = (self.text + chunk)[-8192:]


def iter_frames(
    path: str | os.PathLike,
    every: int = 1,
    start: int = 0,
    stop: int | None = None,
    info: VideoInfo | None = None,
) -> Iterator[tuple[int, np.ndarray]]:
    """Yield (frame_index, BGR uint8 frame) for every `every`-th frame in [start, stop), streaming.

    Only one frame is in memory at a time. Rotation metadata is applied, so frames are upright. A file that
    breaks part-way (truncated, corrupt packets) raises MediaError after the frames that did decode.
    """
    if every < 1:
        raise ValueError("every must be >= 1")
    info = info or probe(path)
    frame_bytes = info.width * info.height * 3
    selected = f"gte(n,{start})*not(mod(n-{start},{every}))"
    if stop is not None:
        selected += f"*lt(n,{stop})"
    stream = (
        ffmpeg.input(str(info.path))
        .filter("select", selected)
        .output("pipe:", format="rawvideo", pix_fmt="bgr24", fps_mode="passthrough")
    )
    process = _popen(stream, stdout=subprocess.PIPE)
    drain = _StderrDrain(process.stderr)
    drain.start()
    index = start
    try:
        while True:
            buffer = process.stdout.read(frame_bytes)
            if len(buffer) < frame_bytes:
                break
            yield index, np.frombuffer(buffer, np.uint8).reshape(info.height, info.width, 3)
            index += every
    finally:
        process.stdout.close()
        if process.poll() is None:
            process.kill()
        returncode = process.wait()
        drain.join(timeout=5)
    if returncode != 0:
        raise MediaError(f"{info.path.name}: decoding stopped at frame {index} ({_last_line(drain.text)})")
    expected_end = min(stop if stop is not None else info.frame_count, info.frame_count)
    # Containers' frame counts can be off by a frame or two; a larger shortfall means lost data.
    if expected_end - index > every + max(2, info.frame_count // 50):
        raise MediaError(
            f"{info.path.name}: only frames up to {index} of {info.frame_count} could be decoded "
            "(the file is truncated or corrupt)"
        )


def read_image(path: str | os.PathLike) -> np.ndarray:
    """A still image as BGR uint8 (EXIF orientation applied), or MediaError."""
    path = Path(path)
    _check_readable(path)
    data = np.fromfile(path, np.uint8)
    image = cv2.imdecode(data, cv2.IMREAD_COLOR)
    if image is None:
        raise MediaError(f"{path.name}: not a readable image")
    return image


def write_image(path: str | os.PathLike, image: np.ndarray) -> None:
    """Write an image atomically (temp file + rename), so a reader never sees half a file."""
    path = Path(path)
    ok, encoded = cv2.imencode(path.suffix or ".png", image)
    if not ok:
        raise MediaError(f"{path.name}: could not encode image")
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_bytes(encoded.tobytes())
    os.replace(tmp, path)


class SealSession(Protocol):
    """What writing a deliverable needs of `provenance.seal`'s session (media never imports provenance)."""

    def mark(self, frame: np.ndarray) -> np.ndarray: ...

    def work_file(self, final: Path, stage: str, suffix: str | None = None) -> Path: ...

    def finish(self, encoded_path: str | os.PathLike, output_path: str | os.PathLike) -> Any: ...

    def abort(self, reason: str) -> None: ...


def write_sealed_image(session: SealSession, image: np.ndarray, output: Path) -> Any:
    """Watermark, encode and seal one image: only the signed file ever appears at `output` (the seal result)."""
    encoded = session.work_file(output, "encoding")
    try:
        write_image(encoded, session.mark(image))
    except BaseException as exc:
        encoded.unlink(missing_ok=True)
        session.abort(f"{output.name}: {exc}")
        raise
    return session.finish(encoded, output)  # on failure it deletes the encoded file and logs the abort itself


def is_video(path: Path) -> bool:
    return path.suffix.lower() in VIDEO_SUFFIXES


def is_image(path: Path) -> bool:
    return path.suffix.lower() in IMAGE_SUFFIXES


class VideoWriter:
    """Encode BGR frames to H.264 yuv420p mp4, muxing the audio of `audio_from` when it has any.

    Frames go to ffmpeg through a pipe as they come; the file appears under its final name only after a
    clean `close()` (temp file + rename), so an error never leaves a half-written video behind.
    """

    def __init__(
        self,
        path: str | os.PathLike,
        width: int,
        height: int,
        fps: Fraction | float,
        audio_from: str | os.PathLike | None = None,
        audio_start: float = 0.0,
        audio_duration: float | None = None,
        crf: int = 18,
        preset: str = "veryfast",
    ) -> None:
        if width % 2 or height % 2:
            raise MediaError(f"yuv420p needs even frame sizes, got {width}x{height}")
        self.path = Path(path)
        self.width, self.height = width, height
        self._tmp = self.path.with_name(f".{self.path.stem}.partial{self.path.suffix or '.mp4'}")
        video = ffmpeg.input("pipe:", format="rawvideo", pix_fmt="bgr24", s=f"{width}x{height}", framerate=str(fps))
        streams = [video]
        if audio_from is not None and probe(audio_from).has_audio:
            audio_args = {"ss": audio_start} if audio_start else {}
            if audio_duration is not None:
                audio_args["t"] = audio_duration
            streams.append(ffmpeg.input(str(audio_from), **audio_args).audio)
        args = {"vcodec": "libx264", "pix_fmt": "yuv420p", "crf": crf, "preset": preset, "movflags": "+faststart"}
        if len(streams) == 2:
            args.update(acodec="aac", audio_bitrate="160k", shortest=None)
        self._process = _popen(ffmpeg.output(*streams, str(self._tmp), **args).overwrite_output(), stdin=subprocess.PIPE)
        self._drain = _StderrDrain(self._process.stderr)
        self._drain.start()
        self.frames_written = 0

    def write(self, frame: np.ndarray) -> None:
        if frame.shape != (self.height, self.width, 3) or frame.dtype != np.uint8:
            raise MediaError(f"frame of shape {frame.shape} does not match the writer's {self.height}x{self.width}x3")
        try:
            self._process.stdin.write(np.ascontiguousarray(frame).tobytes())
        except BrokenPipeError:
            self.abort()
            raise MediaError(f"{self.path.name}: the encoder stopped ({_last_line(self._drain.text)})") from None
        self.frames_written += 1

    def close(self) -> Path:
        self._process.stdin.close()
        returncode = self._process.wait()
        self._drain.join(timeout=5)
        if returncode != 0 or self.frames_written == 0:
            self._tmp.unlink(missing_ok=True)
            reason = _last_line(self._drain.text) if returncode else "no frames were written"
            raise MediaError(f"{self.path.name}: encoding failed ({reason})")
        os.replace(self._tmp, self.path)
        return self.path

    def abort(self) -> None:
        if self._process.poll() is None:
            self._process.kill()
            self._process.wait()
        self._tmp.unlink(missing_ok=True)

    def __enter__(self) -> VideoWriter:
        return self

    def __exit__(self, exc_type, exc, tb) -> None:
        if exc_type is None:
            self.close()
        else:
            self.abort()
