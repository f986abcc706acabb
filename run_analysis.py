#!/usr/bin/env python
"""The paper's analyses of a frozen ViT-1D, for a model and random initialisations of its config (three seeds by
default) side by side: onsets read from attention maps (every layer, head and mode, scored with mir_eval.onset at
50 ms) beside their floors (peak-picked noise, a random linear projection of the log-mel frame, spectral flux),
self-similarity matrices of layers 3, 6, 9, 12 against chord changes and beats, and figures.

Selection happens on validation, reporting on test: each model's onset mode, layer, head and peak-picking threshold
(and each floor's threshold) are chosen on up to --max_selection_tracks tracks of --selection_split (validation)
before --split (test) is opened, once. Data without that split (an audio folder without split folders, one manifest
file) fall back to choosing on the reported tracks, with a warning and `"selection": {"split": "none: selected on the
reported tracks (optimistic)"}`. Every headline number carries a paired bootstrap 95 % interval over the test tracks
(x random-init seeds), and every difference trained - random and model - floor a p-value: `onsets_ci`, `ssm_ci`;
per-track values in `per_track`.

    python run_analysis.py --model_name_or_path outputs/pretraining            # built-in corpus: validation, test
    python run_analysis.py --model_name_or_path org/vit1d --data my_dataset --max_tracks 20 --max_selection_tracks 20
    python run_analysis.py --model_name_or_path outputs/pretraining --layers all --no_compare_random_init
    python run_analysis.py --model_name_or_path outputs/pretraining --random_init_seeds 0,1,2,3,4
    python run_analysis.py --model_name_or_path outputs/pretraining --onset_thresholds 0.05   # a fixed threshold
    python run_analysis.py --model_name_or_path outputs/pretraining --probe_results "outputs/probe/*/*.json"
    python run_analysis.py                                                     # random-init paper models alone

Results: OUTPUT_DIR/analysis_results.json (keys: selection, onsets, best_onsets, onset_floors, onsets_ci, ssm,
ssm_ci, per_track, ...) and analysis_results.md, written before the figures/*.png are drawn
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
