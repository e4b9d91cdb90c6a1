"""What a job does: call the same core function the CLI calls, with a progress callback that writes the Job row.

`run(job_id)` runs inside the job's own process (`faceproof runjob ID`, started by the queue task) so that a
crash, an out-of-memory kill or a stuck decoder takes down only that job, and a stop request reaches the
trainer as SIGTERM in its main thread, which makes it save a checkpoint before it exits.
"""

from __future__ import annotations

import logging
import math
import os
import signal
import threading
import time
from datetime import timedelta
from pathlib import Path

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from provenance.custody.log import sha256_file
from provenance.operation import Custody
from provenance.work import sweep
from webapp.custody.logs import append, custody_log
from webapp.errors import USER_ERRORS
from webapp.jobs.models import Job
from webapp.projects.models import Identity, Output, Upload, media_path

log = logging.getLogger("faceproof.web")


class JobCancelled(BaseException):
    """Raised inside the core function's progress callback: unwinds through its cleanup (staging, seal abort)."""


class SmoothedRate:
    """Items per second, exponentially smoothed over about `seconds` of recent progress, and the time left at it.

    Starts at the first report, so model loading and other startup never count as slow progress; until it has
    seen `seconds` of progress it is the plain average since then (an early burst would otherwise weigh for long);
    a new total (another phase) or a step back starts over."""

    def __init__(self, seconds: float = 30.0) -> None:
        self.seconds = seconds
        self.rate: float | None = None
        self._start = 0.0  # when this phase's first report came
        self._last: tuple[float, int, int] | None = None  # time, done, total of the previous report

    def remaining(self, now: float, done: int, total: int) -> float | None:
        last, self._last = self._last, (now, done, total)
        if last is None or total != last[2] or done < last[1]:
            self.rate, self._start = None, now
            return None
        elapsed = now - last[0]
        if elapsed > 0:
            recent = (done - last[1]) / elapsed
            weight = max(1 - math.exp(-elapsed / self.seconds), elapsed / (now - self._start))
            self.rate = recent if self.rate is None else self.rate + weight * (recent - self.rate)
        return (total - done) / self.rate if self.rate else None


class Reporter:
    """The progress callback: at most one database write per second, and it notices a cancel request."""

    def __init__(self, job: Job, interval: float = 1.0) -> None:
        self.job, self.interval, self.last = job, interval, 0.0
        self.stopping = False
        self.rate = SmoothedRate()

    def __call__(self, done: int, total: int, detail: str = "") -> None:
        now = time.monotonic()
        if now - self.last < self.interval and done < total:
            return
        self.last = now
        remaining = self.rate.remaining(now, done, total)
        stamp = timezone.now()
        Job.objects.filter(pk=self.job.pk).update(
            done=done, total=total, detail=detail[:300], heartbeat=stamp,
            expected_end=None if remaining is None else stamp + timedelta(seconds=remaining))
        if not self.stopping and Job.objects.filter(pk=self.job.pk, cancel_requested=True).exists():
            self.stop()

    def stop(self) -> None:
        self.stopping = True
        if self.job.kind == Job.Kind.TRAIN and threading.current_thread() is threading.main_thread():
            os.kill(os.getpid(), signal.SIGTERM)  # the trainer's own handler: a clean stop that saves
            return
        raise JobCancelled()


def _finish(job: Job, state: str, *, error: str = "", line: str = "") -> None:
    job.refresh_from_db(fields=["log", "done", "total", "detail"])  # the reporter wrote these meanwhile
    job.state, job.error, job.finished = state, error, timezone.now()
    if state == Job.State.SUCCEEDED and job.total:
        job.done = job.total
    if line:
        job.append_log(line)
    job.save(update_fields=["state", "error", "finished", "log", "result", "done", "total", "detail"])


def run(job_id: int) -> None:
    """Run one job to its end and record how it ended; never raises for a failure of the job itself."""
    with transaction.atomic():
        job = Job.objects.select_for_update().get(pk=job_id)
        if job.is_final:
            return
        if job.cancel_requested:
            _finish(job, Job.State.CANCELLED, line="cancelled before it started")
            return
        job.state, job.started, job.heartbeat = Job.State.RUNNING, timezone.now(), timezone.now()
        job.attempts += 1
        job.append_log(f"started (attempt {job.attempts})")
        job.save()
    reporter = Reporter(job)
    try:
        ending = KINDS[job.kind](job, reporter)
    except JobCancelled:
        _finish(job, Job.State.CANCELLED, line="cancelled; partial files were removed")
    except USER_ERRORS as exc:
        _finish(job, Job.State.FAILED, error=str(exc), line=f"failed: {exc}")
    except Exception as exc:  # a bug: keep the traceback in the server log, tell the user plainly
        log.exception("job %s crashed", job.pk)
        _finish(job, Job.State.FAILED, error=f"internal error ({type(exc).__name__}: {exc}); the administrators can "
                "find the traceback in the server log", line="crashed")
    else:
        _finish(job, ending or Job.State.SUCCEEDED, line="finished" if not ending else f"ended: {ending}")


