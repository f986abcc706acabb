#!/usr/bin/env python
"""Release a scored encoder as a checkpoint folder to commit or share: safetensors weights, config, feature
extractor, code files, training recipe, claims, learning curves, the outputs on a fixed clip and a filled model card.

    python run_release.py --scored_run outputs/reference-curves/step-00002000 \\
        --curves outputs/reference-curves/curves.png --output_dir pretrained/vit1d-tiny-NAME

`--scored_run` is a folder scored by the demo's pipeline (`run_demo.py --output_dir`, or one point of
`run_curves.py`). The library code is `vit1d.hub.release_checkpoint`; `vit1d.hub.check_reference_outputs(folder)`
verifies a later load.
"""

import logging
import sys
from dataclasses import dataclass, field

from transformers import HfArgumentParser

from vit1d.hub import release_checkpoint


@dataclass
class ReleaseArguments:
    scored_run: str = field(metadata={"help": "A scored run: model/ and report/results.json (run_demo.py or a "
                                              "run_curves.py point)."})
    output_dir: str = field(metadata={"help": "The released folder, e.g. pretrained/vit1d-tiny-NAME."})
    curves: str | None = field(default=None, metadata={"help": "run_curves.py's curves.png (curves.json beside it "
                                                                "is copied too)."})
    summary: str | None = field(default=None, metadata={"help": "What the checkpoint is and is not, for the card "
                                                                 "(default: from its training recipe)."})
    hub_model_id: str | None = field(default=None, metadata={"help": "The Hub id the card's snippets name."})
    dtype: str = field(default="auto", metadata={"help": "auto (float32 under 25 MB, else bfloat16), float32 or "
                                                          "bfloat16."})


def main(argv=None):
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    (args,) = HfArgumentParser(ReleaseArguments).parse_args_into_dataclasses(args=argv)
    folder = release_checkpoint(args.scored_run, args.output_dir, curves=args.curves, summary=args.summary,
                                repo_id=args.hub_model_id, dtype=args.dtype)
    print(f"Released checkpoint: {folder}")
    return folder


if __name__ == "__main__":
    main(sys.argv[1:])
