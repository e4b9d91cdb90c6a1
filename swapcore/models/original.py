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
    widths = (128, 256, 512, 1024)  # encoder channels; the last is also the bottleneck; decoders mirror them

    def __init__(self, identities: int = 2, size: int = 64) -> None:
        if size != 64:
            raise ValueError(f"the {self.name} model works at 64 px only")
        super().__init__(identities, size)
        w1, w2, w3, w4 = self.widths
        self.encoder = nn.Sequential(
            downscale(3, w1),
            downscale(w1, w2),
            downscale(w2, w3),
            downscale(w3, w4),
            Bottleneck(4 * 4 * w4, w4, side=4, channels=w4),
            upscale(w4, w3),
        )
        self.decoders = nn.ModuleList(self._decoder() for _ in range(identities))

    def _decoder(self) -> nn.Sequential:
        w1, w2, w3, _ = self.widths
        return nn.Sequential(upscale(w3, w2), upscale(w2, w1), upscale(w1, w1 // 2), nn.Conv2d(w1 // 2, 3, 5, padding=2))
