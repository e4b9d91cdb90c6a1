"""Payload <-> channel bits: a 32-bit ID, a keyed 16-bit check, BCH(125, 48, t=13) and a keyed whitening word.

Layout of the 125 channel bits: 48 data bits (ID big-endian, then the check) followed by the 77 BCH parity
bits, all XORed with a keyed word. Whitening makes an all-zero / all-one or otherwise structured read (a flat
frame, an unmarked clip) land on a random-looking word; the check makes a random word that BCH happens to
"correct" fail anyway. `null_probability` says how likely a random word is to decode at a given distance.
"""

from __future__ import annotations

import hashlib
import hmac
import math
from dataclasses import dataclass
from functools import lru_cache
from itertools import combinations

import bchlib
import numpy as np

from provenance.watermark.errors import WatermarkError
from provenance.watermark.keys import derive_bytes

ID_BITS = 32
CHECK_BITS = 16
DATA_BITS = ID_BITS + CHECK_BITS
BCH_M = 7
BCH_T = 13  # over GF(2^7) t=13 costs the same 77 parity bits as t=12
PARITY_BITS = 77
CODE_BITS = DATA_BITS + PARITY_BITS
MAX_ID = 2**ID_BITS - 1
# Chase-2 soft decoding: also try flipping every subset of this many least reliable bits.
CHASE_BITS = 8


@lru_cache(maxsize=1)
def _bch() -> bchlib.BCH:
    bch = bchlib.BCH(BCH_T, m=BCH_M)
    assert bch.ecc_bits == PARITY_BITS, "bchlib chose a different code than the one this format defines"
    return bch


def check_id(payload_id: int) -> int:
    if not isinstance(payload_id, int) or not 0 <= payload_id <= MAX_ID:
        raise WatermarkError(f"a watermark ID is an integer in [0, {MAX_ID}], got {payload_id!r}")
    return payload_id


def _check_word(secret: bytes, id_bytes: bytes) -> bytes:
    check_key = derive_bytes(secret, "check", 32)
    return hmac.new(check_key, id_bytes, hashlib.sha256).digest()[: CHECK_BITS // 8]


@lru_cache(maxsize=16)
def whitening_bits(secret: bytes) -> np.ndarray:
    bits = np.unpackbits(np.frombuffer(derive_bytes(secret, "whitening", 16), np.uint8))[:CODE_BITS]
    bits.flags.writeable = False
    return bits


def _bch_parity(data: bytes) -> np.ndarray:
    return np.unpackbits(np.frombuffer(_bch().encode(data), np.uint8))[:PARITY_BITS]


def encode_payload(secret: bytes, payload_id: int) -> np.ndarray:
    """The 125 channel bits (uint8 0/1) that carry `payload_id` under this key."""
    id_bytes = check_id(payload_id).to_bytes(ID_BITS // 8, "big")
    data = id_bytes + _check_word(secret, id_bytes)
    bits = np.concatenate([np.unpackbits(np.frombuffer(data, np.uint8)), _bch_parity(data)])
    return bits ^ whitening_bits(secret)


def null_probability(distance: int) -> float:
    """P(a uniformly random 125-bit word lies within `distance` of one of the 2^32 valid words).

    Union bound: 2^32 valid codewords, each with a Hamming ball of sum_{i<=d} C(125, i) words, over 2^125.
    """
    ball = sum(math.comb(CODE_BITS, i) for i in range(distance + 1))
    return min(1.0, ball * 2.0 ** (ID_BITS - CODE_BITS))


@dataclass(frozen=True)
class DecodedPayload:
    payload_id: int
    distance: int  # Hamming distance between the hard read and the accepted codeword
    null_probability: float  # chance that a random read decodes this well (see null_probability)


def _try_bch(secret: bytes, hard: np.ndarray) -> tuple[int, np.ndarray] | None:
    """(ID, codeword bits) when `hard` (unwhitened) is within t of a valid word, else None.

    bchlib can report success on words it cannot really correct (duplicate or out-of-range error locations), so
    the result is re-encoded and checked, never trusted as reported.
    """
    data = bytearray(np.packbits(hard[:DATA_BITS]).tobytes())
    parity = bytearray(np.packbits(np.concatenate([hard[DATA_BITS:], np.zeros(96 - PARITY_BITS, np.uint8)])))
    if _bch().decode(data, parity) < 0:
        return None
    _bch().correct(data, parity)
    corrected = np.concatenate([np.unpackbits(np.frombuffer(bytes(data), np.uint8)), _bch_parity(bytes(data))])
    if np.count_nonzero(corrected != hard) > BCH_T:
        return None
    id_bytes, check = bytes(data[: ID_BITS // 8]), bytes(data[ID_BITS // 8 :])
    if not hmac.compare_digest(check, _check_word(secret, id_bytes)):
        return None
    return int.from_bytes(id_bytes, "big"), corrected


def _chase_patterns(soft: np.ndarray) -> list[np.ndarray]:
    """Bit positions to flip before each BCH attempt: none, then subsets of the least reliable bits."""
    weakest = np.argsort(np.abs(soft), kind="stable")[:CHASE_BITS]
    return [np.array(subset, dtype=np.intp) for size in range(CHASE_BITS + 1) for subset in combinations(weakest, size)]


def decode_payload(secret: bytes, soft: np.ndarray) -> DecodedPayload | None:
    """The ID whose codeword is closest to the soft read (positive soft value = channel bit 0), or None.

    Among the Chase candidates, the one with the smallest soft distance (sum of |soft| over disagreeing bits)
    wins, i.e. the most likely codeword given the read.
    """
    if soft.shape != (CODE_BITS,):
        raise WatermarkError(f"expected {CODE_BITS} soft bits, got shape {soft.shape}")
    whitening = whitening_bits(secret)
    hard = (soft < 0).astype(np.uint8)
    best: tuple[float, int, int] | None = None
    for flips in _chase_patterns(soft):
        trial = hard.copy()
        trial[flips] ^= 1
        found = _try_bch(secret, trial ^ whitening)
        if found is None:
            continue
        payload_id, codeword = found
        disagree = (codeword ^ whitening) != hard
        soft_distance = float(np.abs(soft[disagree]).sum())
        if best is None or soft_distance < best[0]:
            best = (soft_distance, payload_id, int(np.count_nonzero(disagree)))
    if best is None:
        return None
    _, payload_id, distance = best
    return DecodedPayload(payload_id, distance, null_probability(distance))
