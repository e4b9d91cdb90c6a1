"""Fit detector/evidence.json (channel references, paste model, verdict thresholds) and print its evaluation.

    .venv/bin/python scripts/fit_evidence.py [--data ../shared/data] [--cache DIR] [--budget 0.01] [--write]

Measures the authentic reference and the cross-identity pastes of `detector.fit.reference` (face tracks cached;
first run about 30 minutes on 2 cores, later runs a few), then prints, all leave-one-person-out: the share of
authentic clips flagged (overall, per condition, and for wild/ alone), each paste family's recall per group and
CRF, per-family AUC, leave-one-family-out recall and the per-cue ablation. `--write` stores the file.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from detector.evidence import default_path  # noqa: E402
from detector.fit.evidence import evaluate_evidence  # noqa: E402
from detector.fit.reference import DEFAULT_CACHE  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--data", type=Path, default=Path(__file__).resolve().parents[2] / "shared" / "data")
    parser.add_argument("--cache", type=Path, default=DEFAULT_CACHE)
    parser.add_argument("--budget", type=float, default=0.01, help="share of authentic clips that may read "
                        "'likely manipulated' (default 0.01)")
    parser.add_argument("--inconclusive-budget", type=float, default=0.05)
    parser.add_argument("--write", action="store_true")
    args = parser.parse_args()
    fitted, figures = evaluate_evidence(args.data, args.cache, args.budget, args.inconclusive_budget)
    if args.write:
        evidence = fitted.evidence
        evidence.provenance.update(figures)
        default_path().write_text(json.dumps(evidence.to_json()))
        print(f"wrote {default_path()}")


if __name__ == "__main__":
    main()
