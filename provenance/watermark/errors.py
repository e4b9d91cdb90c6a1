"""The watermark's one error type, a `ProvenanceError` so the CLI prints it as one line."""

from __future__ import annotations

from provenance.errors import ProvenanceError


class WatermarkError(ProvenanceError):
    """A watermark key, payload or frame cannot be used (wrong size, unreadable key file, bad ID)."""
