"""The detector's error root: bad input a person can act on (the CLI prints it as one line).

Its own root, like `SwapcoreError` and `ProvenanceError` (entry points catch all three: `webapp.errors`). An
unreadable video still raises swapcore's `MediaError`, from the decoder that found it.
"""

from __future__ import annotations


class DetectorError(Exception):
    """The video cannot be analysed (no faces, unreadable, bad calibration file)."""
