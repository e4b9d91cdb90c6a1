"""What the projects' jobs do: extract faces, train a model, convert a video, each calling the same core function
the CLI calls with the runner's progress callback; and how a finished one reads on its page. Registered with the
jobs app from ProjectsConfig.ready().
"""

from __future__ import annotations

from pathlib import Path

from django.conf import settings
from django.urls import reverse

from provenance.operation import Custody
from swapcore.options import build
from webapp.custody_log import custody_log, installation
from webapp.jobs.kinds import Outcome, register
from webapp.jobs.models import Job
from webapp.jobs.runner import Reporter
from webapp.projects.models import Identity, Output, Upload, media_path

def _extract(job: Job, report: Reporter) -> None:
    from swapcore.extract import ExtractSettings, extract

    identity = Identity.objects.select_related("project__organisation").get(pk=job.params["identity"])
    upload = Upload.objects.get(pk=job.params["upload"], project=identity.project)
    out = media_path(identity.faces_folder())
    settings = build(ExtractSettings, job.params, web=True)
    with custody_log(writable=True) as log:  # extract() logs its begin, then `extract` (or `abort`)
        custody = Custody(log, job.params["actor"], (identity.custody_name,),
                          reason=f"faces of {identity.name} for project {identity.project_id}",
                          source_name=upload.original_name)
        result = extract(upload.file(), out, settings, overwrite=True, progress=report, custody=custody)
    job.result = {"faces": result.faces, "frames": result.frames, "tracks": result.tracks,
                  "seconds": round(result.seconds, 1), "identity": identity.pk}


def _train(job: Job, report: Reporter) -> str | None:
    from swapcore.train import TrainConfig, train

    identities = list(Identity.objects.select_related("project__organisation").filter(pk__in=job.params["identities"])
                      .order_by("pk"))
    model_dir = media_path(job.params["model"])

    def progress(p) -> None:
        losses = " ".join(f"{k}={v:.4f}" for k, v in p.losses.items())
        report(p.iteration, p.iterations, f"iteration {p.iteration}: {losses} {p.eg_per_s:.1f} EG/s")

    with installation().sealer() as sealer:
        summary = train([media_path(i.faces_folder()) for i in identities], model_dir,
                        build(TrainConfig, job.params, web=True), progress=progress, actor=job.params["actor"],
                        sealer=sealer)
    job.result = {"iteration": summary.iteration, "stop_reason": summary.stop_reason, "eg_per_s": round(summary.eg_per_s, 1),
                  "holdout_loss": summary.holdout.loss, "seconds": round(summary.seconds, 1)}
    return Job.State.STOPPED if summary.stop_reason == "interrupted" else None


def _convert(job: Job, report: Reporter) -> None:
    from swapcore.convert import SwapSettings, convert, parse_frames

    target = Upload.objects.get(pk=job.params["target"], project=job.project)
    o = job.params
    settings = build(SwapSettings, o, web=True)
    relative = f"{job.project.folder()}/outputs/job_{job.pk}{o.get('format', '.mp4')}"
    media_path(relative).parent.mkdir(parents=True, exist_ok=True)
    with installation().sealer() as sealer:
        result = convert(target.file(), media_path(o["model"]), media_path(relative), settings=settings,
                         frames=parse_frames(o.get("frames") or None), actor=o["actor"], sealer=sealer,
                         progress=report)
    sealed = result.sealed[0]
    Output.objects.create(project=job.project, job=job, path=relative, sha256=sealed.sha256,
                          watermark_id=sealed.watermark_id, manifest_label=sealed.manifest_label)
    job.result = {"frames": result.frames, "frames_swapped": result.frames_swapped, "seconds": round(result.seconds, 1),
                  "watermark_id": sealed.watermark_id, "sha256": sealed.sha256, "archived": archive(relative)}


def archive(relative: str) -> str | None:
    """Copy a sealed output to the archive storage (S3 through django-storages) when one is configured."""
    if "archive" not in settings.STORAGES:
        return None
    from django.core.files import File
    from django.core.files.storage import storages

    with open(media_path(relative), "rb") as handle:
        return storages["archive"].save(relative, File(handle))


def model_ready(model: str) -> bool:
    from swapcore.training.bundle import CHECKPOINT

    return (media_path(model) / CHECKPOINT).is_file()


def previews(model: str) -> tuple[Path, Path]:
    """The trainer's latest preview grid and loss curve for a model folder (relative to MEDIA_ROOT)."""
    from swapcore.training import report as train_report

    folder = media_path(model)
    return folder / train_report.PREVIEWS / "latest.png", folder / train_report.LOSS_CURVE


STOP_REASONS = {"interrupted": "stopped on request; Resume continues from the checkpoint",
                "plateau": "stopped: the held-out loss stopped improving", "time_limit": "stopped at its time limit"}


def _trained(job: Job) -> Outcome:
    r = job.result
    how = STOP_REASONS.get(r.get("stop_reason", ""), "finished its iterations")
    losses_held_out = r.get("holdout_loss") or {}  # per identity
    held_out = "; held-out loss " + ", ".join(f"{name} {value:.4f}" for name, value in losses_held_out.items()) \
        if losses_held_out else ""
    losses = f"; last losses {job.detail.split(': ', 1)[-1]}" if job.detail else ""
    return Outcome(f"Iteration {r.get('iteration')}: {how}{held_out}{losses}.",
                   [("Convert with this model", reverse("project", args=[job.project_id]) + "#convert")])


def _extracted(job: Job) -> Outcome:
    r = job.result
    return Outcome(f"{r.get('faces', 0)} faces from {r.get('frames', 0)} frames ({r.get('tracks', 0)} track(s)).",
                   [("Review the faces", reverse("identity", args=[r["identity"]]))] if r.get("identity") else [])


def _converted(job: Job) -> Outcome | None:
    r = job.result
    output = Output.objects.filter(job=job).first()
    if output is None:
        return None
    return Outcome(f"{r.get('frames_swapped')} of {r.get('frames')} frames swapped into {output.filename}: "
                   f"watermarked (ID {output.watermark_id}), C2PA-signed and logged.",
                   [("Custody history and proof", reverse("custody_asset", args=[output.sha256]))], output=output)


def register_kinds() -> None:
    register(Job.Kind.EXTRACT, _extract, _extracted)
    register(Job.Kind.TRAIN, _train, _trained)
    register(Job.Kind.CONVERT, _convert, _converted)
