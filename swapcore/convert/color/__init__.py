"""Colour adjusters, Faceswap-style: one file per method, registered by name.

An adjuster makes the model's rendered face match the colour of the face it replaces, inside the face mask.
All work on aligned crops: `swapped` and `original` are float32 BGR in [0, 1] (S x S x 3), `mask` is float32
in [0, 1] (S x S); statistics are taken where the mask is above one half, and the result has the shape of
`swapped`. Adding a method is one file here plus its name in the import line at the bottom; the command line, the
web forms, the API and the jobs then offer it (their choices are read from here, see swapcore.options).
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from swapcore.errors import SwapcoreError

Adjuster = Callable[[np.ndarray, np.ndarray, np.ndarray], np.ndarray]
_REGISTRY: dict[str, Adjuster] = {}


def register(name: str) -> Callable[[Adjuster], Adjuster]:
    def add(adjuster: Adjuster) -> Adjuster:
        _REGISTRY[name] = adjuster
        return adjuster

    return add


def get(name: str) -> Adjuster:
    if name not in _REGISTRY:
        raise SwapcoreError(f"unknown colour method {name!r}; choose one of {', '.join(available())}")
    return _REGISTRY[name]


def available() -> list[str]:
    return sorted(_REGISTRY)


def inside(mask: np.ndarray) -> np.ndarray:
    """The pixels the statistics are taken over: the face proper, not its feathered edge."""
    region = mask > 0.5
    if not region.any():  # a degenerate mask (face at the frame's edge): fall back to the whole crop
        region = np.ones_like(region)
    return region


from swapcore.convert.color import avg_color, hist_match, none, reinhard, seamless  # noqa: E402,F401