# ---- the kinds -----------------------------------------------------------------------------------------------
def _extract(job: Job, report: Reporter) -> None:
    from swapcore.extract import extract

    identity = Identity.objects.select_related("project__organisation").get(pk=job.params["identity"])
    upload = Upload.objects.get(pk=job.params["upload"], project=identity.project)
    out = media_path(identity.faces_folder())
    with custody_log(writable=True) as log:  # extract() logs its begin, then `extract` (or `abort`)
        custody = Custody(log, job.params["actor"], (identity.custody_name,),
                          reason=f"faces of {identity.name} for project {identity.project_id}")
        result = extract(upload.file(), out, every=int(job.params.get("every", 6)),
                         size=int(job.params.get("size", 256)), overwrite=True, progress=report, custody=custody)
    job.result = {"faces": result.faces, "frames": result.frames, "tracks": result.tracks,
                  "seconds": round(result.seconds, 1), "identity": identity.pk}


def _train(job: Job, report: Reporter) -> str | None:
    from swapcore.train import train

    identities = list(Identity.objects.select_related("project__organisation").filter(pk__in=job.params["identities"])
                      .order_by("pk"))
    model_dir = media_path(job.params["model"])

    def progress(p) -> None:
        losses = " ".join(f"{k}={v:.4f}" for k, v in p.losses.items())
        report(p.iteration, p.iterations, f"iteration {p.iteration}: {losses} {p.eg_per_s:.1f} EG/s")

    summary = train([media_path(i.faces_folder()) for i in identities], model_dir, arch=job.params.get("arch", "lite"),
                    batch=int(job.params.get("batch", 8)), iterations=int(job.params["iterations"]),
                    save_every=int(job.params.get("save_every", 50)), progress=progress, actor=job.params["actor"],
                    size=int(job.params["size"]) if job.params.get("size") else None)
    job.result = {"iteration": summary.iteration, "stop_reason": summary.stop_reason, "eg_per_s": round(summary.eg_per_s, 1),
                  "holdout_loss": summary.holdout.loss, "seconds": round(summary.seconds, 1)}
    return Job.State.STOPPED if summary.stop_reason == "interrupted" else None


def _convert(job: Job, report: Reporter) -> None:
    from swapcore.convert import BlendSettings, SwapSettings, convert, parse_frames

    target = Upload.objects.get(pk=job.params["target"], project=job.project)
    o = job.params
    settings = SwapSettings(direction=o.get("direction", "a2b"), color=o.get("color", "reinhard"), mask=o.get("mask", "auto"),
                            smooth=float(o.get("smooth", 0.5)),
                            blend=BlendSettings(erode=float(o.get("erode", 0.0)), blur=float(o.get("blur", 4.0))))
    relative = f"{job.project.folder()}/outputs/job_{job.pk}{o.get('format', '.mp4')}"
    media_path(relative).parent.mkdir(parents=True, exist_ok=True)
    result = convert(target.file(), media_path(o["model"]), media_path(relative), settings=settings,
                     frames=parse_frames(o.get("frames") or None), actor=o["actor"], progress=report)
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


def _detect(job: Job, report: Reporter) -> None:
    from detector import analyse
    from webapp.custody.services import organisation_history
    from webapp.verify.models import Case

    case = Case.objects.select_related("organisation").get(job=job)
    report_dir = media_path(case.folder())
    sweep(report_dir, None)  # reports a killed job left half-written there
    # The report is the case's organisation's: it shows only that organisation's custody events (the log is shared).
    analysis = analyse(media_path(case.clip_path), progress=report, max_frames=job.params.get("max_frames"),
                       name=case.original_name, history=organisation_history(case.organisation))
    reports = (analysis.write_json(report_dir / "report.json"), analysis.write_html(report_dir / "report.html"))
    data = analysis.to_json()
    case.verdict, case.c2pa_state = data["headline"]["label"], data["provenance"]["c2pa"]["state"]
    case.watermark_id = data["provenance"]["watermark"].get("watermark_id")
    case.save(update_fields=["verdict", "c2pa_state", "watermark_id"])
    job.result = {"verdict": case.verdict, "c2pa": case.c2pa_state, "probability": data["analysis"]["probability"]}
    append("verify", job.params["actor"], inputs=[(case.sha256, case.original_name)],
           outputs=[(sha256_file(path), path.name) for path in reports],  # reports carry no C2PA: logged by hash
           parameters={"verdict": case.verdict, "c2pa": case.c2pa_state}, reason=f"detector report for case {case.pk}")


KINDS = {Job.Kind.EXTRACT: _extract, Job.Kind.TRAIN: _train, Job.Kind.CONVERT: _convert, Job.Kind.DETECT: _detect}


def model_ready(model: str) -> bool:
    from swapcore.training.bundle import CHECKPOINT

    return (media_path(model) / CHECKPOINT).is_file()


def previews(model: str) -> tuple[Path, Path]:
    """The trainer's latest preview grid and loss curve for a model folder (relative to MEDIA_ROOT)."""
    from swapcore.training import report as train_report

    folder = media_path(model)
    return folder / train_report.PREVIEWS / "latest.png", folder / train_report.LOSS_CURVE
