"""Extraction: video or images -> frames -> faces -> aligned crops + an alignments file + a contact sheet.

`extract()` is what the CLI (`faceproof extract`) and the web app's jobs call. It streams frames (one batch in
memory), writes into a hidden staging folder and renames it into place only when everything succeeded, so a
failure never leaves a half-written output folder. Given a custody log, the extraction is an operation in it
(`provenance.operation`): begun before any work, ended by an `extract` event naming the alignments it wrote.
"""

from __future__ import annotations

import hashlib
import math
import os
import re
import shutil
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from provenance.custody.log import AssetRef, CustodyLog, sha256_file
from provenance.operation import Custody, logged_operation
from provenance.work import exchange, sweep, work_path
from swapcore import __version__, media
from swapcore.alignments import Alignments, Face, Frame
from swapcore.errors import MediaError, SwapcoreError
from swapcore.faces import align, identity, landmarks, quality
from swapcore.faces.detectors import Detection, create
from swapcore.faces.select import move_to_rejected
from swapcore.faces.sheet import contact_sheet
from swapcore.faces.track import CutDetector, Tracker
from swapcore.options import option

Progress = Callable[[int, int], None]
FACES_DIR = "faces"
_BEST_PER_TRACK = 3  # faces per track whose identity embeddings are averaged
# dlib's 68 points give conversion its face outline and region masks. Its training data (iBUG 300-W) is licensed
# for non-commercial use only: `--landmarks mtcnn5` keeps just the detector's 5 points and needs no other model.
LANDMARKER = "dlib68"


@dataclass(frozen=True)
class ExtractResult:
    out_dir: Path
    alignments_path: Path
    contact_sheet: Path | None
    frames: int
    frames_with_faces: int
    faces: int
    tracks: int
    kept_tracks: list[int]
    seconds: float

    @property
    def frames_per_second(self) -> float:
        return self.frames / self.seconds if self.seconds else 0.0


@dataclass
class _Source:
    meta: dict
    total: int
    frames: Iterator[tuple[int, str, np.ndarray]]
    is_video: bool


def _safe_stem(name: str) -> str:
    """File-name stem reduced to a safe alphabet: user file names never become paths of their own."""
    return re.sub(r"[^A-Za-z0-9_-]+", "_", Path(name).stem)[:60] or "image"


def _open_video(path: Path, every: int) -> _Source:
    info = media.probe(path)
    meta = {
        "kind": "video", "path": str(path), "name": path.name, "sha256": sha256_file(path),
        "width": info.width, "height": info.height, "fps": float(info.fps), "frame_count": info.frame_count,
    }
    frames = ((i, f"frame_{i:06d}", frame) for i, frame in media.iter_frames(path, every=every, info=info))
    return _Source(meta, math.ceil(info.frame_count / every), frames, is_video=True)


def _open_images(paths: list[Path], every: int, meta: dict) -> _Source:
    chosen = paths[::every]
    skipped: list[dict] = meta.setdefault("skipped", [])

    def frames() -> Iterator[tuple[int, str, np.ndarray]]:
        for index, path in enumerate(chosen):
            try:
                image = media.read_image(path)
            except MediaError as exc:
                skipped.append({"name": path.name, "reason": str(exc)})
                continue
            yield index, f"{index:06d}_{_safe_stem(path.name)}", image

    return _Source(meta, len(chosen), frames(), is_video=False)


def open_source(source: Path, every: int) -> _Source:
    if source.is_dir():
        images = sorted(p for p in source.iterdir() if p.is_file() and media.is_image(p))
        if not images:
            raise MediaError(f"{source.name}: the folder holds no images ({', '.join(sorted(media.IMAGE_SUFFIXES))})")
        listing = hashlib.sha256("".join(f"{p.name}:{sha256_file(p)}\n" for p in images).encode()).hexdigest()
        return _open_images(images, every, {"kind": "images", "path": str(source), "name": source.name,
                                            "sha256": listing, "count": len(images)})
    if media.is_image(source):
        return _open_images([source], 1, {"kind": "image", "path": str(source), "name": source.name,
                                          "sha256": sha256_file(source) if source.is_file() else ""})
    return _open_video(source, every)


def _batches(source: _Source, batch: int) -> Iterator[list[tuple[int, str, np.ndarray]]]:
    """Group frames for the detector; a batch holds frames of one size only."""
    pending: list[tuple[int, str, np.ndarray]] = []
    for item in source.frames:
        if pending and (len(pending) == batch or pending[0][2].shape != item[2].shape):
            yield pending
            pending = []
        pending.append(item)
    if pending:
        yield pending


