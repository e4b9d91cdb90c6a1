"""Payload <-> channel bits: a 32-bit ID, a keyed 16-bit check, BCH(125, 48, t=13) and a keyed whitening word.

Layout of the 125 channel bits: 48 data bits (ID big-endian, then the check) followed by the 77 BCH parity
bits, all XORed with a keyed word. Whitening makes an all-zero / all-one or otherwise structured read (a flat
frame, an unmarked clip) land on a random-looking word; the check makes a word the decoder reaches by chance
fail anyway.

Decoding is soft: the algebraic BCH decoder on the hard read, plus ordered-statistics decoding (OSD-2) on the
48 most reliable independent positions; of the candidates with a valid check, the one that agrees best with
the soft read wins. `null_probability` is the exact chance, under the key's randomness, that an unmarked read
agrees that well with any of the 2^32 valid words.
"""

from __future__ import annotations

import hashlib
import hmac
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
OSD_ORDER = 2  # ordered-statistics decoding re-encodes every flip of up to this many of the 48 reliable bits
_MAGNITUDE_STEPS = 256  # soft magnitudes are quantised to this many steps for the exact null law


@lru_cache(maxsize=1)
def _bch() -> bchlib.BCH:
    bch = bchlib.BCH(BCH_T, m=BCH_M)
    assert bch.ecc_bits == PARITY_BITS, "bchlib chose a different code than the one this format defines"
    return bch


def check_id(payload_id: int) -> int:
    if not isinstance(payload_id, int) or not 0 <= payload_id <= MAX_ID:
        raise WatermarkError(f"a watermark ID is an integer in [0, {MAX_ID}], got {payload_id!r}")
    return payload_id


@lru_cache(maxsize=16)
def _check_key(secret: bytes) -> bytes:
    return derive_bytes(secret, "check", 32)


