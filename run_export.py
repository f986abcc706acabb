#!/usr/bin/env python
"""Export a ViT-1D encoder with its log-mel front end to one ONNX graph (waveform in, tokens out) and check it.

    python run_export.py --model_name_or_path pretrained/vit1d-tiny-gamemusic-1000 --output_dir outputs/onnx

Writes OUTPUT_DIR/model.onnx (dynamic batch and length; inputs `waveform`, `lengths`) and OUTPUT_DIR/export.json
(outputs, layers, the parity check against the torch path). Needs `pip install "vit1d[export]"`. The library code
is `vit1d.export.run_export`.
"""

import logging
import sys

from transformers import HfArgumentParser

from vit1d.export import ExportArguments, run_export


def main(argv=None):
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    (args,) = HfArgumentParser(ExportArguments).parse_args_into_dataclasses(args=argv)
    return run_export(args)


if __name__ == "__main__":
    main(sys.argv[1:])
