"""Plugins of one kind found by name, Faceswap-style: one small file per plugin, registered by a decorator."""

from __future__ import annotations

from collections.abc import Callable
from typing import Generic, TypeVar

from swapcore.errors import SwapcoreError

Plugin = TypeVar("Plugin")


class Registry(Generic[Plugin]):
    def __init__(self, kind: str) -> None:
        self.kind = kind  # what an error message calls one: "face detector", "landmarker"
        self._factories: dict[str, Callable[..., Plugin]] = {}

    def register(self, name: str) -> Callable[[Callable[..., Plugin]], Callable[..., Plugin]]:
        def add(factory: Callable[..., Plugin]) -> Callable[..., Plugin]:
            self._factories[name] = factory
            return factory

        return add

    def create(self, name: str, **options) -> Plugin:
        if name not in self._factories:
            raise SwapcoreError(f"unknown {self.kind} {name!r}; available: {', '.join(self.available())}")
        return self._factories[name](**options)

    def available(self) -> list[str]:
        return sorted(self._factories)
