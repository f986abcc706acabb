#!/usr/bin/env python
"""Contrastive pretraining of ViT-1D (NT-Xent on class tokens of two crops of the same track), with Accelerate.

    python run_pretraining.py --preset demo                    # built-in corpus, a few minutes on 2 CPU cores
    accelerate launch run_pretraining.py --data path/to/audio --output_dir runs/vit1d
    accelerate launch --num_processes 2 run_pretraining.py --config configs/pretraining.yaml --max_steps 1000
    ACCELERATE_USE_CPU=true accelerate launch --multi_gpu --num_processes 2 run_pretraining.py ...   # 2 CPU processes
    python run_pretraining.py --data user/dataset --push_to_hub --hub_model_id org/vit1d-base

(On a machine without GPUs, accelerate 1.x starts a single process for `--num_processes 2` and for `--cpu`; the
torchrun launcher, `--multi_gpu` with ACCELERATE_USE_CPU=true, starts them over gloo.)
Arguments: `python run_pretraining.py --help`; a YAML or JSON file given with --config sets any of them (the command
line wins). The library code is `vit1d.training`.
"""

import json
import logging

from vit1d.training.arguments import parse_arguments
from vit1d.training.pretraining import pretrain


def main(argv=None):
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    model_args, data_args, training_args = parse_arguments(argv)
    result = pretrain(model_args, data_args, training_args)
    print(json.dumps({"output_dir": str(result.output_dir), "steps": result.steps, "final_loss": result.final_loss}))
    return result


if __name__ == "__main__":
    main()
