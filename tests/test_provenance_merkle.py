"""RFC 9162 Merkle proofs: every vector from transparency-dev/merkle, plus our own tree builder against them."""

from __future__ import annotations

import base64
import json
import random
from pathlib import Path

import pytest

from provenance.custody import merkle
from provenance.custody.merkle import ProofError
from tests.conftest import REPO

VECTORS = REPO.parent / "shared" / "testvectors" / "rfc9162"


def _cases(kind: str) -> list[Path]:
    folder = VECTORS / kind
    return sorted(folder.rglob("*.json")) if folder.is_dir() else []


def _b64(value: str | None) -> bytes:
    return base64.b64decode(value) if value else b""


def _proof(case: dict) -> list[bytes]:
    return [_b64(h) for h in case["proof"] or []]


def _check(kind: str, case: dict) -> None:
    if kind == "inclusion":
        merkle.verify_inclusion(case["leafIdx"], case["treeSize"], _b64(case["leafHash"]), _proof(case), _b64(case["root"]))
    elif kind == "subtreeinclusion":
        merkle.verify_subtree_inclusion(
            case["leafIdx"], case["start"], case["end"], _b64(case["leafHash"]), _proof(case), _b64(case["root"])
        )
    elif kind == "consistency":
        merkle.verify_consistency(case["size1"], case["size2"], _proof(case), _b64(case["root1"]), _b64(case["root2"]))
    else:
        merkle.verify_subtree_consistency(
            case["start"], case["end"], case["size"], _proof(case), _b64(case["root1"]), _b64(case["root2"])
        )


ALL = [(kind, path) for kind in ("inclusion", "subtreeinclusion", "consistency", "subtreeconsistency") for path in _cases(kind)]


def test_all_vectors_are_present():
    if not VECTORS.is_dir():
        pytest.skip(f"RFC 9162 vectors not found under {VECTORS}")
    assert len(ALL) == 518


@pytest.mark.parametrize("kind,path", ALL, ids=[f"{k}/{p.parent.name}/{p.stem}" for k, p in ALL])
def test_vector(kind: str, path: Path):
    case = json.loads(path.read_text())
    if case["wantErr"]:
        with pytest.raises(ProofError):
            _check(kind, case)
    else:
        _check(kind, case)


@pytest.mark.parametrize("size", [1, 2, 3, 5, 7, 8, 13, 64, 100])
def test_built_proofs_verify_and_match_compact_tree(size: int):
    leaves = [merkle.leaf_hash(f"entry {i}".encode()) for i in range(size)]
    levels = merkle.TreeLevels(leaves)
    compact = merkle.CompactTree()
    for i, leaf in enumerate(leaves):
        compact.append(leaf)
        assert compact.root() == merkle.root_hash(leaves[: i + 1]) == levels.root(i + 1)
    root = levels.root()
    for index in range(size):
        merkle.verify_inclusion(index, size, leaves[index], levels.inclusion_proof(index), root)
    for old in range(1, size + 1):
        merkle.verify_consistency(old, size, levels.consistency_proof(old), levels.root(old), root)
    if size > 1:
        wrong = random.Random(size).randrange(size)
        with pytest.raises(ProofError):
            merkle.verify_inclusion(wrong, size, merkle.leaf_hash(b"forged"), levels.inclusion_proof(wrong), root)


def test_empty_tree_root_is_hash_of_nothing():
    assert merkle.root_hash([]).hex() == "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
