"""The watermark registry: IDs are reserved once, bound once, never edited, and found again by ID."""

from __future__ import annotations

import sqlite3

import pytest

from provenance.errors import ProvenanceError
from provenance.registry import RegistryEntry, WatermarkRegistry


def _entry(watermark_id: int, name: str = "out.mp4") -> RegistryEntry:
    return RegistryEntry(watermark_id, name, "ab" * 32, "urn:c2pa:1234", "log-1", 7, 8, "cd" * 32)


@pytest.fixture
def registry(tmp_path) -> WatermarkRegistry:
    return WatermarkRegistry(tmp_path / "custody.sqlite3")


def test_allocated_ids_are_distinct_32_bit_and_reserved(registry):
    ids = [registry.allocate_id() for _ in range(50)]
    assert len(set(ids)) == 50 and all(0 <= i < 2**32 for i in ids)
    assert all(registry.is_reserved(i) for i in ids)


def test_record_then_lookup_survives_reopening(tmp_path):
    path = tmp_path / "custody.sqlite3"
    registry = WatermarkRegistry(path)
    watermark_id = registry.allocate_id()
    registry.record(_entry(watermark_id))
    found = WatermarkRegistry(path).lookup(watermark_id)
    assert found is not None and found.output_name == "out.mp4" and found.custody_seq == 7 and found.recorded_at
    assert WatermarkRegistry(path).lookup_output("ab" * 32)[0].watermark_id == watermark_id


def test_unknown_id_is_none_and_out_of_range_is_refused(registry):
    assert registry.lookup(12345) is None
    with pytest.raises(ProvenanceError, match="outside"):
        registry.lookup(2**32)


def test_an_id_is_reserved_once_and_bound_once(registry):
    registry.reserve(99)
    with pytest.raises(ProvenanceError, match="already in use"):
        registry.reserve(99)
    with pytest.raises(ProvenanceError, match="never allocated"):
        registry.record(_entry(100))
    registry.record(_entry(99))
    with pytest.raises(ProvenanceError, match="already bound"):
        registry.record(_entry(99, "other.mp4"))


def test_rows_cannot_be_edited_or_deleted(tmp_path):
    path = tmp_path / "custody.sqlite3"
    registry = WatermarkRegistry(path)
    registry.reserve(5)
    registry.record(_entry(5))
    database = sqlite3.connect(path)
    for statement in ("UPDATE watermark_records SET output_name = 'x'", "DELETE FROM watermark_ids"):
        with pytest.raises(sqlite3.DatabaseError, match="append-only"):
            database.execute(statement)
    assert registry.lookup(5).output_name == "out.mp4"
