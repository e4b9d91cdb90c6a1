"""The queue carries job ids only; each job runs in its own process (`faceproof runjob ID`) watched from here.

The watcher keeps the heartbeat fresh while the job's process lives, kills it if a stop request goes unheard
for STOP_GRACE seconds, and records a death it did not expect (a crash, an out-of-memory kill) as a failure in
plain words. When a worker itself dies, `recover()` runs on the next start (and every minute): a training job
whose worker vanished resumes from its last checkpoint; any other such job is marked failed. Inputs, faces,
checkpoints and custody events are files and log entries that outlive both.
"""

from __future__ import annotations

import functools
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

from django.conf import settings
from django.db import connection
from django.utils import timezone
from huey import crontab
from huey.contrib.djhuey import HUEY, db_periodic_task, db_task, on_startup

from provenance.work import owner_of, process, sweep_tree
from webapp.custody_log import custody_log
from webapp.jobs import runner
from webapp.jobs.models import Job

STOP_GRACE = 120.0  # seconds a job may take to stop cleanly (a trainer saving its checkpoint) before it is killed
POLL = 1.0
MAX_RESUMES = 3


def worker_name(pid: int | None = None) -> str:
    """`host:` and the process's work token (PID and start time: a PID reused later is another worker)."""
    return f"{socket.gethostname()}:{process(pid or os.getpid()).token}"


def child_environment() -> dict[str, str]:
    """The job process joins this process's exact database and media folder (tests use temporary ones)."""
    env = dict(os.environ)
    env["DJANGO_SETTINGS_MODULE"] = os.environ.get("DJANGO_SETTINGS_MODULE", "webapp.settings")
    env["FACEPROOF_DB_NAME"] = str(connection.settings_dict["NAME"])
    env["FACEPROOF_MEDIA_ROOT"] = str(settings.MEDIA_ROOT)
    return env


def enqueue(job: Job) -> None:
    if settings.FACEPROOF_GPU_QUEUE and job.kind in settings.FACEPROOF_GPU_KINDS:
        gpu_execute()(job.pk)
    else:
        execute(job.pk)


@db_task(name="execute")
def execute(job_id: int) -> None:
    if getattr(settings, "FACEPROOF_JOBS_INLINE", False):  # tests: no second process, same database connection
        runner.run(job_id)
        return
    job = Job.objects.get(pk=job_id)
    job.append_log(f"picked up by worker {worker_name()} from queue {HUEY.name}")
    job.worker = worker_name()
    job.save(update_fields=["log", "worker"])
    process = subprocess.Popen([sys.executable, "-m", "webapp", "runjob", str(job_id)], env=child_environment())
    Job.objects.filter(pk=job_id).update(worker=worker_name(process.pid))
    watch(job_id, process)


@functools.cache
def gpu_execute():
    """The same task on the GPU machines' Redis queue (they run `faceproof run_huey` with FACEPROOF_QUEUE set)."""
    from huey import RedisHuey

    return RedisHuey(settings.FACEPROOF_GPU_QUEUE, url=settings.HUEY["url"], results=False).task(name="execute")(execute)


def watch(job_id: int, process: subprocess.Popen) -> None:
    stop_asked: float | None = None
    while process.poll() is None:
        time.sleep(POLL)
        Job.objects.filter(pk=job_id, state=Job.State.RUNNING).update(heartbeat=timezone.now())
        if stop_asked is None and Job.objects.filter(pk=job_id, cancel_requested=True).exists():
            stop_asked = time.monotonic()
        if stop_asked is not None and time.monotonic() - stop_asked > STOP_GRACE:
            process.kill()
    code = process.wait()
    job = Job.objects.get(pk=job_id)
    if not job.is_final:
        how = f"signal {signal.Signals(-code).name}" if code < 0 else f"exit code {code}"
        job.state, job.finished = Job.State.FAILED, timezone.now()
        job.error = (f"the job's process ended unexpectedly ({how}); inputs and custody records are kept"
                     + ("; the model keeps its last checkpoint: press Resume" if job.kind == Job.Kind.TRAIN else ""))
        job.append_log(job.error)
        job.save()


def _worker_alive(worker: str) -> bool:
    host, _, token = worker.partition(":")
    owner = owner_of(token)
    if host != socket.gethostname() or owner is None:
        return True  # another machine's worker (or one named before start times were): only its heartbeat can tell
    return owner.alive()


def recover() -> list[int]:
    """Jobs that were running on a worker that is gone: training resumes, anything else fails plainly."""
    recovered = []
    for job in Job.objects.filter(state=Job.State.RUNNING):
        if not (job.is_stale or not _worker_alive(job.worker)):
            continue
        if job.kind == Job.Kind.TRAIN and job.attempts < MAX_RESUMES and not job.cancel_requested:
            job.state = Job.State.QUEUED
            job.append_log("the worker stopped while training; resuming from the last checkpoint")
            job.save()
            enqueue(job)
        else:
            job.state, job.finished = Job.State.FAILED, timezone.now()
            job.error = "the worker stopped while this job ran (a crash or a restart); inputs are kept: run it again"
            job.append_log(job.error)
            job.save()
        recovered.append(job.pk)
    return recovered


def sweep_media() -> list[str]:
    """Work that this machine's killed jobs and uploads left in the media folders: deleted, and each interrupted
    operation logged as aborted (`provenance.work`); run by `faceproof serve` and by every worker as it starts."""
    with custody_log(writable=True) as log:
        return sweep_tree(Path(settings.MEDIA_ROOT), log)


_start_sweep = threading.Lock()


def sweep_media_at_start() -> list[str]:
    """`sweep_media` once per process, returning what that sweep removed: `faceproof serve` and each of its job
    worker threads call this as they start, moments apart, and each further sweep would read the whole media tree
    again to find what the first one left: the work of processes that were running a moment before."""
    with _start_sweep:
        return list(_first_sweep())


@functools.cache
def _first_sweep() -> tuple[str, ...]:
    return tuple(sweep_media())


@on_startup()
def _recover_on_start() -> None:
    if not HUEY.immediate:
        sweep_media_at_start()
        recover()
    connection.close()


@db_periodic_task(crontab(minute="*"))
def recover_every_minute() -> None:
    recover()
