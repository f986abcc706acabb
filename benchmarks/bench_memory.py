"""Peak memory (VmHWM of a fresh process) while embedding a track streamed from a FLAC file with
`vit1d.embed_long_audio`: 1 minute vs 10 minutes, so that growth with track length shows.
Target: <= 1 GB for 10 min."""

import argparse
import json
import subprocess
import sys
import tempfile
from pathlib import Path

import soundfile as sf
from common import report

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


def measure(path: Path, batch_size: int) -> dict:
    done = subprocess.run([sys.executable, "-c", CHILD, str(path), str(batch_size)], capture_output=True, text=True)
    if done.returncode:
        raise RuntimeError(done.stderr[-2000:])
    return json.loads(done.stdout.strip().splitlines()[-1])


def main(argv=None):
    parser = argparse.ArgumentParser()
    parser.add_argument("--batch_size", type=int, default=16)
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


if __name__ == "__main__":
    main()
