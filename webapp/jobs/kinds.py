"""The kinds of job: what each one does and how a finished one reads, registered by the app that owns the kind.

The jobs app queues, runs, watches and shows jobs without knowing what they make, so it sits below the apps
whose work it runs (webapp.APP_ORDER): `projects` registers extraction, training and conversion and `verify` the
detector, each from its AppConfig.ready(), which every process (the server, a worker, `faceproof runjob`) runs.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Protocol

from webapp.jobs.models import Job

Progress = Callable[..., None]  # the runner's Reporter: called with done, total and an optional detail line
Work = Callable[[Job, Progress], str | None]  # runs the job; returns its final state when that is not SUCCEEDED


class Download(Protocol):
    """A file a finished job offers on its page; the signed download link is made from its pk."""

    pk: int
    filename: str


@dataclass(frozen=True)
class Outcome:
    summary: str
    links: list[tuple[str, str]] = field(default_factory=list)  # (label, url): where to go next
    output: Download | None = None  # a conversion's sealed file, offered for download


Describe = Callable[[Job], Outcome | None]


@dataclass(frozen=True)
class JobKind:
    work: Work
    describe: Describe | None  # None: the kind's page shows no result of its own (a detector job links its case)


_KINDS: dict[str, JobKind] = {}


def register(kind: str, work: Work, describe: Describe | None = None) -> None:
    _KINDS[kind] = JobKind(work, describe)


def kind_of(job: Job) -> JobKind:
    """What the job's kind does; KeyError for a kind no installed app registered."""
    return _KINDS[job.kind]
