"""The conversion loop: decode -> find the face -> smooth -> swap (batched through the model) -> colour ->
blend -> compose, streamed; at most one model batch, the smoother's look-ahead and `PLACEMENT_DEPTH` frames in
memory. Decoding, finding and smoothing the faces run on a worker thread ahead of the model
(`swapcore.pipelining.read_ahead`).

`swap_frames` yields the result frame by frame; `convert` (in `swapcore.convert`) hands those frames to a
sealed writer. Nothing here writes a file.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import cv2
import numpy as np
import torch

from swapcore import media
from swapcore.convert import color, masks
from swapcore.convert.blend import BlendSettings, paste
from swapcore.convert.faces import from_alignments, observe_alignments, observe_detected
from swapcore.convert.smoothing import Placement, TrackSmoother, smooth
from swapcore.errors import SwapcoreError
from swapcore.faces.align import crop_with
from swapcore.options import option
from swapcore.pipelining import read_ahead
from swapcore.train import LoadedModel
from swapcore.training.settings import PRECISIONS

log = logging.getLogger("swapcore.convert")
Progress = Callable[[int, int], None]
DIRECTIONS = {"a2b": "A in the video becomes B", "b2a": "B in the video becomes A"}
PLACEMENT_DEPTH = 8  # frames decoded and placed ahead of the model (a batch's worth and more)
MAX_GAP_SECONDS = 0.5  # longest run of frames without a reliable face that is bridged by interpolation


@dataclass(frozen=True)
class SwapSettings:
    direction: str = option("a2b", choices=DIRECTIONS, help="a2b: the video shows A, render B; b2a the reverse")
    color: str = option("reinhard", choices=color.available, help="colour matching of the rendered face")
    mask: str = option("auto", choices=masks.choices, help="auto: learned+hull for models with a learned mask, else hull")
    blend: BlendSettings = field(default_factory=BlendSettings)
    smooth: float = option(0.5, minimum=0, maximum=1, help="temporal smoothing, 0 (off) to 1 (strongest)")
    track: int | None = option(None, web=False, help="which track of --alignments to swap (default 0, the main person)")
    batch: int = option(16, web=False, help="faces per model call")
    device: str | None = option(None, web=False, help="torch device, e.g. cpu or cuda")
    precision: str = option("auto", choices=PRECISIONS, web=False,
                            help="model arithmetic; auto uses bf16 where the hardware has it")


@dataclass(frozen=True)
class SwappedFrame:
    index: int
    original: np.ndarray  # the decoded frame, untouched
    swapped: np.ndarray  # the frame with the face replaced (the original itself when no face was placed)
    placement: Placement | None  # where the face went; None = passed through
    box: tuple[int, int, int, int] | None  # frame pixels the blend touched


def parse_frames(text: str | None) -> tuple[int, int | None]:
    """"A:B" (either side optional) -> (start, stop); the frame range of the target to convert."""
    if not text:
        return 0, None
    start, sep, stop = text.partition(":")
    try:
        first = int(start) if start else 0
        last = int(stop) if stop else None
    except ValueError:
        raise SwapcoreError(f"--frames takes A:B (frame numbers), got {text!r}") from None
    if not sep or first < 0 or (last is not None and last <= first):
        raise SwapcoreError(f"--frames takes A:B with 0 <= A < B, got {text!r}")
    return first, last


def decoder_index(model: LoadedModel, direction: str) -> int:
    """a2b: faces of A in the video, rendered by B's decoder; b2a the other way round."""
    if direction not in DIRECTIONS:
        raise SwapcoreError(f"unknown direction {direction!r}; choose a2b or b2a")
    return model.identity("B" if direction == "a2b" else "A")


def _autocast_dtype(precision: str, device: torch.device) -> torch.dtype:
    """bf16 halves the model's cost on CPUs with native bf16 (AVX512-BF16, AMX) and on recent GPUs; its error
    on the rendered face is under one 8-bit level (measured: max 0.6, mean 0.14)."""
    if precision not in PRECISIONS:
        raise SwapcoreError(f"unknown precision {precision!r}; choose one of {', '.join(PRECISIONS)}")
    if precision == "fp32":
        return torch.float32
    if device.type == "cuda":
        supported = torch.cuda.is_bf16_supported()
    else:
        supported = torch.ops.mkldnn._is_mkldnn_bf16_supported()
    if precision == "bf16" and not supported:
        raise SwapcoreError(f"this {device.type} has no native bf16: use --precision fp32 or auto")
    return torch.bfloat16 if supported else torch.float32


