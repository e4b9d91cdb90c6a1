"""The detector's evaluation: identity-disjoint set, CRF 23 and 35, AUC, TPR at 1 % FPR, cue ablation, speed.

    .venv/bin/python -m bench.detector_eval [--data ../shared/data] [--cache DIR] [--frames 16] [--seed 7]

The same code as scripts/fit_detector.py (`detector.fit.evaluation`) without writing a calibration: the
evaluation people (none of them in the fit) are real clips and self-blends of them re-encoded at H.264 CRF 23
and 35; it prints video-level AUC, accuracy and TPR at 1 % FPR per condition and manipulation family, the
held-out-family results, the per-cue ablation, and then the speed of a 10 s 512 px clip (bench.detect).
Features are cached (first run: tens of minutes of face detection; later runs: seconds plus the speed run).
"""

from __future__ import annotations

from bench.detect import DATA, measure
from bench.machine import describe
from detector import analyse
from detector.analyse import DETECT_EVERY
from detector.fit.evaluation import arguments, run_evaluation


def main() -> None:
    args = arguments(__doc__.split("\n")[0]).parse_args()
    print(describe())
    run_evaluation(args.data, args.cache, args.frames, args.seed, args.detect_every)
    analyse(DATA / "d3.mp4", max_frames=8)  # warm-up: model load, first allocations
    print("\nSpeed (10 s at 512 px):")
    print(measure(300, DETECT_EVERY))


if __name__ == "__main__":
    main()
