"""Conversion: apply a trained model to a target video and deliver the result, sealed.

`convert()` is what the CLI (`faceproof convert`) and the web app's jobs call. Frames stream from the target
through `pipeline.swap_frames` to a writer from `writers.open_writer`; every writer marks each frame and
finishes each file through `provenance.seal`, which refuses identities without recorded consent.
"""

from __future__ import annotations

import getpass
import logging
import os
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from provenance.custody.log import sha256_file
from provenance.seal import Sealer, SealRequest
from provenance.work import sweep
from swapcore import media
from swapcore.convert.blend import BlendSettings
from swapcore.convert.pipeline import Progress, SwapSettings, compose, output_size, parse_frames, swap_frames
from swapcore.convert.writers import OutputSpec, SealSession, open_writer
from swapcore.pipelining import write_behind
from swapcore.train import LoadedModel, load_model
from swapcore.training import bundle

__all__ = ["BlendSettings", "ConvertResult", "SwapSettings", "convert", "parse_frames"]

log = logging.getLogger("swapcore.convert")
PIPELINE_DEPTH = 4  # frames queued between stages: enough to absorb uneven stages, few enough to bound memory


@dataclass(frozen=True)
class ConvertResult:
    output: Path
    frames: int
    frames_swapped: int
    seconds: float
    sealed: list[Any]  # provenance.seal.SealResult per delivered file

    @property
    def frames_per_second(self) -> float:
        return self.frames / self.seconds if self.seconds else 0.0


def _request(kind: str, target: Path, model_dir: Path, model: LoadedModel, model_hash: str, actor: str,
             settings: SwapSettings, output: Path, extra: dict[str, Any]) -> SealRequest:
    identities = [entry["name"] for entry in model.description["identities"]]
    parameters = {**asdict(settings), "model_iteration": model.iteration, **extra}
    return SealRequest(
        kind=kind, title=f"{target.stem} swapped ({settings.direction})", actor=actor,
        inputs=[model_dir / bundle.MODEL_JSON], parent=target,
        model={"arch": str(model.description["arch"]), "sha256": model_hash},
        consents=identities, parameters=parameters | {"output": output.name},
    )


def convert(
    target: str | os.PathLike,
    model_dir: str | os.PathLike,
    output: str | os.PathLike,
    *,
    settings: SwapSettings = SwapSettings(),
    frames: tuple[int, int | None] = (0, None),
    alignments: str | os.PathLike | None = None,
    side_by_side: bool = False,
    scale: float = 1.0,
    actor: str | None = None,
    sealer: Sealer,
    progress: Progress | None = None,
) -> ConvertResult:
    """Swap the faces of `target` with the model in `model_dir` and deliver `output` (.mp4, .gif or a folder
    of PNG frames), watermarked, signed and logged by `sealer` (the caller's installation; the caller closes it).
    Both of the model's identities need recorded consent in its custody log."""
    started = time.perf_counter()
    target, model_dir, output = Path(target), Path(model_dir), Path(output)
    info = media.probe(target)
    model = load_model(model_dir, settings.device or "cpu")
    start, stop = frames
    end = min(stop if stop is not None else info.frame_count, info.frame_count)
    height, width = output_size(info.height, info.width * (2 if side_by_side else 1), scale)
    spec = OutputSpec(width, height, info.fps, audio_from=target, audio_start=start / float(info.fps),
                      audio_duration=max(end - start, 1) / float(info.fps))
    model_hash = sha256_file(model_dir / bundle.CHECKPOINT)
    extra = {"frames": [start, stop], "side_by_side": side_by_side, "scale": scale,
             "alignments": str(alignments) if alignments else None}
    actor = actor or getpass.getuser()

    swept = sweep(output.parent, sealer.log)  # what a killed conversion into this folder left behind
    if swept:
        log.warning("removed %d fragment(s) of interrupted work in %s (logged as aborted): %s", len(swept),
                    output.parent, ", ".join(swept))

    def begin(kind: str) -> SealSession:
        return sealer.begin(_request(kind, target, model_dir, model, model_hash, actor, settings, output, extra))

    return _run(target, model, settings, frames, alignments, info, spec, output, begin, side_by_side, scale,
                progress, started)


def _run(target: Path, model: LoadedModel, settings: SwapSettings, frames: tuple[int, int | None],
         alignments: str | os.PathLike | None, info: media.VideoInfo, spec: OutputSpec, output: Path, begin,
         side_by_side: bool, scale: float, progress: Progress | None, started: float) -> ConvertResult:
    results = swap_frames(target, model, settings, frames=frames, alignments=alignments, info=info, progress=progress)
    writer = open_writer(output, spec, begin)
    count = swapped = 0
    try:
        # Three stages overlap: decoding and face placement (read ahead), the model, colour and blending (here),
        # the watermark and the encoder's input (written behind).
        with write_behind(writer.write, depth=PIPELINE_DEPTH, name="faceproof-mark-encode") as write:
            for result in results:
                write(compose(result, side_by_side, scale))
                count += 1
                swapped += result.box is not None
    except BaseException as exc:
        writer.abort(f"conversion stopped: {type(exc).__name__}: {exc}")
        raise
    finally:
        results.close()  # stops the decoding thread now, not when the traceback lets go of it
    sealed = writer.close()
    return ConvertResult(output, count, swapped, time.perf_counter() - started, sealed)
