#!/usr/bin/env python
"""The one-command demo: render the built-in corpus, pretrain ViT-1D briefly, probe tagging, key, beat and chord for
the trained and a random encoder, analyse attention onsets and self-similarity, and write a report.

    python run_demo.py                                   # outputs/demo/report/README.md, outputs/demo/model/
    python run_demo.py --pretraining_steps 600 --output_dir outputs/demo-600
    python run_demo.py --push_to_hub --hub_model_id org/vit1d-demo   # reuses the finished stages, then uploads

A rerun reuses every stage an earlier run of the same --output_dir finished. The library code is `vit1d.demo`.
"""

import logging
import sys

from transformers import HfArgumentParser

from vit1d.demo import DemoArguments, run_demo


def main(argv=None):
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    (args,) = HfArgumentParser(DemoArguments).parse_args_into_dataclasses(args=argv)
    report = run_demo(args)
    print((report / "README.md").read_text())
    return report


if __name__ == "__main__":
    main(sys.argv[1:])
