"""Embedding extraction for probing: seconds of audio embedded per second (all 13 layers, window summaries and
stitched sequence tokens, written to the safetensors cache), against plain `embed_long_audio` of the last layer on
the same files in the same run (the cost of keeping every layer), and the warm-cache rate (what every later probe run
pays)."""

import argparse
import tempfile
import time
from pathlib import Path

import soundfile as sf
import torch
from common import report

import vit1d
from vit1d.probing.extraction import EmbeddingCache, ExtractionSettings
from vit1d.synthetic import synthetic_music


def main(argv=None):
    parser = argparse.ArgumentParser()
    parser.add_argument("--tracks", type=int, default=6)
    parser.add_argument("--seconds", type=float, default=30.0)
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    args = parser.parse_args(argv)
    torch.manual_seed(0)
    model = vit1d.ViT1DModel(vit1d.ViT1DConfig()).eval().to(args.device)
    extractor = vit1d.ViT1DFeatureExtractor()
    audio_seconds = args.tracks * args.seconds
    with tempfile.TemporaryDirectory() as folder:
        paths = []
        for index in range(args.tracks):
            paths.append(str(Path(folder) / f"track{index}.flac"))
            sf.write(paths[-1], synthetic_music(args.seconds, seed=index), 16000)

        started = time.perf_counter()
        for path in paths:
            vit1d.embed_long_audio(model, extractor, path)
        plain = time.perf_counter() - started

        rows = []
        for sequence_tokens in (False, True):
            settings = ExtractionSettings(sequence_tokens=sequence_tokens)
            cache = EmbeddingCache(Path(folder) / "cache", model, extractor, settings, "bench")
            started = time.perf_counter()
            for path in paths:
                cache.get(path)
            cold = time.perf_counter() - started
            started = time.perf_counter()
            for path in paths:
                cache.get(path)
            warm = time.perf_counter() - started
            kind = "with sequence tokens (local tasks)" if sequence_tokens else "window summaries (global tasks)"
            rows += [
                (f"extraction, {kind}", f"{audio_seconds / cold:.0f} s of audio per s "
                                        f"({plain / cold:.2f}x the rate of plain embedding)"),
                (f"warm cache, {kind}", f"{audio_seconds / warm:.0f} s of audio per s ({cold / warm:.0f}x faster)"),
            ]
        rows.insert(0, ("plain embed_long_audio, last layer", f"{audio_seconds / plain:.0f} s of audio per s"))
    report(f"probe embedding extraction, {args.tracks} x {args.seconds:.0f} s ({args.device}, "
           f"{torch.get_num_threads()} threads)", rows)
    return rows


if __name__ == "__main__":
    main()
