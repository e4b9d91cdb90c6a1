"""What one organisation may see of the installation's shared custody log; the custody pages and API ask here.

The log is one per installation (one Merkle tree, one key signing its checkpoints); which organisation an event
belongs to is decided in `webapp.custody_log` (`visible_to`). A user sees only their organisation's events.
Another organisation's events are not counted, hinted at or summarised: a "this installation has seen this file"
flag would let any verifier test whether some other newsroom or studio holds a given clip. Of the shared log
itself an organisation sees the latest signed checkpoint (its size, root and time, which every inclusion proof and
offline bundle verifies against), the log's Merkle tiles (hashes only: they say no more than the checkpoint's size
does) and whether the whole log verifies; the history of checkpoints, the entry bundles and the full-log bundle
are for staff.
"""

from __future__ import annotations

import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from django.core.exceptions import PermissionDenied

from provenance.custody.bundle import export_bundle
from provenance.custody.checkpoint import checkpoint_note
from provenance.custody.log import CustodyLog, checkpoint_to_json
from provenance.custody.tiles import ENTRIES, parse_tile_path, read_tile
from webapp.accounts.models import Organisation
from webapp.custody_log import custody_log, installation, visible_to
from webapp.projects.models import Output, Project, Upload
from webapp.verify.models import Case

RECENT_CHECKPOINTS = 20


def latest_checkpoint(log: CustodyLog) -> dict | None:
    """The newest signed checkpoint as JSON, or None while the log is still empty."""
    return checkpoint_to_json(log.latest_checkpoint()) if log.store.size() else None


def asset_name(organisation: Organisation, sha256: str) -> str | None:
    """The asset's name if it belongs to this organisation (an upload, a sealed output or a verified clip)."""
    for model, field, name in ((Output, "project__organisation", "path"), (Upload, "project__organisation", "original_name"),
                               (Case, "organisation", "original_name")):
        row = model.objects.filter(**{field: organisation, "sha256": sha256}).values_list(name, flat=True).first()
        if row:
            return Path(row).name
    return None


def project_events(log: CustodyLog, project: Project) -> list[dict[str, Any]]:
    """The project's events: those naming its identities or its files' hashes, of its own organisation only (the
    same file may be another organisation's upload too)."""
    keys = [f"identity:{i.custody_name}" for i in project.identities.all()]
    hashes = set(Upload.objects.filter(project=project).values_list("sha256", flat=True))
    hashes |= set(Output.objects.filter(project=project).values_list("sha256", flat=True))
    keys += [f"sha256:{h}" for h in hashes]
    events = (log.entry(seq) for seq in sorted({seq for key in keys for seq in log.store.lookup(key)}))
    return [event for event in events if visible_to(project.organisation, event)]


def asset_history(log: CustodyLog, sha256: str, organisation: Organisation) -> tuple[dict | None, list[dict]]:
    """The latest checkpoint and the organisation's events that name the asset, each with its inclusion proof."""
    checkpoint = latest_checkpoint(log)
    if checkpoint is None:
        return None, []
    events = {seq: log.entry(seq) for seq in log.store.lookup(f"sha256:{sha256}") if seq < checkpoint["size"]}
    seqs = [seq for seq, event in events.items() if visible_to(organisation, event)]
    proofs = {p.seq: p.to_json() for p in log.inclusion_proofs(seqs, log.latest_checkpoint())}
    return checkpoint, [{**events[seq], "proof": proofs[seq]} for seq in seqs]


@dataclass(frozen=True)
class Bundle:
    filename: str  # the name a download saves it under
    body: bytes


def bundle(sha256: str | None, organisation: Organisation | None) -> Bundle:
    """An offline bundle: the asset's events of `organisation`, or (sha256 and organisation None) the whole log.

    Raises CustodyError when nothing the organisation may see mentions the asset."""
    anchors = installation().key_store().trust_anchors_pem()
    keep = (lambda event: visible_to(organisation, event)) if organisation is not None else None
    with tempfile.TemporaryDirectory() as scratch, custody_log() as log:
        body = export_bundle(log, Path(scratch) / "bundle.json", sha256=sha256, trust_anchors_pem=anchors,
                             keep=keep).read_bytes()
    return Bundle(f"custody-{sha256[:12]}.json" if sha256 else "custody-full.json", body)


def overview(log: CustodyLog, *, staff: bool) -> dict[str, Any]:
    """What the custody page and `GET /api/custody/` show of the shared log: the latest checkpoint; for staff also
    the entry count and the newest signed checkpoints before it (they time every organisation's activity)."""
    seen: dict[str, Any] = {"checkpoint": latest_checkpoint(log)}
    if staff:
        seen["size"] = log.store.size()
        seen["checkpoints"] = [checkpoint_to_json(c) for c in log.store.checkpoints()[-RECENT_CHECKPOINTS:]][::-1]
    return seen


def verify_whole_log(log: CustodyLog, *, staff: bool) -> dict[str, Any]:
    """Whether the shared log verifies (and its first problem); the entry and checkpoint counts for staff only."""
    report = log.verify().to_json()
    return report if staff else {key: report[key] for key in ("ok", "problem") if key in report}


def tlog_resource(log: CustodyLog, resource: str, *, staff: bool) -> tuple[bytes, str]:
    """A c2sp.org/tlog-tiles resource of the shared log and its content type: `checkpoint` (the latest, a signed
    note) and Merkle tiles for any auditor; entry bundles hold every organisation's events, so only for staff.
    Raises CustodyError for what does not exist (yet)."""
    checkpoint = log.latest_checkpoint()
    if resource == "checkpoint":
        return checkpoint_note(checkpoint, log.public_key).encode(), "text/plain; charset=utf-8"
    tile = parse_tile_path(resource)
    if tile.level == ENTRIES and not staff:
        raise PermissionDenied("entry bundles hold every organisation's events: ask the installation's staff")
    return read_tile(log, tile, checkpoint.size), "application/octet-stream"
