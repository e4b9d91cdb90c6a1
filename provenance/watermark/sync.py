"""Find where the tile lattice lies in a (possibly cropped, scaled, flipped) clip.

1. Every frame becomes a *residual* on the working grid: luma minus its 5x5 median, divided by its local RMS
   (so brightness and contrast changes cancel), clipped (so edges cannot dominate). Residuals are averaged
   over frames: the mark is the same in every frame, the picture is not.
2. Scale: the repeated tile makes the residual's autocorrelation peak at the lattice periods. Peaks near the
   nominal period (and the nominal itself) give at most `MAX_SCALE_HYPOTHESES` (period_x, period_y) pairs.
3. For each pair and for the mirrored picture, the residual is resampled to period `TILE`, folded onto one
   tile, band-passed and circularly correlated with the sync chips: the peak gives the shift, its height over
   the norm of the folded tile gives a z-score.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import cv2
import numpy as np

from provenance.watermark.pattern import TILE, TileLayout, band_response, work_scale

MAX_SCALE_HYPOTHESES = 8
SCALE_RANGE = 1.4  # periods searched within [nominal / SCALE_RANGE, nominal * SCALE_RANGE]
_RMS_SIGMA = 2.0  # working cells: neighbourhood of the local RMS normalisation
_RMS_FLOOR = 0.5  # luma levels: keeps flat areas from amplifying quantisation noise
_CLIP = 3.0
_SAME_PERIOD = 0.004  # relative difference under which two period hypotheses count as one


@dataclass(frozen=True)
class Alignment:
    """One lattice hypothesis and the best shift found for it."""

    period_x: float  # tile period in working cells along x, as seen in this clip
    period_y: float
    flipped: bool
    shift_x: float  # where the tile origin lies in the folded tile (sub-cell)
    shift_y: float
    z_score: float  # sync correlation peak over the norm of the band-limited folded tile


def working_size(height: int, width: int) -> tuple[int, int]:
    scale = work_scale(height, width)
    return round(height * scale), round(width * scale)


def nominal_periods(height: int, width: int) -> tuple[float, float]:
    """Tile periods (x, y) on this frame size's working grid when the clip was not cropped or scaled."""
    scale = work_scale(height, width)
    work_height, work_width = working_size(height, width)
    return TILE * work_width / (width * scale), TILE * work_height / (height * scale)


def residual(frame_bgr: np.ndarray) -> np.ndarray:
    """The frame's normalised luma residual on the working grid (float32)."""
    height, width = frame_bgr.shape[:2]
    work_height, work_width = working_size(height, width)
    luma = cv2.cvtColor(frame_bgr, cv2.COLOR_BGR2GRAY)
    luma = cv2.resize(luma, (work_width, work_height), interpolation=cv2.INTER_AREA).astype(np.float32)
    # Minus the 5x5 median: the median keeps the picture's edges and smooth shading but not the noise-like
    # mark, so far less of the picture leaks into the residual than with a linear high-pass (measured on
    # 8 clips at 360p + CRF 28: raw bit errors at the found alignment 103 -> 49 in total, 6/8 -> 8/8 exact IDs;
    # a 3x3 mean was the previous choice; a bilateral filter did as well but depends on contrast). A median
    # commutes with a brightness/contrast change, so the normalised residual below barely moves with either.
    detail = luma - cv2.medianBlur(luma, 5)
    rms = cv2.sqrt(cv2.GaussianBlur(detail * detail, (0, 0), _RMS_SIGMA)) + _RMS_FLOOR
    return np.clip(detail / rms, -_CLIP, _CLIP)


def _autocorrelation(image: np.ndarray) -> np.ndarray:
    """Linear (zero-padded) autocorrelation divided by the overlap at each lag, 1 at lag 0."""
    height, width = image.shape
    spectrum = np.fft.rfft2(image - image.mean(), s=(2 * height, 2 * width))
    correlation = np.fft.irfft2(np.abs(spectrum) ** 2, s=(2 * height, 2 * width))
    lags_y = np.abs(np.fft.fftfreq(2 * height) * 2 * height)
    lags_x = np.abs(np.fft.fftfreq(2 * width) * 2 * width)
    overlap = np.maximum(height - lags_y, 1)[:, None] * np.maximum(width - lags_x, 1)[None, :]
    correlation /= overlap
    return correlation / correlation[0, 0]


def _parabolic_peak(values: np.ndarray, index: int) -> float:
    """Sub-sample position of a peak at `index`; unchanged when `index` is not a local maximum."""
    left, centre, right = values[index - 1], values[index], values[index + 1]
    curvature = left - 2 * centre + right
    if centre < max(left, right) or curvature >= 0:
        return float(index)
    return index + float(np.clip(0.5 * (left - right) / curvature, -0.5, 0.5))


def _period_candidates(profile: np.ndarray, nominal: float, count: int) -> list[float]:
    """The `count` strongest local maxima of an autocorrelation profile near `nominal`, sub-cell refined.

    A peak at P is confirmed (and its position sharpened) by the second lattice peak at 2P when it fits.
    """
    low = max(2, math.floor(nominal / SCALE_RANGE))
    high = min(len(profile) - 2, math.ceil(nominal * SCALE_RANGE))
    scored = []
    for lag in range(low, high + 1):
        if profile[lag] >= profile[lag - 1] and profile[lag] > profile[lag + 1]:
            second = 2 * lag
            window = profile[second - 2 : second + 3] if second + 3 < len(profile) else None
            support = float(window.max()) if window is not None else 0.0
            scored.append((float(profile[lag]) + support, lag, window is not None))
    scored.sort(reverse=True)
    periods = []
    for _, lag, has_second in scored[:count]:
        if has_second:
            second = 2 * lag - 2 + int(np.argmax(profile[2 * lag - 2 : 2 * lag + 3]))
            periods.append(_parabolic_peak(profile, second) / 2)
        else:
            periods.append(_parabolic_peak(profile, lag))
    return periods


