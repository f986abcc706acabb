#!/usr/bin/env python
"""Recipe A/B: pretrain arms that differ in run_pretraining.py flags, score each on the benchmark (a demo run per
arm and seed) and compare them with the baseline arm, paired over test tracks, with Holm-corrected intervals.

    python run_ab.py --output_dir outputs/ab-input --arms raw= \\
        "frame=--config_overrides frame_normalization=layer_norm,patch_activation=gelu" \\
        "bins=--standardize_mel_bins" --pretraining_steps 300 --tasks beat,key,tagging --random_init_seeds 0

Every demo argument applies to all arms (corpus, steps, batch, tasks, probe seeds). Finished runs are reused. Runs
scored earlier on the same corpus (learning-curve points, e.g. of `make reference` with other REFERENCE_ARGS) are
compared without running anything:

    python run_ab.py --output_dir outputs/ab-views \
        --scored raw=outputs/reference/curves-seed-0/step-00001000,outputs/reference/curves-seed-1/step-00001000 \
                 views=outputs/views/curves-seed-0/step-00001000,outputs/views/curves-seed-1/step-00001000

The library code is `vit1d.ab`; the table goes to OUTPUT_DIR/ab.md and every number to OUTPUT_DIR/ab.json.
"""

import logging
import sys

from transformers import HfArgumentParser

from vit1d.ab import ABArguments, run_ab
from vit1d.demo import DemoArguments


def main(argv=None):
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    ab, demo = HfArgumentParser((ABArguments, DemoArguments)).parse_args_into_dataclasses(args=argv)
    table = run_ab(ab, demo)
    print(table.read_text())
    return table


if __name__ == "__main__":
    main(sys.argv[1:])