class _Collector:
    """Turns detections into aligned crops and records, remembering each track's best faces for identity."""

    def __init__(self, staging: Path, size: int, centering: str, tracker: Tracker) -> None:
        self.staging, self.size, self.centering, self.tracker = staging, size, centering, tracker
        self.frames: list[Frame] = []
        self.best: dict[int, list[tuple[float, np.ndarray, np.ndarray]]] = {}  # track -> (rank, crop rgb, box)

    def add(self, index: int, name: str, frame_bgr: np.ndarray, detections: list[Detection],
            shapes: list[landmarks.FaceShape]) -> None:
        ids = self.tracker.update(index, [d.box for d in detections], [d.landmarks for d in detections])
        faces = [self._face(name, n, frame_bgr, d, s, t)
                 for n, (d, s, t) in enumerate(zip(detections, shapes, ids, strict=True))]
        self.frames.append(Frame(index=index, name=name, faces=faces))

    def _face(self, name: str, number: int, frame_bgr: np.ndarray, det: Detection, shape: landmarks.FaceShape,
              track: int) -> Face:
        crop, matrix = align.align_face(frame_bgr, det.landmarks, self.size, self.centering)
        relative = f"{FACES_DIR}/{name}_{number}.png"
        media.write_image(self.staging / relative, crop)
        scores = quality.score_face(crop, det.box, det.score, det.landmarks)
        self._remember(track, scores.sharpness * scores.confidence, crop, det.box, matrix)
        return Face(
            box=[round(float(v), 2) for v in det.box], score=round(det.score, 5),
            landmarks=np.round(det.landmarks, 2).tolist(), affine=np.round(matrix, 6).tolist(),
            quality=scores, track=track, crop=relative,
            landmarks68=np.round(shape.points, 2).tolist() if shape.dense else None,
        )

    def _remember(self, track: int, rank: float, crop: np.ndarray, box: np.ndarray, matrix: np.ndarray) -> None:
        corners = align.transform_points(np.array([box[:2], [box[2], box[1]], box[2:], [box[0], box[3]]]), matrix)
        crop_box = np.concatenate([corners.min(0), corners.max(0)]).clip(0, self.size - 1)
        best = self.best.setdefault(track, [])
        best.append((rank, cv2.cvtColor(crop, cv2.COLOR_BGR2RGB), crop_box))
        best.sort(key=lambda item: -item[0])
        del best[_BEST_PER_TRACK:]


def _track_embeddings(best: dict[int, list[tuple[float, np.ndarray, np.ndarray]]]) -> dict[int, np.ndarray]:
    return {t: np.mean([identity.embed(rgb, box) for _, rgb, box in faces], axis=0) for t, faces in best.items()}


def _co_occurring(frames: list[Frame]) -> set[frozenset[int]]:
    pairs: set[frozenset[int]] = set()
    for frame in frames:
        ids = [f.track for f in frame.faces]
        pairs.update(frozenset((a, b)) for i, a in enumerate(ids) for b in ids[i + 1:])
    return pairs


def merge_tracks_by_identity(frames: list[Frame], embeddings: dict[int, np.ndarray]) -> dict[int, int]:
    """Join geometric tracks of one person (split by cuts or gaps) into identity tracks, numbered by size.

    Tracks that appear in the same frame are different people and never merge, whatever their embeddings say.
    """
    together = _co_occurring(frames)
    sizes: dict[int, int] = {}
    for frame in frames:
        for face in frame.faces:
            sizes[face.track] = sizes.get(face.track, 0) + 1
    groups: list[list[int]] = []
    for track in sorted(embeddings, key=lambda t: -sizes[t]):
        for group in groups:
            close = np.mean([identity.distance(embeddings[track], embeddings[g]) for g in group])
            if close < identity.SAME_PERSON_DISTANCE and not any(frozenset((track, g)) in together for g in group):
                group.append(track)
                break
        else:
            groups.append([track])
    groups.sort(key=lambda g: -sum(sizes[t] for t in g))
    return {track: new_id for new_id, group in enumerate(groups) for track in group}


def _reference_embedding(reference: Path, detector) -> np.ndarray:
    image = media.read_image(reference)
    rgb = cv2.cvtColor(image, cv2.COLOR_BGR2RGB)
    faces = detector.detect([rgb])[0]
    if not faces:
        raise SwapcoreError(f"{reference.name}: no face found in the reference image")
    largest = max(faces, key=lambda d: (d.box[2] - d.box[0]) * (d.box[3] - d.box[1]))
    return identity.embed(rgb, largest.box)