def _lattice_profiles(mean_residual: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Autocorrelation along x (lags dx, summed over dy in -1..1) and along y, as 1-D profiles."""
    correlation = _autocorrelation(mean_residual)
    height, width = mean_residual.shape
    along_x = correlation[[-1, 0, 1], :width].sum(axis=0)
    along_y = correlation[:height, [-1, 0, 1]].sum(axis=1)
    return along_x, along_y


def _add_unique(hypotheses: list[tuple[float, float]], candidate: tuple[float, float]) -> None:
    for period_x, period_y in hypotheses:
        if abs(candidate[0] / period_x - 1) < _SAME_PERIOD and abs(candidate[1] / period_y - 1) < _SAME_PERIOD:
            return
    hypotheses.append(candidate)


def scale_hypotheses(mean_residual: np.ndarray, nominal: tuple[float, float]) -> list[tuple[float, float]]:
    """Up to MAX_SCALE_HYPOTHESES (period_x, period_y): nominal first, then lattice estimates, most likely first."""
    nominal_x, nominal_y = nominal
    along_x, along_y = _lattice_profiles(mean_residual)
    xs = _period_candidates(along_x, nominal_x, 2)
    ys = _period_candidates(along_y, nominal_y, 2)
    hypotheses = [nominal]
    aspect = nominal_y / nominal_x
    ordered = []
    if xs and ys:
        ordered.append((xs[0], ys[0]))
    ordered += [(x, x * aspect) for x in xs[:1]] + [(y / aspect, y) for y in ys[:1]]
    ordered += [(x, y) for x in xs for y in ys]
    ordered += [(x, x * aspect) for x in xs[1:]] + [(y / aspect, y) for y in ys[1:]]
    for candidate in ordered:
        _add_unique(hypotheses, candidate)
    return hypotheses[:MAX_SCALE_HYPOTHESES]


def fold(image: np.ndarray, period_x: float, period_y: float, flipped: bool) -> np.ndarray:
    """Resample so the lattice period is exactly TILE, optionally mirror, and sum all periods onto one tile."""
    height, width = image.shape
    scale_x, scale_y = TILE / period_x, TILE / period_y
    out_width, out_height = math.ceil(width * scale_x), math.ceil(height * scale_y)
    matrix = np.array([[scale_x, 0, 0.5 * scale_x - 0.5], [0, scale_y, 0.5 * scale_y - 0.5]], np.float64)
    warped = cv2.warpAffine(image, matrix, (out_width, out_height), flags=cv2.INTER_LINEAR, borderValue=0.0)
    if flipped:
        warped = warped[:, ::-1]
    padded = np.zeros((-(-out_height // TILE) * TILE, -(-out_width // TILE) * TILE), np.float32)
    padded[:out_height, :out_width] = warped
    return padded.reshape(padded.shape[0] // TILE, TILE, padded.shape[1] // TILE, TILE).sum(axis=(0, 2))


def band_limited_spectrum(folded: np.ndarray) -> np.ndarray:
    """DFT of the folded tile through the mark's band (the matched filter of the band-pass in `pattern`)."""
    return np.fft.fft2(folded) * band_response()


def _subcell_peak(surface: np.ndarray, row: int, column: int) -> tuple[float, float]:
    rows = surface[[(row - 1) % TILE, row, (row + 1) % TILE], column]
    columns = surface[row, [(column - 1) % TILE, column, (column + 1) % TILE]]
    return _parabolic_peak(columns, 1) - 1 + column, _parabolic_peak(rows, 1) - 1 + row


def locate(spectrum: np.ndarray, layout: TileLayout, periods: tuple[float, float], flipped: bool) -> Alignment:
    """The sync correlation peak of one folded tile (given as its band-limited spectrum)."""
    surface = np.fft.ifft2(spectrum * np.conj(np.fft.fft2(layout.sync_chips))).real
    row, column = np.unravel_index(int(np.argmax(surface)), surface.shape)
    # Each surface value is sum_k sync_k * tile[k + shift]: linear in the key's +-1 sync chips, with weights of
    # norm ||tile|| whatever the shift, so value / ||tile|| is a unit-variance Rademacher sum without the mark.
    tile_norm = float(np.sqrt(np.sum(np.abs(spectrum) ** 2) / spectrum.size))
    z_score = float(surface[row, column] / tile_norm) if tile_norm > 0 else 0.0
    shift_x, shift_y = _subcell_peak(surface, int(row), int(column))
    return Alignment(periods[0], periods[1], flipped, shift_x, shift_y, z_score)


def aligned_tile(spectrum: np.ndarray, alignment: Alignment) -> np.ndarray:
    """The band-limited folded tile shifted (sub-cell, via the DFT) so that chip (0, 0) sits at index (0, 0)."""
    frequencies = np.fft.fftfreq(TILE)
    phase = np.exp(2j * np.pi * (frequencies[:, None] * alignment.shift_y + frequencies[None, :] * alignment.shift_x))
    return np.fft.ifft2(spectrum * phase).real


def sync_hypotheses_tested() -> int:
    """How many (shift, scale, mirror) hypotheses a detection examines: the Bonferroni factor."""
    return TILE * TILE * MAX_SCALE_HYPOTHESES * 2
