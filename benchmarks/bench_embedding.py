"""Embedding a 3-minute track with ViT-1D: real-time factor (target >= 300x on 2 CPU cores) and speed against a
MERT-95M-shaped HubertModel (random init, transformers' HubertConfig defaults = 12 x 768, conv front end at 24 kHz)
on the same audio in the same 4 s windows (target >= 20x faster).

With onnxruntime installed (`pip install "vit1d[export]"`; `--skip_onnx` leaves it out) the same model is exported
with its front end (vit1d.export) and embeds the same track through onnxruntime in fp32 and dynamic int8, each
against the fp32 matrix-product floor measured in the same run (target for int8: >= 1.5x the floor's real-time
factor on 2 cores, cosine to the fp32 tokens >= 0.99)."""

import argparse
import tempfile

import numpy as np
import soxr
import torch
from common import interleaved_median_seconds, matmul_floor_seconds, report
from transformers import HubertConfig, HubertModel

import vit1d
from vit1d.synthetic import synthetic_music


def windows(waveform: np.ndarray, size: int) -> list[np.ndarray]:
    return [waveform[start : start + size] for start in range(0, len(waveform), size)]


def main(argv=None):
    parser = argparse.ArgumentParser()
    parser.add_argument("--seconds", type=float, default=180.0)
    parser.add_argument("--batch_size", type=int, default=16)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--skip_mert", action="store_true")
    parser.add_argument("--skip_onnx", action="store_true")
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    args = parser.parse_args(argv)
    torch.manual_seed(0)
    track = synthetic_music(args.seconds, seed=7)
    model = vit1d.ViT1DModel(vit1d.ViT1DConfig()).eval().to(args.device)
    extractor = vit1d.ViT1DFeatureExtractor()
    functions = {
        "vit1d": lambda: vit1d.embed_long_audio(
            model, extractor, track, sampling_rate=16000, batch_size=args.batch_size
        )
    }
    rows = []
    onnx = None if args.skip_onnx or args.device != "cpu" else onnx_encoders(model, extractor)
    if onnx is not None:
        for name, encoder in onnx.items():
            functions[f"vit1d {name}"] = lambda encoder=encoder: vit1d.embed_long_audio(
                encoder, extractor, track, sampling_rate=16000, batch_size=args.batch_size
            )
    if not args.skip_mert:
        mert = HubertModel(HubertConfig()).eval().to(args.device)
        track_24k = soxr.resample(track, 16000, 24000).astype(np.float32)

        @torch.inference_mode()
        def run_mert():
            chunks = windows(track_24k, 4 * 24000)
            for start in range(0, len(chunks), args.batch_size):
                batch = chunks[start : start + args.batch_size]
                length = max(len(c) for c in batch)
                values = torch.zeros(len(batch), length)
                for i, chunk in enumerate(batch):
                    values[i, : len(chunk)] = torch.from_numpy(chunk)
                mert(values.to(args.device)).last_hidden_state.sum().item()

        functions["MERT-95M-shaped HubertModel"] = run_mert
        rows.append(("MERT-shaped parameters", f"{sum(p.numel() for p in mert.parameters()) / 1e6:.1f} M"))
    seconds = interleaved_median_seconds(functions, repeats=args.repeats)
    rows = [
        (name, f"{value:.3f} s, real-time factor {args.seconds / value:.0f}x") for name, value in seconds.items()
    ] + rows
    rows.append(("vit1d real-time factor", f"{args.seconds / seconds['vit1d']:.0f}x (target >= 300x on 2 cores)"))
    if args.device == "cpu":
        floor = matmul_floor_seconds(functions["vit1d"])
        rows.append(
            (
                "vit1d matrix products alone",
                f"{floor:.3f} s: real-time factor {args.seconds / floor:.0f}x if everything else took no time",
            )
        )
    if onnx is not None:
        reference = functions["vit1d"]().sequence_tokens
        for name in onnx:
            tokens = functions[f"vit1d {name}"]().sequence_tokens
            cosine = torch.nn.functional.cosine_similarity(tokens, reference, dim=-1).min().item()
            speed = args.seconds / seconds[f"vit1d {name}"]
            floor_text = f", {speed / (args.seconds / floor):.2f}x the floor's" if args.device == "cpu" else ""
            rows.append((f"vit1d {name}", f"real-time factor {speed:.0f}x{floor_text}; "
                                          f"min token cosine to fp32 eager {cosine:.5f}"))
    if not args.skip_mert:
        ratio = seconds["MERT-95M-shaped HubertModel"] / seconds["vit1d"]
        rows.append(("vit1d vs MERT-shaped", f"{ratio:.1f}x faster (target >= 20x)"))
    report(f"embedding a {args.seconds:.0f} s track ({args.device}, {torch.get_num_threads()} threads)", rows)
    return seconds


def onnx_encoders(model, extractor) -> dict | None:
    """The model exported with its front end, fp32 and int8, as `OnnxEncoder`s (None without onnxruntime)."""
    try:
        from vit1d.export import OnnxEncoder, export_folder, require_onnx

        require_onnx()
    except ImportError as error:
        print(f"(ONNX rows skipped: {error})")
        return None
    folder = tempfile.mkdtemp(prefix="vit1d-bench-onnx-")
    export_folder(model, extractor, folder, "paper config, random init", quantize="int8")
    return {"onnxruntime fp32": OnnxEncoder(folder), "onnxruntime int8": OnnxEncoder(folder, int8=True)}


if __name__ == "__main__":
    main()
