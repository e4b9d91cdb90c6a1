"""The detector's report: a versioned JSON document and a self-contained HTML page (pictures inlined).

Provenance comes first (facts: signatures, watermark, custody), then the pixel analysis (evidence). The
verdict is worded so that it never claims more than the analysis can show: "no signs found" is not
"proven real".
"""

from __future__ import annotations

import html
import json
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from detector import cues
from detector.evidence import BLEND, PASTE, Evidence
from detector.origin import Provenance
from detector.score import Calibration
from provenance.work import replace_atomically

SCHEMA = "faceproof.detector.report/1"

VERDICTS = {
    "likely manipulated": "The analysis found signs typical of a face swap. This is evidence, not proof: check the "
                          "reasons and the highlighted frames.",
    "inconclusive": "Some signs of manipulation were found, but not enough to call it. Treat the clip with care.",
    "no signs found": "The analysis found no signs of a face swap. That does not prove the video is authentic: "
                      "good manipulations and kinds this detector was not built for can pass unnoticed.",
    "no faces analysed": "No face large and steady enough to judge was found, so the pixels were not analysed.",
}


@dataclass(frozen=True)
class Keyframe:
    frame: int
    probability: float
    image: str  # data URI: the face, its blur/seam-band heatmap and its boundary seam map (detector.keyframes)


@dataclass(frozen=True)
class TrackResult:
    track_id: int
    frames: list[int]
    frame_probabilities: list[float]
    probability: float  # the learned blend fusion's probability (its frame scores draw the timeline)
    tails: dict[str, float]  # channel -> share of authentic faces at least as extreme (detector.evidence)
    reasons: list[dict[str, Any]]  # `reasons(tails, evidence)`
    face_size: float
    keyframes: list[Keyframe]

    @property
    def smallest_tail(self) -> float:
        return min(self.tails.values())


def headline_of(provenance: Provenance, verdict: str) -> dict[str, str]:
    """What a reader should learn first: a signed declaration or this installation's watermark outranks the analysis.

    A file that declares itself AI-generated in a Trusted or Valid C2PA manifest (IPTC digitalSourceType), or that
    carries this installation's watermark, is synthetic by its own account or by our records, whatever the pixels
    show; it is never headed "no signs found". `label` is the short form (lists, custody), `text` the sentence.
    """
    c2pa, mark, entry = provenance.c2pa, provenance.watermark, provenance.registry
    if c2pa.get("state") in ("Trusted", "Valid") and c2pa.get("ai_generated"):
        signer = (c2pa.get("signer") or {}).get("common_name") or "an unnamed signer"
        trust = "" if c2pa["state"] == "Trusted" else " (a signer this installation does not trust)"
        return {"kind": "declared-ai", "label": "declared AI-generated",
                "text": f"Declared AI-generated, signed by {signer}{trust}."}
    if mark.get("present") and entry:
        return {"kind": "faceproof-output", "label": "faceproof output",
                "text": f"A faceproof output: this installation's watermark links it to {entry['output_name']}, "
                        f"made and signed here as AI-generated media."}
    if mark.get("present"):
        return {"kind": "faceproof-output", "label": "faceproof output",
                "text": "Carries this installation's faceproof watermark: it was made here as AI-generated media "
                        "(its ID could not be read or is not in the registry)."}
    return {"kind": "analysis", "label": verdict, "text": f"{verdict.capitalize()}. {VERDICTS[verdict]}"}


FUSIONS = {
    BLEND: ("The learned combination of all cues scores the face like the blended faces it was fitted on.",
            "The learned combination of all cues scores the face like authentic ones."),
    PASTE: ("The combination of cues fitted on faces pasted from another person scores the face like those pastes.",
            "The combination of cues fitted on pasted faces scores the face like authentic ones."),
}


# Below the verdict's lines but outside the central 95 % of authentic faces: said as such, not as "all smooth".
UNUSUAL_TAIL = 0.05
UNUSUAL = "Higher than in most authentic faces, but within the range they show: not counted as a sign."


def percentile_text(tail: float) -> str:
    """'stronger than in 99.7 % of authentic faces', in words a reader checks against the verdict."""
    share = 100 * (1 - tail)
    if tail < 0.001:
        return "stronger than in more than 99.9 % of authentic faces"
    return f"stronger than in {share:.1f} % of authentic faces" if share >= 50 else "typical of authentic faces"


