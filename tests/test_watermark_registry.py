"""The watermark registry: IDs are reserved once, bound once, never edited, and found again by ID."""

from __future__ import annotations

import sqlite3

import pytest

from provenance.errors import ProvenanceError
from provenance.registry import RegistryEntry, WatermarkRegistry


def _entry(watermark_id: int, name: str = "out.mp4", label: str = "urn:c2pa:1234") -> RegistryEntry:
    return RegistryEntry(watermark_id, name, "ab" * 32, label, "log-1", 7, 8, "cd" * 32)


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
    registry.reserve(6)
    registry.record(_entry(6, "six.mp4", "urn:c2pa:six"), b"store six")
    for statement in ("UPDATE watermark_records SET output_name = 'x'", "DELETE FROM watermark_ids",
                      "UPDATE manifest_stores SET store = x'00'", "DELETE FROM manifest_stores"):
        with pytest.raises(sqlite3.DatabaseError, match="append-only"):
            database.execute(statement)
    assert registry.lookup(5).output_name == "out.mp4"
    assert registry.manifest_of(6).store == b"store six"


def test_a_manifest_store_is_kept_with_its_record_or_not_at_all(tmp_path):
    path = tmp_path / "custody.sqlite3"
    registry = WatermarkRegistry(path)
    for watermark_id in (1, 2, 3):
        registry.reserve(watermark_id)
    registry.record(_entry(1, "one.mp4", "urn:c2pa:one"), b"jumbf of one")
    registry.record(_entry(2, "two.mp4", "urn:c2pa:two"))  # sealed before stores were kept: a record, no store
    reopened = WatermarkRegistry(path)
    kept = reopened.manifest_of(1)
    assert (kept.watermark_id, kept.manifest_label, kept.store) == (1, "urn:c2pa:one", b"jumbf of one")
    assert reopened.manifest_labelled("urn:c2pa:one") == kept
    assert reopened.manifest_of(2) is None and reopened.manifest_labelled("urn:c2pa:two") is None
    assert reopened.manifest_of(3) is None and reopened.manifest_labelled("urn:c2pa:none") is None
    # A store whose manifest label is already kept fails after the record's row went in: neither stays.
    with pytest.raises(ProvenanceError, match="already bound"):
        registry.record(_entry(3, "three.mp4", "urn:c2pa:one"), b"jumbf of three")
    assert registry.lookup(3) is None and registry.manifest_of(3) is None
    registry.record(_entry(3, "three.mp4", "urn:c2pa:three"), b"jumbf of three")  # and the ID is still free
    assert reopened.manifest_of(3).store == b"jumbf of three"
    reopened.close()
