"""RFC 9162 (Certificate Transparency v2) Merkle tree: hashing, proofs and their verifiers.

leaf = SHA-256(0x00 || entry), node = SHA-256(0x01 || left || right); the tree over n leaves splits at the
largest power of two below n. Verifiers raise `ProofError` with the reason; they never return False, so a
caller cannot forget to check a result. Subtree proofs follow the Merkle Tree Certificates draft (the same
algorithms as transparency-dev/merkle), so any aligned range of the log can be proven on its own.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence

from provenance.errors import CustodyError

HASH_SIZE = 32
EMPTY_ROOT = hashlib.sha256(b"").digest()
_LEAF_PREFIX = b"\x00"
_NODE_PREFIX = b"\x01"


class ProofError(CustodyError):
    """A Merkle proof does not show what it claims."""


def leaf_hash(entry: bytes) -> bytes:
    return hashlib.sha256(_LEAF_PREFIX + entry).digest()


def node_hash(left: bytes, right: bytes) -> bytes:
    return hashlib.sha256(_NODE_PREFIX + left + right).digest()


def _split(size: int) -> int:
    """Largest power of two strictly below `size` (size >= 2): where RFC 9162 splits a tree."""
    return 1 << ((size - 1).bit_length() - 1)


# -- building -------------------------------------------------------------------------------------------


def root_hash(leaves: Sequence[bytes]) -> bytes:
    """MTH over leaf hashes, bottom-up level by level (no recursion, O(n) hashes)."""
    if not leaves:
        return EMPTY_ROOT
    level = list(leaves)
    while len(level) > 1:
        # An odd last node is promoted unchanged: that is exactly RFC 9162's unbalanced right edge.
        paired = [node_hash(level[i], level[i + 1]) for i in range(0, len(level) - 1, 2)]
        if len(level) % 2:
            paired.append(level[-1])
        level = paired
    return level[0]


class TreeLevels:
    """Every perfect subtree hash over a list of leaves (2n hashes), so any root or proof costs O(log^2 n).

    Building is one O(n) pass; this is what makes proofs for a million-entry log instant after that.
    """

    def __init__(self, leaves: Sequence[bytes]) -> None:
        self.levels: list[list[bytes]] = [list(leaves)]
        while len(self.levels[-1]) > 1:
            below = self.levels[-1]
            self.levels.append([node_hash(below[i], below[i + 1]) for i in range(0, len(below) - 1, 2)])

    @property
    def size(self) -> int:
        return len(self.levels[0])

    def range_hash(self, lo: int, hi: int) -> bytes:
        """MTH of leaves [lo, hi) where lo is aligned as in any RFC 9162 subtree (perfect blocks, folded)."""
        if hi <= lo:
            return EMPTY_ROOT
        blocks = []
        position = lo
        for height in reversed(range((hi - lo).bit_length())):
            if (hi - lo) >> height & 1:
                blocks.append(self.levels[height][position >> height])
                position += 1 << height
        node = blocks[-1]
        for block in reversed(blocks[:-1]):
            node = node_hash(block, node)
        return node

    def root(self, size: int | None = None) -> bytes:
        return self.range_hash(0, self.size if size is None else self._check_size(size))

    def _check_size(self, size: int) -> int:
        if not 0 <= size <= self.size:
            raise ProofError(f"no tree of {size} entries: only {self.size} are known")
        return size

    def inclusion_proof(self, index: int, size: int | None = None) -> list[bytes]:
        """PATH(index, D[size]) (RFC 9162 2.1.3.1); hashes ordered from the leaf upwards."""
        size = self.size if size is None else self._check_size(size)
        if not 0 <= index < size:
            raise ProofError(f"entry {index} is not in a tree of {size} entries")
        return self._path(index, 0, size)

    def _path(self, index: int, lo: int, hi: int) -> list[bytes]:
        if hi - lo == 1:
            return []
        k = _split(hi - lo)
        if index < lo + k:
            return self._path(index, lo, lo + k) + [self.range_hash(lo + k, hi)]
        return self._path(index, lo + k, hi) + [self.range_hash(lo, lo + k)]

    def consistency_proof(self, old_size: int, new_size: int | None = None) -> list[bytes]:
        """PROOF(old_size, D[new_size]) (RFC 9162 2.1.4.1)."""
        new_size = self.size if new_size is None else self._check_size(new_size)
        if not 0 < old_size <= new_size:
            raise ProofError(f"no consistency proof from size {old_size} to {new_size}")
        return self._subproof(old_size, 0, new_size, True)

    def _subproof(self, m: int, lo: int, hi: int, complete: bool) -> list[bytes]:
        if m == hi - lo:
            return [] if complete else [self.range_hash(lo, hi)]
        k = _split(hi - lo)
        if m <= k:
            return self._subproof(m, lo, lo + k, complete) + [self.range_hash(lo + k, hi)]
        return self._subproof(m - k, lo + k, hi, False) + [self.range_hash(lo, lo + k)]


class CompactTree:
    """The right frontier of a growing tree: O(log n) state, O(1) amortised hashes per appended leaf.

    `peaks[i]` is the root of a perfect subtree; sizes strictly decrease, so their sum's binary form is
    the tree size. This is what lets the log append and checkpoint without re-reading old entries.
    """

    def __init__(self, size: int = 0, peaks: Sequence[bytes] = ()) -> None:
        if size.bit_count() != len(peaks):
            raise ProofError(f"a tree of {size} entries needs {size.bit_count()} frontier hashes, got {len(peaks)}")
        self.size = size
        self.peaks = list(peaks)

    def append(self, leaf: bytes) -> None:
        node = leaf
        merged = self.size
        while merged & 1:  # each trailing 1 bit is a perfect subtree of the same height: merge it
            node = node_hash(self.peaks.pop(), node)
            merged >>= 1
        self.peaks.append(node)
        self.size += 1

    def root(self) -> bytes:
        if not self.peaks:
            return EMPTY_ROOT
        node = self.peaks[-1]
        for peak in reversed(self.peaks[:-1]):
            node = node_hash(peak, node)
        return node

    def copy(self) -> CompactTree:
        return CompactTree(self.size, self.peaks)


# -- verifying ------------------------------------------------------------------------------------------


def _check_hash(value: bytes, what: str) -> None:
    if len(value) != HASH_SIZE:
        raise ProofError(f"{what} is {len(value)} bytes, a SHA-256 hash is {HASH_SIZE}")


def _match(calculated: bytes, expected: bytes, what: str) -> None:
    if calculated != expected:
        raise ProofError(f"{what}: calculated root {calculated.hex()[:16]}... does not match {expected.hex()[:16]}...")


def _decompose(index: int, size: int) -> tuple[int, int]:
    """Split an inclusion path where the paths to `index` and to the last leaf diverge: (inner, border)."""
    inner = (index ^ (size - 1)).bit_length()
    border = (index >> inner).bit_count()
    return inner, border


def _chain_inner(seed: bytes, proof: Sequence[bytes], index: int) -> bytes:
    for level, sibling in enumerate(proof):
        seed = node_hash(seed, sibling) if (index >> level) & 1 == 0 else node_hash(sibling, seed)
    return seed


def _chain_inner_right(seed: bytes, proof: Sequence[bytes], index: int) -> bytes:
    """Like `_chain_inner` but only left siblings: the hash of the older, smaller version of the subtree."""
    for level, sibling in enumerate(proof):
        if (index >> level) & 1:
            seed = node_hash(sibling, seed)
    return seed


def _chain_border_right(seed: bytes, proof: Sequence[bytes]) -> bytes:
    for sibling in proof:
        seed = node_hash(sibling, seed)
    return seed


def root_from_inclusion_proof(index: int, size: int, leaf: bytes, proof: Sequence[bytes]) -> bytes:
    if not 0 <= index < size:
        raise ProofError(f"entry {index} is outside a tree of {size} entries")
    _check_hash(leaf, "the leaf hash")
    for sibling in proof:
        _check_hash(sibling, "a proof hash")
    inner, border = _decompose(index, size)
    if len(proof) != inner + border:
        raise ProofError(f"inclusion proof has {len(proof)} hashes, a tree of {size} needs {inner + border}")
    return _chain_border_right(_chain_inner(leaf, proof[:inner], index), proof[inner:])


def verify_inclusion(index: int, size: int, leaf: bytes, proof: Sequence[bytes], root: bytes) -> None:
    """Raise ProofError unless `proof` shows leaf `index` is in the tree of `size` with `root`."""
    _match(root_from_inclusion_proof(index, size, leaf, proof), root, f"inclusion of entry {index}")


def is_valid_subtree(start: int, end: int) -> bool:
    """[start, end) is a node of some tree: non-empty and start aligned to the next power of two >= width."""
    if not 0 <= start < end:
        return False
    width = end - start
    return start % (1 << (width - 1).bit_length()) == 0


def verify_subtree_inclusion(index: int, start: int, end: int, leaf: bytes, proof: Sequence[bytes], root: bytes) -> None:
    if not is_valid_subtree(start, end):
        raise ProofError(f"[{start}, {end}) is not a valid subtree")
    if not start <= index < end:
        raise ProofError(f"entry {index} is outside the subtree [{start}, {end})")
    calculated = root_from_inclusion_proof(index - start, end - start, leaf, proof)
    _match(calculated, root, f"inclusion of entry {index} in [{start}, {end})")


def verify_consistency(size1: int, size2: int, proof: Sequence[bytes], root1: bytes, root2: bytes) -> None:
    """Raise ProofError unless the tree of `size2` (root2) extends the tree of `size1` (root1)."""
    if size1 == 0:
        raise ProofError("a consistency proof from an empty tree proves nothing")
    if size2 < size1:
        raise ProofError(f"the newer tree ({size2}) is smaller than the older ({size1})")
    verify_subtree_consistency(0, size1, size2, proof, root1, root2)


def verify_subtree_consistency(
    start: int, end: int, size: int, proof: Sequence[bytes], subtree_root: bytes, root: bytes
) -> None:
    """Raise ProofError unless the subtree [start, end) with `subtree_root` sits in the tree of `size`."""
    for value in proof:
        _check_hash(value, "a proof hash")
    if start == end:
        _verify_empty_subtree(start, size, proof, subtree_root)
        return
    if not is_valid_subtree(start, end):
        raise ProofError(f"[{start}, {end}) is not a valid subtree")
    if end > size:
        raise ProofError(f"the subtree ends at {end}, beyond the tree's {size} entries")
    if start == 0 and end == size:
        if proof:
            raise ProofError("the subtree is the whole tree, so its proof must be empty")
        _match(subtree_root, root, "consistency of equal trees")
        return
    if not proof:
        raise ProofError("empty consistency proof")
    _match(_root_from_subtree_consistency(start, end, size, proof, subtree_root), root, "consistency")


def _verify_empty_subtree(start: int, size: int, proof: Sequence[bytes], subtree_root: bytes) -> None:
    """An empty range is trivially consistent with any tree, but only as the empty hash and with no proof."""
    if start > size:
        raise ProofError(f"the empty subtree at {start} lies beyond the tree's {size} entries")
    if proof:
        raise ProofError("an empty subtree needs an empty proof")
    _match(subtree_root, EMPTY_ROOT, "empty subtree")


def _root_from_subtree_consistency(start: int, end: int, size: int, proof: Sequence[bytes], sub_root: bytes) -> bytes:
    if end == size:
        # The subtree lies on the right border: its root only needs left siblings to reach the tree root.
        height = ((end - 1) ^ start).bit_length()
        expected = (start >> height).bit_count()
        if len(proof) != expected:
            raise ProofError(f"consistency proof has {len(proof)} hashes, expected {expected}")
        return _chain_border_right(sub_root, proof)

    fork_level, border = _decompose(end - 1, size)
    shift = ((end - start) & -(end - start)).bit_length() - 1  # height of the subtree's rightmost perfect part
    inner = fork_level - shift
    perfect = end - start == 1 << shift
    seed, rest = (sub_root, list(proof)) if perfect else (proof[0], list(proof[1:]))
    if len(rest) != inner + border:
        raise ProofError(f"consistency proof has {len(proof)} hashes, expected {int(not perfect) + inner + border}")
    mask = (end - 1) >> shift
    if not perfect:
        sub_inner, sub_border = _subtree_parts(start, end, size, border, rest)
        rebuilt = _chain_border_right(_chain_inner_right(seed, sub_inner, mask), sub_border)
        _match(rebuilt, sub_root, "the older tree")
    return _chain_border_right(_chain_inner(seed, rest[:inner], mask), rest[inner:])


def _subtree_parts(
    start: int, end: int, size: int, border: int, proof: Sequence[bytes]
) -> tuple[Sequence[bytes], Sequence[bytes]]:
    """The proof hashes that rebuild the subtree's own root: inner ones below it, border ones inside it."""
    height = ((end - 1) ^ start).bit_length()
    fork_level = ((end - 1) ^ (size - 1)).bit_length()
    shift = ((end - start) & -(end - start)).bit_length() - 1
    sub_inner = min(height, fork_level) - shift
    inner = fork_level - shift
    sub_border = max(0, border - ((end - 1) >> height).bit_count())
    return proof[:sub_inner], proof[inner : inner + sub_border]