def reasons(tails: dict[str, float], evidence: Evidence) -> list[dict[str, Any]]:
    """One line per cue (its most extreme feature) and per fused score, most extreme first.

    `sign` is set exactly where the evidence crosses the "likely manipulated" line, `weak` where it crosses the
    "inconclusive" one, so the reasons listed under a verdict are the ones that made it."""
    per_source: dict[str, tuple[float, str]] = {}
    for channel, tail in tails.items():
        source = channel if channel in FUSIONS else cues.cue_of(channel).name
        if source not in per_source or tail < per_source[source][0]:
            per_source[source] = (tail, channel)
    out = []
    for source, (tail, channel) in sorted(per_source.items(), key=lambda item: item[1][0]):
        sign, weak = tail <= evidence.alpha, tail <= evidence.alpha_inconclusive
        said = FUSIONS[source] if source in FUSIONS else (cues.get(source).reason, cues.get(source).calm)
        reason = said[0] if weak else UNUSUAL if tail < UNUSUAL_TAIL else said[1]
        out.append({"cue": source, "feature": channel, "tail": float(f"{tail:.3g}"), "percentile": percentile_text(tail),
                    "sign": sign, "weak": weak and not sign, "reason": reason})
    return out


@dataclass
class Report:
    video: dict[str, Any]
    provenance: Provenance
    probability: float | None
    verdict: str
    tracks: list[TrackResult]
    timeline: list[tuple[int, float]]  # (frame, highest face probability in that frame)
    reasons: list[dict[str, Any]]
    skipped_tracks: int
    calibration: dict[str, Any]
    seconds: float
    headline: dict[str, str] = field(default_factory=dict)  # headline_of(provenance, verdict)
    schema: str = field(default=SCHEMA)

    @classmethod
    def build(cls, *, video: dict, provenance: Provenance, tracks: list[TrackResult], skipped_tracks: int,
              calibration: Calibration, evidence: Evidence, seconds: float) -> Report:
        """`tracks` most suspicious first (smallest tail): that face decides the verdict and gives the reasons."""
        probability = max((t.probability for t in tracks), default=None)
        per_frame: dict[int, float] = {}
        for track in tracks:
            for frame, p in zip(track.frames, track.frame_probabilities):
                per_frame[frame] = max(per_frame.get(frame, 0.0), p)
        verdict = evidence.verdict(tracks[0].smallest_tail if tracks else None)
        return cls(
            video=video,
            provenance=provenance,
            probability=probability,
            verdict=verdict,
            tracks=tracks,
            timeline=sorted(per_frame.items()),
            reasons=tracks[0].reasons if tracks else [],
            skipped_tracks=skipped_tracks,
            calibration={"version": calibration.version, "evidence_version": evidence.version,
                         "alpha": evidence.alpha, "alpha_inconclusive": evidence.alpha_inconclusive,
                         "false_alarm_budget": evidence.provenance.get("budget"),
                         "measured_false_alarms": evidence.provenance.get("measured_false_alarms", ""),
                         "fitted_on": calibration.provenance.get("fitted_on", ""),
                         "reference": evidence.provenance.get("reference", ""),
                         "limits": calibration.provenance.get("limits", "")},
            seconds=round(seconds, 2),
            headline=headline_of(provenance, verdict),
        )

    def to_json(self) -> dict[str, Any]:
        return {
            "schema": self.schema,
            "headline": self.headline,
            "video": self.video,
            "provenance": self.provenance.to_json(),
            "analysis": {
                "probability": self.probability,
                "smallest_tail": self.tracks[0].smallest_tail if self.tracks else None,
                "verdict": self.verdict,
                "verdict_text": VERDICTS[self.verdict],
                "reasons": self.reasons,
                "timeline": [{"frame": f, "probability": round(p, 4)} for f, p in self.timeline],
                "tracks": [asdict(t) for t in self.tracks],
                "skipped_tracks": self.skipped_tracks,
            },
            "calibration": self.calibration,
            "seconds": self.seconds,
        }

    def write_json(self, path: str | Path) -> Path:
        text = json.dumps(self.to_json(), indent=1)
        return replace_atomically(Path(path), lambda partial: partial.write_text(text))

    def write_html(self, path: str | Path) -> Path:
        text = render_html(self)
        return replace_atomically(Path(path), lambda partial: partial.write_text(text))


