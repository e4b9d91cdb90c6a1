"""Output writers: H.264 mp4 (source audio and timing kept), PNG frame sequence, animated GIF.

Every writer is built on a seal session (provenance.seal): each output frame passes `session.mark`
(the invisible watermark) before it is encoded, each file is encoded to a hidden temporary name and handed to
`session.finish`, which signs it (C2PA, the last step), logs custody and registers it under its final name.
A writer cannot be made without a session, so there is no path that hands out an unsigned or unmarked file.
`open_writer` is the one place that chooses and builds them.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
from abc import ABC, abstractmethod
from collections.abc import Callable
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path
from typing import Any

import ffmpeg
import numpy as np

from swapcore import media
from swapcore.errors import MediaError, SwapcoreError
from swapcore.media import SealSession
from provenance.work import work_path


Begin = Callable[[str], SealSession]  # kind ("video" | "image") -> a new seal session


@dataclass(frozen=True)
class OutputSpec:
    """What the writers need to know of the stream they receive."""

    width: int
    height: int
    fps: Fraction
    audio_from: Path | None = None  # the target video, whose audio the mp4 keeps
    audio_start: float = 0.0  # seconds: where the converted frame range starts
    audio_duration: float | None = None


class Writer(ABC):
    """Receives output frames one at a time; `close` returns the seal results of the files it delivered."""

    def __init__(self, output: Path, spec: OutputSpec, begin: Begin) -> None:
        self.output, self.spec, self.begin = output, spec, begin
        self.frames = 0

    @abstractmethod
    def write(self, frame: np.ndarray) -> None: ...

    @abstractmethod
    def close(self) -> list[Any]: ...

    @abstractmethod
    def abort(self, reason: str) -> None: ...


class Mp4Writer(Writer):
    """H.264 yuv420p mp4 through media.VideoWriter, the source's audio muxed back, then sealed."""

    kind = "video"

    def __init__(self, output: Path, spec: OutputSpec, begin: Begin) -> None:
        super().__init__(output, spec, begin)
        self.session = begin(self.kind)
        self.encoded = self.session.work_file(output, "encoding")  # beside the output: finishing renames it
        try:
            self.video = media.VideoWriter(self.encoded, spec.width, spec.height, spec.fps, audio_from=spec.audio_from,
                                           audio_start=spec.audio_start, audio_duration=spec.audio_duration)
        except BaseException as exc:
            self.encoded.unlink(missing_ok=True)
            self.session.abort(f"the encoder could not start: {exc}")
            raise

    def write(self, frame: np.ndarray) -> None:
        self.video.write(self.session.mark(frame))
        self.frames += 1

    def close(self) -> list[Any]:
        try:
            self.video.close()
        except BaseException as exc:
            self.abort(f"encoding failed: {exc}")
            raise
        # finish signs, logs and moves the file into place; on failure it deletes it and logs the abort itself.
        return [self.session.finish(self.encoded, self.output)]

    def abort(self, reason: str) -> None:
        self.video.abort()
        self.encoded.unlink(missing_ok=True)
        self.session.abort(reason)


class GifWriter(Writer):
    """Animated GIF, streamed through ffmpeg with a palette per frame (no frame is held back)."""

    kind = "video"

    def __init__(self, output: Path, spec: OutputSpec, begin: Begin) -> None:
        super().__init__(output, spec, begin)
        self.session = begin(self.kind)
        self.encoded = self.session.work_file(output, "encoding")
        self.log = tempfile.TemporaryFile()
        frames = ffmpeg.input("pipe:", format="rawvideo", pix_fmt="bgr24", s=f"{spec.width}x{spec.height}",
                              framerate=str(spec.fps)).split()
        palette = frames[0].filter("palettegen", stats_mode="single")
        graph = ffmpeg.filter([frames[1], palette], "paletteuse", new=1).output(str(self.encoded), format="gif")
        command = [media.ffmpeg_exe(), "-nostdin", "-loglevel", "error", *graph.overwrite_output().get_args()]
        try:
            self.process = subprocess.Popen(command, stdin=subprocess.PIPE, stderr=self.log)
        except OSError as exc:
            self.encoded.unlink(missing_ok=True)
            self.log.close()
            self.session.abort(f"the GIF encoder could not start: {exc}")
            raise MediaError(f"{output.name}: the GIF encoder could not start ({exc})") from None

    def write(self, frame: np.ndarray) -> None:
        if frame.shape != (self.spec.height, self.spec.width, 3):
            raise MediaError(f"frame of shape {frame.shape} does not match the GIF's {self.spec.height}x{self.spec.width}")
        try:
            self.process.stdin.write(np.ascontiguousarray(self.session.mark(frame)).tobytes())
        except BrokenPipeError:
            self.abort("the GIF encoder stopped")
            raise MediaError(f"{self.output.name}: the GIF encoder stopped ({self._reason()})") from None
        self.frames += 1

    def _reason(self) -> str:
        self.log.seek(0)
        lines = self.log.read().decode("utf-8", "replace").strip().splitlines()
        return lines[-1] if lines else "no reason given"

    def close(self) -> list[Any]:
        self.process.stdin.close()
        if self.process.wait() != 0 or self.frames == 0:
            reason = self._reason() if self.frames else "no frames were written"
            self.abort(f"GIF encoding failed: {reason}")
            raise MediaError(f"{self.output.name}: GIF encoding failed ({reason})")
        self.log.close()
        return [self.session.finish(self.encoded, self.output)]

    def abort(self, reason: str) -> None:
        if self.process.poll() is None:
            self.process.kill()
            self.process.wait()
        self.encoded.unlink(missing_ok=True)
        self.log.close()
        self.session.abort(reason)


class PngSequenceWriter(Writer):
    """A folder of frame_NNNNNN.png, each a deliverable of its own: marked, encoded, sealed one by one.

    The folder is built under a hidden name and renamed into place only when every frame was sealed.
    """

    kind = "image"

    def __init__(self, output: Path, spec: OutputSpec, begin: Begin) -> None:
        super().__init__(output, spec, begin)
        if output.exists() and any(output.iterdir()):
            raise SwapcoreError(f"{output} already exists and is not empty: choose a new folder for the frames")
        self.staging = work_path(output, "frames", "")
        self.staging.mkdir()
        self.results: list[Any] = []

    def write(self, frame: np.ndarray) -> None:
        name = f"frame_{self.frames:06d}.png"
        self.results.append(media.write_sealed_image(self.begin(self.kind), frame, self.staging / name))
        self.frames += 1

    def close(self) -> list[Any]:
        if self.frames == 0:
            self.abort("no frames were written")
            raise MediaError(f"{self.output.name}: no frames were written")
        if self.output.exists():
            self.output.rmdir()  # empty (checked when the writer opened)
        os.replace(self.staging, self.output)
        return self.results

    def abort(self, reason: str) -> None:
        shutil.rmtree(self.staging, ignore_errors=True)


WRITERS: dict[str, type[Writer]] = {".mp4": Mp4Writer, ".gif": GifWriter, "": PngSequenceWriter}


def open_writer(output: str | os.PathLike, spec: OutputSpec, begin: Begin) -> Writer:
    """The writer for an output path: .mp4, .gif, or a folder (no suffix) for PNG frames."""
    output = Path(output)
    suffix = output.suffix.lower()
    if suffix not in WRITERS:
        raise SwapcoreError(f"{output.name}: write .mp4, .gif, or a folder (no suffix) for PNG frames")
    if not output.parent.is_dir():
        raise SwapcoreError(f"{output.parent} does not exist")
    return WRITERS[suffix](output, spec, begin)
