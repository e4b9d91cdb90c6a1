"""Model architectures, by name. Adding one is one file with a `SwapModel` subclass plus one line below."""

from __future__ import annotations

from typing import Any

from swapcore.errors import SwapcoreError
from swapcore.models.base import SwapModel, flops_per_example
from swapcore.models.hires import Hires
from swapcore.models.lite import Lite
from swapcore.models.original import Original

ARCHITECTURES: dict[str, type[SwapModel]] = {cls.name: cls for cls in (Original, Lite, Hires)}


class UnknownArchitectureError(SwapcoreError):
    """A model name that is not in the registry."""


def architecture(name: str) -> type[SwapModel]:
    if name not in ARCHITECTURES:
        raise UnknownArchitectureError(f"unknown model architecture {name!r}; choose one of {', '.join(ARCHITECTURES)}")
    return ARCHITECTURES[name]


def create(name: str, identities: int = 2, **config: Any) -> SwapModel:
    """A freshly initialised model of architecture `name` with one decoder per identity."""
    cls = architecture(name)
    try:
        return cls(identities=identities, **config)
    except (TypeError, ValueError) as exc:
        raise SwapcoreError(f"cannot build the {name} model: {exc}") from None


__all__ = ["ARCHITECTURES", "SwapModel", "UnknownArchitectureError", "architecture", "create", "flops_per_example"]
