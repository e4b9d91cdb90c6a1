"""The detector's evaluation at the verdict level: false alarms on authentic clips, recall on pastes, speed.

    .venv/bin/python -m bench.detector_eval [--data ../shared/data] [--blend]

1. The evidence evaluation of scripts/fit_evidence.py without writing: leave-one-person-out over the wide
   authentic reference (every real person, wild/ included, four CRFs and two sizes) and the cross-identity paste
   families: authentic clips flagged, recall per family and CRF, AUC, leave-one-family-out, cue ablation.
2. End to end with the shipped detector and `analyse()`'s defaults: every real clip of the shared data, whole
   (verdict counts, wild/ on its own), and one 64-frame pasted clip per evaluation person and paste family at
   CRF 23 (verdict counts per family).
3. The speed of a 10 s 512 px clip (bench.detect).
`--blend` adds the learned blend fusion's own evaluation (self-blends and faceproof swaps; detector.fit.evaluation)
and faceproof swaps delivered by `convert()`, judged whole (needs the swap models: about 80 minutes to train).
"""

from __future__ import annotations

import tempfile
from pathlib import Path

from bench.detect import DATA, measure
from bench.machine import describe
from detector import analyse
from detector.analysis import DETECT_EVERY, DETECTOR_OPTIONS, LANDMARKER
from detector.fit import swaps
from detector.fit.evaluation import EVAL, FIT, SWAP_PAIRS, arguments, run_evaluation
from detector.fit.pastes import FAMILIES
from detector.fit.evidence import evaluate_evidence
from detector.fit.reference import DEFAULT_CACHE, WILD, Shapes, paste_clips, write
from swapcore.faces.detectors import create
from swapcore.faces.landmarks import create as create_landmarker
from detector.report import Report
from swapcore.convert import SwapSettings, convert


def _score(report: Report) -> str:
    return "no face" if report.probability is None else f"{report.probability:.3f}"


def whole_clips(data: Path) -> None:
    """The shipped detector on every real clip of the shared data, whole, with analyse()'s defaults."""
    print("\nEnd to end: every real clip, whole, shipped detector, analyse() defaults")
    for group, people in (("fit", FIT), ("eval", EVAL), ("wild", WILD)):
        verdicts: dict[str, int] = {}
        for identity, clips in people.items():
            for clip in clips:
                report = analyse(data / clip)
                verdicts[report.verdict] = verdicts.get(report.verdict, 0) + 1
                strongest = report.reasons[0] if report.reasons else {"cue": "-", "tail": 1.0}
                print(f"  {group:4s} {identity:12s} {clip.rsplit('/', 1)[-1]:28s} {report.video['frames']:5d} frames  "
                      f"{report.verdict:18s} strongest {strongest['cue']} (tail {strongest['tail']:.2g})")
        print(f"  {group} verdicts: " + ", ".join(f"{n} {v}" for v, n in sorted(verdicts.items())))


def whole_pastes(data: Path) -> None:
    """One pasted 64-frame clip per evaluation person and paste family at CRF 23, through analyse()."""
    print("\nEnd to end: pasted clips of the evaluation people (CRF 23), shipped detector")
    shapes = Shapes(create("mtcnn", **DETECTOR_OPTIONS), create_landmarker(LANDMARKER))
    clips = [c for c in paste_clips(data) if c.group == "eval" and c.crf == 23]
    with tempfile.TemporaryDirectory() as folder:
        for family in FAMILIES:
            verdicts: dict[str, int] = {}
            for clip in (c for c in clips if c.family == family):
                report = analyse(write(clip, Path(folder) / f"{clip.key}.mp4", shapes))
                verdicts[report.verdict] = verdicts.get(report.verdict, 0) + 1
            print(f"  {family:9s} " + ", ".join(f"{n} {v}" for v, n in sorted(verdicts.items())))


def whole_swaps(data: Path, work: Path, frames: int = 300) -> None:
    """Each evaluation swap model's delivered output (convert(): sealed, watermarked) of 10 s of each of its
    two people, judged whole: score, verdict and what the provenance check found."""
    print(f"\nEnd to end: faceproof swaps of the evaluation pair, first {frames} frames, delivered and judged whole")
    a, b = SWAP_PAIRS["eval"]
    model = swaps.model_dir(work, a, b)
    installation = swaps.private_installation(work)
    with installation.sealer() as sealer, tempfile.TemporaryDirectory() as folder:
        for person, direction in ((a, "a2b"), (b, "b2a")):
            output = Path(folder) / f"{person}_{direction}.mp4"
            convert(data / EVAL[person][0], model, output, settings=SwapSettings(direction=direction),
                    frames=(0, frames), actor="detector-eval", sealer=sealer)
            report = analyse(output, installation=installation)
            provenance = report.to_json()["provenance"]
            mark = "found" if provenance["watermark"].get("present") else "not found"
            print(f"  {person} {direction}: score {_score(report)}  {report.verdict}; "
                  f"C2PA {provenance['c2pa']['state']}, watermark {mark}")


def main() -> None:
    parser = arguments(__doc__.split("\n")[0])
    parser.add_argument("--blend", action="store_true", help="also evaluate the learned blend fusion and faceproof "
                        "swaps (trains the swap models when missing)")
    parser.add_argument("--reference-cache", type=Path, default=DEFAULT_CACHE)
    args = parser.parse_args()
    print(describe())
    evaluate_evidence(args.data, args.reference_cache, budget=0.01, inconclusive_budget=0.05)
    whole_clips(args.data)
    whole_pastes(args.data)
    if args.blend:
        run_evaluation(args.data, args.cache, args.frames, args.seed, args.detect_every, args.swaps, args.swap_minutes)
        whole_swaps(args.data, args.swaps)
    analyse(DATA / "d3.mp4", max_frames=8)  # warm-up: model load, first allocations
    print("\nSpeed (10 s at 512 px):")
    print(measure(300, DETECT_EVERY))


if __name__ == "__main__":
    main()
