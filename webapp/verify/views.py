"""The newsroom's pages: upload a clip, get the detector report (provenance first), keep a case history."""

from __future__ import annotations

from django import forms
from django.contrib import messages
from django.core.exceptions import ValidationError
from django.db import transaction
from django.http import FileResponse, Http404
from django.shortcuts import redirect, render

from webapp.accounts.access import org_object, role_required
from webapp.accounts.models import Role
from webapp.custody.logs import actor_of, append
from webapp.jobs.models import Job
from webapp.projects import uploads
from webapp.projects.models import media_path
from webapp.projects.services import start_job
from webapp.verify.models import Case


class CaseForm(forms.Form):
    clip = forms.FileField(help_text="a video file (mp4, mov, webm, mkv, avi)")
    title = forms.CharField(max_length=200, required=False)
    notes = forms.CharField(widget=forms.Textarea(attrs={"rows": 3}), required=False)


def open_case(user, clip, title: str = "", notes: str = "") -> Case:
    uploads.check_rate(user, Case)
    organisation = user.membership.organisation
    stored = uploads.store(clip, f"org_{organisation.pk}/cases/incoming", ("video",))
    with transaction.atomic():
        case = Case.objects.create(organisation=organisation, title=title or stored.original_name, notes=notes,
                                   clip_path=stored.path, original_name=stored.original_name, sha256=stored.sha256,
                                   size=stored.size, created_by=user)
        folder = media_path(case.folder())
        folder.mkdir(parents=True, exist_ok=True)
        clip_path = f"{case.folder()}/clip{media_path(stored.path).suffix}"
        media_path(stored.path).rename(media_path(clip_path))
        case.clip_path = clip_path
        case.job = start_job(user, None, Job.Kind.DETECT, {"case": case.pk})
        case.save()
    append("ingest", actor_of(user), inputs=[(stored.sha256, stored.original_name)],
           parameters={"case": case.pk}, reason="clip submitted for verification")
    return case


@role_required(Role.VERIFIER)
def case_list(request):
    form = CaseForm(request.POST or None, request.FILES or None)
    refusal: ValidationError | None = None
    if request.method == "POST" and form.is_valid():
        try:
            case = open_case(request.user, **form.cleaned_data)
            return redirect("case", case.pk)
        except ValidationError as exc:
            for message in exc.messages:
                messages.error(request, message)
            refusal = exc
    cases = Case.objects.filter(organisation=request.organisation).select_related("job", "created_by")
    page = render(request, "verify/list.html", {"cases": cases, "form": form})
    return uploads.refused(page, refusal) if refusal else page


@role_required(Role.VERIFIER)
def case_detail(request, pk):
    case = org_object(request, Case, pk=pk)
    if request.method == "POST":
        case.notes = request.POST.get("notes", "")[:10_000]
        case.save(update_fields=["notes"])
        messages.success(request, "notes saved")
        return redirect("case", pk)
    report = media_path(case.folder()) / "report.json"
    data = None
    if report.is_file():
        import json

        data = json.loads(report.read_text())
    return render(request, "verify/detail.html", {"case": case, "job": case.job, "report": data})


@role_required(Role.VERIFIER)
def case_report(request, pk, kind):
    """The detector's own report file: HTML in a sandboxed frame (its inline styles, no scripts), or JSON."""
    case = org_object(request, Case, pk=pk)
    path = media_path(case.folder()) / ("report.html" if kind == "html" else "report.json")
    if kind not in ("html", "json") or not path.is_file():
        raise Http404("no report yet")
    response = FileResponse(open(path, "rb"), content_type="text/html" if kind == "html" else "application/json")
    response.headers["Content-Security-Policy"] = "sandbox; default-src 'none'; img-src data:; style-src 'unsafe-inline'"
    response.headers["X-Frame-Options"] = "SAMEORIGIN"
    return response
