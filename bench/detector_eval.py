"""The detector's evaluation: identity-disjoint set, CRF 23 and 35, AUC, TPR at 1 % FPR, cue ablation, speed.

    .venv/bin/python -m bench.detector_eval [--data ../shared/data] [--cache DIR] [--frames 16] [--seed 7]

The same code as scripts/fit_detector.py (`detector.fit.evaluation`) without writing anything: the evaluation
people (none of them in the fit) are real 16-frame windows, self-blends and faceproof swaps of them, re-encoded
at H.264 CRF 23 and 35; it prints clip-level AUC, accuracy and TPR at 1 % FPR per condition and manipulation
family, the held-out-family results and the per-cue ablation. Then, end to end with the shipped detector and
`analyse()`'s defaults: every evaluation person's whole real clips (verdict and score each), 10 s of each
evaluation person swapped and delivered by `convert()` (sealed and watermarked, in the swap models' private
installation), and the speed of a 10 s 512 px clip (bench.detect). Everything measured is cached (first run:
about an hour on 2 cores, plus the swap models' training when they are missing; later runs: a few minutes).
"""

from __future__ import annotations

import tempfile
from pathlib import Path

from bench.detect import DATA, measure
from bench.machine import describe
from detector import analyse
from detector.analyse import DETECT_EVERY
from detector.fit import swaps
from detector.fit.evaluation import EVAL, SWAP_PAIRS, arguments, run_evaluation
from detector.report import Report
from swapcore.convert import SwapSettings, convert


def _score(report: Report) -> str:
    return "no face" if report.probability is None else f"{report.probability:.3f}"


def whole_clips(data: Path) -> None:
    """The shipped detector on each evaluation person's untouched clips, whole, with analyse()'s defaults."""
    print("\nEnd to end: whole real clips of the evaluation people, shipped detector, analyse() defaults")
    verdicts: dict[str, int] = {}
    for identity, clips in EVAL.items():
        for clip in clips:
            report = analyse(data / clip)
            verdicts[report.verdict] = verdicts.get(report.verdict, 0) + 1
            print(f"  {identity:12s} {clip.rsplit('/', 1)[-1]:28s} {report.video['frames']:5d} frames  "
                  f"score {_score(report)}  {report.verdict}")
    print("  verdicts: " + ", ".join(f"{count} {verdict}" for verdict, count in sorted(verdicts.items())))


def whole_swaps(data: Path, work: Path, frames: int = 300) -> None:
    """Each evaluation swap model's delivered output (convert(): sealed, watermarked) of 10 s of each of its
    two people, judged whole: score, verdict and what the provenance check found."""
    print(f"\nEnd to end: faceproof swaps of the evaluation pair, first {frames} frames, delivered and judged whole")
    a, b = SWAP_PAIRS["eval"]
    model = swaps.model_dir(work, a, b)
    with swaps.private_installation(work), tempfile.TemporaryDirectory() as folder:
        for person, direction in ((a, "a2b"), (b, "b2a")):
            output = Path(folder) / f"{person}_{direction}.mp4"
            convert(data / EVAL[person][0], model, output, settings=SwapSettings(direction=direction),
                    frames=(0, frames), actor="detector-eval")
            report = analyse(output)
            provenance = report.to_json()["provenance"]
            mark = "found" if provenance["watermark"].get("present") else "not found"
            print(f"  {person} {direction}: score {_score(report)}  {report.verdict}; "
                  f"C2PA {provenance['c2pa']['state']}, watermark {mark}")


def main() -> None:
    args = arguments(__doc__.split("\n")[0]).parse_args()
    print(describe())
    run_evaluation(args.data, args.cache, args.frames, args.seed, args.detect_every, args.swaps, args.swap_minutes)
    whole_clips(args.data)
    whole_swaps(args.data, args.swaps)
    analyse(DATA / "d3.mp4", max_frames=8)  # warm-up: model load, first allocations
    print("\nSpeed (10 s at 512 px):")
    print(measure(300, DETECT_EVERY))


if __name__ == "__main__":
    main()
