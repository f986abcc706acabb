"""Log-mel front end: ViT1DFeatureExtractor's torch path vs librosa on a batch of 4 s clips. Target: >= 10x.

librosa is timed two ways: clip by clip (how most code calls it) and on the whole batch as one (clips, samples) array,
which its functions accept and which is about 3x faster. The ratio against the batched call is the fair one.
"""

import argparse

import librosa
import numpy as np
import torch
from common import blocked_median_seconds, report

import vit1d
from vit1d.feature_extraction_vit1d import _CPU_CHUNK_FRAMES
from vit1d.synthetic import synthetic_music


def main(argv=None):
    parser = argparse.ArgumentParser()
    parser.add_argument("--clips", type=int, default=64)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    args = parser.parse_args(argv)
    clips = [synthetic_music(4.0, seed=seed) for seed in range(args.clips)]
    extractor = vit1d.ViT1DFeatureExtractor()
    batch = np.stack(clips)

    def librosa_log_mel(audio):
        mel = librosa.feature.melspectrogram(
            y=audio, sr=16000, n_fft=1024, hop_length=512, n_mels=128, fmin=0, fmax=8000, htk=False,
            norm="slaney", center=True, pad_mode="reflect", power=2.0,
        )
        # power_to_db's top_db clamps to the maximum of the whole array: one call per clip, as the extractor does.
        clip_mels = mel.reshape(-1, *mel.shape[-2:])
        return [librosa.power_to_db(clip_mel, ref=1.0, amin=1e-10, top_db=80.0) for clip_mel in clip_mels]

    def with_librosa():
        for clip in clips:
            librosa_log_mel(clip)

    def with_librosa_batched():
        librosa_log_mel(batch)

    def with_torch():
        features = extractor(clips, sampling_rate=16000, return_tensors="pt", backend="torch", device=args.device)
        features["input_values"].sum().item()  # waits for an accelerator

    def with_numpy():
        extractor(clips, sampling_rate=16000, return_tensors="np", backend="numpy")

    # The float64 FFT that the 1e-3 dB parity with the numpy path needs, alone, on as many frames in the chunks the
    # extractor's CPU plan uses: a floor for the torch path, whatever the rest costs.
    frames = torch.randn(args.clips * extractor.num_frames(len(clips[0])), extractor.n_fft, dtype=torch.float64)

    def fft_alone():
        for chunk in frames.split(_CPU_CHUNK_FRAMES):
            torch.fft.rfft(chunk)

    # Blocks, not interleaving: librosa's numpy calls leave OpenBLAS threads spinning for a while after each call,
    # which would take a core away from the torch path measured right after it.
    functions = {"torch": with_torch, "librosa": with_librosa, "librosa batched": with_librosa_batched}
    functions["numpy"] = with_numpy
    if args.device == "cpu":
        functions["float64 rFFT alone"] = fft_alone
    seconds = blocked_median_seconds(functions, repeats=args.repeats)
    audio = 4.0 * args.clips
    rows = [(name, f"{value * 1000:.1f} ms, {audio / value:.0f}x real time") for name, value in seconds.items()]
    rows += [
        ("torch vs librosa", f"{seconds['librosa'] / seconds['torch']:.1f}x clip by clip"),
        ("torch vs librosa batched", f"{seconds['librosa batched'] / seconds['torch']:.1f}x (target >= 10x)"),
    ]
    if "float64 rFFT alone" in seconds:
        ceiling = seconds["librosa batched"] / seconds["float64 rFFT alone"]
        rows.append(("ceiling vs librosa batched", f"{ceiling:.1f}x if everything but the FFT took no time"))
    report(f"log-mel of {args.clips} clips x 4 s ({args.device})", rows)
    return seconds


if __name__ == "__main__":
    main()