def _check_word(secret: bytes, id_bytes: bytes) -> bytes:
    return hmac.new(_check_key(secret), id_bytes, hashlib.sha256).digest()[: CHECK_BITS // 8]


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


@lru_cache(maxsize=1)
def generator_matrix() -> np.ndarray:
    """(48, 125) uint8: row i is the codeword of data bit i alone (BCH encoding is linear over GF(2))."""
    data = np.eye(DATA_BITS, dtype=np.uint8)
    matrix = np.array([np.concatenate([row, _bch_parity(np.packbits(row).tobytes())]) for row in data])
    matrix.flags.writeable = False
    return matrix


def agreement_tail(soft: np.ndarray, agree: np.ndarray) -> float:
    """P(S >= the observed S) for one fixed word when the signs of `soft` are fair coins (see null_probability).

    S = sum(+|soft| where agreeing, -|soft| elsewhere); its law is a convolution over the bits, magnitudes
    quantised to `_MAGNITUDE_STEPS` (S is defined on the quantised values, so the law stays exact).
    """
    magnitudes = np.abs(soft)
    top = float(magnitudes.max())
    if top == 0.0:
        return 1.0
    steps = np.round(magnitudes / top * _MAGNITUDE_STEPS).astype(np.int64)
    total = int(steps.sum())
    law = np.zeros(2 * total + 1)
    law[total] = 1.0
    for step in steps[steps > 0]:
        shifted = np.zeros_like(law)
        shifted[step:] += law[:-step]
        shifted[:-step] += law[step:]
        law = 0.5 * shifted
    observed = int(np.where(agree, steps, -steps).sum())
    return float(law[total + observed :].sum())


def null_probability(soft: np.ndarray, agree: np.ndarray) -> float:
    """P(an unmarked read agrees with some valid word as well as `soft` agrees with one on the bits `agree`).

    Without the mark, the signs of the soft bits are fair coins, independent of each other and of their
    magnitudes: each bit sums its own chips times keyed random +-1 spreading signs, and flipping those signs
    flips the bit's sign alone. So the agreement with any fixed word has the exact law of `agreement_tail`,
    and a union bound over the 2^32 valid words gives the result. With equal magnitudes this is the
    Hamming-ball bound; unequal ones let disagreements on weak bits count for less than on strong ones.
    """
    return min(1.0, agreement_tail(soft, agree) * 2.0**ID_BITS)


@dataclass(frozen=True)
class DecodedPayload:
    payload_id: int
    distance: int  # Hamming distance between the hard read and the accepted codeword
    null_probability: float  # chance that an unmarked read decodes this well (see null_probability)


def _algebraic(hard: np.ndarray) -> np.ndarray | None:
    """The BCH codeword within t of `hard` (unwhitened bits), else None.

    bchlib can report success on words it cannot really correct, so its answer is re-encoded and checked.
    """
    data = bytearray(np.packbits(hard[:DATA_BITS]).tobytes())
    parity = bytearray(np.packbits(np.concatenate([hard[DATA_BITS:], np.zeros(96 - PARITY_BITS, np.uint8)])))
    if _bch().decode(data, parity) < 0:
        return None
    _bch().correct(data, parity)
    corrected = np.concatenate([np.unpackbits(np.frombuffer(bytes(data), np.uint8)), _bch_parity(bytes(data))])
    return corrected if np.count_nonzero(corrected != hard) <= BCH_T else None


def _systematic_on_reliable(order: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Row-reduce the generator, columns in `order`, onto the first 48 independent ones (GF(2)).

    Returns (matrix, pivots): rows are still codewords (in `order`), and matrix[:, pivots] is the identity, so
    any 48 bits placed on the pivot positions re-encode to the one codeword that carries them there.
    """
    matrix = generator_matrix()[:, order].copy()
    pivots: list[int] = []
    for column in range(CODE_BITS):
        rank = len(pivots)
        rows = np.flatnonzero(matrix[rank:, column]) + rank
        if not rows.size:
            continue
        matrix[[rank, rows[0]]] = matrix[[rows[0], rank]]
        others = np.flatnonzero(matrix[:, column])
        others = others[others != rank]
        matrix[others] ^= matrix[rank]
        pivots.append(column)
        if len(pivots) == DATA_BITS:
            break
    return matrix, np.array(pivots)


@lru_cache(maxsize=1)
def _osd_flips() -> np.ndarray:
    """(candidates, 48) uint8: every flip pattern of weight <= OSD_ORDER on the basis bits."""
    patterns = [()] + [subset for size in range(1, OSD_ORDER + 1) for subset in combinations(range(DATA_BITS), size)]
    flips = np.zeros((len(patterns), DATA_BITS), np.uint8)
    for row, subset in enumerate(patterns):
        flips[row, list(subset)] = 1
    return flips


def _osd_candidates(hard: np.ndarray, soft: np.ndarray) -> np.ndarray:
    """(candidates, 125) codewords (unwhitened) from the most reliable independent positions, flipped <= 2."""
    order = np.argsort(-np.abs(soft), kind="stable")
    matrix, pivots = _systematic_on_reliable(order)
    basis_bits = hard[order][pivots]
    codewords_in_order = ((_osd_flips() ^ basis_bits).astype(np.int32) @ matrix) & 1
    codewords = np.empty_like(codewords_in_order, dtype=np.uint8)
    codewords[:, order] = codewords_in_order
    return codewords


def _checked_id(secret: bytes, codeword: np.ndarray) -> int | None:
    """The ID a codeword (unwhitened) carries when its keyed check is right, else None."""
    data = np.packbits(codeword[:DATA_BITS]).tobytes()
    id_bytes, check = data[: ID_BITS // 8], data[ID_BITS // 8 :]
    return int.from_bytes(id_bytes, "big") if hmac.compare_digest(check, _check_word(secret, id_bytes)) else None


def decode_payload(secret: bytes, soft: np.ndarray) -> DecodedPayload | None:
    """The valid ID whose codeword agrees best with the soft read (positive soft = channel bit 0), or None."""
    if soft.shape != (CODE_BITS,):
        raise WatermarkError(f"expected {CODE_BITS} soft bits, got shape {soft.shape}")
    whitening = whitening_bits(secret)
    hard = (soft < 0).astype(np.uint8) ^ whitening
    candidates = _osd_candidates(hard, soft)
    algebraic = _algebraic(hard)
    if algebraic is not None:
        candidates = np.vstack([algebraic, candidates])
    signs = 1.0 - 2.0 * (candidates ^ whitening).astype(np.float64)
    for best in np.argsort(-(signs @ soft), kind="stable"):  # most likely first; stop at the first valid one
        payload_id = _checked_id(secret, candidates[best])
        if payload_id is not None:
            agree = signs[best] * soft > 0
            return DecodedPayload(payload_id, int(np.count_nonzero(~agree)), null_probability(soft, agree))
    return None
