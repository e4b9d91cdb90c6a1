"""detector: cues, calibrated score and reports for suspected face swaps.

Public surface: `analyse(video, progress=...) -> Report` (write it with `report.write_json` / `write_html`).
"""

from detector.analyse import analyse
from detector.errors import DetectorError
from detector.report import Report

__all__ = ["DetectorError", "Report", "analyse"]
