"""The newsroom's pages: upload a clip, get the detector report (provenance first), keep a case history."""

from __future__ import annotations

from django import forms
from django.contrib import messages
from django.core.exceptions import ValidationError
from django.http import FileResponse, Http404
from django.shortcuts import redirect, render

from webapp.accounts.access import org_object, role_required
from webapp.accounts.models import Role
from webapp.projects import uploads
from webapp.projects.models import media_path
from webapp.verify import services
from webapp.verify.models import Case


class CaseForm(forms.Form):
    clip = forms.FileField(help_text="a video file (mp4, mov, webm, mkv, avi)")
    title = forms.CharField(max_length=200, required=False)
    notes = forms.CharField(widget=forms.Textarea(attrs={"rows": 3}), required=False)


@role_required(Role.VERIFIER)
def case_list(request):
    form = CaseForm(request.POST or None, request.FILES or None)
    refusal: ValidationError | None = None
    if request.method == "POST" and form.is_valid():
        try:
            case = services.open_case(request.user, **form.cleaned_data)
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
    return render(request, "verify/detail.html", {"case": case, "job": case.job, "report": services.case_report(case)})


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
