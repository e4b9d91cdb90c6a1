"""A learned blend detector: a small residual CNN that reads a whole aligned head crop and says whether a face was
blended into it.

It sees the 256 px crop the cues read (face, the band where a pasting mask ends, and the head around it), so it
can learn what the hand-written cues measure one by one: a seam where the mask ends, a face sharper or softer
or of another tone than the head around it, a second outline. It is trained from scratch, in the manner of
self-blended images (Shiohara and Yamasaki, CVPR 2022), on authentic faces with a face pasted in on the fly
(`detector.fit.blendnet`, `scripts/fit_blendnet.py`), never on one tool's output. A frame's score is the
network's logit; a track's channel, as for every cue, is its persistent level over frames.

The weights (`blendnet.pt`) and the record of how they were fitted (`blendnet.json`) ship beside this module.
"""

from __future__ import annotations

import functools
import hashlib
import json
from importlib import resources
from pathlib import Path

import numpy as np
import torch
from torch import nn

from detector.errors import DetectorError

INPUT_SIZE = 256  # the aligned head crop the cues read
BOUNDARY_SIZE = 32  # the grid on which the network also maps the blend boundary (8 crop pixels a cell)


class _Residual(nn.Module):
    """Two 3x3 convolutions with batch norm and a shortcut (a 1x1 projection where the shape changes)."""

    def __init__(self, inputs: int, outputs: int, stride: int) -> None:
        super().__init__()
        self.body = nn.Sequential(
            nn.Conv2d(inputs, outputs, 3, stride, 1, bias=False), nn.BatchNorm2d(outputs), nn.ReLU(inplace=True),
            nn.Conv2d(outputs, outputs, 3, 1, 1, bias=False), nn.BatchNorm2d(outputs))
        self.shortcut = nn.Identity() if inputs == outputs and stride == 1 else nn.Sequential(
            nn.Conv2d(inputs, outputs, 1, stride, bias=False), nn.BatchNorm2d(outputs))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.relu(self.body(x) + self.shortcut(x))


_MIDDLE = 8  # body layers up to the 32 x 32 map (stem: 3 layers, then five residual stages)


class BlendNet(nn.Module):
    """Head crop (3 x 256 x 256, RGB in [-1, 1]) -> one logit: was a face blended in?

    The stem reads the crop at full resolution (a blending edge is a few pixels wide); the head pools both the
    mean and the maximum of the last map, since a seam may show in one stretch of the outline only. A second
    head maps where the blend boundary runs, at 32 x 32: trained on it, the body learns the edge itself (the map
    is a training target; it is too faint to show a person).
    """

    def __init__(self, width: int = 32) -> None:
        super().__init__()
        w = width
        self.body = nn.Sequential(
            nn.Conv2d(3, w, 3, 1, 1, bias=False), nn.BatchNorm2d(w), nn.ReLU(inplace=True),
            _Residual(w, w, 2), _Residual(w, 2 * w, 2), _Residual(2 * w, 2 * w, 1),
            _Residual(2 * w, 4 * w, 2), _Residual(4 * w, 4 * w, 1), _Residual(4 * w, 6 * w, 2),
            _Residual(6 * w, 8 * w, 2))
        self.head = nn.Sequential(nn.Dropout(0.2), nn.Linear(16 * w, 1))
        self.boundary = nn.Conv2d(4 * w, 1, 1)  # reads the 32 x 32 map of the body's first five stages

    def with_boundary(self, images: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """The logit and the blend-boundary logits (N x BOUNDARY_SIZE x BOUNDARY_SIZE)."""
        middle = self.body[:_MIDDLE](images)
        features = self.body[_MIDDLE:](middle)
        pooled = torch.cat([features.mean(dim=(2, 3)), features.amax(dim=(2, 3))], dim=1)
        return self.head(pooled)[:, 0], self.boundary(middle)[:, 0]

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        return self.with_boundary(images)[0]


def to_input(crops_bgr: np.ndarray | torch.Tensor) -> torch.Tensor:
    """Aligned BGR uint8 crops (N x H x W x 3, numpy or torch, any device) -> the network's input tensor."""
    crops = torch.as_tensor(crops_bgr)
    return (crops.flip(-1).permute(0, 3, 1, 2).float() / 127.5 - 1.0).contiguous(memory_format=torch.channels_last)


def weights_path() -> Path:
    return Path(str(resources.files("detector") / "blendnet.pt"))


@functools.cache
def fingerprint() -> str:
    """Names the shipped weights and this module's code (cached features are keyed by it)."""
    path = weights_path()
    weights = path.read_bytes() if path.exists() else b""
    return hashlib.sha256(weights + Path(__file__).read_bytes()).hexdigest()[:10]


def load(path: Path) -> BlendNet:
    """Weights from `path`; its width from the record beside it (`<name>.json`, or a fitting run's `records.json`)."""
    record, records = path.with_suffix(".json"), path.parent / "records.json"
    if record.exists():
        width = json.loads(record.read_text()).get("width", 32)
    else:
        width = json.loads(records.read_text()).get(path.stem, {}).get("width", 32) if records.exists() else 32
    net = BlendNet(width)
    state = torch.load(path, map_location="cpu", weights_only=True)  # shipped as float16: half the size
    net.load_state_dict({name: value.float() if value.is_floating_point() else value for name, value in state.items()})
    return net.eval().to(memory_format=torch.channels_last)


@functools.cache
def shipped() -> BlendNet:
    path = weights_path()
    if not path.exists():
        raise DetectorError(f"{path.name} is missing: fit it with scripts/fit_blendnet.py")
    return load(path)


def frame_logits(crops_bgr: list[np.ndarray] | np.ndarray, net: BlendNet | None = None, batch: int = 16) -> np.ndarray:
    """The network's logit for each aligned crop (float32, one per crop)."""
    net = net or shipped()
    out = []
    with torch.inference_mode():
        for lo in range(0, len(crops_bgr), batch):
            out.append(net(to_input(np.stack(crops_bgr[lo:lo + batch]))).float().numpy())
    return np.concatenate(out) if out else np.zeros(0, np.float32)
