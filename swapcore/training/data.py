"""Aligned face crops of one identity, decoded once into a uint8 tensor, with landmarks and a fixed hold-out.

A face folder is what extraction writes (`FOLDER/faces/*.png` + `FOLDER/alignments.json`, landmarks from the
alignments) or a plain folder of aligned PNGs (landmarks then assumed at the alignment template's positions).
Each face gets its face target and eye and mouth loss regions as maps, from its 68 points where extraction
found them (the same `components` geometry conversion masks with), else from its 5.
"""

from __future__ import annotations

import hashlib
import os
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np
import torch

from swapcore import alignments
from swapcore.errors import SwapcoreError
from swapcore.faces.align import alignment_matrix, check_alignment, crop_with, template, transform_points
from swapcore.faces.landmarks import LEFT_EYE, MOUTH, RIGHT_EYE
from swapcore.faces.parts import component_parts, fill_hulls, raised_brows
from swapcore.media import is_image
from swapcore.training.augment import regions_of

MIN_FACES = 8
DEFAULT_CENTERING = "face"


class FaceDataError(SwapcoreError):
    """A face folder is missing, empty, or its images do not match its alignments."""


@dataclass
class FaceSet:
    """One identity's faces at training size: `images` N x 3 x S x S uint8 RGB, `landmarks` N x 5 x 2 (px)."""

    name: str
    images: torch.Tensor
    landmarks: torch.Tensor
    holdout: torch.Tensor  # indices of faces never trained on, for previews and evaluation
    train: torch.Tensor  # indices of the faces training samples from
    data_sha256: str  # hash of the sorted (file name, content sha256) listing
    centering: str  # the alignment template's framing ("face", "head"): conversion must crop the same way
    regions: torch.Tensor | None = None  # N x 3 x S x S uint8: face target, eyes, mouth (None: drawn from the 5)
    dense: int = 0  # faces whose maps (and, aligned by 68 points, crops) come from their 68 points

    def __len__(self) -> int:
        return int(self.images.shape[0])


def _image_files(folder: Path) -> tuple[Path, list[Path]]:
    """The folder that holds the crops (`faces/` when present) and its images in name order."""
    crops = folder / "faces" if (folder / "faces").is_dir() else folder
    files = sorted(p for p in crops.iterdir() if p.is_file() and is_image(p))
    return crops, files


def _crop_landmarks(folder: Path, files: list[Path], crop_sizes: np.ndarray
                    ) -> tuple[np.ndarray, list[np.ndarray | None], str]:
    """The 5 landmarks and the 68 (None where unknown) in crop pixels and the centering, from the alignments file
    or else the "face" template."""
    if not (folder / alignments.FILENAME).is_file():
        five = template(1, DEFAULT_CENTERING)[None] * crop_sizes[:, None, None]
        return five, [None] * len(files), DEFAULT_CENTERING
    loaded = alignments.load(folder)
    faces = loaded.by_crop()
    missing = [p.name for p in files if p.name not in faces]
    if missing:
        raise FaceDataError(
            f"{folder}: {len(missing)} crops are not in alignments.json (first: {missing[0]}); "
            "re-run extraction or remove them"
        )
    centering = str(loaded.settings.get("centering", DEFAULT_CENTERING))
    dense = [None if faces[p.name].landmarks68 is None
             else transform_points(np.asarray(faces[p.name].landmarks68), faces[p.name].affine_matrix()) for p in files]
    return np.stack([faces[p.name].crop_landmarks() for p in files]), dense, centering


def _decode(path: Path, size: int, digest: hashlib._Hash) -> tuple[np.ndarray, int]:
    """The crop as RGB at `size` px, and its size on disk (to scale its landmarks)."""
    data = path.read_bytes()
    digest.update(f"{path.name}\t{hashlib.sha256(data).hexdigest()}\n".encode())
    image = cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_COLOR)
    if image is None:
        raise FaceDataError(f"{path}: not a readable image")
    if image.shape[0] != image.shape[1]:
        raise FaceDataError(f"{path}: aligned crops are square, this one is {image.shape[1]}x{image.shape[0]}")
    crop_size = image.shape[0]
    if crop_size != size:
        interpolation = cv2.INTER_AREA if crop_size > size else cv2.INTER_CUBIC
        image = cv2.resize(image, (size, size), interpolation=interpolation)
    return cv2.cvtColor(image, cv2.COLOR_BGR2RGB), crop_size


