"""What verifiers do, once, for both the pages and the REST API: open a case on a clip, read its report."""

from __future__ import annotations

import json

from django.db import transaction

from webapp.custody_log import actor_of, append
from webapp.jobs.models import Job
from webapp.jobs.services import start_job
from webapp.projects import uploads
from webapp.projects.models import media_path
from webapp.verify.models import Case


def open_case(user, clip, title: str = "", notes: str = "") -> Case:
    uploads.check_rate(user, Case)
    organisation = user.membership.organisation
    stored = uploads.store(clip, f"org_{organisation.pk}/cases/incoming", ("video",))
    with transaction.atomic():
        case = Case.objects.create(organisation=organisation, title=title or stored.original_name, notes=notes,
                                   clip_path=stored.path, original_name=stored.original_name, sha256=stored.sha256,
                                   size=stored.size, created_by=user)
        folder = media_path(case.folder())
        folder.mkdir(parents=True, exist_ok=True)
        clip_path = f"{case.folder()}/clip{media_path(stored.path).suffix}"
        media_path(stored.path).rename(media_path(clip_path))
        case.clip_path = clip_path
        case.job = start_job(user, None, Job.Kind.DETECT, {"case": case.pk})
        case.save()
    append("ingest", actor_of(user), inputs=[(stored.sha256, stored.original_name)],
           parameters={"case": case.pk}, reason="clip submitted for verification")
    return case


def case_report(case: Case) -> dict | None:
    """The detector's JSON report of the case, or None until its job wrote one."""
    report = media_path(case.folder()) / "report.json"
    return json.loads(report.read_text()) if report.is_file() else None
