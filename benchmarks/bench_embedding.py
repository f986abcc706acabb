"""Embedding a 3-minute track with ViT-1D: real-time factor (target >= 300x on 2 CPU cores) and speed against a
MERT-95M-shaped HubertModel (random init, transformers' HubertConfig defaults = 12 x 768, conv front end at 24 kHz)
on the same audio in the same 4 s windows (target >= 20x faster).

Faster variants of the same model embed the same track, each against the fp32 matrix-product floor measured in
the same run (target for int8: >= 1.5x the floor's real-time factor on 2 cores, cosine to the fp32 tokens >= 0.99):
on the CPU, torch's own dynamic int8 linear layers (`torch.ao.quantization.quantize_dynamic`) and bfloat16 weights
(`model.to(torch.bfloat16)`: AMX / AVX512-BF16 matrix units where the CPU has them); with onnxruntime installed
(`pip install "vit1d[export]"`; `--skip_onnx` leaves it out) the model exported with its front end (vit1d.export)
through onnxruntime in fp32 and dynamic int8. Then the int8 ceiling: the parts no int8 form of the linear layers can
skip, each timed alone on the model's shapes (`int8_ceiling_rows`), against the same target."""

import argparse
import copy
import tempfile
import warnings

import numpy as np
import soxr
import torch
from common import (
    attention_floor_seconds,
    blocked_median_seconds,
    int8_matmul_floor_seconds,
    interleaved_median_seconds,
    matmul_floor_seconds,
    replayed_seconds,
    report,
)
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
    variants = torch_variants(model) if args.device == "cpu" else {}
    if not args.skip_onnx and args.device == "cpu":
        variants.update(onnx_encoders(model, extractor) or {})
    for name, encoder in variants.items():
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
        features = windows(track, 4 * 16000)

        def front_end():
            for start in range(0, len(features), args.batch_size):
                extractor(features[start : start + args.batch_size], sampling_rate=16000, return_tensors="pt",
                          padding=True)

        rows += int8_ceiling_rows(functions["vit1d"], front_end, floor, args.seconds)
    if variants:
        reference = functions["vit1d"]().sequence_tokens
        for name in variants:
            tokens = functions[f"vit1d {name}"]().sequence_tokens
            cosine = torch.nn.functional.cosine_similarity(tokens, reference, dim=-1).min().item()
            speed = args.seconds / seconds[f"vit1d {name}"]
            rows.append((f"vit1d {name}", f"real-time factor {speed:.0f}x, {speed / (args.seconds / floor):.2f}x the "
                                          f"floor's; min token cosine to fp32 eager {cosine:.5f}"))
    if not args.skip_mert:
        ratio = seconds["MERT-95M-shaped HubertModel"] / seconds["vit1d"]
        rows.append(("vit1d vs MERT-shaped", f"{ratio:.1f}x faster (target >= 20x)"))
    report(f"embedding a {args.seconds:.0f} s track ({args.device}, {torch.get_num_threads()} threads)", rows)
    return seconds


def int8_ceiling_rows(run, front_end, floor: float, seconds: float) -> list[tuple[str, str]]:
    """What int8 linear layers could reach at best, measured in this run, each part alone on the model's own shapes:
    the linear products in the fastest int8 kernel here (`int8_matmul_floor_seconds`), and what int8 linear layers
    leave as it is: the attention in float32 (`attention_floor_seconds`), the log-mel front end (`front_end()`, the
    feature extractor), and the layer norms, GELU, residual sums and head reshapes (`replayed_seconds`). The
    quantisation of activations, the rescaling of int8 products and all dispatch are left out, so a real int8 path is
    slower than this ceiling: the int8 target (1.5x the fp32 floor's real-time factor) is out of reach wherever the
    ceiling does not clear it."""
    aten = torch.ops.aten
    int8 = int8_matmul_floor_seconds(run)
    attention = attention_floor_seconds(run)
    features = blocked_median_seconds({"front end": front_end})["front end"]
    rest = replayed_seconds(run, [aten.layer_norm.default, aten.gelu.default, aten.add.Tensor, aten.reshape.default])
    ceiling = int8 + attention + features + rest
    return [
        ("vit1d int8 products alone", f"{int8:.3f} s ({floor / int8:.1f}x faster than fp32), fastest int8 kernel "
                                      "per shape"),
        ("vit1d fp32 attention alone", f"{attention:.3f} s, fastest attention kernel per shape"),
        ("vit1d front end alone", f"{features:.3f} s, the feature extractor"),
        ("vit1d norms, GELU, sums alone", f"{rest:.3f} s"),
        ("vit1d int8 ceiling", f"{ceiling:.3f} s (the four above): real-time factor {seconds / ceiling:.0f}x, "
                               f"{floor / ceiling:.2f}x the floor's, with quantising activations, rescaling "
                               f"products and dispatch free (1.5x needs <= {floor / 1.5:.3f} s in all)"),
    ]


def torch_variants(model) -> dict:
    """torch's own faster forms of `model`: dynamic int8 linear layers (torch.ao's `quantize_dynamic`, deprecated in
    torch 2.13 in favour of torchao; the patch projection stays in float, as the embeddings read its weight's dtype)
    and bfloat16 weights."""
    quantizable = {name: torch.ao.quantization.default_dynamic_qconfig for name, module in model.named_modules()
                   if isinstance(module, torch.nn.Linear) and "patch_embeddings" not in name}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the deprecation notice
        int8 = torch.ao.quantization.quantize_dynamic(copy.deepcopy(model), quantizable, dtype=torch.qint8)
    return {"torch int8 dynamic": int8, "torch bfloat16": copy.deepcopy(model).to(torch.bfloat16)}


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
