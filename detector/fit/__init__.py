"""Fitting the detector's calibration: manipulated training clips made here, cached features, fit, evaluation."""

from pathlib import Path

# The reference and paste clips' face tracks and features (`detector.fit.reference`), and the learned network's
# out-of-fold values (`scripts/fit_blendnet.py score`).
DEFAULT_CACHE = Path.home() / ".cache" / "faceproof" / "detector-reference"
