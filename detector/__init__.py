"""detector: cues, calibrated score and reports for suspected face swaps.

Public surface: `analyse(video, progress=...) -> Report` (write it with `report.write_json` / `write_html`).
The names load on first use, so the detector's small parts (the learned blend network, its fitting) import
without the whole analysis stack: the network is fitted on machines that have only numpy, SciPy, OpenCV and
torch.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from detector.analysis import analyse
    from detector.errors import DetectorError
    from detector.report import Report

__all__ = ["DetectorError", "Report", "analyse"]
_HOME = {"analyse": "detector.analysis", "DetectorError": "detector.errors", "Report": "detector.report"}


def __getattr__(name: str) -> Any:
    if name not in _HOME:
        raise AttributeError(f"module 'detector' has no attribute {name!r}")
    value = getattr(importlib.import_module(_HOME[name]), name)
    globals()[name] = value  # looked up once
    return value
