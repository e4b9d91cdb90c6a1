"""How a finished job reads on its page: what it produced, and the next step from there."""

from __future__ import annotations

from dataclasses import dataclass, field

from django.urls import reverse

from webapp.jobs.models import Job
from webapp.projects.models import Output

STOP_REASONS = {"interrupted": "stopped on request; Resume continues from the checkpoint",
                "plateau": "stopped: the held-out loss stopped improving", "time_limit": "stopped at its time limit"}


@dataclass(frozen=True)
class Outcome:
    summary: str
    links: list[tuple[str, str]] = field(default_factory=list)  # (label, url): where to go next
    output: Output | None = None  # a conversion's sealed file, offered for download


def _training(job: Job) -> Outcome:
    r = job.result
    how = STOP_REASONS.get(r.get("stop_reason", ""), "finished its iterations")
    losses_held_out = r.get("holdout_loss") or {}  # per identity
    held_out = "; held-out loss " + ", ".join(f"{name} {value:.4f}" for name, value in losses_held_out.items()) \
        if losses_held_out else ""
    losses = f"; last losses {job.detail.split(': ', 1)[-1]}" if job.detail else ""
    return Outcome(f"Iteration {r.get('iteration')}: {how}{held_out}{losses}.",
                   [("Convert with this model", reverse("project", args=[job.project_id]) + "#convert")])


def outcome(job: Job) -> Outcome | None:
    """The result and next step of a job that produced something; None while it runs, when it failed, and for a
    detector job (its page links to the case's report already)."""
    if job.state not in (Job.State.SUCCEEDED, Job.State.STOPPED):
        return None
    r = job.result
    if job.kind == Job.Kind.EXTRACT:
        return Outcome(f"{r.get('faces', 0)} faces from {r.get('frames', 0)} frames ({r.get('tracks', 0)} track(s)).",
                       [("Review the faces", reverse("identity", args=[r["identity"]]))] if r.get("identity") else [])
    if job.kind == Job.Kind.TRAIN:
        return _training(job)
    if job.kind == Job.Kind.CONVERT:
        output = Output.objects.filter(job=job).first()
        if output is None:
            return None
        return Outcome(f"{r.get('frames_swapped')} of {r.get('frames')} frames swapped into {output.filename}: "
                       f"watermarked (ID {output.watermark_id}), C2PA-signed and logged.",
                       [("Custody history and proof", reverse("custody_asset", args=[output.sha256]))], output=output)
    return None
