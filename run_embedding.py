#!/usr/bin/env python
"""Embed audio files of any length with a ViT-1D encoder and save the class and sequence tokens as safetensors.

    python run_embedding.py --model_name_or_path path/or/hub-id --audio track.flac album/ --output_dir out/
    python run_embedding.py --output_dir out/      # no data: a random-init encoder on out/synthetic.flac (3 min)

Each input file's tokens go to OUTPUT_DIR/<its path relative to the folder holding all inputs>.safetensors
(`a/intro.ogg` -> `out/a/intro.ogg.safetensors`); folders are searched recursively. Every readable file is
embedded; OUTPUT_DIR/summary.json lists each input, embedded or failed with the reason, and the command exits with
status 1 when any input failed. The library function is `vit1d.embedding.embed_files`.
"""

import logging
import sys
from dataclasses import dataclass, field
from pathlib import Path

import soundfile as sf
import torch
from transformers import HfArgumentParser

import vit1d
from vit1d.embedding import embed_files
from vit1d.synthetic import synthetic_music

logger = logging.getLogger("run_embedding")


@dataclass
class EmbeddingArguments:
    output_dir: str = field(metadata={"help": "Folder for the .safetensors files and summary.json."})
    audio: list[str] = field(
        default_factory=list, metadata={"help": "Audio files (any format soundfile reads) and folders of them."}
    )
    model_name_or_path: str | None = field(
        default=None, metadata={"help": "Local folder or Hub id of a ViT-1D; none: a randomly initialised encoder."}
    )
    revision: str | None = field(default=None, metadata={"help": "Hub revision (commit sha) of the model."})
    trust_remote_code: bool = field(default=False, metadata={"help": "Allow a Hub folder's own code to run."})
    window_seconds: float = field(default=4.0, metadata={"help": "Window length; 4 s is the training length."})
    hop_seconds: float | None = field(default=None, metadata={"help": "Window hop; default: the window length."})
    batch_size: int = field(default=16, metadata={"help": "Windows per forward pass."})
    layers: list[int] | None = field(default=None, metadata={"help": "Hidden-state indices instead of the output."})
    device: str = field(default="cuda" if torch.cuda.is_available() else "cpu")
    demo_seconds: float = field(
        default=180.0, metadata={"help": "Length of the synthetic track used without --audio."}
    )


def load_encoder(args: EmbeddingArguments):
    if args.model_name_or_path is None:
        logger.warning("No --model_name_or_path: using a randomly initialised ViT-1D (the paper's configuration).")
        return vit1d.ViT1DModel(vit1d.ViT1DConfig()), vit1d.ViT1DFeatureExtractor()
    kwargs = dict(revision=args.revision, trust_remote_code=args.trust_remote_code)
    model = vit1d.ViT1DModel.from_pretrained(args.model_name_or_path, **kwargs)
    return model, vit1d.ViT1DFeatureExtractor.from_pretrained(args.model_name_or_path, **kwargs)


def main(argv=None):
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    (args,) = HfArgumentParser(EmbeddingArguments).parse_args_into_dataclasses(args=argv)
    model, extractor = load_encoder(args)
    model.to(args.device).eval()
    model_name = args.model_name_or_path or "random initialisation of ViT1DConfig()"
    options = dict(window_seconds=args.window_seconds, hop_seconds=args.hop_seconds, batch_size=args.batch_size,
                   layers=args.layers, metadata={"model": model_name})
    inputs = args.audio
    if not inputs:  # no data: a synthetic track, written to the output folder and read back as any file is
        path = Path(args.output_dir) / "synthetic.flac"
        path.parent.mkdir(parents=True, exist_ok=True)
        sf.write(path, synthetic_music(args.demo_seconds, extractor.sampling_rate), extractor.sampling_rate)
        inputs = [str(path)]
    return embed_files(model, extractor, inputs, args.output_dir, **options)


if __name__ == "__main__":
    sys.exit(1 if main(sys.argv[1:])["failed"] else 0)
