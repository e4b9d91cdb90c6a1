"""Operations that make no sealed output (an extraction, a training run), begun and ended in the custody log.

Like a seal session (`provenance.seal`), such an operation logs a `begin` naming its owner process before any
work, with its inputs (each logged as `ingest` the first time the log sees its content), and ends in one event:
its own kind (`extract`, `train`) when it succeeds, an `abort` when it fails, each citing the begin. A process
killed in between ends in neither; the next sweep with the log (`provenance.work.sweep`) logs its abort.

    with logged_operation(Custody(log, "alice@studio"), "extract", inputs, title="faces of alice") as operation:
        ...  # the work
        operation.end(outputs=(alignments,), parameters={"faces": 12})
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

from provenance.custody.log import AssetRef, CustodyLog, Event, Receipt
from provenance.errors import ProvenanceError
from provenance.work import me


@dataclass(frozen=True)
class Custody:
    """Where an operation is logged and who answers for it: the actor, and the people whose faces it uses."""

    log: CustodyLog
    actor: str
    identities: tuple[str, ...] = ()
    reason: str = ""  # why, in the words of whoever asked (a web job names its project)
    source_name: str = ""  # the input as its owner knows it (a web upload's own name), where its path says less


def log_begin(log: CustodyLog, begin: Event) -> Receipt:
    """Append `begin` after an `ingest` of each of its inputs whose content the log has never seen, in one durable
    batch: the operation's inputs are on record before it starts."""
    new = [ref for ref in dict.fromkeys(begin.inputs) if not log.store.lookup(f"sha256:{ref.sha256}")]
    ingests = [Event(kind="ingest", actor=begin.actor, inputs=(ref,)) for ref in new]
    return log.append_many([*ingests, begin])[-1]


class Operation:
    """One operation in progress: `end` it with its result, or `abort` it."""

    def __init__(self, custody: Custody, kind: str, inputs: tuple[AssetRef, ...], begin: int) -> None:
        self.custody, self.kind, self.inputs, self.begin = custody, kind, inputs, begin
        self.open = True

    def end(self, outputs: Sequence[AssetRef] = (), parameters: Mapping[str, Any] | None = None) -> Receipt:
        """Log the operation's own event (its kind), citing its begin: it finished."""
        return self._close(self.kind, outputs, {**(parameters or {}), "begin": self.begin}, self.custody.reason)

    def abort(self, reason: str) -> Receipt:
        return self._close("abort", (), {"begin": self.begin}, reason)

    def _close(self, kind: str, outputs: Sequence[AssetRef], parameters: dict[str, Any], reason: str) -> Receipt:
        if not self.open:
            raise ProvenanceError(f"this {self.kind} operation has already ended")
        self.open = False
        return self.custody.log.append(Event(kind=kind, actor=self.custody.actor, inputs=self.inputs,
                                             outputs=tuple(outputs), parameters=parameters, reason=reason,
                                             identities=self.custody.identities))


@contextmanager
def logged_operation(custody: Custody | None, kind: str, inputs: Sequence[AssetRef],
                     title: str) -> Iterator[Operation | None]:
    """Begin an operation of `kind` making `title`; an exception out of the block aborts it. The block must `end`
    it. Without `custody` (a library call that logs nothing) the block runs as it is, and gets None."""
    if custody is None:
        yield None
        return
    inputs = tuple(inputs)
    begin = log_begin(custody.log, Event(
        kind="begin", actor=custody.actor, inputs=inputs, reason=f"making {title}", identities=custody.identities,
        parameters={"operation": kind, "title": title, "owner": me().token}))  # a sweep ends it if the owner dies
    operation = Operation(custody, kind, inputs, begin.seq)
    try:
        yield operation
    except BaseException as exc:
        if operation.open:
            operation.abort(f"stopped by {type(exc).__name__}: {exc}")
        raise
    if operation.open:  # a caller's mistake: the log still says how the operation ended
        operation.abort("its code returned without logging its end")
        raise ProvenanceError(f"the {kind} operation making {title} returned without ending in the custody log")
