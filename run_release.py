#!/usr/bin/env python
"""Release a scored encoder as a checkpoint folder to commit or share: safetensors weights, config, feature
extractor, code files, training recipe, claims, learning curves, the outputs on a fixed clip and a filled model card.

    python run_release.py --scored_run outputs/reference-curves/step-00002000 \\
        --curves outputs/reference-curves/curves.png --output_dir pretrained/vit1d-tiny-NAME

`--scored_run` is a folder scored by the demo's pipeline (`run_demo.py --output_dir`, or one point of
`run_curves.py`). Or let the validation split choose among the points of several runs' learning curves:

    python run_release.py --select_from outputs/reference/curves-seed-0 outputs/reference/curves-seed-1 \
        outputs/reference/curves-seed-2 --output_dir pretrained/vit1d-tiny-NAME

(`vit1d.curves.select_point`: the highest mean validation gap over random initialisation; the chosen curve's
curves.png goes with it, and the candidates to selection.json.) The library code is `vit1d.hub.release_checkpoint`; `vit1d.hub.check_reference_outputs(folder)`
verifies a later load.
"""

import logging
import sys
from dataclasses import dataclass, field

from transformers import HfArgumentParser

from vit1d.curves import select_point
from vit1d.hub import release_checkpoint


@dataclass
class ReleaseArguments:
    output_dir: str = field(metadata={"help": "The released folder, e.g. pretrained/vit1d-tiny-NAME."})
    scored_run: str | None = field(default=None, metadata={"help": "A scored run: model/ and report/results.json "
                                                                    "(run_demo.py or a run_curves.py point)."})
    select_from: list[str] = field(default_factory=list, metadata={
        "help": "Instead of --scored_run: run_curves.py output folders; the point with the best validation gap over "
                "random initialisation is released (vit1d.curves.select_point)."})
    curves: str | None = field(default=None, metadata={"help": "run_curves.py's curves.png (curves.json beside it "
                                                                "is copied too)."})
    summary: str | None = field(default=None, metadata={"help": "What the checkpoint is and is not, for the card "
                                                                 "(default: from its training recipe)."})
    hub_model_id: str | None = field(default=None, metadata={
        "help": "The Hub id the card's snippets name (default: the output folder's path, which loads from a clone)."})
    dtype: str = field(default="auto", metadata={"help": "auto (float32 under 25 MB, else bfloat16), float32 or "
                                                          "bfloat16."})


def main(argv=None):
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    (args,) = HfArgumentParser(ReleaseArguments).parse_args_into_dataclasses(args=argv)
    if bool(args.scored_run) == bool(args.select_from):
        raise ValueError("Give either --scored_run (one scored folder) or --select_from (run_curves.py folders).")
    scored_run, curves, selection = args.scored_run, args.curves, None
    if args.select_from:
        scored_run, selection = select_point(args.select_from)
        if curves is None and (scored_run.parent / "curves.png").is_file():  # that run's learning curves
            curves = scored_run.parent / "curves.png"
        for row in selection:
            gaps = ", ".join(f"{task} {score['gap']:+.3f}" for task, score in row["validation"].items())
            print(f"{row['point']}: mean validation gap {row['mean_gap']:+.4f} ({gaps})")
        print(f"Chosen on validation: {scored_run}")
    folder = release_checkpoint(scored_run, args.output_dir, curves=curves, summary=args.summary,
                                repo_id=args.hub_model_id or args.output_dir, dtype=args.dtype, selection=selection)
    print(f"Released checkpoint: {folder}")
    return folder


if __name__ == "__main__":
    main(sys.argv[1:])
