#!/usr/bin/env python
"""Learning curves of a pretraining run: the claims table at every encoder written by --encoder_every_steps and at
the end, paired with the run's step-0 weights, plotted with their 95 % intervals against steps.

    python run_pretraining.py --data data/real_music --output_dir outputs/run --max_steps 2000 --encoder_every_steps 500
    python run_curves.py --run_dir outputs/run --output_dir outputs/run-curves --corpus_dir data/evidence_corpus \\
        --corpus_pieces 1000 --corpus_split_fractions 0.4,0.15,0.45

With `--across_runs CURVES_SEED0 CURVES_SEED1 ...` it scores nothing and compares runs of different pretraining
seeds at every step they share: the trained encoders (seeds pooled) against the random initialisations and their own
step-0 weights (OUTPUT_DIR/seeds.md).

Every demo argument sets how points are scored (corpus, tasks, probe seeds, random initialisations). The library
code is `vit1d.curves`; OUTPUT_DIR/curves.png and curves.json hold the curves, OUTPUT_DIR/step-N/report each point.
"""

import logging
import sys

from transformers import HfArgumentParser

from vit1d.curves import CurveArguments, compare_seeds, score_curve
from vit1d.demo import DemoArguments


def main(argv=None):
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    curve, demo = HfArgumentParser((CurveArguments, DemoArguments)).parse_args_into_dataclasses(args=argv)
    if curve.across_runs:
        table = compare_seeds(curve.across_runs, demo.output_dir)
        print(table.read_text())
        return table
    figure = score_curve(curve, demo)
    print(f"Learning curves: {figure}")
    return figure


if __name__ == "__main__":
    main(sys.argv[1:])
