"""The log as static tiles (c2sp.org/tlog-tiles): `checkpoint`, `tile/<L>/<N>[.p/<W>]`, `tile/entries/<N>[.p/<W>]`.

A level-L tile holds up to 256 consecutive Merkle hashes of perfect subtrees of 256**L leaves (level 0: the leaf
hashes); an entry bundle holds the same 256 entries as uint16-length-prefixed bytes. Everything is derived from
a signed checkpoint's size, so a mirror or monitor rebuilds any root or proof from files alone, without
faceproof code.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from provenance.custody.checkpoint import checkpoint_note
from provenance.custody.log import CustodyLog
from provenance.custody.merkle import TreeLevels
from provenance.custody.records import Checkpoint, CustodyStore
from provenance.errors import CustodyError

WIDTH = 256
HEIGHT = 8  # tree levels per tile level: 256 = 2**8
MAX_ENTRY = 0xFFFF  # entry bundles prefix each entry with a uint16 length
ENTRIES = "entries"
_PATH = re.compile(r"^tile/(entries|0|[1-9][0-9]?)/((?:x[0-9]{3}/)*[0-9]{3})(?:\.p/([1-9][0-9]{0,2}))?$")


@dataclass(frozen=True)
class Tile:
    level: int | str  # a Merkle level, or ENTRIES for an entry bundle
    index: int
    width: int = WIDTH

    @property
    def path(self) -> str:
        digits = f"{self.index:03d}"
        digits = "0" * (-len(digits) % 3) + digits
        groups = [digits[i : i + 3] for i in range(0, len(digits), 3)]
        name = "/".join([f"x{group}" for group in groups[:-1]] + groups[-1:])
        return f"tile/{self.level}/{name}" + (f".p/{self.width}" if self.width < WIDTH else "")

    @property
    def hash_level(self) -> int:
        return 0 if self.level == ENTRIES else int(self.level)

    def leaf_range(self) -> tuple[int, int]:
        """The entries [start, end) this tile's hashes span."""
        span = WIDTH ** self.hash_level
        return self.index * WIDTH * span, (self.index * WIDTH + self.width) * span


def parse_tile_path(path: str) -> Tile:
    """The tile a canonical path names (3-digit groups, `x` before all but the last, no `.p/256`)."""
    match = _PATH.match(path)
    if match:
        level = match.group(1) if match.group(1) == ENTRIES else int(match.group(1))
        tile = Tile(level, int(match.group(2).replace("x", "").replace("/", "")), int(match.group(3) or WIDTH))
        if tile.hash_level <= 63 and tile.width <= WIDTH and tile.path == path:
            return tile
    raise CustodyError(f"not a tile path: {path!r}")


def tiles_for_size(size: int) -> Iterator[Tile]:
    """Every tile and entry bundle a tree of `size` entries is served as: the full ones, then the partial ones."""
    level, hashes = 0, size
    while hashes:
        for index in range(hashes // WIDTH):
            yield from _with_entries(Tile(level, index), level)
        if hashes % WIDTH:
            yield from _with_entries(Tile(level, hashes // WIDTH, hashes % WIDTH), level)
        level, hashes = level + 1, hashes // WIDTH


def _with_entries(tile: Tile, level: int) -> Iterator[Tile]:
    yield tile
    if level == 0:
        yield Tile(ENTRIES, tile.index, tile.width)


def covered(tile: Tile, size: int) -> bool:
    """Whether a tree of `size` entries has all of the tile's hashes (a partial tile may be asked for any width)."""
    return tile.leaf_range()[1] <= size


def tile_bytes(tile: Tile, levels: TreeLevels, store: CustodyStore, first: int = 0) -> bytes:
    """A tile's contents; `levels` holds the leaves from entry `first` on (the whole log, or just the tile's span)."""
    start, end = tile.leaf_range()
    if tile.level == ENTRIES:
        return b"".join(_bundled(entry.seq, entry.body) for entry in store.entries(start, end))
    height = HEIGHT * tile.hash_level
    offset = (start - first) >> height
    return b"".join(levels.levels[height][offset : offset + tile.width])


def _bundled(seq: int, body: bytes) -> bytes:
    if len(body) > MAX_ENTRY:
        raise CustodyError(f"entry {seq} is {len(body)} bytes: entry bundles hold entries up to {MAX_ENTRY} bytes")
    return len(body).to_bytes(2, "big") + body


def read_tile(log: CustodyLog, tile: Tile, size: int) -> bytes:
    """One tile of the tree at `size` (a signed checkpoint's), read from the store: what the web app serves."""
    if not covered(tile, size):
        raise CustodyError(f"{tile.path} is beyond the tree of {size} entries")
    start, end = tile.leaf_range()
    leaves = [] if tile.level == ENTRIES else [entry.leaf for entry in log.store.entries(start, end)]
    return tile_bytes(tile, TreeLevels(leaves), log.store, start)


def export_tiles(log: CustodyLog, directory: str | os.PathLike) -> Checkpoint:
    """Write the latest checkpoint's tiles, entry bundles and then the checkpoint itself (last, so a mirror never
    shows a checkpoint before its tiles). Full tiles already there are kept: they never change."""
    directory = Path(directory)
    checkpoint = log.latest_checkpoint()
    note = checkpoint_note(checkpoint, log.public_key)
    levels = log.tree_levels(checkpoint.size)
    for tile in tiles_for_size(checkpoint.size):
        target = directory / tile.path
        if tile.width == WIDTH and target.exists():
            continue
        target.parent.mkdir(parents=True, exist_ok=True)
        _write(target, tile_bytes(tile, levels, log.store))
    _write(directory / "checkpoint", note.encode())
    return checkpoint


def _write(target: Path, data: bytes) -> None:
    partial = target.with_name(f".{target.name}.partial")
    partial.write_bytes(data)
    os.replace(partial, target)