# -- HTML ------------------------------------------------------------------------------------------------

_STYLE = """
body{font:15px/1.45 system-ui,sans-serif;max-width:960px;margin:2em auto;padding:0 1em;color:#222}
h1{font-size:1.5em}h2{border-bottom:1px solid #ccc;padding-bottom:.2em;margin-top:1.6em}
.verdict{font-size:1.3em;padding:.6em 1em;border-radius:6px}
.v-declared{background:#e3e0fb}.v-likely{background:#fde2e1}.v-inconclusive{background:#fff3cd}.v-none{background:#e6f4ea}.v-faces{background:#eee}
table{border-collapse:collapse}td,th{padding:.25em .7em;border-bottom:1px solid #eee;text-align:left;vertical-align:top}
.sign{color:#a11}.calm{color:#555}figure{display:inline-block;margin:.5em}figcaption{font-size:.85em;color:#555}
.small{font-size:.85em;color:#555}
"""


def _e(value: Any) -> str:
    return html.escape(str(value))


def _provenance_html(provenance: Provenance) -> str:
    c2pa, mark = provenance.c2pa, provenance.watermark
    rows = [f"<tr><th>C2PA manifest</th><td><b>{_e(c2pa['state'])}</b>: {_e(c2pa.get('meaning', ''))}"
            + (f"<br><span class=small>failures: {_e(', '.join(c2pa['failures']))}</span>" if c2pa.get("failures") else "")
            + "</td></tr>"]
    if c2pa.get("manifest_label"):
        signer = c2pa.get("signer") or {}
        rows.append(f"<tr><th>Signed by</th><td>{_e(signer.get('common_name', '?'))} ({_e(signer.get('issuer', '?'))}); "
                    f"generator {_e(c2pa.get('claim_generator'))}; AI-generated declared: "
                    f"{'yes' if c2pa.get('ai_generated') else 'no'}</td></tr>")
    if not mark.get("tested"):
        rows.append(f"<tr><th>Watermark</th><td>not tested: {_e(mark.get('reason', ''))}</td></tr>")
    elif mark.get("present"):
        found = f"ID {_e(mark['watermark_id'])}" if mark.get("watermark_id") is not None else "present, ID unreadable"
        rows.append(f"<tr><th>Watermark</th><td><b>faceproof watermark found</b>: {found} "
                    f"(p = {mark['p_value']:.1e}, {mark['frames_used']} frames)</td></tr>")
    else:
        rows.append(f"<tr><th>Watermark</th><td>none of this installation's watermark found "
                    f"({mark['frames_used']} frames tested)</td></tr>")
    if provenance.registry:
        entry = provenance.registry
        rows.append(f"<tr><th>Registry</th><td>made by this installation as <b>{_e(entry['output_name'])}</b> "
                    f"(sha256 {_e(entry['output_sha256'][:16])}…, manifest {_e(entry['manifest_label'])}, "
                    f"custody entry {_e(entry['custody_seq'])})</td></tr>")
    if provenance.custody:
        events = "".join(f"<li>{_e(ev.get('time', ''))} — {_e(ev.get('kind', ''))} by {_e(ev.get('actor', ''))}</li>"
                         for ev in provenance.custody)
        rows.append(f"<tr><th>Custody history</th><td><ol>{events}</ol></td></tr>")
    rows.append(f"<tr><th>File sha256</th><td class=small>{_e(provenance.sha256)}</td></tr>")
    return "<table>" + "".join(rows) + "</table>"


def _timeline_svg(timeline: list[tuple[int, float]], frames: int) -> str:
    if not timeline:
        return "<p class=small>No frames were scored.</p>"
    width, height, pad = 900, 160, 30
    span = max(frames - 1, 1)
    x = lambda f: pad + (width - 2 * pad) * f / span  # noqa: E731
    y = lambda p: height - pad - (height - 2 * pad) * p  # noqa: E731
    points = " ".join(f"{x(f):.1f},{y(p):.1f}" for f, p in timeline)
    return (f'<svg viewBox="0 0 {width} {height}" width="100%" role="img" aria-label="score per frame">'
            f'<rect x="{pad}" y="{pad}" width="{width - 2 * pad}" height="{height - 2 * pad}" fill="#fafafa" stroke="#ccc"/>'
            f'<polyline points="{points}" fill="none" stroke="#1a5fb4" stroke-width="1.5"/>'
            f'<text x="{pad}" y="{pad - 8}" font-size="12">1.0</text><text x="{pad}" y="{height - 10}" font-size="12">0 — frame 0</text>'
            f'<text x="{width - pad - 60}" y="{height - 10}" font-size="12">frame {frames - 1}</text></svg>')


