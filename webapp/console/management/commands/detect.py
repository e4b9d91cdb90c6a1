"""faceproof detect VIDEO [--report out.html] [--json out.json]: look for signs of a face swap, with provenance.

Prints the provenance findings and the verdict; the HTML report adds the score timeline, per-cue reasons,
heatmaps and per-face breakdown. Exits 0 whatever the verdict: a verdict is evidence for a person to weigh,
not a pass/fail gate. Written reports are logged by hash in the custody log when this installation's keys can be
unlocked ($FACEPROOF_KEY_PASSPHRASE); without it the analysis still runs and says how to enable logging.
"""

from __future__ import annotations

import getpass
from pathlib import Path

from detector import analyse
from detector.analysis import DETECT_EVERY, LANDMARKER
from detector.report import VERDICTS, Report
from provenance.installation import PASSPHRASE_ENV
from provenance.seal import record_reports
from provenance.work import sweep
from webapp.console.base import StageCommand
from swapcore.faces import landmarks
from webapp.console.progress import progress_bar


def summary(report: Report) -> str:
    data = report.to_json()
    provenance, analysis = data["provenance"], data["analysis"]
    mark = provenance["watermark"]
    lines = [data["headline"]["text"], f"C2PA: {provenance['c2pa']['state']} - {provenance['c2pa']['meaning']}"]
    if not mark.get("tested"):
        lines.append(f"watermark: not tested ({mark['reason']})")
    else:
        found = f"found, ID {mark['watermark_id']}" if mark.get("present") else "none found"
        lines.append(f"watermark: {found} ({mark['frames_used']} frames)")
    if provenance["registry"]:
        lines.append(f"registry: made here as {provenance['registry']['output_name']}")
    lines.append(f"custody events: {len(provenance['custody'])}")
    strongest = analysis["reasons"][0] if analysis["reasons"] else None
    score = f" (strongest sign {strongest['percentile']}: {strongest['cue']})" if strongest else ""
    lines.append(f"verdict: {analysis['verdict'].upper()}{score}: {VERDICTS[analysis['verdict']]}")
    lines += [f"  {'!' if r['sign'] else '?' if r['weak'] else ' '} {r['cue']:12s} {r['percentile']}: {r['reason']}"
              for r in analysis["reasons"]]
    lines.append(f"{len(analysis['tracks'])} face track(s) judged in {data['seconds']:.1f} s")
    return "\n".join(lines)


class Command(StageCommand):
    help = "Analyse a video for face-swap artefacts (blur, seams, flicker, temporal) and report its provenance."

    def add_arguments(self, parser):
        parser.add_argument("video", type=Path)
        parser.add_argument("--report", type=Path, help="write the self-contained HTML report here")
        parser.add_argument("--json", type=Path, help="write the JSON report here")
        parser.add_argument("--max-frames", type=int, help="analyse at most this many frames")
        parser.add_argument("--detect-every", type=int, default=DETECT_EVERY, metavar="N",
                            help=f"detect faces on every N-th frame and follow them between (default {DETECT_EVERY}; "
                                 "1 is slower and measures every frame's landmarks, as the calibration was fitted)")
        parser.add_argument("--landmarks", choices=landmarks.available(), default=LANDMARKER,
                            help=f"face landmarks (default {LANDMARKER}: dlib's 68 points, whose training data is "
                                 "licensed for non-commercial use only; mtcnn5 leaves out the seam, brow and pose cues)")
        parser.add_argument("--actor", help="who is analysing, for the custody log (default: your user name)")

    def run(self, **options):
        for path in filter(None, (options["report"], options["json"])):
            sweep(path.resolve().parent, None)  # reports a killed detect left half-written there
        with progress_bar("detect") as progress:
            report = analyse(options["video"], progress=progress, max_frames=options["max_frames"],
                             detect_every=options["detect_every"], landmarker=landmarks.create(options["landmarks"]),
                             installation=self.installation)
        self.stdout.write(summary(report))
        written = []
        if options["report"]:
            written.append(report.write_html(options["report"]))
            self.stdout.write(f"report: {written[-1]}")
        if options["json"]:
            written.append(report.write_json(options["json"]))
            self.stdout.write(f"json: {written[-1]}")
        if written:  # reports cannot carry C2PA: their hashes go into the custody log instead
            self._log_reports(report, options, written)

    def _log_reports(self, report: Report, options: dict, written: list[Path]) -> None:
        if not self.installation.can_sign:  # a verifier's first run: the analysis stands without the log
            self.stdout.write(f"custody: reports not logged (this installation's keys are locked; set {PASSPHRASE_ENV} "
                              "to log each report's hash, provable with faceproof custody prove)")
            return
        analysis = report.to_json()["analysis"]
        with self.installation.opened_log(writable=True) as log:  # a first run with a passphrase makes the keys
            receipt = record_reports(
                options["video"], written, actor=options["actor"] or getpass.getuser(),
                parameters={"verdict": report.headline["label"], "probability": analysis["probability"]},
                reason="detector report", log=log,
            )
        self.stdout.write(f"custody: reports logged as entry {receipt.seq} (prove with faceproof custody prove)")
