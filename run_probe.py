#!/usr/bin/env python
"""Linear probes on a frozen ViT-1D: tagging, key, beat and chord, with mir_eval / scikit-learn metrics.

    python run_probe.py --task key                                   # random-init paper model, built-in corpus
    python run_probe.py --task chord --model_name_or_path outputs/pretraining --layers all
    python run_probe.py --task tagging --model_name_or_path org/vit1d --representation average --layers 3,6,9,12
    python run_probe.py --task beat --model_name_or_path outputs/pretraining --random_init   # same config, random

Embeddings are extracted once per (model, track, settings) into --cache_dir and reused by every run. Results:
OUTPUT_DIR/probe_results.json and probe_results.md. The library code is `vit1d.probing`.
"""

import logging
import sys

from transformers import HfArgumentParser

from vit1d.probing.runner import ProbeArguments, run_probe
from vit1d.probing.tables import markdown_table


def main(argv=None):
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    (args,) = HfArgumentParser(ProbeArguments).parse_args_into_dataclasses(args=argv)
    results = run_probe(args)
    print(markdown_table(results))
    return results


if __name__ == "__main__":
    main(sys.argv[1:])