class Swapper:
    """Runs a batch of placed faces through the model and pastes the results back."""

    def __init__(self, model: LoadedModel, settings: SwapSettings) -> None:
        self.model, self.settings = model, settings
        self.size = int(model.description["size"])
        self.identity = decoder_index(model, settings.direction)
        self.mask_kind = masks.check_kind(settings.mask, bool(model.description.get("has_mask")))
        self.adjust = color.get(settings.color)
        self.device = next(model.model.parameters()).device
        self.precision = _autocast_dtype(settings.precision, self.device)
        model.model.to(memory_format=torch.channels_last)  # faster convolutions on CPU (oneDNN) and GPU

    def render(self, crops: list[np.ndarray]) -> tuple[np.ndarray, np.ndarray | None]:
        """BGR uint8 crops -> (BGR float faces, learned masks or None), in one forward pass."""
        batch = torch.from_numpy(np.stack(crops)[..., ::-1].copy()).to(self.device)
        batch = batch.permute(0, 3, 1, 2).float().div_(255).contiguous(memory_format=torch.channels_last)
        with torch.inference_mode(), torch.autocast(self.device.type, self.precision, enabled=self.precision != torch.float32):
            rgb, mask = self.model.model(batch, self.identity)
        faces = rgb.float().permute(0, 2, 3, 1).cpu().numpy()[..., ::-1]
        return faces, None if mask is None else mask.float()[:, 0].cpu().numpy()

    def __call__(self, group: list[tuple[tuple[int, np.ndarray], Placement | None]]) -> Iterator[SwappedFrame]:
        placed = [n for n, (_, placement) in enumerate(group) if placement is not None]
        crops = [crop_with(group[n][0][1], group[n][1].matrix, self.size) for n in placed]
        faces, learned = self.render(crops) if crops else (None, None)
        slot = {n: k for k, n in enumerate(placed)}
        for n, ((index, frame), placement) in enumerate(group):
            if placement is None:
                yield SwappedFrame(index, frame, frame, None, None)
                continue
            k = slot[n]
            mask = None if learned is None else learned[k]
            yield SwappedFrame(index, frame, *self.blend(frame, crops[k], faces[k], mask, placement))

    def blend(self, frame: np.ndarray, crop: np.ndarray, face: np.ndarray, learned: np.ndarray | None,
               placement: Placement) -> tuple[np.ndarray, Placement, tuple[int, int, int, int] | None]:
        mask = masks.face_mask(self.mask_kind, placement.landmarks, learned, self.size, placement.dense)
        face = self.adjust(np.ascontiguousarray(face, np.float32), crop.astype(np.float32) / 255, mask)
        out = frame.copy()
        box = paste(out, np.ascontiguousarray(face, np.float32), mask, placement.matrix, self.settings.blend)
        return out, placement, box


def _batches(stream: Iterator[tuple[tuple[int, np.ndarray], Placement | None]], size: int
             ) -> Iterator[list[tuple[tuple[int, np.ndarray], Placement | None]]]:
    """Groups of frames holding up to `size` faces (frames without a face ride along for free)."""
    group: list = []
    faces = 0
    for entry in stream:
        group.append(entry)
        faces += entry[1] is not None
        if faces >= size:
            yield group
            group, faces = [], 0
    if group:
        yield group


