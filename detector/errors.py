"""The one error type of the detector: bad input a person can act on (the CLI prints it as one line)."""

from __future__ import annotations

from swapcore.errors import SwapcoreError


class DetectorError(SwapcoreError):
    """The video cannot be analysed (no faces, unreadable, bad calibration file)."""
