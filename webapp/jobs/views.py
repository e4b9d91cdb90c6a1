"""A job's page (live progress through a little JavaScript polling `status`), its JSON, and cancel."""

from __future__ import annotations

from django.contrib import messages
from django.http import JsonResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_POST

from webapp.accounts.access import role_required
from webapp.accounts.models import Role
from webapp.jobs import services
from webapp.jobs.models import Job

ANY_MAKER = (Role.PRODUCER, Role.VERIFIER)


@role_required(*ANY_MAKER)
def job_detail(request, pk):
    job = services.visible_job(request.user, pk)
    return render(request, "jobs/detail.html", {"job": job, "outcome": services.outcome(job)})


@role_required(*ANY_MAKER)
def job_status(request, pk):
    return JsonResponse(services.visible_job(request.user, pk).to_json())


@role_required(*ANY_MAKER)
@require_POST
def job_cancel(request, pk):
    job = services.visible_job(request.user, pk)
    services.cancel(job)
    messages.info(request, "stop requested" if job.kind == Job.Kind.TRAIN else "cancel requested")
    return redirect("job", pk)
