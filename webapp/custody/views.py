"""The auditor's read-only custody browser: per project, per asset, with inclusion proofs and checkpoints;
verify the whole log; export bundles an auditor can check offline (`faceproof custody verify BUNDLE`).

The custody log is one per installation, shared by its organisations, so a user sees only events that touch
their organisation's assets and identities; the full-log bundle is for staff.
"""

from __future__ import annotations

import re
import tempfile
from pathlib import Path

from django.core.exceptions import PermissionDenied
from django.http import Http404, HttpResponse
from django.shortcuts import render
from django.views.decorators.http import require_POST

from provenance.custody.bundle import export_bundle
from provenance.custody.log import checkpoint_to_json
from provenance.errors import CustodyError
from provenance.home import keys_dir
from provenance.keys import KeyStore
from webapp.accounts.access import org_object, role_required
from webapp.accounts.models import Role
from webapp.custody.logs import custody_log, latest_checkpoint
from webapp.projects.models import Output, Project, Upload
from webapp.verify.models import Case

SHA256 = re.compile(r"^[0-9a-f]{64}$")
READERS = (Role.AUDITOR, Role.PRODUCER)
RECENT_CHECKPOINTS = 20


def asset_name(organisation, sha256: str) -> str | None:
    """The asset's name if it belongs to this organisation (an upload, a sealed output or a verified clip)."""
    for model, field, name in ((Output, "project__organisation", "path"), (Upload, "project__organisation", "original_name"),
                               (Case, "organisation", "original_name")):
        row = model.objects.filter(**{field: organisation, "sha256": sha256}).values_list(name, flat=True).first()
        if row:
            return Path(row).name
    return None


def project_seqs(log, project: Project) -> list[int]:
    keys = [f"identity:{i.custody_name}" for i in project.identities.all()]
    hashes = set(Upload.objects.filter(project=project).values_list("sha256", flat=True))
    hashes |= set(Output.objects.filter(project=project).values_list("sha256", flat=True))
    keys += [f"sha256:{h}" for h in hashes]
    return sorted({seq for key in keys for seq in log.store.lookup(key)})


def _overview(request, log, **extra):
    """The latest checkpoint, the newest signed checkpoints before it, and the organisation's projects."""
    recent = [checkpoint_to_json(c) for c in log.store.checkpoints()[-RECENT_CHECKPOINTS:]][::-1]
    return render(request, "custody/index.html", {
        "checkpoint": latest_checkpoint(log), "size": log.store.size(), "checkpoints": recent,
        "projects": Project.objects.filter(organisation=request.organisation), **extra})


@role_required(Role.AUDITOR)
def index(request):
    with custody_log() as log:
        return _overview(request, log)


@role_required(Role.AUDITOR)
@require_POST
def verify_log(request):
    with custody_log() as log:
        report = log.verify()
        return _overview(request, log, report=report.to_json(), report_ok=report.ok)


@role_required(Role.AUDITOR)
def project_events(request, pk):
    project = org_object(request, Project, pk=pk)
    with custody_log() as log:
        events = [log.entry(seq) for seq in project_seqs(log, project)]
    hashes = set(Upload.objects.filter(project=project).values_list("sha256", flat=True)) | set(
        Output.objects.filter(project=project).values_list("sha256", flat=True))
    return render(request, "custody/project.html", {"project": project, "events": events, "ours": hashes})


def _asset(request, sha256: str) -> str:
    if not SHA256.match(sha256):
        raise Http404("not a SHA-256")
    name = asset_name(request.organisation, sha256)
    if name is None:
        raise Http404("no asset of your organisation has this hash")
    return name


def asset_history(log, sha256: str) -> tuple[dict | None, list[dict]]:
    """The latest checkpoint and every event that names the asset, each with its inclusion proof under it."""
    checkpoint = latest_checkpoint(log)
    if checkpoint is None:
        return None, []
    seqs = [seq for seq in log.store.lookup(f"sha256:{sha256}") if seq < checkpoint["size"]]
    proofs = {p.seq: p.to_json() for p in log.inclusion_proofs(seqs, log.latest_checkpoint())}
    return checkpoint, [{**log.entry(seq), "proof": proofs[seq]} for seq in seqs]


@role_required(*READERS)
def asset(request, sha256):
    name = _asset(request, sha256)
    with custody_log() as log:
        checkpoint, events = asset_history(log, sha256)
    return render(request, "custody/asset.html", {"sha256": sha256, "name": name, "events": events,
                                                  "checkpoint": checkpoint})


def bundle_response(sha256: str | None, filename: str) -> HttpResponse:
    anchors = KeyStore(keys_dir()).trust_anchors_pem()
    with tempfile.TemporaryDirectory() as scratch, custody_log() as log:
        try:
            body = export_bundle(log, Path(scratch) / "bundle.json", sha256=sha256, trust_anchors_pem=anchors).read_bytes()
        except CustodyError as exc:  # nothing logged for it (yet)
            raise Http404(str(exc)) from None
    response = HttpResponse(body, content_type="application/json")
    response["Content-Disposition"] = f'attachment; filename="{filename}"'
    return response


@role_required(*READERS)
def asset_bundle(request, sha256):
    _asset(request, sha256)
    return bundle_response(sha256, f"custody-{sha256[:12]}.json")


@role_required(Role.AUDITOR)
def full_bundle(request):
    """The whole installation's log: it holds every organisation's events, so only staff may take it."""
    if not request.user.is_staff:
        raise PermissionDenied("the full log spans every organisation: ask the installation's staff")
    return bundle_response(None, "custody-full.json")
