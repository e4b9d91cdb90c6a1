"""The auditor's read-only custody browser: per project, per asset, with inclusion proofs and checkpoints;
verify the whole log; export bundles an auditor can check offline (`faceproof custody verify BUNDLE`).

The custody log is one per installation, shared by its organisations: what one of them may see of it is decided
in `webapp.custody.services` (its own events only; the full-log bundle and the checkpoint history are for staff).
"""

from __future__ import annotations

import re

from django.core.exceptions import PermissionDenied
from django.http import Http404, HttpResponse
from django.shortcuts import render
from django.views.decorators.http import require_POST

from provenance.errors import CustodyError
from webapp.accounts.access import org_object, role_required
from webapp.accounts.models import Organisation, Role
from webapp.custody import services
from webapp.custody_log import custody_log
from webapp.projects.models import Output, Project, Upload

SHA256 = re.compile(r"^[0-9a-f]{64}$")
READERS = (Role.AUDITOR, Role.PRODUCER)


def _overview(request, log, **extra):
    """What the organisation may see of the shared log (services.overview) and its projects."""
    return render(request, "custody/index.html", {
        **services.overview(log, staff=request.user.is_staff),
        "projects": Project.objects.filter(organisation=request.organisation), **extra})


@role_required(Role.AUDITOR)
def index(request):
    with custody_log() as log:
        return _overview(request, log)


@role_required(Role.AUDITOR)
@require_POST
def verify_log(request):
    with custody_log() as log:
        report = services.verify_whole_log(log, staff=request.user.is_staff)
        return _overview(request, log, report=report, report_ok=report["ok"])


@role_required(Role.AUDITOR)
def project_events(request, pk):
    project = org_object(request, Project, pk=pk)
    with custody_log() as log:
        events = services.project_events(log, project)
    hashes = set(Upload.objects.filter(project=project).values_list("sha256", flat=True)) | set(
        Output.objects.filter(project=project).values_list("sha256", flat=True))
    return render(request, "custody/project.html", {"project": project, "events": events, "ours": hashes})


def _asset(request, sha256: str) -> str:
    if not SHA256.match(sha256):
        raise Http404("not a SHA-256")
    name = services.asset_name(request.organisation, sha256)
    if name is None:
        raise Http404("no asset of your organisation has this hash")
    return name


@role_required(*READERS)
def asset(request, sha256):
    name = _asset(request, sha256)
    with custody_log() as log:
        checkpoint, events = services.asset_history(log, sha256, request.organisation)
    return render(request, "custody/asset.html", {"sha256": sha256, "name": name, "events": events,
                                                  "checkpoint": checkpoint})


def _bundle_download(sha256: str | None, organisation: Organisation | None) -> HttpResponse:
    try:
        bundle = services.bundle(sha256, organisation)
    except CustodyError as exc:  # nothing logged for it (yet), or nothing of this organisation
        raise Http404(str(exc)) from None
    response = HttpResponse(bundle.body, content_type="application/json")
    response["Content-Disposition"] = f'attachment; filename="{bundle.filename}"'
    return response


@role_required(*READERS)
def asset_bundle(request, sha256):
    _asset(request, sha256)
    return _bundle_download(sha256, request.organisation)


@role_required(Role.AUDITOR)
def full_bundle(request):
    """The whole installation's log: it holds every organisation's events, so only staff may take it."""
    if not request.user.is_staff:
        raise PermissionDenied("the full log spans every organisation: ask the installation's staff")
    return _bundle_download(None, None)
