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

import base64
import datetime as dt
import hashlib
import json
import socket
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from importlib import metadata
from typing import Any

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ed25519

from provenance.custody.merkle import CompactTree, TreeLevels, leaf_hash, verify_inclusion
from provenance.custody.store import GENESIS_LEAF, AppendBatch, Checkpoint, CustodyStore, LogHead, StoredEntry
from provenance.errors import CustodyError

EVENT_KINDS = frozenset(
    {"ingest", "extract", "train", "convert", "watermark", "sign", "export", "download", "verify", "delete", "consent",
     "abort", "begin"}  # begin: a seal session started making an output (parameters: its watermark_id); it ends
    # in a `sign` of that output or an `abort` (work stopped before delivering it; `reason` says why)
)
RECORD_VERSION = 1
CHECKPOINT_HEADER = "faceproof custody checkpoint v1"


def tool_version() -> str:
    try:
        return f"faceproof {metadata.version('faceproof')}"
    except metadata.PackageNotFoundError:
        return "faceproof (not installed)"


def utc_now() -> str:
    return dt.datetime.now(dt.timezone.utc).isoformat(timespec="microseconds").replace("+00:00", "Z")


def canonical_json(value: Any) -> bytes:
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode("utf-8")


def sha256_file(path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        while chunk := handle.read(1 << 20):
            digest.update(chunk)
    return digest.hexdigest()


def log_id_for(public_key: ed25519.Ed25519PublicKey) -> str:
    """A log is named by the SHA-256 of its checkpoint key, so a checkpoint says which log it belongs to."""
    raw = public_key.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    return hashlib.sha256(raw).hexdigest()


@dataclass(frozen=True)
class AssetRef:
    """A file an event read or wrote, by content hash; the name is only a reminder for people."""

    sha256: str
    name: str = ""

    def __post_init__(self) -> None:
        if len(self.sha256) != 64 or any(c not in "0123456789abcdef" for c in self.sha256):
            raise CustodyError(f"not a lowercase hex SHA-256: {self.sha256!r}")

    def to_json(self) -> dict[str, str]:
        return {"sha256": self.sha256, "name": self.name}


@dataclass(frozen=True)
class Event:
    """What happened, by whom and why; `append` adds position, link, time, host and tool version."""

    kind: str
    actor: str
    inputs: tuple[AssetRef, ...] = ()
    outputs: tuple[AssetRef, ...] = ()
    parameters: Mapping[str, Any] = field(default_factory=dict)
    reason: str = ""
    identities: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        if self.kind not in EVENT_KINDS:
            raise CustodyError(f"unknown custody event kind {self.kind!r} (known: {', '.join(sorted(EVENT_KINDS))})")
        if not self.actor:
            raise CustodyError("a custody event needs an actor (who did it)")

    def record(self, seq: int, prev: bytes, time: str, host: str, tool: str) -> dict[str, Any]:
        return {
            "v": RECORD_VERSION,
            "seq": seq,
            "prev": prev.hex(),
            "kind": self.kind,
            "time": time,
            "actor": self.actor,
            "host": host,
            "tool": tool,
            "parameters": dict(self.parameters),
            "inputs": [asset.to_json() for asset in self.inputs],
            "outputs": [asset.to_json() for asset in self.outputs],
            "identities": list(self.identities),
            "reason": self.reason,
        }

    def index_keys(self, seq: int) -> list[tuple[str, int]]:
        keys = {f"sha256:{asset.sha256}" for asset in (*self.inputs, *self.outputs)}
        keys |= {f"identity:{name}" for name in self.identities}
        keys.add(f"kind:{self.kind}")
        return [(key, seq) for key in sorted(keys)]


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


def checkpoint_message(size: int, root: bytes, time: str, log_id: str) -> bytes:
    """The exact bytes a checkpoint signature covers (a small text note, readable in a bundle)."""
    return f"{CHECKPOINT_HEADER}\nlog {log_id}\nsize {size}\nroot {base64.b64encode(root).decode()}\ntime {time}\n".encode()


def sign_checkpoint(key: ed25519.Ed25519PrivateKey, size: int, root: bytes, time: str | None = None) -> Checkpoint:
    time = time or utc_now()
    log_id = log_id_for(key.public_key())
    return Checkpoint(size, root, time, log_id, key.sign(checkpoint_message(size, root, time, log_id)))


def checkpoint_to_json(checkpoint: Checkpoint) -> dict[str, Any]:
    return {
        "size": checkpoint.size,
        "root": checkpoint.root.hex(),
        "time": checkpoint.time,
        "log_id": checkpoint.log_id,
        "signature": checkpoint.signature.hex(),
    }


def checkpoint_from_json(data: Mapping[str, Any]) -> Checkpoint:
    try:
        return Checkpoint(
            int(data["size"]), bytes.fromhex(data["root"]), str(data["time"]), str(data["log_id"]),
            bytes.fromhex(data["signature"]),
        )
    except (KeyError, TypeError, ValueError) as exc:
        raise CustodyError(f"malformed checkpoint ({exc})") from None


# -- verification -----------------------------------------------------------------------------------------


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
            message = checkpoint_message(checkpoint.size, checkpoint.root, checkpoint.time, checkpoint.log_id)
            try:
                self.public_key.verify(checkpoint.signature, message)
            except InvalidSignature:
                raise _Failed(f"checkpoint #{number} (size {checkpoint.size}) has an invalid signature: forged or altered", checkpoint=number) from None
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


# -- the log ----------------------------------------------------------------------------------------------


class CustodyLog:
    """Append, checkpoint, prove and verify over a `CustodyStore`. Appending needs the checkpoint key."""

    def __init__(
        self,
        store: CustodyStore,
        *,
        signing_key: ed25519.Ed25519PrivateKey | None = None,
        public_key: ed25519.Ed25519PublicKey | None = None,
    ) -> None:
        if signing_key is None and public_key is None:
            raise CustodyError("a custody log needs its checkpoint key (private to append, public to verify)")
        self.store = store
        self.signing_key = signing_key
        self.public_key = public_key or signing_key.public_key()
        self.log_id = log_id_for(self.public_key)
        self._host = socket.gethostname()
        self._tool = tool_version()

    def append(self, event: Event) -> Receipt:
        return self.append_many([event])[0]

    def append_many(self, events: Sequence[Event]) -> list[Receipt]:
        """Store events as one durable batch ending in a signed checkpoint; returns only once on disk."""
        if not events:
            raise CustodyError("nothing to append")
        key = self._require_signing_key()
        time = utc_now()

        def prepare(head: LogHead) -> AppendBatch:
            tree, prev = head.tree.copy(), head.last_leaf
            entries: list[StoredEntry] = []
            keys: list[tuple[str, int]] = []
            for event in events:
                seq = tree.size
                body = canonical_json(event.record(seq, prev, time, self._host, self._tool))
                prev = leaf_hash(body)
                tree.append(prev)
                entries.append(StoredEntry(seq, body, prev))
                keys.extend(event.index_keys(seq))
            checkpoint = sign_checkpoint(key, tree.size, tree.root(), time)
            return AppendBatch(entries, keys, checkpoint, LogHead(tree, prev))

        batch = self.store.append(prepare)
        return [Receipt(entry.seq, entry.leaf, batch.checkpoint) for entry in batch.entries]

    def checkpoint(self) -> Checkpoint:
        """Sign the current head again (e.g. to publish a fresh timestamp for witnesses)."""
        key = self._require_signing_key()
        return self.store.add_checkpoint(lambda head: sign_checkpoint(key, head.tree.size, head.tree.root()))

    def _require_signing_key(self) -> ed25519.Ed25519PrivateKey:
        if self.signing_key is None:
            raise CustodyError("this custody log was opened read-only (no checkpoint signing key)")
        return self.signing_key

    # -- reading ----------------------------------------------------------------------------------------
    def latest_checkpoint(self) -> Checkpoint:
        checkpoints = self.store.checkpoints()
        if not checkpoints:
            raise CustodyError("the custody log is empty: it has no checkpoint yet")
        return max(checkpoints, key=lambda c: c.size)

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

    def tree_levels(self, size: int) -> TreeLevels:
        return TreeLevels(self.store.leaves(size))

    def inclusion_proofs(self, seqs: Sequence[int], checkpoint: Checkpoint | None = None) -> list[InclusionProof]:
        checkpoint = checkpoint or self.latest_checkpoint()
        levels = self.tree_levels(checkpoint.size)
        return [InclusionProof(seq, levels.levels[0][seq], checkpoint, levels.inclusion_proof(seq)) for seq in seqs]

    def verify(self) -> LogReport:
        entries = ((entry.body, entry.leaf) for entry in self.store.entries())
        return verify_log(entries, self.store.checkpoints(), self.public_key)


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
