"""The one seam every deliverable passes: watermark the frames, then (after the caller encodes) sign, log, register.

    sealer = Installation.from_environment().sealer()  # provenance.installation
    with sealer.begin(SealRequest(kind="video", title="clip", actor="alice@newsroom", inputs=[model_dir_file],
                                  parent=target_mp4, model={"arch": "original", "sha256": model_hash},
                                  consents=["alice"], parameters={"crf": 18})) as session:
        for frame in frames:
            writer.write(session.mark(frame))           # the caller encodes; provenance never imports swapcore
        writer.close()
        result = session.finish(encoded_mp4, output_mp4)

`begin` refuses identities without recorded consent, records the inputs in the custody log (once per file
content) and allocates the watermark ID. `finish` appends the convert and watermark events (durable, checkpointed),
signs the C2PA manifest that cites them as the very last step, appends the sign event for the signed bytes,
binds the watermark ID to the output in the registry, and only then moves the output into place. Any failure
deletes the encoded and partial files and appends an `abort` event, so no unsigned file is ever left and the
log says what became of every watermark it issued.
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np

from provenance import manifest
from provenance.consent import ConsentRecord, require_consent
from provenance.custody.log import AssetRef, CustodyLog, Event, Receipt, sha256_file
from provenance.errors import ProvenanceError
from provenance.keys import SigningIdentity
from provenance.operation import log_begin
from provenance.registry import RegistryEntry, WatermarkRegistry
from provenance.watermark import FrameEmbedder, key_fingerprint
from provenance.work import begin_operation, end_operation, me, work_path

KINDS = ("video", "image")


@dataclass(frozen=True)
class SealRequest:
    """What is being made, by whom, from what. `inputs` are hashed and ingested into the custody log."""

    kind: str  # "video" or "image"
    title: str
    actor: str
    inputs: Sequence[Path] = ()
    parent: Path | None = None  # the target being altered: the manifest's c2pa.opened parentOf ingredient
    model: Mapping[str, str] | None = None  # {"arch": ..., "sha256": ...}
    consents: Sequence[str] = ()  # identity names whose faces are used: each needs a recorded consent
    parameters: Mapping[str, Any] = field(default_factory=dict)

    def check(self) -> None:
        if self.kind not in KINDS:
            raise ProvenanceError(f"unknown output kind {self.kind!r} (expected one of {', '.join(KINDS)})")
        if not self.title.strip() or not self.actor.strip():
            raise ProvenanceError("sealing needs a title and an actor (who is producing the output)")
        for path in (*self.inputs, *([self.parent] if self.parent else [])):
            if not Path(path).is_file():
                raise ProvenanceError(f"{path}: input file does not exist")
        if self.model is not None and not {"arch", "sha256"} <= set(self.model):
            raise ProvenanceError("model must name its architecture and weights hash: {'arch': ..., 'sha256': ...}")


@dataclass(frozen=True)
class SealResult:
    output: Path
    sha256: str
    watermark_id: int
    manifest_label: str
    log_id: str
    custody_seqs: dict[str, int]  # event kind -> sequence number (convert, watermark, sign)
    checkpoint_size: int
    checkpoint_root: str
    timestamped: bool

    def to_json(self) -> dict[str, Any]:
        return {**self.__dict__, "output": str(self.output)}


def record_reports(
    subject: Path, reports: Sequence[Path], *, actor: str, parameters: Mapping[str, Any] | None = None,
    reason: str = "", log: CustodyLog,
) -> Receipt:
    """Log reports that cannot carry a C2PA manifest (HTML, JSON) by hash: one durable `verify` event from the
    analysed file to them, so `faceproof custody prove --sha256 HASH` proves a report's origin offline."""
    event = Event(
        kind="verify", actor=actor, inputs=(AssetRef(sha256_file(subject), Path(subject).name),),
        outputs=tuple(AssetRef(sha256_file(path), Path(path).name) for path in reports),
        parameters=dict(parameters or {}), reason=reason,
    )
    return log.append(event)


