#!/usr/bin/env python
"""Embed audio files of any length with a ViT-1D encoder and save the class and sequence tokens as safetensors.

    python run_embedding.py --model_name_or_path path/or/hub-id --audio track.flac --output_dir out/
    python run_embedding.py --output_dir out/      # no data: a random-init encoder on a synthetic 3-minute track
"""

import json
import logging
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import torch
from safetensors.torch import save_file
from transformers import HfArgumentParser

import vit1d
from vit1d.synthetic import synthetic_music

logger = logging.getLogger("run_embedding")


@dataclass
class EmbeddingArguments:
    output_dir: str = field(metadata={"help": "Folder for <track>.safetensors and summary.json."})
    audio: list[str] = field(default_factory=list, metadata={"help": "Audio files (any format soundfile reads)."})
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
    sources = {Path(path).stem: path for path in args.audio}
    if not sources:
        sources = {"synthetic": synthetic_music(args.demo_seconds, extractor.sampling_rate)}
    output_dir = Path(args.output_dir)
    output_dir.mkdir(parents=True, exist_ok=True)
    summary = {}
    for name, source in sources.items():
        start = time.perf_counter()
        result = vit1d.embed_long_audio(
            model, extractor, source, sampling_rate=extractor.sampling_rate, window_seconds=args.window_seconds,
            hop_seconds=args.hop_seconds, batch_size=args.batch_size, layers=args.layers,
        )
        elapsed = time.perf_counter() - start
        seconds = float(result.window_times[-1, 1])
        save_file(
            {
                "class_tokens": result.class_tokens.contiguous(),
                "pooled": result.pooled.contiguous(),
                "sequence_tokens": result.sequence_tokens.contiguous(),
                "token_times": torch.from_numpy(result.token_times),
                "window_times": torch.from_numpy(result.window_times),
            },
            output_dir / f"{name}.safetensors",
            metadata={"layers": json.dumps(result.layers), "model": str(args.model_name_or_path)},
        )
        summary[name] = {
            "seconds": seconds, "windows": len(result.window_times), "tokens": len(result.sequence_tokens),
            "embed_seconds": round(elapsed, 3), "real_time_factor": round(seconds / elapsed, 1),
        }
        logger.info("%s: %s", name, summary[name])
    (output_dir / "summary.json").write_text(json.dumps(summary, indent=2))
    return summary


if __name__ == "__main__":
    main(sys.argv[1:])
