"""Find where the tile lattice lies in a (possibly cropped, scaled, flipped) clip.

1. Every frame becomes a *residual* on the working grid: luma minus its 5x5 median, divided by its local RMS
   (so brightness and contrast changes cancel), clipped (so edges cannot dominate). Residuals are averaged
   over frames: the mark is the same in every frame, the picture is not.
2. Lattice: the repeated tile makes the residual's autocorrelation peak at the lattice periods. Peaks near the
   nominal period along each axis (and the nominal itself) give (period_x, period_y) pairs; peaks within
   `MAX_ANGLE` degrees of each axis, anywhere in the 2-D autocorrelation, give a rotated lattice's angle. At most
   `MAX_SCALE_HYPOTHESES` hypotheses in all, so the search's size stays a fixed Bonferroni factor.
3. For each hypothesis and for the mirrored picture, the residual is rotated back, resampled to period `TILE`, folded onto one
   tile, band-passed and circularly correlated with the sync chips: the peak gives the shift, its height over
   the norm of the folded tile gives a z-score.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import cv2
import numpy as np

from provenance.watermark.pattern import TILE, TileLayout, band_response, work_scale

MAX_SCALE_HYPOTHESES = 12  # lattice hypotheses (scale, and rotation where one is seen) tried per clip
# Periods are searched within [nominal / SCALE_RANGE, nominal * SCALE_RANGE]: a crop to 60 % of the frame,
# decoded at its own size, enlarges them 1.67x.
SCALE_RANGE = 1.75
MAX_ANGLE = 12.0  # degrees of rotation searched either way
# Rotated in place or rotated and resized, a clip keeps the nominal period on the working grid (its shorter side
# is always WORK_SHORT cells), so rotations are also scanned at the nominal period, every SCAN_STEP degrees (the
# sync peak holds to about +-0.3 degrees); the SCAN_DECODED best are decoded. This finds rotations whose
# autocorrelation peaks are too weak to estimate (after 360p + CRF 28).
SCAN_STEP = 0.5
SCAN_ANGLES = tuple(round(a * SCAN_STEP, 2) for a in range(-int(MAX_ANGLE / SCAN_STEP), int(MAX_ANGLE / SCAN_STEP) + 1)
                    if a != 0)
SCAN_DECODED = 2
_MIN_ANGLE = 0.3  # degrees under which a rotation is left to the axis-aligned hypotheses
_RMS_SIGMA = 2.0  # working cells: neighbourhood of the local RMS normalisation
_RMS_FLOOR = 0.5  # luma levels: keeps flat areas from amplifying quantisation noise
_CLIP = 3.0
_SAME_PERIOD = 0.004  # relative difference under which two period hypotheses count as one


@dataclass(frozen=True)
class Alignment:
    """One lattice hypothesis and the best shift found for it."""

    period_x: float  # tile period in working cells along the lattice's first axis, as seen in this clip
    period_y: float
    flipped: bool
    shift_x: float  # where the tile origin lies in the folded tile (sub-cell)
    shift_y: float
    z_score: float  # sync correlation peak over the norm of the band-limited folded tile
    angle: float = 0.0  # degrees the lattice is rotated in this clip (counter-clockwise on screen is negative)


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


def _lag_window(correlation: np.ndarray, reach: int) -> np.ndarray:
    """The autocorrelation at lags -reach..reach on both axes (row: dy, column: dx), from the FFT layout."""
    rows = np.r_[correlation.shape[0] - reach : correlation.shape[0], 0 : reach + 1]
    columns = np.r_[correlation.shape[1] - reach : correlation.shape[1], 0 : reach + 1]
    return correlation[np.ix_(rows, columns)]


def _rotated_peaks(window: np.ndarray, reach: int, nominal: float, axis_angle: float,
                   count: int = 8) -> list[tuple[float, float, float]]:
    """(angle in degrees, period, height) of the `count` highest autocorrelation peaks within MAX_ANGLE of
    `axis_angle` at a distance within SCALE_RANGE of `nominal`, refined to sub-cell."""
    dy, dx = np.mgrid[-reach : reach + 1, -reach : reach + 1].astype(np.float64)
    radius = np.hypot(dx, dy)
    angle = np.degrees(np.arctan2(dy, dx)) - axis_angle
    inside = (radius >= nominal / SCALE_RANGE) & (radius <= nominal * SCALE_RANGE) & (np.abs(angle) <= MAX_ANGLE)
    inside[[0, -1], :] = inside[:, [0, -1]] = False  # room for the sub-cell fit
    local_max = window == cv2.dilate(window.astype(np.float32), np.ones((3, 3), np.uint8))
    candidates = np.flatnonzero((inside & local_max).ravel())
    peaks = []
    for index in candidates[np.argsort(-window.ravel()[candidates])][:count]:
        row, column = np.unravel_index(index, window.shape)
        x = _parabolic_peak(window[row], column) - reach
        y = _parabolic_peak(window[:, column], row) - reach
        peaks.append((float(np.degrees(np.arctan2(y, x)) - axis_angle), float(np.hypot(x, y)), float(window[row, column])))
    return peaks


def _diagonals(window: np.ndarray, reach: int, along_x: tuple[float, float, float],
               along_y: tuple[float, float, float]) -> float:
    """The autocorrelation where a lattice with these two basis peaks puts its diagonal peaks (u + v, u - v):
    a real lattice has them too, a pair of noise peaks does not."""
    u = along_x[1] * np.array([np.cos(np.radians(along_x[0])), np.sin(np.radians(along_x[0]))])
    v = along_y[1] * np.array([-np.sin(np.radians(along_y[0])), np.cos(np.radians(along_y[0]))])
    total = 0.0
    for x, y in (u + v, u - v):
        column, row = int(round(x)) + reach, int(round(y)) + reach
        if 0 <= row < window.shape[0] and 0 <= column < window.shape[1]:
            total += float(window[row, column])
    return total


def rotation_hypotheses(mean_residual: np.ndarray, nominal: tuple[float, float]) -> list[tuple[float, float, float]]:
    """(period_x, period_y, angle) hypotheses of a rotated lattice, from the highest pair of autocorrelation peaks,
    one near each axis, that agree on the angle (within 1.5 degrees) and on the aspect (within 10 %), counting
    the diagonal peaks such a lattice also makes. Empty when the lattice looks axis-aligned or no pair is found."""
    reach = math.ceil(max(nominal) * SCALE_RANGE) + 2
    height, width = mean_residual.shape
    if 2 * reach >= min(height, width):
        return []
    window = _lag_window(_autocorrelation(mean_residual), reach)
    aspect = nominal[1] / nominal[0]
    smooth = cv2.GaussianBlur(window.astype(np.float32), (0, 0), 1.0)  # interpolation spreads a peak's energy
    pairs = [(x[2] + y[2] + _diagonals(smooth, reach, x, y), x, y)
             for x in _rotated_peaks(smooth, reach, nominal[0], 0.0)
             for y in _rotated_peaks(smooth, reach, nominal[1], 90.0)
             if abs(x[0] - y[0]) <= 1.5 and abs(y[1] / (x[1] * aspect) - 1) <= 0.1]
    if not pairs:
        return []
    _, along_x, along_y = max(pairs)
    angle = (along_x[0] + along_y[0]) / 2
    if abs(angle) < _MIN_ANGLE:
        return []
    # Peak positions in a smoothed 2-D autocorrelation are good to about 1 %; over the several periods folded
    # that is most of a cell, so the common period (and the nominal one) are tried at the angle too.
    common = (along_x[1] + along_y[1] / aspect) / 2
    candidates = [(common, common * aspect, angle), (*nominal, angle), (along_x[1], along_y[1], angle),
                  (common, common * aspect, along_x[0]), (common, common * aspect, along_y[0])]
    out: list[tuple[float, float, float]] = []
    for candidate in candidates:
        if all(max(abs(a - b) for a, b in zip(candidate, other)) > 0.05 for other in out):
            out.append(candidate)
    return out


def _add_unique(hypotheses: list[tuple[float, float]], candidate: tuple[float, float]) -> None:
    for period_x, period_y in hypotheses:
        if abs(candidate[0] / period_x - 1) < _SAME_PERIOD and abs(candidate[1] / period_y - 1) < _SAME_PERIOD:
            return
    hypotheses.append(candidate)


def scale_hypotheses(mean_residual: np.ndarray, nominal: tuple[float, float]) -> list[tuple[float, float, float]]:
    """Up to MAX_SCALE_HYPOTHESES (period_x, period_y, angle): nominal first, then a rotated lattice where the
    autocorrelation shows one, then axis-aligned lattice estimates, most likely first."""
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
    aligned = [(x, y, 0.0) for x, y in hypotheses]
    return (aligned[:1] + rotation_hypotheses(mean_residual, nominal) + aligned[1:])[:MAX_SCALE_HYPOTHESES]


def fold(image: np.ndarray, period_x: float, period_y: float, flipped: bool, angle: float = 0.0) -> np.ndarray:
    """Resample so the lattice is axis-aligned with period exactly TILE, optionally mirror, and sum all periods
    onto one tile."""
    height, width = image.shape
    scale_x, scale_y = TILE / period_x, TILE / period_y
    matrix = np.array([[scale_x, 0, 0.5 * scale_x - 0.5], [0, scale_y, 0.5 * scale_y - 0.5]], np.float64)
    out_width, out_height = math.ceil(width * scale_x), math.ceil(height * scale_y)
    if angle:
        # Undo the rotation, then scale: the lattice's axes land on the tile's; the picture's corners fix the
        # output's extent (where the tile origin falls is the shift search's job).
        turn = np.radians(-angle)
        linear = np.diag([scale_x, scale_y]) @ np.array([[np.cos(turn), -np.sin(turn)], [np.sin(turn), np.cos(turn)]])
        corners = np.array([[0, 0], [width, 0], [0, height], [width, height]], np.float64) @ linear.T
        matrix = np.column_stack([linear, -corners.min(0)])
        out_width, out_height = (math.ceil(v) for v in corners.max(0) - corners.min(0))
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
    return Alignment(periods[0], periods[1], flipped, shift_x, shift_y, z_score, periods[2] if len(periods) > 2 else 0.0)


def aligned_tile(spectrum: np.ndarray, alignment: Alignment) -> np.ndarray:
    """The band-limited folded tile shifted (sub-cell, via the DFT) so that chip (0, 0) sits at index (0, 0)."""
    frequencies = np.fft.fftfreq(TILE)
    phase = np.exp(2j * np.pi * (frequencies[:, None] * alignment.shift_y + frequencies[None, :] * alignment.shift_x))
    return np.fft.ifft2(spectrum * phase).real


def angle_scan(mean_residual: np.ndarray, layout: TileLayout, nominal: tuple[float, float]) -> list[tuple[Alignment, np.ndarray]]:
    """The SCAN_DECODED best (alignment, band-limited spectrum) over SCAN_ANGLES x both mirrors at the nominal
    period, by sync z-score."""
    found = []
    for angle in SCAN_ANGLES:
        for flipped in (False, True):
            spectrum = band_limited_spectrum(fold(mean_residual, *nominal, flipped, angle))
            found.append((locate(spectrum, layout, (*nominal, angle), flipped), spectrum))
    return sorted(found, key=lambda item: -item[0].z_score)[:SCAN_DECODED]


def sync_hypotheses_tested() -> int:
    """How many (shift, lattice, mirror) hypotheses a detection examines: the Bonferroni factor."""
    return TILE * TILE * (MAX_SCALE_HYPOTHESES + len(SCAN_ANGLES)) * 2
