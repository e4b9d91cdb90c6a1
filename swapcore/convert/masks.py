"""Which pixels of the rendered face replace the original: a mask kind from a registry keyed by name.

`hull` is the face polygon grown from the 5 points; `learned` is the model's own mask (hires); `learned+hull`
clips the one by the other; `components` and `extended` are Faceswap's landmark masks from the 68 points
(union of convex hulls of landmark groups; `extended` first raises the brows toward the forehead). A face known
by its 5 points only (a version-1 or `--landmarks mtcnn5` alignments file, faces detected during conversion)
gets the hull instead of a 68-point mask; the pipeline logs that it happened.

Masks are built in the aligned crop (S x S, float32 in [0, 1]); erosion and feathering happen later, in frame
pixels (see blend.py), so that they mean the same on a 64 px and a 256 px model.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from swapcore.errors import SwapcoreError
from swapcore.faces.align import face_outline
from swapcore.faces.parts import component_parts, fill_hulls, raised_brows

# (5 crop landmarks, 68 crop landmarks or None, learned mask or None, crop size) -> S x S mask
Builder = Callable[[np.ndarray, np.ndarray | None, np.ndarray | None, int], np.ndarray]


@dataclass(frozen=True)
class MaskKind:
    build: Builder
    learned: bool  # needs a model that learned a mask
    dense: bool  # needs the 68 points; faces without them get the hull


_REGISTRY: dict[str, MaskKind] = {}


def register(name: str, *, learned: bool = False, dense: bool = False) -> Callable[[Builder], Builder]:
    def add(build: Builder) -> Builder:
        _REGISTRY[name] = MaskKind(build, learned, dense)
        return build

    return add


def check_kind(kind: str, has_learned: bool) -> str:
    """The mask kind to use ("auto": learned+hull when the model learned a mask, else hull)."""
    if kind == "auto":
        return "learned+hull" if has_learned else "hull"
    if kind not in _REGISTRY:
        raise SwapcoreError(f"unknown mask {kind!r}; choose one of {', '.join(choices())}")
    if _REGISTRY[kind].learned and not has_learned:
        raise SwapcoreError(f"--mask {kind} needs a model with a learned mask (hires); this one has none: use hull")
    return kind


def choices() -> tuple[str, ...]:
    """The names a conversion's mask option takes: auto, then every registered kind."""
    return ("auto", *_REGISTRY)


def needs_dense(kind: str) -> bool:
    """Whether this mask kind is drawn from the 68 points (and falls back to the hull without them)."""
    return _REGISTRY[kind].dense


def hull_mask(landmarks: np.ndarray, size: int) -> np.ndarray:
    """The face polygon around the 5 crop landmarks (the same outline training weighted), filled.

    The same outline training weights (`swapcore.faces.align.face_outline`), so the swap covers exactly the
    region the model was taught to render.
    """
    polygon = face_outline(landmarks)
    return fill_hulls([polygon], size)


@register("hull")
def _hull(five: np.ndarray, dense: np.ndarray | None, learned: np.ndarray | None, size: int) -> np.ndarray:
    return hull_mask(five, size)


@register("learned", learned=True)
def _learned(five: np.ndarray, dense: np.ndarray | None, learned: np.ndarray | None, size: int) -> np.ndarray:
    assert learned is not None  # check_kind() refused learned masks for models without one
    return learned


@register("learned+hull", learned=True)
def _learned_hull(five: np.ndarray, dense: np.ndarray | None, learned: np.ndarray | None, size: int) -> np.ndarray:
    """The learned mask only inside the hull, which stops an under-trained mask from pasting background or hair."""
    assert learned is not None
    return learned * hull_mask(five, size)


@register("components", dense=True)
def _components(five: np.ndarray, dense: np.ndarray | None, learned: np.ndarray | None, size: int) -> np.ndarray:
    assert dense is not None  # face_mask() gives faces without 68 points the hull
    return fill_hulls(component_parts(dense), size)


@register("extended", dense=True)
def _extended(five: np.ndarray, dense: np.ndarray | None, learned: np.ndarray | None, size: int) -> np.ndarray:
    assert dense is not None
    return fill_hulls(component_parts(raised_brows(dense)), size)


def face_mask(kind: str, landmarks: np.ndarray, learned: np.ndarray | None, size: int,
              dense: np.ndarray | None = None) -> np.ndarray:
    """The crop-space mask of one face from its 5 crop landmarks, and its 68 when known.

    A 68-point kind given a face without 68 points draws the hull, the mask those faces had before.
    """
    chosen = _REGISTRY[kind]
    if chosen.dense and dense is None:
        chosen = _REGISTRY["hull"]
    return chosen.build(np.asarray(landmarks), dense, learned, size)
