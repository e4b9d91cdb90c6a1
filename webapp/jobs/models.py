"""The Job row is the truth the pages read: what runs, how far it got, whether it is alive, how it ended."""

from __future__ import annotations

from datetime import timedelta

from django.conf import settings
from django.db import models
from django.utils import timezone

from webapp.accounts.models import Organisation

STALE_AFTER = timedelta(seconds=90)  # a running job whose heartbeat is older than this has lost its worker


class Job(models.Model):
    class Kind(models.TextChoices):
        EXTRACT = "extract", "Extract faces"
        TRAIN = "train", "Train model"
        CONVERT = "convert", "Convert video"
        DETECT = "detect", "Analyse clip"

    class State(models.TextChoices):
        QUEUED = "queued", "Waiting for a worker"
        RUNNING = "running", "Running"
        SUCCEEDED = "succeeded", "Finished"
        FAILED = "failed", "Failed"
        CANCELLED = "cancelled", "Cancelled"
        STOPPED = "stopped", "Stopped (can resume)"

    FINAL = (State.SUCCEEDED, State.FAILED, State.CANCELLED, State.STOPPED)

    organisation = models.ForeignKey(Organisation, on_delete=models.CASCADE, related_name="jobs")
    project = models.ForeignKey("projects.Project", null=True, blank=True, on_delete=models.CASCADE, related_name="jobs")
    kind = models.CharField(max_length=16, choices=Kind.choices)
    state = models.CharField(max_length=16, choices=State.choices, default=State.QUEUED)
    params = models.JSONField(default=dict)  # what the task passes to the core function
    result = models.JSONField(default=dict)  # what the core function returned, for the pages
    done = models.BigIntegerField(default=0)
    total = models.BigIntegerField(default=0)
    detail = models.CharField(max_length=300, blank=True)  # the latest progress line (losses, EG/s, ...)
    # when the job should end at the reporter's smoothed recent rate (runner.SmoothedRate); None until known
    expected_end = models.DateTimeField(null=True, blank=True)
    log = models.TextField(blank=True)
    error = models.TextField(blank=True)  # in plain words, for a person
    cancel_requested = models.BooleanField(default=False)
    attempts = models.PositiveIntegerField(default=0)
    worker = models.CharField(max_length=120, blank=True)  # host:work token (PID, start time) of its process
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    created = models.DateTimeField(auto_now_add=True)
    started = models.DateTimeField(null=True, blank=True)
    finished = models.DateTimeField(null=True, blank=True)
    heartbeat = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created"]

    @property
    def fraction(self) -> float:
        return min(self.done / self.total, 1.0) if self.total else 0.0

    @property
    def eta_seconds(self) -> float | None:
        """Remaining time at the smoothed recent rate, counting down between reports (None until known).

        The rate since the start (startup included, every slow and fast stretch weighed alike) made conversion's
        estimate jump 1531 s -> 1903 s -> 99 s; the reporter keeps an exponentially smoothed recent rate instead."""
        if self.state != self.State.RUNNING or self.expected_end is None:
            return None
        return max((self.expected_end - timezone.now()).total_seconds(), 0.0)

    @property
    def is_final(self) -> bool:
        return self.state in self.FINAL

    @property
    def is_stale(self) -> bool:
        return self.state == self.State.RUNNING and (self.heartbeat is None or timezone.now() - self.heartbeat > STALE_AFTER)

    def append_log(self, line: str) -> None:
        stamp = timezone.now().strftime("%H:%M:%S")
        self.log = (self.log + f"{stamp} {line}\n")[-20_000:]

    def to_json(self) -> dict:
        return {"id": self.pk, "kind": self.kind, "state": self.state, "state_text": self.get_state_display(),
                "done": self.done, "total": self.total, "fraction": round(self.fraction, 4), "detail": self.detail,
                "eta_seconds": None if self.eta_seconds is None else round(self.eta_seconds),
                "error": self.error, "log": self.log[-4000:], "cancel_requested": self.cancel_requested,
                "result": self.result, "project": self.project_id,
                "created": self.created.isoformat(), "heartbeat": self.heartbeat.isoformat() if self.heartbeat else None}

    def __str__(self) -> str:
        return f"{self.get_kind_display()} #{self.pk} ({self.state})"