class Sealer:
    """Holds one installation's keys, custody log, watermark registry and watermark secret."""

    def __init__(
        self, identity: SigningIdentity, log: CustodyLog, registry: WatermarkRegistry, watermark_secret: bytes
    ) -> None:
        self.identity = identity
        self.log = log
        self.registry = registry
        self.watermark_secret = watermark_secret

    def close(self) -> None:
        self.log.store.close()

    def __enter__(self) -> Sealer:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def begin(self, request: SealRequest) -> SealSession:
        """Check the request and consents, ingest its inputs, reserve a watermark ID and log the `begin` of this
        output (it ends in `sign` or `abort`, so an auditor can list what began and never ended)."""
        request.check()
        consents = require_consent(self.log, request.consents) if request.consents else []
        watermark_id = self.registry.allocate_id()
        inputs = self._ingest(request, Event(
            kind="begin", actor=request.actor, reason=f"making {request.title or 'an output'}",
            parameters={"title": request.title, "kind": request.kind, "watermark_id": watermark_id,
                        "owner": me().token},  # a sweep ends the begin of a process that dies before any record
            identities=tuple(record.identity for record in consents)))
        return SealSession(self, request, inputs, consents, watermark_id)

    def _ingest(self, request: SealRequest, begin: Event) -> tuple[AssetRef, ...]:
        """Hash every input and log `begin` with them, after an ingest event for content the log has never seen."""
        paths = list(dict.fromkeys(Path(p) for p in (*request.inputs, *([request.parent] if request.parent else []))))
        refs = tuple(AssetRef(sha256_file(path), path.name) for path in paths)
        log_begin(self.log, replace(begin, inputs=refs))
        return refs


