"""The log as static tiles (c2sp.org/tlog-tiles): paths and shapes as the spec gives them, a log rebuilt from
exported files alone (read with the independent reader) gives its checkpoint's root, and the web API serves the
same bytes, entry bundles only to staff."""

from __future__ import annotations

import hashlib
import io
from pathlib import Path

import pytest
from django.core.management import call_command

from provenance.custody.log import AssetRef, Event
from provenance.custody.tiles import ENTRIES, Tile, parse_tile_path, tiles_for_size
from provenance.errors import CustodyError
from tests import signed_note_reference as reference
from tests.web_fixtures import *  # noqa: F403  (fixtures)
from tests.web_fixtures import client_for

EVENTS = 700  # two full level-0 tiles, a partial one of 188 and a partial level-1 tile of 2


def _run(*args: str) -> str:
    out = io.StringIO()
    call_command(*args, stdout=out)
    return out.getvalue()


def test_paths_and_shapes_are_the_specs():
    assert Tile(0, 1234067).path == "tile/0/x001/x234/067" == reference.tile_path(0, 1234067)
    assert Tile(ENTRIES, 5, 112).path == "tile/entries/005.p/112"
    assert parse_tile_path("tile/2/x001/x234/067.p/8") == Tile(2, 1234067, 8)
    for bad in ("tile/0/1234067", "tile/0/x000/005", "tile/0/005.p/256", "tile/0/005.p/0", "tile/64/000", "tile/00/000",
                "checkpoint/../tile/0/000"):
        with pytest.raises(CustodyError):
            parse_tile_path(bad)
    # "a tree of size 70,000 will be represented by 273 full level 0 tiles, one partial level 0 tile of width 112,
    # one full level 1 tile, one partial level 1 tile of width 17, and one partial level 2 tile of width 1"
    shapes = [(t.level, t.width) for t in tiles_for_size(70_000) if t.level != ENTRIES]
    assert shapes == [(0, 256)] * 273 + [(0, 112), (1, 256), (1, 17), (2, 1)]
    assert [(t.level, t.width) for t in tiles_for_size(256)] == [(0, 256), (ENTRIES, 256), (1, 1)]


def _log_with_events(count: int, start: int = 0) -> None:
    from provenance.installation import Installation

    Installation.from_environment().keys()
    log = Installation.from_environment().custody_log(writable=True)
    try:
        for first in range(start, start + count, 100):
            log.append_many([Event(kind="ingest", actor=f"tiles@studio-{seq % 3}", reason=f"clip {seq}",
                                   outputs=(AssetRef(hashlib.sha256(str(seq).encode()).hexdigest(), f"{seq}.mp4"),))
                             for seq in range(first, min(start + count, first + 100))])
    finally:
        log.store.close()


def _rebuild(directory: Path, vkey: str) -> tuple[int, bytes, list[bytes]]:
    """Size, root and entries of the log from its files alone, every tile checked against the ones below it."""
    text, _ = reference.open_signed_note((directory / "checkpoint").read_bytes(), [vkey])
    _, size, root = reference.read_checkpoint(text)
    leaves, entries = [], []
    for index in range(-(-size // 256)):
        width = min(256, size - index * 256)
        tile = (directory / reference.tile_path(0, index, width)).read_bytes()
        bundle = (directory / reference.tile_path("entries", index, width)).read_bytes()
        hashes = [tile[i:i + 32] for i in range(0, len(tile), 32)]
        while bundle:
            length = int.from_bytes(bundle[:2], "big")
            entries.append(bundle[2:2 + length])
            bundle = bundle[2 + length:]
        assert hashes == [hashlib.sha256(b"\x00" + e).digest() for e in entries[index * 256:]]
        leaves += hashes
    level1 = (directory / reference.tile_path(1, 0, size // 256)).read_bytes()
    assert [level1[i:i + 32] for i in range(0, len(level1), 32)] == [
        reference.mth(leaves[i:i + 256]) for i in range(0, size // 256 * 256, 256)]
    assert reference.mth(leaves) == root
    return size, root, entries


def test_a_log_rebuilt_from_exported_tiles_has_the_checkpoints_root(monkeypatch, tmp_path):
    monkeypatch.setenv("FACEPROOF_KEY_PASSPHRASE", "tiles")
    _log_with_events(EVENTS)
    vkey = _run("custody", "checkpoint", "--vkey").strip()
    mirror = tmp_path / "mirror"
    assert "tiles of 700 entries" in _run("custody", "export-tiles", str(mirror))
    size, root, entries = _rebuild(mirror, vkey)
    assert size == EVENTS and b'"reason":"clip 699"' in entries[-1]
    full_tile = mirror / "tile/0/000"
    before = full_tile.stat().st_mtime_ns
    _log_with_events(100, EVENTS)  # the mirror follows the log: full tiles stay, the new partial ones come
    _run("custody", "export-tiles", str(mirror))
    assert full_tile.stat().st_mtime_ns == before and _rebuild(mirror, vkey)[0] == EVENTS + 100


@pytest.mark.django_db
def test_web_api_serves_tiles_to_auditors_and_entries_to_staff(web, members, outsider, tmp_path):
    _log_with_events(300)
    mirror = tmp_path / "mirror"
    _run("custody", "export-tiles", str(mirror))
    auditor = client_for(members["auditor"])
    response = auditor.get("/api/custody/tlog/checkpoint")
    assert response.status_code == 200 and response.content == (mirror / "checkpoint").read_bytes()
    assert response["Content-Type"] == "text/plain; charset=utf-8"
    for path in ("tile/0/000", "tile/0/001.p/44", "tile/1/000.p/1", "tile/0/000.p/10"):
        served = auditor.get(f"/api/custody/tlog/{path}")
        expected = (mirror / path).read_bytes() if (mirror / path).exists() else (mirror / "tile/0/000").read_bytes()[:320]
        assert served.status_code == 200 and served.content == expected, path
    assert auditor.get("/api/custody/tlog/tile/entries/000").status_code == 403
    assert auditor.get("/api/custody/tlog/tile/0/002").status_code == 404  # beyond the tree
    assert auditor.get("/api/custody/tlog/tile/0/0").status_code == 404
    assert client_for(outsider).get("/api/custody/tlog/checkpoint").status_code == 403  # a producer
    members["auditor"].is_staff = True
    members["auditor"].save()
    entries = auditor.get("/api/custody/tlog/tile/entries/001.p/44")
    assert entries.status_code == 200 and entries.content == (mirror / "tile/entries/001.p/44").read_bytes()
