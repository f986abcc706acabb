#!/usr/bin/env python
"""The paper's analyses of a frozen ViT-1D, for a model and a random initialisation of its config side by side:
onsets read from attention maps (every layer, head and mode, scored with mir_eval.onset at 50 ms), self-similarity
matrices of layers 3, 6, 9, 12 against chord changes and beats, and figures.

    python run_analysis.py --model_name_or_path outputs/pretraining            # built-in corpus, test split
    python run_analysis.py --model_name_or_path org/vit1d --data my_dataset --split validation --max_tracks 20
    python run_analysis.py --model_name_or_path outputs/pretraining --layers all --no_compare_random_init
    python run_analysis.py --model_name_or_path outputs/pretraining --probe_results "outputs/probe/*/*.json"
    python run_analysis.py                                                     # a random-init paper model alone

Results: OUTPUT_DIR/analysis_results.json and analysis_results.md, written before the figures/*.png are drawn
(matplotlib: `pip install vit1d[analysis]`; `--figures false` skips them) and rewritten with their list; a figure that
fails is logged and named under `figure_errors` in the results, and the others are still drawn. Memory grows with the
number of tokens of a track, not their square (a 10-minute track stays under 2 GB: benchmarks/bench_memory.py). The
library code is `vit1d.analysis`.
"""

import logging
import sys

from transformers import HfArgumentParser

from vit1d.analysis.runner import AnalysisArguments, run_analysis


def main(argv=None):
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    (args,) = HfArgumentParser(AnalysisArguments).parse_args_into_dataclasses(args=argv)
    results = run_analysis(args)
    print(results["markdown"])
    return results


if __name__ == "__main__":
    main(sys.argv[1:])