def _summarise_tracks(frames: list[Frame], embeddings: dict[int, np.ndarray], reference: np.ndarray | None) -> dict:
    tracks: dict[str, dict] = {}
    for frame in frames:
        for face in frame.faces:
            entry = tracks.setdefault(str(face.track), {"faces": 0, "first_frame": frame.index})
            entry["faces"] += 1
            entry["last_frame"] = frame.index
    for track_id, entry in tracks.items():
        entry["embedding"] = np.round(embeddings[int(track_id)], 5).tolist()
        if reference is not None:
            entry["reference_distance"] = round(identity.distance(embeddings[int(track_id)], reference), 4)
    return tracks


def _finalise_tracks(collector: _Collector, reference: np.ndarray | None) -> dict:
    raw = _track_embeddings(collector.best)
    mapping = merge_tracks_by_identity(collector.frames, raw)
    for frame in collector.frames:
        for face in frame.faces:
            face.track = mapping[face.track]
    merged: dict[int, list[np.ndarray]] = {}
    for old, new in mapping.items():
        merged.setdefault(new, []).append(raw[old])
    return _summarise_tracks(collector.frames, {t: np.mean(e, axis=0) for t, e in merged.items()}, reference)


def _apply_reference(alignments: Alignments, staging: Path, threshold: float) -> list[int]:
    keep = [int(t) for t, e in alignments.tracks.items() if e["reference_distance"] < threshold]
    if not keep:
        closest = min(e["reference_distance"] for e in alignments.tracks.values())
        raise SwapcoreError(
            f"no face in the input matches the reference (closest identity distance {closest:.2f}, "
            f"same person below {threshold})"
        )
    for _, face in alignments.faces():
        if face.track not in keep:
            distance = alignments.tracks[str(face.track)]["reference_distance"]
            move_to_rejected(staging, face, f"does not match the reference (identity distance {distance:.2f})")
    return keep


def _prepare_staging(out_dir: Path, overwrite: bool, log: CustodyLog | None) -> Path:
    if out_dir.exists() and any(out_dir.iterdir()) and not overwrite:
        raise SwapcoreError(f"{out_dir} already exists and is not empty (use --overwrite to replace it)")
    sweep(out_dir.parent, log)  # staging folders that killed extractions left here (with a log: their aborts)
    staging = work_path(out_dir, "partial", "")  # attributable to this process (provenance.work)
    shutil.rmtree(staging, ignore_errors=True)
    (staging / FACES_DIR).mkdir(parents=True)
    return staging


def _publish(staging: Path, out_dir: Path) -> None:
    """Swap the finished staging folder into place; an old output is removed only after that succeeded.

    Where the system can, the two are exchanged in one step: the output is never missing, and a kill before the
    clean-up leaves the old output under this process's work name, for the next sweep."""
    if out_dir.exists() and exchange(staging, out_dir):
        shutil.rmtree(staging)
        return
    previous = out_dir.parent / f".{out_dir.name}.old-{os.getpid()}"
    if out_dir.exists():
        os.replace(out_dir, previous)
    os.replace(staging, out_dir)
    shutil.rmtree(previous, ignore_errors=True)


@dataclass(frozen=True)
class ExtractSettings:
    every: int = option(1, minimum=1, maximum=100, web_default=6, label="Use every Nth frame",
                        help="use every Nth frame (6 is a good start)")
    size: int = option(256, minimum=64, maximum=512, label="Face crop size (px)", help="aligned crop size in pixels")
    centering: str = option("face", choices=lambda: tuple(align.CENTERINGS), web=False,
                            help="what the crop is centred on: the face, or the whole head")
    landmarker: str = option(LANDMARKER, choices=landmarks.available, flag="landmarks", web=False,
                             help=f"face landmarks stored beside the detector's 5 ({LANDMARKER}: dlib's 68 points, whose "
                                  "training data is licensed for non-commercial use only; mtcnn5 keeps the 5 points "
                                  "alone, and 68-point masks then fall back to the hull)")
    min_confidence: float = option(0.9, web=False, help="detector score to accept a face")
    min_face: int = option(40, web=False, help="smallest face to look for, in pixels")
    batch: int = option(1, web=False, help="frames per detector batch (larger helps on GPU)")
    device: str | None = option(None, web=False, help="torch device, e.g. cpu or cuda (default: cuda when present)")
    detector: str = "mtcnn"
    reference_threshold: float = identity.SAME_PERSON_DISTANCE  # identity distance that still counts as the reference


