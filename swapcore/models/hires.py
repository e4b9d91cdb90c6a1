"""A 128 px (or 256 px) model with a learned mask: RGB plus a fourth, mask channel from every decoder.

The encoder halves the resolution down to 4 px (64-128-256-512-1024 channels for 128 px, 32-64-...-1024 for
256 px), then a dense 1024 bottleneck and one upscale to 8x8x512, like `original`. Each decoder upscales to
full size, halving the channels each time (512 -> 32 at 128 px), with residual blocks at the two largest
stages for detail, and ends in a 5x5 convolution to RGB + mask. A 64 px size, for quick trials and tests of
the mask, has `lite`'s widths (64-128-256-512, a 512 bottleneck, decoders 128-64-32).

A model trained with synthetic occluders (`AugmentConfig.occluders`) also has an occlusion net: a small U-Net
on the input face that says where the face is visible. Its map multiplies the decoder's mask, so the learned
mask leaves out a hand or a microphone in front of the face. Models trained without occluders (and those from
before) have none: `occlusion` is part of the model's config in model.json.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import nn

from swapcore.models.base import Bottleneck, ResidualBlock, SwapModel, downscale, upscale

# The deepest encoder width (also the bottleneck's) per size. 64 px is for quick trials and tests of the mask,
# so it has `lite`'s widths: at 1024 it would cost more than the 128 px model.
DEEPEST = {64: 512, 128: 1024, 256: 1024}
SIZES = tuple(DEEPEST)


def _encoder_widths(size: int) -> list[int]:
    """Channels per stride-2 stage, from the input down to 4 px."""
    stages = size.bit_length() - 1 - 2  # log2(size / 4)
    deepest = DEEPEST[size]
    return [min(deepest, deepest >> (stages - 1 - i)) for i in range(stages)]


def _decoder_widths(size: int) -> list[int]:
    """Channels after each upscale, from 16 px up to full size (a quarter of the deepest width, then halving)."""
    stages = size.bit_length() - 1 - 3  # log2(size / 8)
    first = DEEPEST[size] // 4
    return [max(first // 8, first >> i) for i in range(stages)]


OCCLUSION_WIDTHS = (16, 32, 64, 128)  # the occlusion net's channels at full, 1/2, 1/4 and 1/8 resolution


class OcclusionNet(nn.Module):
    """Logits of where the input face is visible (not hidden by something in front of it), at full resolution.

    A decoder renders from the bottleneck's few numbers, which barely say where an occluder is; full-resolution
    convolutions with skip connections see its edges and texture directly (FaceFusion's occluder model and
    DeepFaceLab's XSeg are U-Nets for the same reason). It costs a few percent of the model.
    """

    def __init__(self, widths: tuple[int, ...] = OCCLUSION_WIDTHS) -> None:
        super().__init__()
        self.stem = nn.Sequential(nn.Conv2d(3, widths[0], 3, padding=1), nn.LeakyReLU(0.1))
        pairs = list(zip(widths[:-1], widths[1:]))
        self.down = nn.ModuleList(downscale(a, b) for a, b in pairs)
        self.up = nn.ModuleList(upscale(b, a) for a, b in reversed(pairs))
        self.merge = nn.ModuleList(
            nn.Sequential(nn.Conv2d(2 * a, a, 3, padding=1), nn.LeakyReLU(0.1)) for a, _ in reversed(pairs)
        )
        self.out = nn.Conv2d(widths[0], 1, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        skips = [self.stem(x)]
        for down in self.down:
            skips.append(down(skips[-1]))
        y = skips.pop()
        for up, merge, skip in zip(self.up, self.merge, reversed(skips)):
            y = merge(torch.cat([up(y), skip], 1))
        return self.out(y)


class Hires(SwapModel):
    name = "hires"
    default_size = 128
    has_mask = True

    def __init__(self, identities: int = 2, size: int = 128, occlusion: bool = False) -> None:
        if size not in SIZES:
            raise ValueError(f"the hires model works at {' or '.join(map(str, SIZES))} px")
        super().__init__(identities, size)
        widths, deepest = _encoder_widths(size), DEEPEST[size]
        stages = [downscale(a, b) for a, b in zip([3, *widths[:-1]], widths)]
        self.encoder = nn.Sequential(
            *stages, Bottleneck(4 * 4 * widths[-1], deepest, side=4, channels=deepest), upscale(deepest, deepest // 2)
        )
        self.decoders = nn.ModuleList(self._decoder(size) for _ in range(identities))
        self.occlusion = OcclusionNet() if occlusion else None

    def config(self) -> dict[str, Any]:
        return {**super().config(), "occlusion": self.occlusion is not None}

    @staticmethod
    def _decoder(size: int) -> nn.Sequential:
        widths = _decoder_widths(size)
        layers: list[nn.Module] = []
        for index, (a, b) in enumerate(zip([DEEPEST[size] // 2, *widths[:-1]], widths)):
            layers.append(upscale(a, b))
            if index >= len(widths) - 2:
                layers.append(ResidualBlock(b))
        layers.append(nn.Conv2d(widths[-1], 4, 5, padding=2))
        return nn.Sequential(*layers)
