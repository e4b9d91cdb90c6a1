"""A cheaper 64 px model for CPU-only training: the `original` layout at half the channel widths.

Encoder 64-128-256-512 with a 512 bottleneck; decoders upscale 128-64-32. About a quarter of `original`'s
FLOPs (roughly 2.9 GFLOP forward+backward per example), so it trains about 4x faster at some cost in detail.
"""

from __future__ import annotations

from swapcore.models.original import Original


class Lite(Original):
    name = "lite"
    widths = (64, 128, 256, 512)
