"""The alignments file: what extraction found, per frame and per face, in a versioned JSON schema.

Written by extract, read by train (landmarks for masks and weighting) and by convert (the affine that puts a
face back). JSON, never pickle: it is read from user-supplied folders. `load` validates every field it relies
on and raises AlignmentsError with the path of the offending item.

Version 2 adds `landmarks68` per face (the 68-point iBUG 300-W layout, or null when the landmarker was `mtcnn5`)
and `settings.landmarker`. Version-1 files still load: their faces have no 68 points and their landmarker reads
as `mtcnn5`; saving one writes it as version 2.
"""

from __future__ import annotations

import json
import os
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from provenance.documents import read_json
from provenance.work import replace_atomically
from swapcore.errors import AlignmentsError
from swapcore.faces.landmarks import FaceShape

SCHEMA = "faceproof.alignments"
VERSION = 2
READABLE_VERSIONS = (1, 2)
FILENAME = "alignments.json"


@dataclass
class Quality:
    """Per-face quality scores used to sort and filter training data."""

    sharpness: float  # variance of the Laplacian of the aligned crop's grey levels
    size: float  # sqrt of the detection box area, in source pixels
    confidence: float  # detector score
    yaw: float  # degrees, estimated from landmarks; 0 = frontal
    pitch: float  # degrees, rough, from landmarks
    roll: float  # degrees, the in-plane angle of the eye line


@dataclass
class Face:
    box: list[float]  # x1, y1, x2, y2 in source pixels
    score: float
    landmarks: list[list[float]]  # 5 points: left eye, right eye, nose, mouth left, mouth right (source px)
    affine: list[list[float]]  # 2x3 matrix mapping source pixels to aligned-crop pixels
    quality: Quality
    track: int = -1
    crop: str | None = None  # path of the aligned crop, relative to the alignments file's folder
    kept: bool = True
    reason: str = ""  # why a face was dropped (filter, duplicate, reference mismatch, ...)
    landmarks68: list[list[float]] | None = None  # iBUG 300-W 68 points (source px); None: only the 5 are known

    def affine_matrix(self) -> np.ndarray:
        return np.asarray(self.affine, dtype=np.float64)

    def crop_landmarks(self) -> np.ndarray:
        """The 5 landmarks in aligned-crop pixel coordinates."""
        points = np.asarray(self.landmarks, dtype=np.float64)
        matrix = self.affine_matrix()
        return points @ matrix[:, :2].T + matrix[:, 2]

    def shape(self) -> FaceShape:
        """The face's densest landmarks in source pixels: the 68 points when extraction found them, else the 5."""
        return FaceShape(np.asarray(self.landmarks68 if self.landmarks68 is not None else self.landmarks, np.float64))


@dataclass
class Frame:
    index: int
    name: str  # image file name, or frame_000123 for video frames
    faces: list[Face] = field(default_factory=list)


@dataclass
class Alignments:
    source: dict[str, Any]  # path, sha256, kind (video|images), width, height, fps, frame_count
    settings: dict[str, Any]  # detector, size, centering, every, template ...
    frames: list[Frame] = field(default_factory=list)
    tracks: dict[str, dict[str, Any]] = field(default_factory=dict)

    def faces(self, kept_only: bool = True) -> list[tuple[Frame, Face]]:
        return [(fr, fa) for fr in self.frames for fa in fr.faces if fa.kept or not kept_only]

    def by_crop(self) -> dict[str, Face]:
        """Kept faces keyed by crop file name (what training looks faces up by)."""
        return {Path(fa.crop).name: fa for _, fa in self.faces() if fa.crop}

    def to_json(self) -> dict[str, Any]:
        return {"schema": SCHEMA, "version": VERSION, **asdict(self)}

    def save(self, path: str | os.PathLike) -> Path:
        """Write atomically: a reader sees the old file or the new one, never half of one."""
        path = Path(path)
        if path.is_dir():
            path = path / FILENAME
        text = json.dumps(self.to_json(), indent=1, allow_nan=False)
        return replace_atomically(path, lambda partial: partial.write_text(text))


