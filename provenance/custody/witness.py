"""Witnesses (c2sp.org/tlog-witness): others vouch that the log only ever grew.

The log side: after each checkpoint the log sends it, with a consistency proof from the size the witness last
cosigned, to every configured witness (`$FACEPROOF_WITNESSES`), stores the cosignatures they return, and
`faceproof custody verify` then requires `$FACEPROOF_WITNESS_QUORUM` of them (default: all) on the latest
checkpoint. A witness that cannot be reached costs a warning, never the append (as an unreachable TSA does).

The witness side (`Witness`, `faceproof witness serve`): it keeps the latest checkpoint it cosigned per log and
cosigns a new one only when it is signed by the log's key and provably extends that one, so a rewritten log
(a split view) is refused however the log presents it, even to an auditor who kept nothing themselves.
"""

from __future__ import annotations

import hashlib
import logging
import os
import sqlite3
import threading
import time
import urllib.error
import urllib.request
from base64 import b64decode, b64encode
from binascii import Error as Base64Error
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ed25519

from provenance.custody import note
from provenance.custody.checkpoint import checkpoint_note, parse_tree_head
from provenance.custody.merkle import EMPTY_ROOT, HASH_SIZE, ProofError, TreeLevels, verify_consistency
from provenance.custody.records import Checkpoint, Cosignature, CustodyStore
from provenance.errors import CustodyError

TIMEOUT_S = 3.0  # as for the TSA: a witness that does not answer quickly is skipped, the append stands
MAX_PROOF = 63
SIZE_TYPE = "text/x.tlog.size"
log = logging.getLogger(__name__)


class WitnessError(CustodyError):
    """A witness refused a checkpoint, or could not be asked."""


@dataclass(frozen=True)
class WitnessConfig:
    verifier: note.Verifier  # the witness's cosignature key (type 0x04)
    url: str  # its submission prefix

    @property
    def label(self) -> str:
        return f"{self.verifier.name}+{self.verifier.key_id.hex()}"


@dataclass(frozen=True)
class WitnessPolicy:
    witnesses: tuple[WitnessConfig, ...] = ()
    quorum: int = 0


def policy_from_env(environ: Mapping[str, str]) -> WitnessPolicy:
    """`$FACEPROOF_WITNESSES`: "VKEY URL" pairs separated by ";"; `$FACEPROOF_WITNESS_QUORUM`: k (default: all).

    The installation (`provenance.installation`) passes its environment."""
    witnesses = []
    for pair in filter(None, (p.strip() for p in environ.get("FACEPROOF_WITNESSES", "").split(";"))):
        vkey, _, url = pair.partition(" ")
        try:
            verifier = note.verifier_from_vkey(vkey)
        except note.NoteError as exc:
            raise CustodyError(f"FACEPROOF_WITNESSES: {exc}") from None
        if verifier.signature_type != note.COSIGNATURE_ED25519 or not url.strip().startswith(("http://", "https://")):
            raise CustodyError(f"FACEPROOF_WITNESSES: expected 'VKEY URL' with a cosignature (0x04) key, got {pair!r}")
        witnesses.append(WitnessConfig(verifier, url.strip().rstrip("/")))
    quorum = int(environ.get("FACEPROOF_WITNESS_QUORUM") or len(witnesses))
    if not 0 <= quorum <= len(witnesses):
        raise CustodyError(f"FACEPROOF_WITNESS_QUORUM={quorum} but {len(witnesses)} witnesses are configured")
    return WitnessPolicy(tuple(witnesses), quorum)


# -- the log's side ------------------------------------------------------------------------------------------


def add_checkpoint_body(old_size: int, proof: Sequence[bytes], signed_note: str) -> bytes:
    lines = [f"old {old_size}"] + [b64encode(h).decode() for h in proof]
    return ("\n".join(lines) + "\n\n" + signed_note).encode()


def request_cosignature(
    store: CustodyStore, levels: Callable[[int], TreeLevels], signed_note: str, size: int, witness: WitnessConfig
) -> Cosignature:
    """Ask one witness to cosign (retrying once from the size it says it has); raises WitnessError."""
    old = store.cosigned_size(witness.label)
    for attempt in range(2):
        proof = levels(size).consistency_proof(old, size) if 0 < old < size else []
        status, body = _post(f"{witness.url}/add-checkpoint", add_checkpoint_body(old, proof, signed_note))
        if status == 409 and attempt == 0 and body.strip().isdigit() and int(body) <= size:
            old = int(body)
            continue
        if status != 200:
            raise WitnessError(f"witness {witness.label} refused the checkpoint of size {size}: HTTP {status} "
                               f"{body.strip()[:200]}")
        text = note.parse(signed_note).text
        try:
            returned = note.Note(text, tuple(note.parse_signature_line(line) for line in body.splitlines() if line))
            ours = list(note.verified_signatures(returned, [witness.verifier]))
        except note.NoteError as exc:
            raise WitnessError(f"witness {witness.label} answered with a bad cosignature ({exc})") from None
        if not ours:
            raise WitnessError(f"witness {witness.label} answered without its cosignature")
        return Cosignature(witness.label, size, text, ours[0].line())
    raise WitnessError(f"witness {witness.label} keeps changing its size")


