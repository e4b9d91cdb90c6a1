"""The classic 64 px face-swap autoencoder (the `original` model of Faceswap and the first deepfakes code).

Encoder: 5x5 stride-2 convolutions 128-256-512-1024 (64 -> 4 px), a dense 1024 bottleneck, dense back to
4x4x1024 and one pixel-shuffle upscale to 8x8x512. Each decoder upscales 256-128-64 to 64 px and ends in a 5x5
convolution to RGB. About 3.8 GFLOP forward, 11.4 forward+backward per example.
"""

from __future__ import annotations

from torch import nn

from swapcore.models.base import Bottleneck, SwapModel, downscale, upscale


class Original(SwapModel):
    name = "original"
    default_size = 64

    def __init__(self, identities: int = 2, size: int = 64) -> None:
        if size != 64:
            raise ValueError("the original model works at 64 px only")
        super().__init__(identities, size)
        self.encoder = nn.Sequential(
            downscale(3, 128),
            downscale(128, 256),
            downscale(256, 512),
            downscale(512, 1024),
            Bottleneck(4 * 4 * 1024, 1024, side=4, channels=1024),
            upscale(1024, 512),
        )
        self.decoders = nn.ModuleList(self._decoder() for _ in range(identities))

    @staticmethod
    def _decoder() -> nn.Sequential:
        return nn.Sequential(upscale(512, 256), upscale(256, 128), upscale(128, 64), nn.Conv2d(64, 3, 5, padding=2))
