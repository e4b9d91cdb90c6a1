"""A job's page (live progress through a little JavaScript polling `status`), its JSON, cancel and resume."""

from __future__ import annotations

from django.contrib import messages
from django.core.exceptions import ValidationError
from django.http import JsonResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_POST

from webapp.accounts.access import org_object, role_required
from webapp.accounts.models import Role
from webapp.jobs.models import Job
from webapp.jobs.services import outcome
from webapp.projects import services

ANY_MAKER = (Role.PRODUCER, Role.VERIFIER)


def _job(request, pk) -> Job:
    """Producers see their organisation's project jobs, verifiers its detector jobs."""
    job = org_object(request, Job, pk=pk)
    role = request.user.membership.role
    if role == Role.VERIFIER and job.kind != Job.Kind.DETECT or role == Role.PRODUCER and job.kind == Job.Kind.DETECT:
        from django.http import Http404

        raise Http404("no such job")
    return job


@role_required(*ANY_MAKER)
def job_detail(request, pk):
    job = _job(request, pk)
    return render(request, "jobs/detail.html", {"job": job, "outcome": outcome(job)})


@role_required(*ANY_MAKER)
def job_status(request, pk):
    return JsonResponse(_job(request, pk).to_json())


@role_required(*ANY_MAKER)
@require_POST
def job_cancel(request, pk):
    job = _job(request, pk)
    services.cancel(job)
    messages.info(request, "stop requested" if job.kind == Job.Kind.TRAIN else "cancel requested")
    return redirect("job", pk)


@role_required(Role.PRODUCER)
@require_POST
def job_resume(request, pk):
    """Resume a stopped or failed training job from its checkpoint (a new job on the same model folder)."""
    job = _job(request, pk)
    if job.kind != Job.Kind.TRAIN or not job.is_final:
        messages.error(request, "only a finished training job can be resumed")
        return redirect("job", pk)
    options = {k: job.params[k] for k in ("arch", "iterations", "batch", "size", "save_every") if k in job.params}
    try:
        resumed = services.start_train(request.user, job.project, **options)
    except ValidationError as exc:
        for message in exc.messages:
            messages.error(request, message)
        return redirect("job", pk)
    return redirect("job", resumed.pk)
