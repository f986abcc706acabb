#!/usr/bin/env python
"""Embed audio files of any length with a ViT-1D encoder and save the class and sequence tokens as safetensors.

    python run_embedding.py --model_name_or_path path/or/hub-id --audio track.flac album/ --output_dir out/
    python run_embedding.py --output_dir out/      # no data: a random-init encoder on out/synthetic.flac (3 min)

Each input file's tokens go to OUTPUT_DIR/<its path relative to the folder holding all inputs>.safetensors
(`a/intro.ogg` -> `out/a/intro.ogg.safetensors`); folders are searched recursively. Every readable file is
embedded; OUTPUT_DIR/summary.json lists each input, embedded or failed with the reason, and the command exits with
status 1 when any input failed. The library code is `vit1d.embedding.run_embedding`.
"""

import logging
import sys

from transformers import HfArgumentParser

from vit1d.embedding import EmbeddingArguments, run_embedding


def main(argv=None):
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    (args,) = HfArgumentParser(EmbeddingArguments).parse_args_into_dataclasses(args=argv)
    return run_embedding(args)


if __name__ == "__main__":
    sys.exit(1 if main(sys.argv[1:])["failed"] else 0)
