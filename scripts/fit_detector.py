"""Fit the detector's calibration (detector/calibration.json) and evaluate it on held-out identities.

    .venv/bin/python scripts/fit_detector.py [--data ../shared/data] [--cache DIR] [--frames 16] [--write]

The sets, the faceproof swap models (trained when missing), the model selection and the evaluation tables are
`detector.fit.evaluation` (see its docstring; bench/detector_eval.py prints the same figures without writing
anything). `--write` stores the calibration in the package.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from detector.fit.evaluation import (ALL_FAMILIES, CRFS, EVAL, FIT, SWAP_PAIRS, Evaluation, arguments, fit,  # noqa: E402
                                     run_evaluation)
from detector.score import default_path  # noqa: E402


def main() -> None:
    parser = arguments(__doc__.split("\n")[0])
    parser.add_argument("--write", action="store_true", help="write the fitted calibration into the package")
    args = parser.parse_args()
    run = run_evaluation(args.data, args.cache, args.frames, args.seed, args.detect_every, args.swaps, args.swap_minutes)
    full = fit(run.fit_units, run.fit_feats, run.chosen, l2=run.l2)
    print("\nweights (standardised features):")
    for name, weight in zip(full.features, full.weights):
        print(f"  {name:28s} {weight:+.3f}")
    if args.write:
        write(run, args.frames)


def write(run: Evaluation, frames: int) -> None:
    """The calibration, with what it was fitted and evaluated on."""
    provenance = {
        "fitted_on": f"{sum(u.family == 'real' for u in run.fit_units)} real {frames}-frame windows of "
                     f"{len(FIT)} people from faceproof's shared test data, self-blended manipulations of them "
                     f"and faceproof swaps ({', '.join(ALL_FAMILIES)}; swap pair {'/'.join(SWAP_PAIRS['fit'])}), "
                     f"H.264 CRF 12/23/35; evaluated on {len(EVAL)} other people.",
        "limits": "Small data: a few hundred clips of a few dozen people, self-blends and an early-stage lite "
                  "faceproof model rather than polished deepfakes, talking heads with large frontal faces. "
                  "Scores on other kinds of footage or manipulation are less reliable.",
        "fit_identities": sorted(FIT), "eval_identities": sorted(EVAL),
        "evaluation": {family: {str(c): rows[c] for c in CRFS} for family, rows in run.table.items()},
        "model_selection": {"l2": run.l2, "features": run.chosen},
    }
    calibration = fit(run.fit_units, run.fit_feats, run.chosen, provenance, l2=run.l2)
    default_path().write_text(json.dumps(calibration.to_json(), indent=1) + "\n")
    print(f"\nwrote {default_path()}")


if __name__ == "__main__":
    main()
