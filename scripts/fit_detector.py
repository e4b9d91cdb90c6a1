"""Fit the detector's calibration (detector/calibration.json) and evaluate it on held-out identities.

    .venv/bin/python scripts/fit_detector.py [--data ../shared/data] [--cache DIR] [--frames 16] [--write]

The sets, the model selection and the evaluation tables are `detector.fit.evaluation` (see its docstring;
bench/detector_eval.py prints the same figures without writing anything). `--write` stores the calibration
in the package.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from detector.fit.evaluation import CRFS, EVAL, FIT, arguments, fit, run_evaluation  # noqa: E402
from detector.fit.selfblend import FAMILIES  # noqa: E402
from detector.score import default_path  # noqa: E402


def main() -> None:
    parser = arguments(__doc__.split("\n")[0])
    parser.add_argument("--write", action="store_true", help="write the fitted calibration into the package")
    args = parser.parse_args()
    fit_units, fit_feats, chosen, l2, table = run_evaluation(args.data, args.cache, args.frames, args.seed, args.detect_every)
    full = fit(fit_units, fit_feats, chosen, l2=l2)
    print("\nweights (standardised features):")
    for name, weight in zip(full.features, full.weights):
        print(f"  {name:28s} {weight:+.3f}")
    if args.write:
        provenance = {
            "fitted_on": f"{len(FIT)} real clips of {len(FIT)} people from faceproof's shared test data "
                         f"({args.frames}-frame windows) and self-blended manipulations of them "
                         f"({', '.join(FAMILIES)}), H.264 CRF 12/23/35; evaluated on {len(EVAL)} other people.",
            "limits": "Small data: a few dozen clips, self-blends rather than real deepfakes, talking heads with "
                      "large frontal faces. Scores on other kinds of footage or manipulation are less reliable.",
            "fit_identities": sorted(FIT), "eval_identities": sorted(EVAL),
            "evaluation": {family: {str(c): rows[c] for c in CRFS} for family, rows in table.items()},
        }
        provenance["model_selection"] = {"l2": l2, "features": chosen}
        calibration = fit(fit_units, fit_feats, chosen, provenance, l2=l2)
        default_path().write_text(json.dumps(calibration.to_json(), indent=1) + "\n")
        print(f"\nwrote {default_path()}")


if __name__ == "__main__":
    main()
