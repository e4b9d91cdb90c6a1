"""The custody log: canonical JSON events, hash-linked, in an RFC 9162 Merkle tree with signed checkpoints.

Each stored entry is the canonical JSON (sorted keys, no spaces, UTF-8) of one event plus its position
(`seq`) and the leaf hash of the entry before it (`prev`). The Merkle leaf commits to those exact bytes.
Every append ends with an Ed25519-signed checkpoint (size, root, time) in the same transaction, so any
stored entry is covered by a signature the moment `append` returns.

What verification can name: an entry whose bytes no longer match its recorded hash, a broken `prev`
link (the entry before it changed), a missing or displaced entry (`seq` out of place), a checkpoint that
is unsigned, forged, going backwards or not matching the entries it covers, and truncation below a
signed size.
"""

from __future__ import annotations

import json
import socket
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from cryptography.hazmat.primitives.asymmetric import ed25519

# The vocabulary, checkpoint encoding and verifier live in their own modules; their public names stay importable
# from here, where every caller has always found them.
from provenance.custody.checkpoint import (  # noqa: F401
    CHECKPOINT_HEADER,
    checkpoint_from_json,
    checkpoint_message,
    checkpoint_to_json,
    log_id_for,
    sign_checkpoint,
)
from provenance.custody.events import (  # noqa: F401
    EVENT_KINDS,
    RECORD_VERSION,
    AssetRef,
    Event,
    canonical_json,
    sha256_file,
    tool_version,
    utc_now,
)
from provenance.custody.merkle import TreeLevels, leaf_hash
from provenance.custody.records import AppendBatch, Checkpoint, CustodyStore, LogHead, StoredEntry
from provenance.custody.verify import LogReport, verify_custody_claim, verify_log  # noqa: F401
from provenance.errors import CustodyError


@dataclass(frozen=True)
class Receipt:
    """Proof that an event is stored: its position, leaf hash and the signed checkpoint that covers it."""

    seq: int
    leaf: bytes
    checkpoint: Checkpoint


@dataclass(frozen=True)
class InclusionProof:
    seq: int
    leaf: bytes
    checkpoint: Checkpoint
    path: list[bytes]

    def to_json(self) -> dict[str, Any]:
        return {
            "seq": self.seq,
            "leaf": self.leaf.hex(),
            "tree_size": self.checkpoint.size,
            "root": self.checkpoint.root.hex(),
            "path": [h.hex() for h in self.path],
        }


# -- the log ----------------------------------------------------------------------------------------------


