"""What a detector job does: analyse the case's clip and write its report; registered with the jobs app from
VerifyConfig.ready().
"""

from __future__ import annotations

from provenance.custody.log import sha256_file
from provenance.work import sweep
from webapp.custody_log import append, installation, organisation_history
from webapp.jobs.kinds import register
from webapp.jobs.models import Job
from webapp.jobs.runner import Reporter
from webapp.projects.models import media_path
from webapp.verify.models import Case


def _detect(job: Job, report: Reporter) -> None:
    from detector import analyse

    case = Case.objects.select_related("organisation").get(job=job)
    report_dir = media_path(case.folder())
    sweep(report_dir, None)  # reports a killed job left half-written there
    # The report is the case's organisation's: it shows only that organisation's custody events (the log is shared).
    analysis = analyse(media_path(case.clip_path), progress=report, max_frames=job.params.get("max_frames"),
                       name=case.original_name, installation=installation(),
                       history=organisation_history(case.organisation))
    reports = (analysis.write_json(report_dir / "report.json"), analysis.write_html(report_dir / "report.html"))
    data = analysis.to_json()
    case.verdict, case.c2pa_state = data["headline"]["label"], data["provenance"]["c2pa"]["state"]
    case.watermark_id = data["provenance"]["watermark"].get("watermark_id")
    case.save(update_fields=["verdict", "c2pa_state", "watermark_id"])
    job.result = {"verdict": case.verdict, "c2pa": case.c2pa_state, "probability": data["analysis"]["probability"]}
    append("verify", job.params["actor"], inputs=[(case.sha256, case.original_name)],
           outputs=[(sha256_file(path), path.name) for path in reports],  # reports carry no C2PA: logged by hash
           parameters={"verdict": case.verdict, "c2pa": case.c2pa_state}, reason=f"detector report for case {case.pk}")


def register_kinds() -> None:
    register(Job.Kind.DETECT, _detect)