def extract(
    source: str | os.PathLike,
    out_dir: str | os.PathLike,
    settings: ExtractSettings = ExtractSettings(),
    *,
    reference: str | os.PathLike | None = None,
    overwrite: bool = False,
    progress: Progress | None = None,
    custody: Custody | None = None,
    **options: Any,
) -> ExtractResult:
    """Find, align and save every face of `source` (a video, an image, or a folder of images) into `out_dir`.

    Keyword `options` replace fields of `settings`. Its `landmarker` names a `swapcore.faces.landmarks` plugin:
    `dlib68` stores 68 points beside the detector's 5 (alignment still uses the 5), `mtcnn5` only the 5. With
    `custody` (what the CLI and web jobs pass), the extraction is logged as an operation of `custody.actor` from
    the source, and first sweeps with that log.
    """
    settings = replace(settings, **options)
    if not 64 <= settings.size <= 512:
        raise SwapcoreError(f"--size must be between 64 and 512 pixels, got {settings.size}")
    if settings.every < 1:
        raise SwapcoreError("--every must be at least 1")
    align.template(settings.size, settings.centering)  # validates the centering name before any work
    started = time.perf_counter()
    source, out_dir = Path(source), Path(out_dir)
    opened = open_source(source, settings.every)
    face_detector = create(settings.detector, device=settings.device, min_confidence=settings.min_confidence,
                           min_face=settings.min_face)
    face_landmarker = landmarks.create(settings.landmarker)
    reference_embedding = _reference_embedding(Path(reference), face_detector) if reference else None
    staging = _prepare_staging(out_dir, overwrite, custody.log if custody else None)
    source_name = (custody.source_name if custody else "") or source.name
    source_ref = (AssetRef(opened.meta["sha256"], source_name),) if opened.meta["sha256"] else ()
    try:
        with logged_operation(custody, "extract", source_ref, f"the faces of {source_name}") as operation:
            result = _run(opened, face_detector, face_landmarker, staging, settings, reference_embedding, progress)
            _publish(staging, out_dir)
            if operation:
                alignments = AssetRef(sha256_file(out_dir / "alignments.json"), f"{out_dir.name}/alignments.json")
                operation.end(outputs=(alignments,),
                              parameters={"faces": result["faces"], "frames": result["frames"],
                                          "tracks": result["tracks"], "every": settings.every})
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    return ExtractResult(out_dir=out_dir, alignments_path=out_dir / "alignments.json",
                         contact_sheet=out_dir / "contact_sheet.png" if result["faces"] else None,
                         seconds=time.perf_counter() - started, **result)


def _run(opened: _Source, face_detector, face_landmarker: landmarks.Landmarker, staging: Path, settings: ExtractSettings,
         reference: np.ndarray | None, progress: Progress | None) -> dict:
    size, centering, every = settings.size, settings.centering, settings.every
    fps = opened.meta.get("fps", 25.0)
    tracker = Tracker(max_gap=max(3 * every, int(fps)))
    cuts = CutDetector()
    collector = _Collector(staging, size, centering, tracker)
    done = 0
    for group in _batches(opened, settings.batch):
        rgb = [cv2.cvtColor(f, cv2.COLOR_BGR2RGB) for _, _, f in group]
        detections = face_detector.detect(rgb)
        for (index, name, frame), frame_rgb, found in zip(group, rgb, detections):
            if not opened.is_video or cuts.is_cut(frame):
                tracker.cut()  # unrelated stills, or a hard cut, never continue a track
            collector.add(index, name, frame, found, face_landmarker.locate(frame_rgb, found) if found else [])
        done += len(group)
        if progress:
            progress(done, max(opened.total, done))
    if not collector.frames:
        raise MediaError(f"{opened.meta['name']}: no frame could be read")
    tracks = _finalise_tracks(collector, reference) if collector.best else {}
    recorded = {"detector": face_detector.name, "landmarker": face_landmarker.name, "size": size, "centering": centering, "every": every,
                "template": np.round(align.template(size, centering), 3).tolist(), "faceproof": __version__}
    alignments = Alignments(source=opened.meta, settings=recorded, frames=collector.frames, tracks=tracks)
    kept_tracks = sorted(int(t) for t in tracks)
    if reference is not None and tracks:
        kept_tracks = _apply_reference(alignments, staging, settings.reference_threshold)
    alignments.save(staging / "alignments.json")
    faces = [f for _, f in alignments.faces()]
    if faces:
        media.write_image(staging / "contact_sheet.png", contact_sheet(staging, alignments))
    return {"frames": len(collector.frames), "frames_with_faces": sum(1 for f in collector.frames if f.faces),
            "faces": len(faces), "tracks": len(tracks), "kept_tracks": kept_tracks}
