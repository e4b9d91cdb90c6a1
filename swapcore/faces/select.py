"""Sort and filter extracted faces so training data is varied rather than merely plentiful.

Dropped faces are never deleted: their crops move to `rejected/` and the alignments file records why, so a
person can look and put any of them back.
"""

from __future__ import annotations

import os
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from provenance.work import replace_atomically, sweep
from swapcore import alignments as alignments_file
from swapcore import media
from swapcore.alignments import Face
from swapcore.faces.sheet import contact_sheet

REJECTED_DIR = "rejected"


@dataclass(frozen=True)
class SelectResult:
    kept: int
    dropped: dict[str, int]  # reason category -> count


def move_to_rejected(folder: Path, face: Face, reason: str) -> None:
    face.kept, face.reason = False, reason
    if not face.crop:
        return
    target = Path(REJECTED_DIR) / Path(face.crop).name
    (folder / REJECTED_DIR).mkdir(exist_ok=True)
    if (folder / face.crop).exists():
        os.replace(folder / face.crop, folder / target)
    face.crop = target.as_posix()


def appearance(crop_bgr: np.ndarray) -> np.ndarray:
    """A 32x32 grey thumbnail, mean-removed and unit-length: cosine similarity of two is their likeness."""
    grey = cv2.cvtColor(cv2.resize(crop_bgr, (32, 32), interpolation=cv2.INTER_AREA), cv2.COLOR_BGR2GRAY)
    vector = grey.astype(np.float64).ravel()
    vector -= vector.mean()
    return vector / max(np.linalg.norm(vector), 1e-9)


def _rank(face: Face) -> float:
    return face.quality.sharpness * face.quality.confidence


def _most_diverse(descriptors: np.ndarray, count: int) -> list[int]:
    """Farthest-point sampling: start from the best face, repeatedly add the one least like those chosen."""
    chosen = [0]
    nearest = 1.0 - descriptors @ descriptors[0]
    while len(chosen) < min(count, len(descriptors)):
        pick = int(np.argmax(nearest))
        chosen.append(pick)
        nearest = np.minimum(nearest, 1.0 - descriptors @ descriptors[pick])
    return chosen


def select_faces(
    folder: str | os.PathLike,
    *,
    tracks: list[int] | None = None,
    min_size: float = 40.0,
    max_yaw: float = 55.0,
    min_sharpness: float = 0.3,
    dedupe: float = 0.97,
    max_faces: int | None = None,
) -> SelectResult:
    """Drop faces of other tracks, tiny, extreme-pose, blurry (below `min_sharpness` x the median) and
    near-duplicate ones (appearance similarity above `dedupe`), then keep the `max_faces` most varied."""
    folder = Path(folder)
    sweep(folder, None)  # what a killed sort or extraction left half-written here
    data = alignments_file.load(folder)
    dropped: Counter[str] = Counter()

    def drop(face: Face, category: str, detail: str) -> None:
        move_to_rejected(folder, face, detail)
        dropped[category] += 1

    faces = [face for _, face in data.faces()]
    for face in faces:
        if tracks is not None and face.track not in tracks:
            drop(face, "other track", f"track {face.track} not selected")
        elif face.quality.size < min_size:
            drop(face, "too small", f"face {face.quality.size:.0f}px < {min_size:.0f}px")
        elif abs(face.quality.yaw) > max_yaw:
            drop(face, "extreme pose", f"yaw {face.quality.yaw:.0f} deg beyond {max_yaw:.0f}")
    faces = [f for f in faces if f.kept]
    if faces:
        floor = min_sharpness * float(np.median([f.quality.sharpness for f in faces]))
        for face in faces:
            if face.quality.sharpness < floor:
                drop(face, "blurry", f"sharpness {face.quality.sharpness:.0f} < {floor:.0f}")
    faces = sorted((f for f in faces if f.kept), key=_rank, reverse=True)
    descriptors = np.array([appearance(media.read_image(folder / f.crop)) for f in faces]).reshape(len(faces), -1)
    unique: list[int] = []
    for i, face in enumerate(faces):
        if unique and float(np.max(descriptors[unique] @ descriptors[i])) > dedupe:
            drop(face, "near-duplicate", f"near-duplicate (similarity above {dedupe})")
        else:
            unique.append(i)
    if max_faces is not None and len(unique) > max_faces:
        chosen = {unique[j] for j in _most_diverse(descriptors[unique], max_faces)}
        for i in unique:
            if i not in chosen:
                drop(faces[i], "diversity", f"not among the {max_faces} most varied faces")
    data.save(folder)
    kept = sum(1 for _ in data.faces())
    if kept:
        sheet = contact_sheet(folder, data)
        replace_atomically(folder / "contact_sheet.png", lambda partial: media.write_image(partial, sheet))
    return SelectResult(kept=kept, dropped=dict(dropped))