class SealSession:
    """One output in the making. Use as a context manager to abort automatically on an exception."""

    def __init__(
        self, sealer: Sealer, request: SealRequest, inputs: tuple[AssetRef, ...], consents: list[ConsentRecord],
        watermark_id: int,
    ) -> None:
        self._sealer = sealer
        self.request = request
        self.inputs = inputs
        self.consents = consents
        self.watermark_id = watermark_id
        self.frames_marked = 0
        self._embedder = FrameEmbedder(sealer.watermark_secret, watermark_id)
        self._open = True
        self._record: Path | None = None

    def __enter__(self) -> SealSession:
        return self

    def __exit__(self, exc_type, exc, traceback) -> None:
        if self._open and exc_type is not None:
            self.abort(f"stopped by {exc_type.__name__}: {exc}")

    def work_file(self, final: Path, stage: str, suffix: str | None = None) -> Path:
        """The name to write `final` under while making it (`stage`: "encoding", ...). The session claims the
        folder: a process killed before the session ends leaves a record there from which `provenance.work.sweep`
        deletes the fragments and logs the interruption."""
        self._check_open()
        if self._record is None:
            self._record = begin_operation(final.parent, self.watermark_id, self.request.actor, self.inputs,
                                           final.name)
        return work_path(final, stage, suffix)

    def mark(self, frame_bgr: np.ndarray) -> np.ndarray:
        """The frame with this output's invisible watermark (BGR uint8); every frame must pass through here."""
        self._check_open()
        marked = self._embedder(frame_bgr)
        self.frames_marked += 1
        return marked

    def finish(self, encoded_path: str | os.PathLike, output_path: str | os.PathLike) -> SealResult:
        """Sign `encoded_path` into `output_path` (same format), log and register it; removes `encoded_path`."""
        self._check_open()
        encoded, output = Path(encoded_path), Path(output_path)
        if output.resolve() == encoded.resolve():
            raise ProvenanceError(f"{output.name}: the signed output must be a new file, not the encoded one")
        partial = work_path(output, "sealing")
        try:
            result = self._seal(encoded, output, partial)
        except BaseException as exc:  # an interrupt too: an unsigned or unrecorded file must never remain
            partial.unlink(missing_ok=True)
            encoded.unlink(missing_ok=True)
            self._record_abort(f"sealing {output.name} failed: {exc}")
            raise
        encoded.unlink(missing_ok=True)
        self._end()
        return result

    def abort(self, reason: str) -> None:
        """Record in the custody log that this output will not be delivered (the caller deletes its files)."""
        self._check_open()
        self._record_abort(reason)

    # -- internals ----------------------------------------------------------------------------------------
    def _check_open(self) -> None:
        if not self._open:
            raise ProvenanceError("this seal session is already finished or aborted")

    def _end(self) -> None:
        self._open = False
        if self._record is not None:
            end_operation(self._record)

    def _record_abort(self, reason: str) -> None:
        self._open = False
        self._sealer.log.append(Event(
            kind="abort", actor=self.request.actor, inputs=self.inputs, reason=reason or "aborted",
            parameters={"title": self.request.title, "watermark_id": self.watermark_id}, identities=self._identities(),
        ))
        self._end()  # only once the abort is durable: a kill in between leaves the record; the sweep sees this abort

    def _identities(self) -> tuple[str, ...]:
        return tuple(record.identity for record in self.consents)

    def _seal(self, encoded: Path, output: Path, partial: Path) -> SealResult:
        if manifest.mime_type(output) != manifest.mime_type(encoded):
            raise ProvenanceError(f"{encoded.name} and {output.name} differ in format: sealing never converts")
        if not encoded.is_file():
            raise ProvenanceError(f"{encoded}: the encoded file does not exist")
        if self.frames_marked == 0:
            raise ProvenanceError("no frame was watermarked: pass every frame through session.mark() before encoding")
        # The encoded file lives only under a temporary name until it is signed: the log names what it became.
        encoded_ref = AssetRef(sha256_file(encoded), f"{output.name} (before signing)")
        made, marked = self._sealer.log.append_many([self._convert_event(encoded_ref), self._watermark_event(encoded_ref)])
        signed = manifest.sign(encoded, partial, self._sealer.identity, self._manifest_spec(output, made, marked))
        output_ref = AssetRef(sha256_file(partial), output.name)
        sign = self._sealer.log.append(self._sign_event(encoded_ref, output_ref, signed))
        checkpoint = sign.checkpoint
        self._sealer.registry.record(RegistryEntry(
            self.watermark_id, output.name, output_ref.sha256, signed.manifest_label, checkpoint.log_id, sign.seq,
            checkpoint.size, checkpoint.root.hex(),
        ), signed.manifest_store)
        os.replace(partial, output)
        return SealResult(
            output, output_ref.sha256, self.watermark_id, signed.manifest_label, checkpoint.log_id,
            {"convert": made.seq, "watermark": marked.seq, "sign": sign.seq}, checkpoint.size, checkpoint.root.hex(),
            signed.timestamped,
        )

    def _convert_event(self, encoded: AssetRef) -> Event:
        request = self.request
        parameters = {**request.parameters, "kind": request.kind, "title": request.title, "model": dict(request.model or {})}
        return Event(kind="convert", actor=request.actor, inputs=self.inputs, outputs=(encoded,),
                     parameters=parameters, identities=self._identities())

    def _watermark_event(self, encoded: AssetRef) -> Event:
        parameters = {"watermark_id": self.watermark_id, "alg": manifest.SOFT_BINDING_ALG,
                      "key": key_fingerprint(self._sealer.watermark_secret), "frames": self.frames_marked}
        return Event(kind="watermark", actor=self.request.actor, outputs=(encoded,), parameters=parameters)

    def _sign_event(self, encoded: AssetRef, output: AssetRef, signed: manifest.Signed) -> Event:
        leaf = self._sealer.identity.leaf
        parameters = {"manifest_label": signed.manifest_label, "timestamped": signed.timestamped,
                      "signer": leaf.subject.rfc4514_string(), "watermark_id": self.watermark_id}
        return Event(kind="sign", actor=self.request.actor, inputs=(encoded,), outputs=(output,), parameters=parameters)

    def _manifest_spec(self, output: Path, made: Receipt, marked: Receipt) -> manifest.ManifestSpec:
        checkpoint = marked.checkpoint
        # Entries as objects: c2pa stores a bare list of small integers as a CBOR byte string.
        custody = {
            "log_id": checkpoint.log_id,
            "entries": [{"kind": "convert", "seq": made.seq}, {"kind": "watermark", "seq": marked.seq}],
            "leaf_index": marked.seq,
            "tree_size": checkpoint.size,
            "checkpoint_root": checkpoint.root.hex(),
            "checkpoint_time": checkpoint.time,
        }
        consents = [
            {key: record.to_json()[key] for key in ("identity", "person", "granted_on", "scope", "document_sha256", "custody_seq")}
            for record in self.consents
        ]
        return manifest.ManifestSpec(
            title=self.request.title or output.name, parent=self.request.parent, model=self.request.model,
            watermark_id=self.watermark_id, custody=custody, consents=consents,
        )
