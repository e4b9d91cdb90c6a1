"""A 128 px (or 256 px) model with a learned mask: RGB plus a fourth, mask channel from every decoder.

The encoder halves the resolution down to 4 px (64-128-256-512-1024 channels for 128 px, 32-64-...-1024 for
256 px), then a dense 1024 bottleneck and one upscale to 8x8x512, like `original`. Each decoder
upscales to full size, halving the channels each time (512 -> 32 at 128 px), with residual blocks at the two
largest stages for detail, and ends in a 5x5 convolution to RGB + mask.
"""

from __future__ import annotations

from torch import nn

from swapcore.models.base import Bottleneck, ResidualBlock, SwapModel, downscale, upscale

SIZES = (128, 256)


def _encoder_widths(size: int) -> list[int]:
    """Channels per stride-2 stage, from the input down to 4 px."""
    stages = size.bit_length() - 1 - 2  # log2(size / 4)
    return [min(1024, 1024 >> (stages - 1 - i)) for i in range(stages)]


def _decoder_widths(size: int) -> list[int]:
    """Channels after each upscale, from 16 px up to full size."""
    stages = size.bit_length() - 1 - 3  # log2(size / 8)
    return [max(32, 256 >> i) for i in range(stages)]


class Hires(SwapModel):
    name = "hires"
    default_size = 128
    has_mask = True

    def __init__(self, identities: int = 2, size: int = 128) -> None:
        if size not in SIZES:
            raise ValueError(f"the hires model works at {' or '.join(map(str, SIZES))} px")
        super().__init__(identities, size)
        widths = _encoder_widths(size)
        stages = [downscale(a, b) for a, b in zip([3, *widths[:-1]], widths)]
        self.encoder = nn.Sequential(
            *stages, Bottleneck(4 * 4 * widths[-1], 1024, side=4, channels=1024), upscale(1024, 512)
        )
        self.decoders = nn.ModuleList(self._decoder(size) for _ in range(identities))

    @staticmethod
    def _decoder(size: int) -> nn.Sequential:
        widths = _decoder_widths(size)
        layers: list[nn.Module] = []
        for index, (a, b) in enumerate(zip([512, *widths[:-1]], widths)):
            layers.append(upscale(a, b))
            if index >= len(widths) - 2:
                layers.append(ResidualBlock(b))
        layers.append(nn.Conv2d(widths[-1], 4, 5, padding=2))
        return nn.Sequential(*layers)
