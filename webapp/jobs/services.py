"""Jobs for the pages and the REST API of every app: start one, stop one, which ones a member sees, how one ended."""

from __future__ import annotations

from django.db import models, transaction
from django.db.models import QuerySet
from django.shortcuts import get_object_or_404

from webapp.accounts.models import Role
from webapp.custody_log import actor_of
from webapp.jobs.kinds import Outcome, kind_of
from webapp.jobs.models import Job
from webapp.jobs.tasks import enqueue


def start_job(user, project: models.Model | None, kind: str, params: dict) -> Job:
    """Queue a job of `kind` once the current transaction commits; its custody events name the user.

    `project` is a projects.Project (None for a detector job), typed loosely because jobs sits below projects."""
    job = Job.objects.create(organisation=user.membership.organisation, project=project, kind=kind,
                             params={**params, "actor": actor_of(user)}, created_by=user)
    transaction.on_commit(lambda: enqueue(job))
    return job


def cancel(job: Job) -> None:
    if not job.is_final:
        Job.objects.filter(pk=job.pk).update(cancel_requested=True)
        if job.state == Job.State.QUEUED:  # never picked up: nothing to stop
            Job.objects.filter(pk=job.pk, state=Job.State.QUEUED).update(state=Job.State.CANCELLED)


def visible_jobs(user) -> QuerySet[Job]:
    """Producers see their organisation's project jobs, verifiers its detector jobs, its admins all of them."""
    membership = user.membership
    jobs = Job.objects.filter(organisation=membership.organisation)
    if membership.role == Role.VERIFIER:
        return jobs.filter(kind=Job.Kind.DETECT)
    if membership.role == Role.PRODUCER:
        return jobs.exclude(kind=Job.Kind.DETECT)
    return jobs


def visible_job(user, pk: int) -> Job:
    """One of the user's `visible_jobs`; any other is 404, like every object outside their organisation."""
    return get_object_or_404(visible_jobs(user), pk=pk)


def outcome(job: Job) -> Outcome | None:
    """The result and next step of a job that produced something; None while it runs, when it failed, and for a
    kind that describes no result (a detector job: its page links to the case's report already)."""
    if job.state not in (Job.State.SUCCEEDED, Job.State.STOPPED):
        return None
    describe = kind_of(job).describe
    return describe(job) if describe else None