class CustodyLog:
    """Append, checkpoint, prove and verify over a `CustodyStore`. Appending needs the checkpoint key."""

    def __init__(
        self,
        store: CustodyStore,
        *,
        signing_key: ed25519.Ed25519PrivateKey | None = None,
        public_key: ed25519.Ed25519PublicKey | None = None,
        after_checkpoint: Callable[[Checkpoint], object] | None = None,
    ) -> None:
        """`after_checkpoint` runs after each new checkpoint is durable (e.g. to have witnesses cosign it)."""
        if signing_key is None and public_key is None:
            raise CustodyError("a custody log needs its checkpoint key (private to append, public to verify)")
        self.store = store
        self.signing_key = signing_key
        self.public_key = public_key or signing_key.public_key()
        self.log_id = log_id_for(self.public_key)
        self._host = socket.gethostname()
        self._tool = tool_version()
        self.after_checkpoint = after_checkpoint

    def append(self, event: Event) -> Receipt:
        return self.append_many([event])[0]

    def append_many(self, events: Sequence[Event],
                    keep: Callable[[Sequence[Event]], Sequence[Event]] | None = None) -> list[Receipt]:
        """Store events as one durable batch ending in a signed checkpoint; returns only once on disk.

        `keep`, when given, chooses which of the events to store while the log's write lock is held, so a check
        of what the log already holds and the append that depends on it are one step for concurrent writers."""
        if not events:
            raise CustodyError("nothing to append")
        key = self._require_signing_key()
        time = utc_now()

        def prepare(head: LogHead) -> AppendBatch:
            tree, prev = head.tree.copy(), head.last_leaf
            entries: list[StoredEntry] = []
            keys: list[tuple[str, int]] = []
            opened: list[tuple[str, int]] = []
            ended: list[str] = []
            for event in keep(events) if keep else events:
                seq = tree.size
                body = canonical_json(event.record(seq, prev, time, self._host, self._tool))
                prev = leaf_hash(body)
                tree.append(prev)
                entries.append(StoredEntry(seq, body, prev))
                keys.extend(event.index_keys(seq))
                if begun := event.begins(seq):
                    opened.append((begun, seq))
                if finished := event.ends():
                    ended.append(finished)
            checkpoint = sign_checkpoint(key, tree.size, tree.root(), time)
            return AppendBatch(entries, keys, checkpoint, LogHead(tree, prev), opened, ended)

        batch = self.store.append(prepare)
        self._published(batch.checkpoint)
        return [Receipt(entry.seq, entry.leaf, batch.checkpoint) for entry in batch.entries]

    def checkpoint(self) -> Checkpoint:
        """Sign the current head again (e.g. to publish a fresh timestamp for witnesses)."""
        key = self._require_signing_key()
        return self._published(self.store.add_checkpoint(lambda head: sign_checkpoint(key, head.tree.size, head.tree.root())))

    def _published(self, checkpoint: Checkpoint) -> Checkpoint:
        if self.after_checkpoint is not None:
            self.after_checkpoint(checkpoint)
        return checkpoint

    def _require_signing_key(self) -> ed25519.Ed25519PrivateKey:
        if self.signing_key is None:
            raise CustodyError("this custody log was opened read-only (no checkpoint signing key)")
        return self.signing_key

    # -- reading ----------------------------------------------------------------------------------------
    def latest_checkpoint(self) -> Checkpoint:
        checkpoints = self.store.checkpoints()
        if not checkpoints:
            raise CustodyError("the custody log is empty: it has no checkpoint yet")
        return max(reversed(checkpoints), key=lambda c: c.size)  # the newest of the largest

    def entry(self, seq: int) -> dict[str, Any]:
        for stored in self.store.entries(seq, seq + 1):
            return json.loads(stored.body)
        raise CustodyError(f"custody entry {seq} does not exist")

    def history(self, sha256: str) -> list[dict[str, Any]]:
        return [self.entry(seq) for seq in self.store.lookup(f"sha256:{sha256}")]

    def events_of_kind(self, kind: str) -> list[dict[str, Any]]:
        return [self.entry(seq) for seq in self.store.lookup(f"kind:{kind}")]

    def events_for_identity(self, identity: str) -> list[dict[str, Any]]:
        return [self.entry(seq) for seq in self.store.lookup(f"identity:{identity}")]

    def events_of_operation(self, operation: str) -> list[dict[str, Any]]:
        """The events that began or ended the operation named `operation` (`events.operation_begun`)."""
        return [self.entry(seq) for seq in self.store.lookup(f"operation:{operation}")]

    def open_operations(self) -> list[dict[str, Any]]:
        """The `begin` events that nothing has ended yet, oldest first: a read of what is open, whatever the log's size."""
        return [self.entry(seq) for seq in self.store.open_operations()]

    def tree_levels(self, size: int) -> TreeLevels:
        return TreeLevels(self.store.leaves(size))

    def inclusion_proofs(self, seqs: Sequence[int], checkpoint: Checkpoint | None = None) -> list[InclusionProof]:
        checkpoint = checkpoint or self.latest_checkpoint()
        levels = self.tree_levels(checkpoint.size)
        return [InclusionProof(seq, levels.levels[0][seq], checkpoint, levels.inclusion_proof(seq)) for seq in seqs]

    def verify(self) -> LogReport:
        entries = ((entry.body, entry.leaf) for entry in self.store.entries())
        return verify_log(entries, self.store.checkpoints(), self.public_key)
