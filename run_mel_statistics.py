#!/usr/bin/env python
"""Measure every mel bin's mean and SD on a training corpus and write a feature extractor that standardises with them.

    python run_mel_statistics.py --data my_music/ --output_dir outputs/extractor
    python run_pretraining.py --data my_music/ --feature_extractor_name outputs/extractor ...

(`run_pretraining.py --standardize_mel_bins` does the same in one step.) The library functions are
`vit1d.data.statistics.mel_statistics` and `with_mel_statistics`.
"""

import json
import logging
from dataclasses import asdict, dataclass, field
from pathlib import Path

from transformers import HfArgumentParser

from vit1d import ViT1DFeatureExtractor
from vit1d.data.sources import open_tracks
from vit1d.data.statistics import mel_statistics, with_mel_statistics


@dataclass
class MelStatisticsArguments:
    data: str = field(metadata={"help": "Audio folder, dataset folder, manifest files or Hub dataset id (as "
                                        "run_pretraining.py's --data)."})
    output_dir: str = field(metadata={"help": "Where preprocessor_config.json (with mel_mean, mel_std) is written."})
    split: str = field(default="train")
    audio_column: str | None = field(default=None)
    dataset_config: str | None = field(default=None)
    feature_extractor_name: str | None = field(
        default=None, metadata={"help": "Start from this extractor's settings; default: the paper's log-mel."})
    max_tracks: int = field(default=200, metadata={"help": "Tracks read (the first ones of the source)."})
    crops_per_track: int = field(default=8, metadata={"help": "4 s crops spread evenly over each track."})


def main(argv=None):
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    (args,) = HfArgumentParser(MelStatisticsArguments).parse_args_into_dataclasses(argv)
    extractor = (ViT1DFeatureExtractor.from_pretrained(args.feature_extractor_name) if args.feature_extractor_name
                 else ViT1DFeatureExtractor())
    source = open_tracks(args.data, args.split, args.audio_column, args.dataset_config)
    statistics = mel_statistics(source, extractor, args.max_tracks, args.crops_per_track)
    with_mel_statistics(extractor, statistics).save_pretrained(args.output_dir)
    summary = {"source": source.description, "tracks": statistics.tracks, "frames": statistics.frames,
               "skipped": statistics.skipped, "arguments": asdict(args)}
    (Path(args.output_dir) / "mel_statistics.json").write_text(json.dumps(summary, indent=2) + "\n")
    print(f"{statistics.frames} frames of {statistics.tracks} tracks -> {args.output_dir}/preprocessor_config.json")


if __name__ == "__main__":
    main()
