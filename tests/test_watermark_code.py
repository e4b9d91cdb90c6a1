"""Watermark payload coding and keys: no video needed."""

from __future__ import annotations

import math
import os
import stat

import numpy as np
import pytest

from provenance.watermark import ALPHA, WatermarkError, load_or_create_watermark_key
from provenance.watermark.code import BCH_T, CODE_BITS, MAX_ID, decode_payload, encode_payload, null_probability

SECRET = bytes(range(32))


def _soft(bits: np.ndarray, flipped: np.ndarray = np.array([], int)) -> np.ndarray:
    soft = 1.0 - 2.0 * bits.astype(np.float64)
    soft[flipped] *= -0.5  # wrong and less confident, as real errors are
    return soft


@pytest.mark.parametrize("payload_id", [0, 1, 0xFACE2024, MAX_ID])
def test_round_trip_exact_id(payload_id):
    decoded = decode_payload(SECRET, _soft(encode_payload(SECRET, payload_id)))
    assert decoded is not None and decoded.payload_id == payload_id and decoded.distance == 0


def test_corrects_up_to_t_errors_and_counts_them():
    rng = np.random.default_rng(1)
    bits = encode_payload(SECRET, 123456789)
    flipped = rng.choice(CODE_BITS, BCH_T, replace=False)
    decoded = decode_payload(SECRET, _soft(bits, flipped))
    assert decoded.payload_id == 123456789
    assert decoded.distance == BCH_T
    assert decoded.null_probability == pytest.approx(null_probability(BCH_T))


def test_chase_uses_reliability_beyond_t():
    rng = np.random.default_rng(2)
    bits = encode_payload(SECRET, 77)
    flipped = rng.choice(CODE_BITS, BCH_T + 3, replace=False)
    decoded = decode_payload(SECRET, _soft(bits, flipped))
    assert decoded is not None and decoded.payload_id == 77 and decoded.distance == BCH_T + 3


def test_random_reads_never_yield_an_acceptable_id():
    rng = np.random.default_rng(3)
    accepted = [decode_payload(SECRET, rng.standard_normal(CODE_BITS)) for _ in range(400)]
    decoded = [d for d in accepted if d is not None]
    # Chase decodes a random word within distance <= t + 8 with probability < 1e-4: none expected in 400.
    assert len(decoded) <= 1
    assert all(d.null_probability > ALPHA for d in decoded)


def test_structured_reads_and_wrong_key_do_not_decode():
    assert decode_payload(SECRET, np.ones(CODE_BITS)) is None  # a flat frame reads as all-zero bits
    assert decode_payload(SECRET, -np.ones(CODE_BITS)) is None
    other = bytes(range(1, 33))
    assert decode_payload(other, _soft(encode_payload(SECRET, 5))) is None


def test_null_probability_is_the_hamming_ball_bound():
    expected = sum(math.comb(CODE_BITS, i) for i in range(BCH_T + 1)) * 2.0 ** (32 - CODE_BITS)
    assert null_probability(BCH_T) == pytest.approx(expected)
    assert null_probability(0) < null_probability(5) < null_probability(BCH_T) < 1e-10


@pytest.mark.parametrize("bad_id", [-1, MAX_ID + 1, 1.5])
def test_rejects_ids_outside_32_bits(bad_id):
    with pytest.raises(WatermarkError):
        encode_payload(SECRET, bad_id)


def test_rejects_keys_of_the_wrong_size():
    with pytest.raises(WatermarkError):
        encode_payload(b"short", 1)


def test_key_file_is_private_and_stable(tmp_path):
    path = tmp_path / "keys" / "watermark.key"
    first = load_or_create_watermark_key(path)
    assert len(first) == 32
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert load_or_create_watermark_key(path) == first
    os.chmod(path, 0o644)
    with pytest.raises(WatermarkError, match="readable by others"):
        load_or_create_watermark_key(path)