def _require(condition: bool, where: str, what: str) -> None:
    if not condition:
        raise AlignmentsError(f"malformed alignments file: {where}: {what}")


def _numbers(value: Any, shape: tuple[int, ...], where: str) -> list:
    try:
        array = np.asarray(value, dtype=np.float64)
    except (TypeError, ValueError):
        raise AlignmentsError(f"malformed alignments file: {where}: expected numbers") from None
    _require(array.shape == shape, where, f"expected shape {shape}, got {array.shape}")
    _require(bool(np.isfinite(array).all()), where, "contains non-finite numbers")
    return array.tolist()


def _parse_face(raw: Any, where: str) -> Face:
    _require(isinstance(raw, dict), where, "expected an object")
    quality = raw.get("quality")
    _require(isinstance(quality, dict), f"{where}.quality", "missing")
    try:
        parsed_quality = Quality(**{k: float(quality[k]) for k in Quality.__dataclass_fields__})
    except (KeyError, TypeError, ValueError) as exc:
        raise AlignmentsError(f"malformed alignments file: {where}.quality: {exc}") from None
    dense = raw.get("landmarks68")
    crop = raw.get("crop")
    _require(crop is None or (isinstance(crop, str) and ".." not in Path(crop).parts), f"{where}.crop", "bad path")
    return Face(
        box=_numbers(raw.get("box"), (4,), f"{where}.box"),
        score=float(_numbers(raw.get("score"), (), f"{where}.score")),
        landmarks=_numbers(raw.get("landmarks"), (5, 2), f"{where}.landmarks"),
        affine=_numbers(raw.get("affine"), (2, 3), f"{where}.affine"),
        quality=parsed_quality,
        track=int(raw.get("track", -1)),
        crop=crop,
        kept=bool(raw.get("kept", True)),
        reason=str(raw.get("reason", "")),
        landmarks68=None if dense is None else _numbers(dense, (68, 2), f"{where}.landmarks68"),
    )


def parse(data: Any) -> Alignments:
    _require(isinstance(data, dict), "top level", "expected an object")
    _require(data.get("schema") == SCHEMA, "schema", f"expected {SCHEMA!r}, got {data.get('schema')!r}")
    version = data.get("version")
    if version not in READABLE_VERSIONS:
        readable = ", ".join(map(str, READABLE_VERSIONS))
        raise AlignmentsError(f"alignments schema version {version!r} is not supported (this faceproof reads {readable})")
    frames_raw = data.get("frames")
    _require(isinstance(frames_raw, list), "frames", "expected a list")
    frames = []
    for i, raw in enumerate(frames_raw):
        where = f"frames[{i}]"
        _require(isinstance(raw, dict) and isinstance(raw.get("faces"), list), where, "expected an object with faces")
        faces = [_parse_face(f, f"{where}.faces[{j}]") for j, f in enumerate(raw["faces"])]
        frames.append(Frame(index=int(raw.get("index", i)), name=str(raw.get("name", "")), faces=faces))
    source, settings = data.get("source"), data.get("settings")
    _require(isinstance(source, dict), "source", "expected an object")
    _require(isinstance(settings, dict), "settings", "expected an object")
    if version == 1:  # version 1 predates the landmark plugins: its points are the detector's own 5
        _require(all(f.landmarks68 is None for fr in frames for f in fr.faces), "frames", "68 points in a version-1 file")
        settings = {**settings, "landmarker": "mtcnn5"}
    tracks = data.get("tracks", {})
    _require(isinstance(tracks, dict), "tracks", "expected an object")
    return Alignments(source=source, settings=settings, frames=frames, tracks=tracks)


def load(path: str | os.PathLike) -> Alignments:
    """Read and validate an alignments file (or the one inside a folder)."""
    path = Path(path)
    if path.is_dir():
        path = path / FILENAME
    if not path.is_file():
        raise AlignmentsError(f"no alignments file at {path}")
    return parse(read_json(path, AlignmentsError))
