"""Peak memory (VmHWM of a fresh process) while embedding a track streamed from a FLAC file with
`vit1d.embed_long_audio`: 1 minute vs 10 minutes, so that growth with track length shows.
Target: <= 1 GB for 10 min.

Then the same for `vit1d.analysis.run_analysis` on one 10-minute FLAC with onsets, beats and chords (a JSON lines
manifest), the paper config saved with random weights as "the trained model" plus its seeded random initialisation,
layers 3, 6, 9, 12, figures on: every analysis and figure on a whole track.
Target: <= 2 GB for 10 min (a 7-minute track used to peak at 14.5 GB with full self-similarity matrices)."""

import argparse
import json
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np
import soundfile as sf
from common import report

import vit1d
from vit1d.synthetic import synthetic_music

# VmHWM, not ru_maxrss: Linux carries ru_maxrss across fork + exec, so it would report the parent's peak.
CHILD = """
import json, sys, torch, vit1d

def peak_kb():
    for line in open("/proc/self/status"):
        if line.startswith("VmHWM:"):
            return int(line.split()[1])

torch.manual_seed(0)
model = vit1d.ViT1DModel(vit1d.ViT1DConfig()).eval()
extractor = vit1d.ViT1DFeatureExtractor()
before = peak_kb()
result = vit1d.embed_long_audio(model, extractor, sys.argv[1], batch_size=int(sys.argv[2]))
after = peak_kb()
output = sum(t.numel() * t.element_size() for t in (result.sequence_tokens, result.class_tokens, result.pooled))
tokens = len(result.sequence_tokens)
print(json.dumps({"before_kb": before, "peak_kb": after, "output_bytes": output, "tokens": tokens}))
"""


ANALYSIS_CHILD = """
import json, sys
from vit1d.analysis import AnalysisArguments, run_analysis

def peak_kb():
    for line in open("/proc/self/status"):
        if line.startswith("VmHWM:"):
            return int(line.split()[1])

before = peak_kb()
results = run_analysis(AnalysisArguments(model_name_or_path=sys.argv[1], data=sys.argv[2], split="train",
                                         max_tracks=1, figures=True, output_dir=sys.argv[3], device="cpu"))
after = peak_kb()
print(json.dumps({"before_kb": before, "peak_kb": after, "seconds": results["timings"]["total_seconds"],
                  "figures": sorted(results["figures"]), "figure_errors": results.get("figure_errors", {})}))
"""


def measure(path: Path, batch_size: int) -> dict:
    return run_child([CHILD, str(path), str(batch_size)])


def run_child(arguments: list[str]) -> dict:
    done = subprocess.run([sys.executable, "-c", *arguments], capture_output=True, text=True)
    if done.returncode:
        raise RuntimeError(done.stderr[-2000:])
    return json.loads(done.stdout.strip().splitlines()[-1])


def measure_analysis(folder: Path, minutes: float) -> dict:
    """Peak memory of `run_analysis` on one `minutes` track (44.1 kHz FLAC, resampled when read) with labels."""
    seconds, rate = 60.0 * minutes, 44100
    sf.write(folder / "track.flac", synthetic_music(seconds, rate, seed=7), rate)
    starts = np.arange(0.0, seconds, 2.0)  # a chord every 2 s, a beat every 0.5 s, a note every 0.25 s
    row = {"audio": "track.flac", "onsets": np.arange(0.0, seconds, 0.25).tolist(),
           "beats": np.arange(0.0, seconds, 0.5).tolist(),
           "chord_intervals": np.stack([starts, starts + 2.0], axis=1).tolist(),
           "chord_labels": [("C:maj", "A:min", "F:maj", "G:maj")[i % 4] for i in range(len(starts))]}
    (folder / "tracks.jsonl").write_text(json.dumps(row) + "\n")
    model_dir = folder / "model"  # the paper config with random weights stands in for a trained model
    vit1d.ViT1DModel(vit1d.ViT1DConfig()).save_pretrained(model_dir)
    vit1d.ViT1DFeatureExtractor().save_pretrained(model_dir)
    result = run_child([ANALYSIS_CHILD, str(model_dir), str(folder / "tracks.jsonl"), str(folder / "analysis")])
    result["tokens"] = 1 + int(seconds * 16000) // 512
    return result


def main(argv=None):
    parser = argparse.ArgumentParser()
    parser.add_argument("--batch_size", type=int, default=16)
    parser.add_argument("--analysis_minutes", type=float, default=10.0, help="Track length of the analysis row.")
    args = parser.parse_args(argv)
    rows = []
    with tempfile.TemporaryDirectory() as folder:
        for minutes in (1, 10):
            path = Path(folder) / f"track_{minutes}min.flac"
            sf.write(path, synthetic_music(60.0 * minutes, 44100, seed=minutes), 44100)  # resampled while streaming
            result = measure(path, args.batch_size)
            rows.append(
                (
                    f"{minutes:>2} min track",
                    f"peak RSS {result['peak_kb'] / 1024:.0f} MB"
                    f" (after model load {result['before_kb'] / 1024:.0f} MB,"
                    f" output {result['output_bytes'] / 2**20:.1f} MB, {result['tokens']} tokens)",
                )
            )
    rows.append(("target", "<= 1024 MB for 10 min"))
    report(f"peak memory of embed_long_audio, batch {args.batch_size}, streamed FLAC at 44.1 kHz", rows)

    with tempfile.TemporaryDirectory() as folder:
        result = measure_analysis(Path(folder), args.analysis_minutes)
    errors = f", figure errors {result['figure_errors']}" if result["figure_errors"] else ""
    rows = [
        (
            f"{args.analysis_minutes:g} min track",
            f"peak RSS {result['peak_kb'] / 1024:.0f} MB (after imports {result['before_kb'] / 1024:.0f} MB,"
            f" {result['tokens']} tokens, {len(result['figures'])} figures{errors}, {result['seconds']:.0f} s)",
        ),
        ("target", "<= 2048 MB for 10 min"),
    ]
    report("peak memory of run_analysis: paper config, trained + random init, layers 3,6,9,12, figures, FLAC at "
           "44.1 kHz", rows)


if __name__ == "__main__":
    main()