def holdout_indices(count: int, holdout: int) -> np.ndarray:
    """`holdout` faces spread evenly through the (name-sorted) set: fixed, so they survive a resume."""
    return np.unique(np.linspace(0, count - 1, holdout + 2).round().astype(int)[1:-1])


def _grown(points: np.ndarray, factor: float) -> np.ndarray:
    return points.mean(0) + (points - points.mean(0)) * factor


def dense_regions(dense: np.ndarray, size: int) -> np.ndarray:
    """3 x S x S uint8 maps from 68 crop points: the face target (Faceswap's `extended` mask, its training
    default: brows raised toward the forehead), the eyes (each eye's outline grown to take in lids and corners)
    and the mouth (the outer lip line, grown a little for the lips' edges)."""
    eyes = [_grown(dense[RIGHT_EYE], 1.8), _grown(dense[LEFT_EYE], 1.8)]
    maps = [fill_hulls(component_parts(raised_brows(dense)), size), fill_hulls(eyes, size),
            fill_hulls([_grown(dense[MOUTH][:12], 1.15)], size)]
    return (np.stack(maps) * 255).round().astype(np.uint8)


def _realigned(image: np.ndarray, five: np.ndarray, dense: np.ndarray, size: int, centering: str
               ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """A 5-point aligned crop moved to the 68-point alignment (a near-identity similarity), with its points."""
    matrix = alignment_matrix(five, dense, size, centering, "68")
    return crop_with(image, matrix, size), transform_points(five, matrix), transform_points(dense, matrix)


def load_faces(folder: str | os.PathLike, size: int, holdout: int = 4, alignment: str = "5") -> FaceSet:
    """Decode every aligned crop in `folder` at `size` px, aligned by 5 points or (where known) by 68.

    Raises FaceDataError when there is too little."""
    check_alignment(alignment)
    folder = Path(folder)
    if not folder.is_dir():
        raise FaceDataError(f"{folder}: no such folder of faces")
    crops, files = _image_files(folder)
    if len(files) < MIN_FACES + holdout:
        raise FaceDataError(f"{crops}: {len(files)} face images, training needs at least {MIN_FACES + holdout}")
    digest = hashlib.sha256()
    decoded = [_decode(p, size, digest) for p in files]
    images = np.stack([image for image, _ in decoded])
    crop_sizes = np.array([crop_size for _, crop_size in decoded], np.float64)
    landmarks, dense, centering = _crop_landmarks(folder, files, crop_sizes)
    landmarks = landmarks * (size / crop_sizes)[:, None, None]
    dense = [None if points is None else points * size / crop for points, crop in zip(dense, crop_sizes)]
    if alignment == "68":
        for n, points in enumerate(dense):
            if points is not None:
                images[n], landmarks[n], dense[n] = _realigned(images[n], landmarks[n], points, size, centering)
    five_maps = regions_of(torch.from_numpy(landmarks).float(), size).numpy()
    regions = np.stack([maps if points is None else dense_regions(points, size)
                        for maps, points in zip(five_maps, dense)])
    held = holdout_indices(len(files), holdout)
    train = np.setdiff1d(np.arange(len(files)), held)
    return FaceSet(
        name=folder.name,
        images=torch.from_numpy(images).permute(0, 3, 1, 2).contiguous(),
        landmarks=torch.from_numpy(landmarks).float(),
        holdout=torch.from_numpy(held),
        train=torch.from_numpy(train),
        data_sha256=digest.hexdigest(),
        centering=centering,
        regions=torch.from_numpy(regions),
        dense=sum(points is not None for points in dense),
    )
