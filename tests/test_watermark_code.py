"""Watermark payload coding and keys: no video needed."""

from __future__ import annotations

import math
import os
import stat

import numpy as np
import pytest

from provenance.watermark import ALPHA, WatermarkError, load_or_create_watermark_key
from provenance.watermark.code import (
    BCH_T,
    CODE_BITS,
    MAX_ID,
    agreement_tail,
    decode_payload,
    encode_payload,
    null_probability,
)

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
    assert decoded.null_probability < ALPHA


def test_soft_decoding_goes_beyond_t_at_full_confidence():
    """At ~2 dB per bit (up to 20 wrong bits of 125; BCH alone corrects 13, and the old Hamming-distance bound
    accepted at most 16) every read still gives the exact ID at a p-value the detector accepts."""
    rng = np.random.default_rng(2)
    bits = encode_payload(SECRET, 77)
    errors = []
    for _ in range(20):
        soft = 1.0 - 2.0 * bits + rng.normal(0.0, 0.8, CODE_BITS)
        decoded = decode_payload(SECRET, soft)
        assert decoded is not None and decoded.payload_id == 77 and decoded.null_probability < ALPHA / 16
        errors.append(decoded.distance)
    assert max(errors) > 16


def test_random_reads_never_yield_an_acceptable_id():
    rng = np.random.default_rng(3)
    decoded = [d for d in (decode_payload(SECRET, rng.standard_normal(CODE_BITS)) for _ in range(300)) if d]
    # OSD tries ~1,200 words per read, so about 1 in 55 random reads reaches *some* word with a valid 16-bit
    # check; none may look anywhere near significant.
    assert len(decoded) <= 20
    assert all(d.null_probability > 1e-3 for d in decoded)


def test_structured_reads_and_wrong_key_do_not_decode():
    for soft in (np.ones(CODE_BITS), -np.ones(CODE_BITS)):  # a flat frame reads as all-zero (or all-one) bits
        decoded = decode_payload(SECRET, soft)
        assert decoded is None or decoded.null_probability > ALPHA
    other = bytes(range(1, 33))
    decoded = decode_payload(other, _soft(encode_payload(SECRET, 5)))
    assert decoded is None or decoded.null_probability > ALPHA


def test_null_probability_is_exact():
    # Equal magnitudes: the Hamming-ball bound, 2^32 * sum_{i<=d} C(125, i) / 2^125.
    agree = np.ones(CODE_BITS, bool)
    agree[:BCH_T] = False
    expected = sum(math.comb(CODE_BITS, i) for i in range(BCH_T + 1)) * 2.0 ** (32 - CODE_BITS)
    assert null_probability(np.ones(CODE_BITS), agree) == pytest.approx(expected, rel=1e-9)
    # Disagreeing on weak bits is far less surprising than disagreeing on strong ones.
    soft = np.ones(CODE_BITS)
    soft[:BCH_T] = 0.2
    assert null_probability(soft, agree) < expected / 1e3
    # Brute force on a short read: P(sum of +-|x_i| with fair signs >= observed), enumerating every sign.
    rng = np.random.default_rng(4)
    small = np.round(rng.uniform(0.1, 1.0, 12) * 256) / 256
    small_agree = rng.random(12) < 0.7
    signs = 1 - 2 * ((np.arange(2**12)[:, None] >> np.arange(12)) & 1)
    scores = signs @ np.round(small / small.max() * 256)
    observed = np.where(small_agree, 1, -1) @ np.round(small / small.max() * 256)
    assert agreement_tail(small, small_agree) == pytest.approx(np.mean(scores >= observed))


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
