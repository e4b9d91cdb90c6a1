"""A tqdm progress bar shaped as the `progress(done, total)` callback that the core functions accept."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager

from tqdm import tqdm


@contextmanager
def progress_bar(description: str, unit: str = "frame") -> Iterator[Callable[[int, int], None]]:
    bar = tqdm(desc=description, unit=unit, dynamic_ncols=True)

    def update(done: int, total: int) -> None:
        bar.total = total
        bar.update(done - bar.n)

    try:
        yield update
    finally:
        bar.close()
