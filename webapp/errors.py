"""The errors an entry point shows a person as one line (CLI) or a failed job's reason (web), not a traceback.

Each core package has one root for the refusals a person can act on: `SwapcoreError` (media, alignments,
training, conversion), `ProvenanceError` (keys, manifests, custody, consent) and `DetectorError` (analysis).
Anything else is a bug and is logged with its traceback.
"""

from __future__ import annotations

from detector.errors import DetectorError
from provenance.errors import ProvenanceError
from swapcore.errors import SwapcoreError

USER_ERRORS: tuple[type[Exception], ...] = (SwapcoreError, ProvenanceError, DetectorError)
