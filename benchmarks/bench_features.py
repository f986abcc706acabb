"""Log-mel front end: ViT1DFeatureExtractor's torch path vs librosa on a batch of 4 s clips. Target: >= 10x."""

import argparse

import librosa
import torch
from common import blocked_median_seconds, report

import vit1d
from vit1d.synthetic import synthetic_music


def main(argv=None):
    parser = argparse.ArgumentParser()
    parser.add_argument("--clips", type=int, default=64)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    args = parser.parse_args(argv)
    clips = [synthetic_music(4.0, seed=seed) for seed in range(args.clips)]
    extractor = vit1d.ViT1DFeatureExtractor()

    def with_librosa():
        for clip in clips:
            mel = librosa.feature.melspectrogram(
                y=clip, sr=16000, n_fft=1024, hop_length=512, n_mels=128, fmin=0, fmax=8000, htk=False,
                norm="slaney", center=True, pad_mode="reflect", power=2.0,
            )
            librosa.power_to_db(mel, ref=1.0, amin=1e-10, top_db=80.0)

    def with_torch():
        features = extractor(clips, sampling_rate=16000, return_tensors="pt", backend="torch", device=args.device)
        features["input_values"].sum().item()  # waits for an accelerator

    def with_numpy():
        extractor(clips, sampling_rate=16000, return_tensors="np", backend="numpy")

    # Blocks, not interleaving: librosa's numpy calls leave OpenBLAS threads spinning for a while after each call,
    # which would take a core away from the torch path measured right after it.
    seconds = blocked_median_seconds(
        {"torch": with_torch, "librosa": with_librosa, "numpy": with_numpy}, repeats=args.repeats
    )
    audio = 4.0 * args.clips
    report(
        f"log-mel of {args.clips} clips x 4 s ({args.device})",
        [(name, f"{value * 1000:.1f} ms, {audio / value:.0f}x real time") for name, value in seconds.items()]
        + [("torch vs librosa", f"{seconds['librosa'] / seconds['torch']:.1f}x (target >= 10x)")],
    )
    return seconds


if __name__ == "__main__":
    main()