def swap_frames(
    target: str | os.PathLike,
    model: LoadedModel,
    settings: SwapSettings = SwapSettings(),
    *,
    frames: tuple[int, int | None] = (0, None),
    alignments: str | os.PathLike | None = None,
    info: media.VideoInfo | None = None,
    progress: Progress | None = None,
) -> Iterator[SwappedFrame]:
    """Every frame of `target` in [start, stop), with the chosen person's face swapped, in order.

    Settings are checked now (a bad option fails before any output is begun); frames are decoded lazily.
    """
    if settings.batch < 1:
        raise SwapcoreError("--batch must be at least 1")
    target = Path(target)
    info = info or media.probe(target)
    start, stop = frames
    end = min(stop if stop is not None else info.frame_count, info.frame_count)
    if start < 0 or (stop is not None and stop <= start):
        raise SwapcoreError(f"the frame range needs 0 <= start < stop, got {start}:{stop}")
    if start >= info.frame_count:
        raise SwapcoreError(f"--frames starts at {start}, but {target.name} has {info.frame_count} frames")
    swapper = Swapper(model, settings)
    decoded = media.iter_frames(target, start=start, stop=stop, info=info)
    placed = read_ahead(placements(decoded, target, swapper, info, alignments), depth=PLACEMENT_DEPTH,
                        name="faceproof-decode-place")
    return _stream(_batches(placed, settings.batch), swapper, end - start, progress)


def placements(decoded: Iterator[tuple[int, np.ndarray]], target: Path, swapper: Swapper, info: media.VideoInfo,
               alignments: str | os.PathLike | None) -> Iterator[tuple[tuple[int, np.ndarray], Placement | None]]:
    """Each decoded frame with where its face is to be swapped (None: no face): from the alignments file made
    from `target`, or detected now; smoothed over time."""
    settings = swapper.settings
    max_gap = max(1, round(MAX_GAP_SECONDS * float(info.fps)))
    if alignments is not None:
        known = from_alignments(alignments, target, settings.track)
        if masks.needs_dense(swapper.mask_kind) and all(o.dense is None for o in known.values()):
            log.warning("--mask %s needs 68-point landmarks, but %s holds only 5 per face (a version-1 file, or "
                        "extracted with --landmarks mtcnn5): using the hull mask", swapper.mask_kind, alignments)
        observed = observe_alignments(decoded, known)
    else:
        if settings.track not in (None, 0):
            raise SwapcoreError("--track needs --alignments (the tracks of an extraction of this video)")
        if masks.needs_dense(swapper.mask_kind):
            log.warning("--mask %s needs 68-point landmarks; faces detected during conversion have 5: using the hull "
                        "mask (extract this video with --landmarks dlib68 and pass --alignments)", swapper.mask_kind)
        observed = observe_detected(decoded, settings.device, max_gap)
    described = swapper.model.description.get("input", {})
    centering = str(described.get("centering", "face"))
    alignment = str(described.get("alignment", "5"))  # models from before the choice were aligned by 5 points
    if alignment == "68" and alignments is None:
        log.warning("this model was aligned by 68 points; faces detected during conversion have 5, so they are "
                    "aligned by those (extract this video with --landmarks dlib68 and pass --alignments)")
    smoother = TrackSmoother(swapper.size, centering, float(info.fps), settings.smooth, max_gap, alignment=alignment)
    return smooth(observed, smoother)


def _stream(groups: Iterator[list], swapper: Swapper, total: int, progress: Progress | None) -> Iterator[SwappedFrame]:
    done = 0
    for group in groups:
        for result in swapper(group):
            done += 1
            if progress:
                progress(done, max(total, done))
            yield result


def compose(result: SwappedFrame, side_by_side: bool, scale: float) -> np.ndarray:
    """The output frame: the swapped frame, or original | swapped side by side; resized by `scale`."""
    frame = np.hstack([result.original, result.swapped]) if side_by_side else result.swapped
    if scale == 1.0:
        return frame
    height, width = output_size(frame.shape[0], frame.shape[1], scale)
    interpolation = cv2.INTER_AREA if scale < 1 else cv2.INTER_CUBIC
    return cv2.resize(frame, (width, height), interpolation=interpolation)


def output_size(height: int, width: int, scale: float) -> tuple[int, int]:
    """Frame size after scaling, rounded to even numbers (H.264 4:2:0 needs them)."""
    if not 0.05 <= scale <= 4:
        raise SwapcoreError(f"--scale must be between 0.05 and 4, got {scale}")
    if scale == 1.0:
        return height, width
    return max(2, round(height * scale / 2) * 2), max(2, round(width * scale / 2) * 2)