def _post(url: str, body: bytes) -> tuple[int, str]:
    request = urllib.request.Request(url, data=body, method="POST", headers={"Content-Type": "text/plain"})
    try:
        with urllib.request.urlopen(request, timeout=TIMEOUT_S) as response:
            return response.status, response.read(1 << 16).decode("utf-8", "replace")
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read(1 << 16).decode("utf-8", "replace")
    except (urllib.error.URLError, OSError) as exc:
        raise WitnessError(f"witness at {url} unreachable ({getattr(exc, 'reason', exc)})") from None


def witness_checkpoint(
    store: CustodyStore, levels: Callable[[int], TreeLevels], public_key: ed25519.Ed25519PublicKey,
    checkpoint: Checkpoint, policy: WitnessPolicy,
) -> list[Cosignature]:
    """Collect and store the witnesses' cosignatures of `checkpoint`; each failure is logged and skipped."""
    signed_note = checkpoint_note(checkpoint, public_key)
    built: dict[int, TreeLevels] = {}
    levels_once = lambda size: built.get(size) or built.setdefault(size, levels(size))  # noqa: E731 (one O(n) build)
    collected = []
    for witness in policy.witnesses:
        try:
            collected.append(request_cosignature(store, levels_once, signed_note, checkpoint.size, witness))
        except WitnessError as exc:
            log.warning("custody checkpoint not witnessed: %s", exc)
    if collected:
        store.add_cosignatures(collected)
    return collected


def cosigned_note(store: CustodyStore, checkpoint: Checkpoint, public_key: ed25519.Ed25519PublicKey) -> str:
    """The checkpoint note with the cosignatures stored for it."""
    text = note.parse(checkpoint_note(checkpoint, public_key)).text
    lines = store.cosignatures(text)
    return checkpoint_note(checkpoint, public_key, [note.parse_signature_line(line.rstrip("\n")) for line in lines])


def quorum_problem(store: CustodyStore, checkpoint: Checkpoint, public_key, policy: WitnessPolicy) -> str | None:
    """Why the checkpoint lacks the policy's quorum of valid cosignatures, or None when it has it."""
    if not policy.quorum:
        return None
    signed = note.parse(cosigned_note(store, checkpoint, public_key))
    try:
        good = {s.name for s in note.verified_signatures(signed, [w.verifier for w in policy.witnesses])}
    except note.NoteError as exc:
        return f"a stored cosignature of the latest checkpoint is invalid ({exc})"
    if len(good) < policy.quorum:
        return (f"the latest checkpoint (size {checkpoint.size}) has {len(good)} of the {policy.quorum} witness "
                f"cosignatures required: `faceproof custody checkpoint --new` asks the witnesses again")
    return None


# -- the witness's side --------------------------------------------------------------------------------------


