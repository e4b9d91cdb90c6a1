"""A cheaper 64 px model for CPU-only training: the `original` layout at half the channel widths.

Encoder 64-128-256-512 with a 512 bottleneck; decoders upscale 128-64-32. About a quarter of `original`'s
FLOPs (roughly 2.9 GFLOP forward+backward per example), so it trains about 4x faster at some cost in detail.
"""

from __future__ import annotations

from torch import nn

from swapcore.models.base import Bottleneck, SwapModel, downscale, upscale


class Lite(SwapModel):
    name = "lite"
    default_size = 64

    def __init__(self, identities: int = 2, size: int = 64) -> None:
        if size != 64:
            raise ValueError("the lite model works at 64 px only")
        super().__init__(identities, size)
        self.encoder = nn.Sequential(
            downscale(3, 64),
            downscale(64, 128),
            downscale(128, 256),
            downscale(256, 512),
            Bottleneck(4 * 4 * 512, 512, side=4, channels=512),
            upscale(512, 256),
        )
        self.decoders = nn.ModuleList(self._decoder() for _ in range(identities))

    @staticmethod
    def _decoder() -> nn.Sequential:
        return nn.Sequential(upscale(256, 128), upscale(128, 64), upscale(64, 32), nn.Conv2d(32, 3, 5, padding=2))
