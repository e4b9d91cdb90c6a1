"""Verifying a custody log: every entry, hash link and signed checkpoint, naming the first problem exactly."""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from cryptography.hazmat.primitives.asymmetric import ed25519

from provenance.custody.checkpoint import checkpoint_signed, log_id_for
from provenance.custody.merkle import CompactTree, leaf_hash, verify_inclusion
from provenance.custody.records import GENESIS_LEAF, Checkpoint
from provenance.errors import CustodyError

if TYPE_CHECKING:
    from provenance.custody.log import CustodyLog


@dataclass(frozen=True)
class LogReport:
    """The outcome of checking a log: either ok, or the first problem with the entry or checkpoint it names."""

    entries: int
    checkpoints: int
    verified_size: int  # entries covered by a checkpoint that matched
    problem: str | None = None
    first_bad_entry: int | None = None
    bad_checkpoint: int | None = None

    @property
    def ok(self) -> bool:
        return self.problem is None

    def to_json(self) -> dict[str, Any]:
        return {
            "ok": self.ok,
            "entries": self.entries,
            "checkpoints": self.checkpoints,
            "verified_size": self.verified_size,
            "problem": self.problem,
            "first_bad_entry": self.first_bad_entry,
            "bad_checkpoint": self.bad_checkpoint,
        }


class _Failed(Exception):
    def __init__(self, message: str, entry: int | None = None, checkpoint: int | None = None) -> None:
        super().__init__(message)
        self.entry = entry
        self.checkpoint = checkpoint


def verify_log(
    entries: Iterable[tuple[bytes, bytes | None]],
    checkpoints: Sequence[Checkpoint],
    public_key: ed25519.Ed25519PublicKey,
) -> LogReport:
    """Check a whole log from its entries (body, recorded leaf or None) and its checkpoints in stored order."""
    verifier = _LogVerifier(checkpoints, public_key)
    try:
        verifier.check_signatures()
        for body, recorded_leaf in entries:
            verifier.feed(body, recorded_leaf)
        verifier.finish()
    except _Failed as failure:
        return verifier.report(str(failure), failure.entry, failure.checkpoint)
    return verifier.report(None, None, None)


class _LogVerifier:
    def __init__(self, checkpoints: Sequence[Checkpoint], public_key: ed25519.Ed25519PublicKey) -> None:
        self.checkpoints = list(checkpoints)
        self.public_key = public_key
        self.log_id = log_id_for(public_key)
        self.tree = CompactTree()
        self.prev = GENESIS_LEAF
        self.verified_size = 0
        # Checkpoints in the order they must come due; stored order must already be non-decreasing in size.
        self.due = sorted(range(len(self.checkpoints)), key=lambda i: (self.checkpoints[i].size, i))
        self.next_due = 0

    def check_signatures(self) -> None:
        last_size = 0
        for number, checkpoint in enumerate(self.checkpoints):
            if checkpoint.log_id != self.log_id:
                raise _Failed(f"checkpoint #{number} belongs to another log ({checkpoint.log_id[:16]}...)", checkpoint=number)
            if not checkpoint_signed(checkpoint, self.public_key):
                raise _Failed(f"checkpoint #{number} (size {checkpoint.size}) has an invalid signature: forged or altered", checkpoint=number)
            if checkpoint.size < last_size:
                raise _Failed(f"checkpoint #{number} goes back from size {last_size} to {checkpoint.size}", checkpoint=number)
            last_size = checkpoint.size
        self._settle_due()

    def feed(self, body: bytes, recorded_leaf: bytes | None) -> None:
        position = self.tree.size
        leaf = leaf_hash(body)
        if recorded_leaf is not None and recorded_leaf != leaf:
            raise _Failed(f"entry {position} was altered: its content no longer matches the hash recorded at append", position)
        try:
            record = json.loads(body)
            seq, prev = record["seq"], record["prev"]
        except (ValueError, KeyError, TypeError):
            raise _Failed(f"entry {position} is not a custody record (altered or corrupt)", position) from None
        if seq != position:
            raise _Failed(f"position {position} holds entry {seq}: entries were deleted or reordered", position)
        if prev != self.prev.hex():
            raise _Failed(f"entry {position - 1} was altered: entry {position} links to a different hash", position - 1)
        # Checkpoints are settled one entry late: the hash link above names an altered entry exactly, where a
        # checkpoint mismatch could only name the range it covers.
        self._settle_due()
        self.tree.append(leaf)
        self.prev = leaf

    def _settle_due(self) -> None:
        """Compare every checkpoint whose size the tree has now reached."""
        while self.next_due < len(self.due):
            number = self.due[self.next_due]
            checkpoint = self.checkpoints[number]
            if checkpoint.size != self.tree.size:
                return
            if self.tree.root() != checkpoint.root:
                first = self.verified_size
                raise _Failed(
                    f"checkpoint #{number} (size {checkpoint.size}) does not match entries {first}..{checkpoint.size - 1}: "
                    f"entry {first} or a later one in that range was altered",
                    first,
                    number,
                )
            self.verified_size = checkpoint.size
            self.next_due += 1

    def finish(self) -> None:
        self._settle_due()
        if self.next_due < len(self.due):
            number = self.due[self.next_due]
            size = self.checkpoints[number].size
            raise _Failed(
                f"log truncated: checkpoint #{number} covers {size} entries but only {self.tree.size} are present; "
                f"entry {self.tree.size} is missing",
                self.tree.size,
                number,
            )

    def report(self, problem: str | None, entry: int | None, checkpoint: int | None) -> LogReport:
        return LogReport(self.tree.size, len(self.checkpoints), self.verified_size, problem, entry, checkpoint)


def verify_custody_claim(log: CustodyLog, claim: Mapping[str, Any]) -> str:
    """Check a manifest's custody assertion against this log: the entries it cites sit under the root it names.

    Returns a one-line finding; raises CustodyError when the claim is false (or names another log).
    """
    try:
        log_id, size, root = claim["log_id"], int(claim["tree_size"]), bytes.fromhex(claim["checkpoint_root"])
        seqs = [int(entry["seq"]) for entry in claim.get("entries") or [{"seq": claim["leaf_index"]}]]
    except (KeyError, TypeError, ValueError) as exc:
        raise CustodyError(f"the custody assertion is malformed ({exc})") from None
    if log_id != log.log_id:
        raise CustodyError(f"the custody assertion names log {log_id[:16]}..., not this installation's log")
    if size > log.store.size():
        raise CustodyError(f"the custody assertion cites a tree of {size} entries; this log has only {log.store.size()}")
    levels = log.tree_levels(size)
    if levels.root() != root:
        raise CustodyError(f"this log's root at size {size} differs from the one the manifest cites")
    for seq in seqs:
        verify_inclusion(seq, size, levels.levels[0][seq], levels.inclusion_proof(seq), root)
    return f"custody entries {', '.join(map(str, seqs))} are in this log under the cited root (size {size})"