class Witness:
    """A witness's key, name and memory (one SQLite file: the latest cosigned checkpoint per origin)."""

    def __init__(self, state: str | os.PathLike) -> None:
        state = Path(state)
        try:
            self.name = (state / "name").read_text().strip()
            self.key = serialization.load_pem_private_key((state / "witness.key").read_bytes(), None)
        except (OSError, ValueError) as exc:
            raise CustodyError(f"{state}: not a witness folder ({exc}); create one with faceproof witness init") from None
        self.verifier = note.Verifier(self.name, note.COSIGNATURE_ED25519, self.key.public_key())
        self._db = sqlite3.connect(state / "witness.sqlite3", isolation_level=None, check_same_thread=False)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=FULL")
        self._db.execute("CREATE TABLE IF NOT EXISTS latest (origin TEXT PRIMARY KEY, size INTEGER NOT NULL, "
                         "root BLOB NOT NULL, checkpoint TEXT NOT NULL)")
        self._lock = threading.Lock()  # check-then-store is atomic (the spec's rollback race)

    @staticmethod
    def init(state: str | os.PathLike, name: str) -> Witness:
        state = Path(state)
        note.check_name(name)
        state.mkdir(parents=True, exist_ok=True)
        if (state / "witness.key").exists():
            raise CustodyError(f"{state} already holds a witness")
        pem = ed25519.Ed25519PrivateKey.generate().private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
        descriptor = os.open(state / "witness.key", os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(descriptor, "wb") as handle:
            handle.write(pem)
        (state / "name").write_text(name + "\n")
        return Witness(state)

    def close(self) -> None:
        self._db.close()

    def add_checkpoint(self, body: bytes, logs: Sequence[note.Verifier]) -> tuple[int, str]:
        """Answer an add-checkpoint request: (HTTP status, body)."""
        try:
            old, proof, signed = _parse_request(body)
            text = note.parse(signed).text
            head = parse_tree_head(text)
        except (note.NoteError, ValueError, Base64Error) as exc:
            return 400, f"{exc}\n"
        trusted = [v for v in logs if v.name == head.origin]
        if not trusted:
            return 404, f"unknown log {head.origin}\n"
        try:
            verified = note.open_note(signed, trusted)[1]
        except note.NoteError as exc:
            return 403, f"{exc}\n"
        if old > head.size:
            return 400, "old size is beyond the checkpoint\n"
        with self._lock, self._db:
            self._db.execute("BEGIN IMMEDIATE")
            row = self._db.execute("SELECT size, root FROM latest WHERE origin = ?", (head.origin,)).fetchone()
            known_size, known_root = row if row else (0, EMPTY_ROOT)
            if old != known_size:
                return 409, f"{known_size}\n"
            problem = _inconsistency(old, bytes(known_root), head.size, head.root, proof)
            if problem:
                return 422, problem + "\n"
            cosignature = note.cosign(text, self.name, self.key, int(time.time()))
            stored = note.Note(text, (*verified, cosignature)).encode()
            self._db.execute("INSERT OR REPLACE INTO latest (origin, size, root, checkpoint) VALUES (?, ?, ?, ?)",
                             (head.origin, head.size, head.root, stored))
        return 200, cosignature.line()

    def latest(self, origin_hash: str) -> str | None:
        """The latest checkpoint cosigned for the log whose origin hashes (SHA-256, hex) to `origin_hash`."""
        for origin, checkpoint in self._db.execute("SELECT origin, checkpoint FROM latest"):
            if hashlib.sha256(origin.encode()).hexdigest() == origin_hash:
                return checkpoint
        return None


def _parse_request(body: bytes) -> tuple[int, list[bytes], str]:
    header, separator, signed = body.decode("utf-8").partition("\n\n")
    lines = header.split("\n")
    if not separator or not lines[0].startswith("old ") or len(lines) - 1 > MAX_PROOF:
        raise ValueError("expected 'old N', proof lines, a blank line and a checkpoint")
    size = lines[0].removeprefix("old ")
    if not size.isdigit() or (size != "0" and size.startswith("0")):
        raise ValueError("bad old size")
    proof = [b64decode(line, validate=True) for line in lines[1:]]
    if any(len(h) != HASH_SIZE for h in proof):
        raise ValueError("a proof line is not a SHA-256 hash")
    return int(size), proof, signed


def _inconsistency(old: int, old_root: bytes, size: int, root: bytes, proof: list[bytes]) -> str | None:
    if size == 0 and root != EMPTY_ROOT:
        return "a checkpoint of size 0 must have the empty tree's root"
    if old == 0:
        return "a proof from size 0 must be empty" if proof else None
    if old == size:
        return None if root == old_root and not proof else f"another root at size {size}: the log forked"
    try:
        verify_consistency(old, size, proof, old_root, root)
    except ProofError as exc:
        return f"not an extension of the checkpoint of size {old} this witness cosigned: {exc}"
    return None


def serve(witness: Witness, logs: Sequence[note.Verifier], host: str, port: int) -> ThreadingHTTPServer:
    """An HTTP server for add-checkpoint and `/<origin hash>/checkpoint` (call serve_forever on it)."""

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:  # noqa: N802 (http.server's naming)
            if self.path != "/add-checkpoint":
                return self._answer(404, "not found\n")
            length = int(self.headers.get("Content-Length") or 0)
            if length > 1 << 16:
                return self._answer(413, "request too large\n")
            status, body = witness.add_checkpoint(self.rfile.read(length), logs)
            self._answer(status, body, SIZE_TYPE if status == 409 else "text/plain; charset=utf-8")

        def do_GET(self) -> None:  # noqa: N802
            parts = self.path.strip("/").split("/")
            checkpoint = witness.latest(parts[0]) if len(parts) == 2 and parts[1] == "checkpoint" else None
            self._answer(200 if checkpoint else 404, checkpoint or "not found\n")

        def _answer(self, status: int, body: str, content_type: str = "text/plain; charset=utf-8") -> None:
            data = body.encode()
            self.send_response(status)
            self.send_header("Content-Type", content_type)
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def log_message(self, format: str, *args) -> None:  # noqa: A002
            log.info("%s %s", self.address_string(), format % args)

    return ThreadingHTTPServer((host, port), Handler)
