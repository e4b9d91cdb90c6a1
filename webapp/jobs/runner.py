"""How a job runs: its kind's function (webapp.jobs.kinds) with a progress callback that writes the Job row.

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

from django.db import transaction
from django.utils import timezone

from webapp.errors import USER_ERRORS
from webapp.jobs.kinds import kind_of
from webapp.jobs.models import Job

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
        ending = kind_of(job).work(job, reporter)
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
