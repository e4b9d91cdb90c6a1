"""The keyed watermark tile and its rendering at any frame size.

Geometry: the mark lives on a *working grid* on which a frame's shorter side is `WORK_SHORT` cells, whatever
its pixel size, so a clip resized as a whole keeps its mark at the same place on that grid. The grid is
covered by a `TILE` x `TILE` tile repeated in both directions (and identically in every frame), so any crop
still holds whole periods and the detector can fold all periods of all frames onto one tile.

Each tile cell ("chip") carries sync_amplitude * sync_chip + payload_amplitude * pn_chip * (+-1 for its bit);
the chip map is then band-passed to mid frequencies (invisible-ish, yet above what H.264 and downscaling
remove first) and normalised to unit RMS.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

import cv2
import numpy as np

from provenance.watermark.code import CODE_BITS, encode_payload
from provenance.watermark.errors import WatermarkError
from provenance.watermark.keys import check_secret, derive_bytes

WORK_SHORT = 256  # working-grid cells along a frame's shorter side
TILE = 64  # tile period on the working grid (4 periods across the shorter side)
BAND_LOW, BAND_HIGH = 0.08, 0.33  # pass band in cycles per working cell
BAND_TAPER = 0.04  # raised-cosine roll-off on each side of the pass band
SYNC_ENERGY = 0.25  # share of the tile's energy spent on the known sync pattern
MIN_FRAME_SIDE = 128


@dataclass(frozen=True)
class TileLayout:
    """The key's chip patterns (payload-independent): what the detector correlates against."""

    sync_chips: np.ndarray  # (TILE, TILE) +-1
    payload_chips: np.ndarray  # (TILE, TILE) +-1 spreading sequence
    bit_of_chip: np.ndarray  # (TILE, TILE) which channel bit each chip carries, balanced over CODE_BITS


def _signs(secret: bytes, label: str) -> np.ndarray:
    bits = np.unpackbits(np.frombuffer(derive_bytes(secret, label, TILE * TILE // 8), np.uint8))
    return (1.0 - 2.0 * bits).astype(np.float32).reshape(TILE, TILE)


@lru_cache(maxsize=16)
def tile_layout(secret: bytes) -> TileLayout:
    check_secret(secret)
    order = np.frombuffer(derive_bytes(secret, "bit-map", 4 * TILE * TILE), ">u4")
    bit_of_chip = np.empty(TILE * TILE, np.intp)
    bit_of_chip[np.argsort(order, kind="stable")] = np.arange(TILE * TILE) % CODE_BITS
    layout = TileLayout(_signs(secret, "sync"), _signs(secret, "payload"), bit_of_chip.reshape(TILE, TILE))
    for array in (layout.sync_chips, layout.payload_chips, layout.bit_of_chip):
        array.flags.writeable = False
    return layout


@lru_cache(maxsize=1)
def band_response() -> np.ndarray:
    """Zero-phase radial band-pass on the tile's 2-D DFT (real, symmetric: its own matched filter)."""
    freqs = np.fft.fftfreq(TILE)
    radius = np.hypot(freqs[:, None], freqs[None, :])
    rise = np.clip((radius - (BAND_LOW - BAND_TAPER)) / BAND_TAPER, 0.0, 1.0)
    fall = np.clip(((BAND_HIGH + BAND_TAPER) - radius) / BAND_TAPER, 0.0, 1.0)
    response = np.sin(0.5 * np.pi * np.minimum(rise, fall)) ** 2
    response.flags.writeable = False
    return response


def band_pass(tile: np.ndarray) -> np.ndarray:
    return np.fft.ifft2(np.fft.fft2(tile) * band_response()).real.astype(np.float32)


def watermark_tile(secret: bytes, payload_id: int) -> np.ndarray:
    """The (TILE, TILE) float32 unit-RMS tile that carries `payload_id` under `secret`."""
    layout = tile_layout(secret)
    bit_signs = 1.0 - 2.0 * encode_payload(secret, payload_id).astype(np.float32)
    chips = np.sqrt(SYNC_ENERGY) * layout.sync_chips + np.sqrt(1.0 - SYNC_ENERGY) * (
        layout.payload_chips * bit_signs[layout.bit_of_chip]
    )
    tile = band_pass(chips)
    return tile / np.sqrt(np.mean(tile**2))


def work_scale(height: int, width: int) -> float:
    """Working cells per frame pixel."""
    if min(height, width) < MIN_FRAME_SIDE:
        raise WatermarkError(f"frames must be at least {MIN_FRAME_SIDE} pixels on each side, got {width}x{height}")
    return WORK_SHORT / min(height, width)


def render_pattern(tile: np.ndarray, height: int, width: int) -> np.ndarray:
    """The tiled pattern sampled at every pixel of a `height` x `width` frame, float32 with unit RMS."""
    scale = work_scale(height, width)
    # Pixel centres mapped onto the working grid, folded into one tile; BORDER_WRAP keeps interpolation periodic.
    cells_x = np.mod((np.arange(width, dtype=np.float64) + 0.5) * scale - 0.5, TILE).astype(np.float32)
    cells_y = np.mod((np.arange(height, dtype=np.float64) + 0.5) * scale - 0.5, TILE).astype(np.float32)
    map_x = np.broadcast_to(cells_x[None, :], (height, width))
    map_y = np.broadcast_to(cells_y[:, None], (height, width))
    pattern = cv2.remap(tile, map_x, map_y, cv2.INTER_CUBIC, borderMode=cv2.BORDER_WRAP)
    return pattern / np.sqrt(np.mean(pattern.astype(np.float64) ** 2)).astype(np.float32)
