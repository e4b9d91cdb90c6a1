"""Contact sheet: one picture of the kept faces, labelled by track, for a person to review at a glance."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np

from swapcore import media
from swapcore.alignments import Alignments

_TRACK_COLOURS = [(66, 135, 245), (245, 135, 66), (80, 200, 120), (200, 80, 200), (230, 200, 60), (60, 200, 230)]


def contact_sheet(folder: Path, alignments: Alignments, thumb: int = 96, columns: int = 12, limit: int = 144) -> np.ndarray:
    """A grid of up to `limit` kept faces, evenly spread over the source, each tagged with its track id."""
    faces = [face for _, face in alignments.faces() if face.crop]
    if len(faces) > limit:
        faces = [faces[i] for i in np.linspace(0, len(faces) - 1, limit).round().astype(int)]
    rows = max(1, -(-len(faces) // columns))
    sheet = np.full((rows * thumb, min(columns, max(len(faces), 1)) * thumb, 3), 32, np.uint8)
    for n, face in enumerate(faces):
        tile = cv2.resize(media.read_image(folder / face.crop), (thumb, thumb), interpolation=cv2.INTER_AREA)
        colour = _TRACK_COLOURS[face.track % len(_TRACK_COLOURS)]
        cv2.rectangle(tile, (0, 0), (thumb - 1, thumb - 1), colour, 2)
        cv2.putText(tile, f"t{face.track}", (4, 14), cv2.FONT_HERSHEY_SIMPLEX, 0.4, colour, 1, cv2.LINE_AA)
        y, x = divmod(n, columns)
        sheet[y * thumb:(y + 1) * thumb, x * thumb:(x + 1) * thumb] = tile
    return sheet