def _reasons_html(items: list[dict[str, Any]]) -> str:
    rows = "".join(f"<tr class={'sign' if r['sign'] or r['weak'] else 'calm'}><td>{_e(r['cue'])}</td>"
                   f"<td>{_e(r['percentile'])}</td><td>{_e(r['reason'])}</td></tr>" for r in items)
    return f"<table><tr><th>cue</th><th>compared with authentic faces</th><th>what it means</th></tr>{rows}</table>"


def _track_html(track: TrackResult) -> str:
    figures = "".join(f"<figure><img src=\"{k.image}\" alt=\"face at frame {k.frame}\" width=576>"
                      f"<figcaption>frame {k.frame}, where the first reason measured most (then: blur and seam-band heatmap; "
                      f"colour steps along the mask boundaries)</figcaption></figure>"
                      for k in track.keyframes)
    return (f"<h3>Face track {track.track_id}: {percentile_text(track.smallest_tail)}</h3>"
            f"<p class=small>frames {track.frames[0]}–{track.frames[-1]} ({len(track.frames)} observations), "
            f"face about {track.face_size:.0f} px</p>{_reasons_html(track.reasons)}{figures}")


def render_html(report: Report) -> str:
    css = {"likely manipulated": "v-likely", "inconclusive": "v-inconclusive", "no signs found": "v-none"}
    score = f" — strongest sign {report.reasons[0]['percentile']} ({report.reasons[0]['cue']})" if report.reasons else ""
    headline = report.headline
    declared = headline["kind"] != "analysis"
    body = [
        f"<h1>Face analysis: {_e(report.video['name'])}</h1>",
        f"<p class='verdict {'v-declared' if declared else css.get(report.verdict, 'v-faces')}' role=status>"
        f"<b>{_e(headline['text'])}</b></p>",
        "<h2>Provenance</h2>", _provenance_html(report.provenance),
        "<h2>Analysis</h2>",
        f"<p class='verdict {css.get(report.verdict, 'v-faces')}'><b>{_e(report.verdict.capitalize())}</b>{score}</p>",
        f"<p>{_e(VERDICTS[report.verdict])}</p>"
        + ("<p class=small>The pixel analysis does not override the file's own declaration above: a well-made "
           "synthetic face can pass it.</p>" if declared else ""),
        "<h3>Score over time</h3>",
        _timeline_svg(report.timeline, int(report.video["frames"])),
        "<p class=small>Highest face score per frame (the learned blend fusion, frame by frame; the verdict "
        "weighs whole face tracks against authentic faces, below).</p>",
    ]
    if report.reasons:
        body += ["<h3>Why (most suspicious face)</h3>", _reasons_html(report.reasons)]
    body += ["<h2>Faces</h2>"] + [_track_html(t) for t in report.tracks]
    if report.skipped_tracks:
        body.append(f"<p class=small>{report.skipped_tracks} short or small face track(s) were not judged.</p>")
    about = report.calibration
    body.append(f"<h2>About this analysis</h2><p class=small>Each cue is compared with {_e(about['reference'])}; "
                f"the verdict's lines let through at most {about['false_alarm_budget']:.0%} of authentic clips as "
                f"'likely manipulated' (measured: {_e(about['measured_false_alarms'])}). Evidence "
                f"{_e(about['evidence_version'])}; blend calibration {_e(about['version'])}: "
                f"{_e(about['fitted_on'])} {_e(about['limits'])} Analysed in {report.seconds:.1f} s.</p>")
    return ("<!doctype html><html lang=en><head><meta charset=utf-8><title>Face analysis: "
            f"{_e(report.video['name'])}</title><style>{_STYLE}</style></head><body>{''.join(body)}</body></html>")
