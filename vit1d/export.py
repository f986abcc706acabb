"""ONNX export of the whole path, waveform to tokens: the log-mel front end (the STFT in the graph) and the encoder
as one graph with dynamic batch and length, run by onnxruntime on the CPU.

    python -m vit1d.export --model_name_or_path pretrained/vit1d-tiny-gamemusic-1000 --output_dir outputs/onnx

    session = onnxruntime.InferenceSession("outputs/onnx/model.onnx")
    class_token, sequence_tokens, token_mask, hidden_states, log_mel, pooler_output = session.run(
        None, {"waveform": audio[None], "lengths": np.array([len(audio)])})

Inputs: `waveform` `(batch, samples)` float32 mono at the extractor's sampling rate (16 kHz), clips of different
lengths left-aligned and zero-padded; `lengths` `(batch,)` int64, each clip's own number of samples (at least
`n_fft // 2 + 1` = 513). Outputs (`OUTPUT_NAMES`): `class_token` `(batch, hidden)` and `sequence_tokens` `(batch,
tokens, hidden)` of `last_hidden_state` (after the final LayerNorm), `token_mask` `(batch, tokens)` (True for real
tokens), `hidden_states` `(batch, len(layers), 1 + tokens, hidden)` (the chosen `hidden_states` of the model, class
token first; 0 is the embeddings), `log_mel` `(batch, frames, mel)` (the features; padded frames hold
`padding_value`) and `pooler_output` `(batch, hidden)` (`config.pooling`). A token's time is `frame_times` of the
extractor (`i * frames_per_patch * hop / sampling_rate` for `frames_per_patch = 1`).

`--quantize int8` also writes `model.int8.onnx`: onnxruntime's dynamic int8 quantisation of the encoder's matrix
products (weights int8 per channel, activations quantised on the fly); the front end stays in float (its DFT in
float32, within 1e-2 dB; the fp32 graph's in float64, within 1e-3 dB). The export folder also holds the model's
`config.json` and `preprocessor_config.json`, so `OnnxEncoder(folder)` can stand in for the torch encoder in
`embed_long_audio` and `run_embedding.py --onnx_dir`.

Export needs the optional extra: `pip install "vit1d[export]"` (onnx, onnxscript, onnxruntime).
"""

import hashlib
import json
import logging
import math
import tempfile
import time
import warnings
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np
import torch
from torch import nn
from transformers import AttentionInterface

from .configuration_vit1d import ViT1DConfig
from .feature_extraction_vit1d import ViT1DFeatureExtractor
from .loading import layer_sets, load_encoder
from .modeling_vit1d import ViT1DModel

logger = logging.getLogger(__name__)

EXPORT_INSTALL = 'pip install "vit1d[export]"'
INPUT_NAMES = ["waveform", "lengths"]
OUTPUT_NAMES = ["class_token", "sequence_tokens", "token_mask", "hidden_states", "log_mel", "pooler_output"]
# What every export is checked against: features in dB, tokens by cosine similarity.
MAX_FEATURE_ERROR_DB = 1e-3
MIN_TOKEN_COSINE = 0.9999
MIN_INT8_COSINE = 0.99
MAX_INT8_FEATURE_ERROR_DB = 1e-2  # the int8 graph's front end takes its DFT in float32 (see LogMelFrontEnd)
QUANTIZATIONS = ("none", "int8")


def require_onnx():
    """onnx, onnxscript (the exporter's translator) and onnxruntime, or an ImportError naming the extra."""
    try:
        import onnx  # noqa: F401
        import onnxruntime
        import onnxscript  # noqa: F401
    except ImportError as error:
        raise ImportError(f"ONNX export and inference need onnx, onnxscript and onnxruntime: `{EXPORT_INSTALL}` "
                          f"({error}).") from error
    return onnxruntime


class LogMelFrontEnd(nn.Module):
    """
    The feature extractor's log-mel features as plain torch operations that export to ONNX: per-clip reflect padding
    (each clip on its own length, as the extractor pads it), the windowed DFT of every frame as matrix products,
    power, the mel filter bank, `10 log10`, the clip's `top_db` clamp over its real frames, the optional per-bin
    standardisation; padded frames hold `padding_value`.

    The DFT is two matrix products instead of ONNX's `STFT` operator: the periodic Hann window is symmetric about
    each frame's centre `c = n_fft // 2`, so with `m = n - c` the real part of bin `k` is a cosine sum over the
    frame's mirrored sums `f[c + m] + f[c - m]` and the imaginary part a sine sum over the differences `f[c + m] -
    f[c - m]` (up to the sign `(-1)^k`, which the power drops): half the products of the plain DFT, and only the bins
    the mel filters read. `dtype` is the DFT's precision: float64 stays within ~2e-5 dB of the extractor (tested);
    float32 errs by up to ~1.5e-3 dB on bands some 70 dB below their frame's loudest, which only the int8 graph
    accepts (its encoder errs far more). With the default half-overlapping frames (`n_fft = 2 hop`) each frame is
    two consecutive blocks of `hop` samples, sliced rather than gathered. In onnxruntime on 2 CPU cores the whole front
    end takes 28 ms per 16 clips of 4 s in float64 and 13 ms in float32 (33 and 16 ms when frames are gathered by
    `unfold`; the `STFT` operator was slower than either). The extractor keeps its own chunked
    implementation: it is tuned for CPU memory and speed on long batches, which a traced graph cannot express.
    """

    def __init__(self, feature_extractor: ViT1DFeatureExtractor, dtype: torch.dtype = torch.float64):
        super().__init__()
        fe = feature_extractor
        self.n_fft, self.hop_length, self.top_db = fe.n_fft, fe.hop_length, fe.top_db
        self.padding_value, self.do_peak_normalize = float(fe.padding_value), bool(fe.do_peak_normalize)
        # The extractor's n_fft is even and its window the periodic Hann: w[0] = 0 and w[c + m] = w[c - m].
        centre = fe.n_fft // 2
        window = torch.from_numpy(fe.window).to(torch.float64)
        # The bins any mel filter reads (the others never reach the features).
        bins = np.flatnonzero(fe.mel_filters.any(axis=1))
        first_bin, last_bin = int(bins[0]), int(bins[-1]) + 1
        angle = 2 * math.pi * torch.outer(torch.arange(centre, dtype=torch.float64),
                                          torch.arange(first_bin, last_bin, dtype=torch.float64)) / fe.n_fft
        # Buffers, not parameters: constants of the graph, moved by `.to(device)`. Rows m = 0 .. c - 1 (sine: 1 ..
        # c - 1, its m = 0 row is zero), windowed by w[c + m]; the frame's first sample has weight w[0] = 0.
        weights = window[centre:, None]
        self.register_buffer("cosine", (torch.cos(angle) * weights).to(dtype), persistent=False)
        self.register_buffer("sine", (torch.sin(angle) * weights)[1:].to(dtype), persistent=False)
        mel_filters = torch.from_numpy(fe.mel_filters[first_bin:last_bin])
        self.register_buffer("mel_filters", mel_filters.to(torch.float32), persistent=False)
        self.standardize = fe.mel_mean is not None
        if self.standardize:
            self.register_buffer("mel_mean", torch.tensor(fe.mel_mean, dtype=torch.float32), persistent=False)
            self.register_buffer("mel_std", torch.tensor(fe.mel_std, dtype=torch.float32), persistent=False)

    def forward(self, waveform: torch.Tensor, lengths: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """`waveform` `(B, N)`, `lengths` `(B,)` -> `log_mel` `(B, 1 + N // hop, mel)` and `frame_mask` `(B, 1 + N //
        hop)` (True for each clip's `1 + length // hop` real frames)."""
        pad, num_samples = self.n_fft // 2, waveform.shape[1]
        lengths = lengths.to(torch.int64)
        sample_mask = torch.arange(num_samples, device=waveform.device)[None, :] < lengths[:, None]  # (B, N)
        waveform = waveform.to(self.cosine.dtype) * sample_mask  # what lies past a clip's length is not read
        if self.do_peak_normalize:
            peak = waveform.abs().amax(dim=1, keepdim=True)  # (B, 1)
            waveform = waveform / torch.where(peak > 0, peak, torch.ones_like(peak))
        # Reflect padding of each clip on its own length: padded sample p holds clip[pad - p] before the clip and
        # clip[length - 2 - j] at p = length + pad + j after it (j < pad); zeros beyond. The right side moves with
        # the clip's length, so it is gathered and scattered per clip.
        offsets = torch.arange(pad, device=waveform.device)[None, :]  # (1, pad)
        left = waveform[:, 1 : pad + 1].flip(-1)  # (B, pad)
        right = torch.gather(waveform, 1, lengths[:, None] - 2 - offsets)  # (B, pad)
        padded = torch.cat([left, waveform, torch.zeros_like(left)], dim=1)  # (B, N + 2 pad)
        padded = padded.scatter(1, lengths[:, None] + pad + offsets, right)
        if self.n_fft == 2 * self.hop_length:
            # Frames overlap by half (the default): frame t is blocks t and t + 1 of `hop` samples, its centre the
            # first sample of block t + 1. Slicing blocks avoids unfold's gather, which copies every sample twice.
            # The N + 2 hop padded samples hold 2 + N // hop whole blocks: one more than the frames.
            whole = padded.shape[1] // self.hop_length * self.hop_length
            blocks = padded[:, :whole].reshape(padded.shape[0], -1, self.hop_length)  # (B, T + 1, hop)
            centre = blocks[:, 1:, :1]  # (B, T, 1): f[c]
            after, mirrored = blocks[:, 1:, 1:], blocks[:, :-1, 1:].flip(-1)  # (B, T, c - 1): f[c + m], f[c - m]
        else:
            frames = padded.unfold(-1, self.n_fft, self.hop_length)  # (B, T, n_fft), as torch.stft(center=False)
            centre = frames[..., pad : pad + 1]  # f[c]
            mirrored = frames[..., 1:pad].flip(-1)  # f[c - m], m = 1 .. c - 1
            after = frames[..., pad + 1 :]  # f[c + m], m = 1 .. c - 1
        sums = torch.cat([centre, after + mirrored], dim=-1)  # (B, T, c), m = 0 .. c - 1
        real, imag = torch.matmul(sums, self.cosine), torch.matmul(after - mirrored, self.sine)  # (B, T, bins)
        power = (real.square() + imag.square()).to(torch.float32)
        log_mel = torch.matmul(power, self.mel_filters).clamp_min(1e-10).log10() * 10.0  # (B, T, mel)
        num_frames = log_mel.shape[1]
        frame_mask = torch.arange(num_frames, device=waveform.device)[None, :] < (1 + lengths // self.hop_length)[
            :, None]  # (B, T)
        if self.top_db is not None:
            frame_peak = log_mel.amax(dim=-1).masked_fill(~frame_mask, -math.inf)  # (B, T)
            floor = frame_peak.amax(dim=1) - self.top_db  # (B,)
            log_mel = torch.maximum(log_mel, floor[:, None, None])
        if self.standardize:
            log_mel = (log_mel - self.mel_mean) / self.mel_std
        return log_mel.masked_fill(~frame_mask[..., None], self.padding_value), frame_mask


def masked_attention(module: nn.Module, query: torch.Tensor, key: torch.Tensor, value: torch.Tensor,
                     attention_mask: torch.Tensor | None, scaling: float, dropout: float = 0.0, **kwargs):
    """The attention `export_onnx` traces (registered with transformers' `AttentionInterface` as `"vit1d_onnx"`):
    softmax attention whose padding mask is an additive bias of shape `(B, 1, 1, L)`, broadcast over heads and
    queries. Same values as SDPA (every query sees at least the class token, so no row is fully masked); SDPA's
    exported decomposition instead guards against fully masked rows with an `IsNaN` and a `Where` over every
    `(B, heads, L, L)` score matrix, which costs onnxruntime about a tenth of the int8 graph's time. Returns the output
    `(B, L, heads, head_dim)` and no weights."""
    scores = torch.matmul(query * scaling, key.transpose(-1, -2))  # (B, heads, L, L)
    if attention_mask is not None:  # boolean (B, 1, 1, L), True = attend
        bias = torch.zeros(attention_mask.shape, dtype=scores.dtype, device=scores.device)
        scores = scores + bias.masked_fill(~attention_mask, torch.finfo(scores.dtype).min)
    return torch.matmul(scores.softmax(dim=-1), value).transpose(1, 2), None


EXPORT_ATTENTION = "vit1d_onnx"
AttentionInterface.register(EXPORT_ATTENTION, masked_attention)


class ViT1DWaveformEncoder(nn.Module):
    """Waveform to tokens in one module (`LogMelFrontEnd`, then `ViT1DModel`): what `export_onnx` traces. Returns the
    outputs named in `OUTPUT_NAMES`, in that order (see the module docstring)."""

    def __init__(self, model: ViT1DModel, feature_extractor: ViT1DFeatureExtractor, layers: list[int],
                 dft_dtype: torch.dtype = torch.float64):
        super().__init__()
        self.front_end = LogMelFrontEnd(feature_extractor, dft_dtype)
        self.encoder = model
        self.layers = list(layers)

    def forward(self, waveform: torch.Tensor, lengths: torch.Tensor):
        log_mel, frame_mask = self.front_end(waveform, lengths)
        attention_mask = frame_mask.to(torch.int64)
        outputs = self.encoder(log_mel, attention_mask=attention_mask, output_hidden_states=bool(self.layers),
                               return_dict=True)
        token_mask = self.encoder.get_token_mask(attention_mask)  # (B, tokens)
        last = outputs.last_hidden_state  # (B, 1 + tokens, D)
        if self.layers:
            hidden_states = torch.stack([outputs.hidden_states[i] for i in self.layers], dim=1)  # (B, L, 1 + T, D)
        else:
            hidden_states = last[:, None][:, :0]  # (B, 0, 1 + T, D): no layer asked for
        return last[:, 0], last[:, 1:], token_mask, hidden_states, log_mel, outputs.pooler_output


def flat_layers(value: str, num_layers: int) -> list[int]:
    """The hidden-state indices of a `--layers` value (`layer_sets` syntax; every set's layers, in order, once)."""
    layers = []
    for layer_set in layer_sets(value, num_layers):
        layers += [layer for layer in layer_set if layer not in layers]
    return layers


def export_onnx(model: ViT1DModel, feature_extractor: ViT1DFeatureExtractor, path: str | Path,
                layers: list[int] = (), opset_version: int = 20, dft_dtype: torch.dtype = torch.float64) -> Path:
    """Trace `ViT1DWaveformEncoder(model, feature_extractor, layers)` in float32 (the front end's DFT in `dft_dtype`,
    see `LogMelFrontEnd`) with dynamic batch and length and write one self-contained ONNX file (weights inside) to
    `path`. The model is cast to float32 in place; its attention is traced as `masked_attention`."""
    require_onnx()
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    module = ViT1DWaveformEncoder(model.float().eval(), feature_extractor, layers, dft_dtype).eval()
    attention = model.config._attn_implementation
    rate = feature_extractor.sampling_rate
    # Two clips of different lengths: the example takes the padded path, and a batch of 1 would fix the batch size.
    example = (torch.zeros(2, 2 * rate), torch.tensor([2 * rate, rate + 123]))
    batch = torch.export.Dim("batch", min=1)
    samples = torch.export.Dim("samples", min=feature_extractor.n_fft // 2 + 1)
    # The exporter's notes ("torchvision is not installed", every initializer it deduplicates, every node its
    # optimiser and rewriter leave alone) are not ours to show.
    quiet = [logging.getLogger(name) for name in ("torch.onnx._internal.exporter._registration", "onnx_ir",
                                                 "onnxscript")]
    levels = [log.level for log in quiet]
    for log in quiet:
        log.setLevel(logging.ERROR)
    try:
        model.set_attn_implementation(EXPORT_ATTENTION)
        with warnings.catch_warnings(), torch.no_grad():
            warnings.filterwarnings("ignore", message=".*axis name.*")  # both inputs share the batch axis
            warnings.simplefilter("ignore", category=FutureWarning)
            torch.onnx.export(module, example, str(path), input_names=INPUT_NAMES, output_names=OUTPUT_NAMES,
                              dynamic_shapes={"waveform": {0: batch, 1: samples}, "lengths": {0: batch}},
                              opset_version=opset_version, dynamo=True, external_data=False, verbose=False)
    finally:
        model.set_attn_implementation(attention)
        for log, level in zip(quiet, levels):
            log.setLevel(level)
    return path


def quantize_onnx(path: str | Path, output: str | Path) -> Path:
    """onnxruntime's dynamic int8 quantisation of an exported graph's matrix products with weights (int8 per output
    channel; activations quantised per call). The front end's mel filter bank stays in float32: its product is the
    features in dB, which int8 would move by whole decibels."""
    require_onnx()
    import onnx
    from onnxruntime.quantization import QuantType, quantize_dynamic

    graph = onnx.load(str(path)).graph
    front_end = [node.name for node in graph.node if any(name.startswith("front_end.") for name in node.input)]
    root = logging.getLogger()
    level = root.level
    root.setLevel(logging.ERROR)  # the quantiser logs a line per tensor on the root logger
    try:
        quantize_dynamic(str(path), str(output), weight_type=QuantType.QInt8, per_channel=True,
                         op_types_to_quantize=["MatMul"], nodes_to_exclude=front_end)
    finally:
        root.setLevel(level)
    return Path(output)


def onnx_session(path: str | Path, threads: int | None = None):
    """An onnxruntime CPU session for an exported file (`threads`: intra-op threads, default onnxruntime's)."""
    ort = require_onnx()
    options = ort.SessionOptions()
    if threads:
        options.intra_op_num_threads = threads
    return ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])


def batch_waveforms(clips: list[np.ndarray]) -> dict[str, np.ndarray]:
    """The ONNX inputs of a list of 1-D clips: `waveform` `(B, max length)` float32, zero-padded, and `lengths`."""
    lengths = np.array([len(clip) for clip in clips], dtype=np.int64)
    waveform = np.zeros((len(clips), int(lengths.max())), dtype=np.float32)
    for row, clip in zip(waveform, clips):
        row[: len(clip)] = clip
    return {"waveform": waveform, "lengths": lengths}


def _cosine(a: np.ndarray, b: np.ndarray) -> float:
    """The smallest cosine similarity between matching rows (last axis) of `a` and `b`."""
    a, b = a.reshape(-1, a.shape[-1]).astype(np.float64), b.reshape(-1, b.shape[-1]).astype(np.float64)
    denominator = np.maximum(np.linalg.norm(a, axis=1) * np.linalg.norm(b, axis=1), 1e-30)
    return float(np.min(np.sum(a * b, axis=1) / denominator))


def parity(session, model: ViT1DModel, feature_extractor: ViT1DFeatureExtractor, layers: list[int],
           clips: list[np.ndarray]) -> dict[str, float]:
    """Run one (padded) batch of `clips` through the ONNX session and through the extractor and the torch model, and
    return the largest feature error (dB, real frames) and the smallest cosines of the outputs (real tokens)."""
    outputs = dict(zip(OUTPUT_NAMES, session.run(None, batch_waveforms(clips))))
    features = feature_extractor(clips, sampling_rate=feature_extractor.sampling_rate, return_tensors="pt",
                                 padding=True)
    with torch.no_grad():
        reference = model.float().eval()(**features, output_hidden_states=bool(layers), return_dict=True)
    frame_mask = features["attention_mask"].numpy().astype(bool)
    token_mask = model.get_token_mask(features["attention_mask"]).numpy()
    result = {
        "feature_error_db": float(np.abs(outputs["log_mel"] - features["input_values"].numpy())[frame_mask].max()),
        "masks_equal": bool(np.array_equal(outputs["token_mask"], token_mask)),
        "class_token_cosine": _cosine(outputs["class_token"], reference.last_hidden_state[:, 0].numpy()),
        "pooler_output_cosine": _cosine(outputs["pooler_output"], reference.pooler_output.numpy()),
        "sequence_token_cosine": _cosine(outputs["sequence_tokens"][token_mask],
                                         reference.last_hidden_state[:, 1:].numpy()[token_mask]),
    }
    for position, layer in enumerate(layers):
        ours = outputs["hidden_states"][:, position]
        theirs = reference.hidden_states[layer].numpy()
        result[f"layer_{layer}_cosine"] = min(_cosine(ours[:, 0], theirs[:, 0]),
                                              _cosine(ours[:, 1:][token_mask], theirs[:, 1:][token_mask]))
    return result


def check_parity(result: dict[str, float], max_feature_error_db: float = MAX_FEATURE_ERROR_DB,
                 min_cosine: float = MIN_TOKEN_COSINE) -> None:
    """Raise when a `parity` result misses the bar: features within `max_feature_error_db`, every cosine at least
    `min_cosine`, the same token mask."""
    failures = [f"{name} {value:.6f} < {min_cosine}" for name, value in result.items()
                if name.endswith("_cosine") and value < min_cosine]
    if result["feature_error_db"] > max_feature_error_db:
        failures.append(f"feature error {result['feature_error_db']:.2e} dB > {max_feature_error_db} dB")
    if not result["masks_equal"]:
        failures.append("the token masks differ")
    if failures:
        raise ValueError("The ONNX graph does not reproduce the torch path: " + "; ".join(failures) + ".")


@dataclass
class ExportArguments:
    model_name_or_path: str = field(metadata={"help": "A ViT-1D folder or Hub id (the encoder of any head)."})
    output_dir: str = field(default="outputs/onnx", metadata={"help": "Where model.onnx and export.json go."})
    layers: str = field(default="3,6,9,12", metadata={
        "help": "Hidden states returned as `hidden_states` (0 = embeddings; 'last', 'all', N or N,M,...; '' for "
                "none)."})
    opset_version: int = field(default=20, metadata={"help": "ONNX opset: from 20 on GELU is one `Gelu` operator, which "
                                                             "onnxruntime runs faster than the `Erf` expression of 18."})
    quantize: str = field(default="none", metadata={
        "help": "'int8': also write model.int8.onnx (onnxruntime's dynamic int8 quantisation of the encoder's matrix "
                "products; its front end's DFT in float32), checked at cosine >= 0.99 and features within 1e-2 dB.",
        "choices": list(QUANTIZATIONS)})
    check_seconds: str = field(default="1,4.3,30", metadata={
        "help": "Clip lengths (seconds) of the parity check run after export, as one padded batch; '' skips it."})
    revision: str | None = field(default=None, metadata={"help": "Hub revision of the model."})
    trust_remote_code: bool = field(default=False, metadata={"help": "Accepted for symmetry; no folder code runs."})


def export_folder(model: ViT1DModel, feature_extractor: ViT1DFeatureExtractor, output_dir: str | Path, name: str,
                  layers: list[int] = (), quantize: str = "none", opset_version: int = 20
                  ) -> tuple[dict[str, Path], dict]:
    """Write what `OnnxEncoder(output_dir)` reads: `model.onnx` (and `model.int8.onnx` for `quantize="int8"`), the
    model's `config.json` and `preprocessor_config.json`, and `export.json`. Returns the graphs by kind and the
    record written to `export.json`."""
    if quantize not in QUANTIZATIONS:
        raise ValueError(f"quantize is one of {QUANTIZATIONS}, got {quantize!r}.")
    output_dir = Path(output_dir)
    start = time.perf_counter()
    graphs = {"fp32": export_onnx(model, feature_extractor, output_dir / "model.onnx", layers, opset_version)}
    if quantize == "int8":
        # The int8 graph's front end takes its DFT in float32 (~1e-3 dB, far below what int8 moves the tokens by):
        # it is traced again with that precision, then quantised.
        with tempfile.TemporaryDirectory() as scratch:
            float32_dft = export_onnx(model, feature_extractor, Path(scratch) / "model.onnx", layers, opset_version,
                                      dft_dtype=torch.float32)
            graphs["int8"] = quantize_onnx(float32_dft, output_dir / "model.int8.onnx")
    record = {"model": name, "layers": list(layers), "inputs": INPUT_NAMES, "outputs": OUTPUT_NAMES,
              "graphs": {kind: graph.name for kind, graph in graphs.items()},
              "sampling_rate": feature_extractor.sampling_rate, "tokens_per_second": model.config.tokens_per_second,
              "export_seconds": round(time.perf_counter() - start, 1)}
    model.config.save_pretrained(output_dir)
    feature_extractor.save_pretrained(output_dir)
    (output_dir / "export.json").write_text(json.dumps(record, indent=1) + "\n")
    return graphs, record


def run_export(args: ExportArguments) -> Path:
    """Export `args.model_name_or_path` to `output_dir/model.onnx` (and `model.int8.onnx` with `--quantize int8`),
    check each graph against the torch path on a padded batch of test clips, and write `output_dir/export.json`
    (inputs, outputs, layers, parity figures, export time) beside the model's config and preprocessor config."""
    require_onnx()
    model, feature_extractor, name = load_encoder(args.model_name_or_path, revision=args.revision,
                                                  trust_remote_code=args.trust_remote_code)
    layers = flat_layers(args.layers, model.config.num_hidden_layers) if args.layers.strip() else []
    output_dir = Path(args.output_dir)
    graphs, record = export_folder(model, feature_extractor, output_dir, name, layers, args.quantize,
                                   args.opset_version)
    record["arguments"] = asdict(args)
    seconds = [float(s) for s in args.check_seconds.split(",") if s.strip()]
    if seconds:
        rng = np.random.default_rng(0)
        rate = feature_extractor.sampling_rate
        clips = [(0.1 * rng.standard_normal(int(s * rate))).astype(np.float32) for s in seconds]
        record["parity_clip_seconds"] = seconds
        record["parity"] = {kind: parity(onnx_session(graph), model, feature_extractor, layers, clips)
                            for kind, graph in graphs.items()}
    # Written before the checks, so that a graph that fails them leaves its figures.
    (output_dir / "export.json").write_text(json.dumps(record, indent=1) + "\n")
    if seconds:
        check_parity(record["parity"]["fp32"])
        if "int8" in graphs:
            check_parity(record["parity"]["int8"], max_feature_error_db=MAX_INT8_FEATURE_ERROR_DB,
                         min_cosine=MIN_INT8_COSINE)
    for kind, graph in graphs.items():
        logger.info(f"Exported {record['model']} to {graph} ({graph.stat().st_size / 2**20:.1f} MiB); parity: "
                    f"{record.get('parity', {}).get(kind)}")
    return graphs["fp32"]


class OnnxEncoder:
    """
    An export folder (`run_export`) in the torch encoder's place: `embed_long_audio(OnnxEncoder(folder),
    OnnxEncoder(folder).feature_extractor, "track.flac")` and `run_embedding.py --onnx_dir` run their windows through
    onnxruntime (`int8=True`: `model.int8.onnx`). The graph computes the features itself from the waveform; it
    returns only the layers it was exported with (`self.layers`).
    """

    def __init__(self, folder: str | Path, int8: bool = False, threads: int | None = None):
        folder = Path(folder)
        graph = folder / ("model.int8.onnx" if int8 else "model.onnx")
        if not graph.is_file() or not (folder / "export.json").is_file():
            quantize = " --quantize int8" if int8 else ""
            raise FileNotFoundError(f"{graph} (with export.json) does not exist: export the model first, "
                                    f"`python -m vit1d.export --model_name_or_path MODEL --output_dir {folder}"
                                    f"{quantize}`.")
        record = json.loads((folder / "export.json").read_text())
        self.layers = list(record["layers"])
        self.config = ViT1DConfig.from_pretrained(folder)
        self.feature_extractor = ViT1DFeatureExtractor.from_pretrained(folder)
        self.graph = graph
        self.session = onnx_session(graph, threads)
        self.name = f"{record['model']} (ONNX{', int8' if int8 else ''})"

    def graph_digest(self) -> str:
        """SHA-256 of the graph file: the model's identity for embedding caches."""
        digest = hashlib.sha256()
        with open(self.graph, "rb") as file:
            for block in iter(lambda: file.read(1 << 20), b""):
                digest.update(block)
        return digest.hexdigest()

    @property
    def base_model(self) -> "OnnxEncoder":
        return self  # what embed_long_audio asks a model for

    def encode_windows(self, chunks, layers=None) -> tuple[torch.Tensor, torch.Tensor]:
        """`vit1d.embedding.encode_windows` through the graph: tokens `(B, 1 + T, D)` of `last_hidden_state`, or
        `(B, 1 + T, len(layers), D)` of the chosen hidden states, and the pooler output `(B, D)`; float32 tensors."""
        outputs = dict(zip(OUTPUT_NAMES, self.session.run(None, batch_waveforms(list(chunks)))))
        if layers is None:
            tokens = np.concatenate([outputs["class_token"][:, None], outputs["sequence_tokens"]], axis=1)
        else:
            missing = [layer for layer in layers if layer not in self.layers]
            if missing:
                raise ValueError(f"The ONNX graph returns the hidden states of layers {self.layers}, not {missing}: "
                                 "export it again with `--layers` naming them.")
            hidden = outputs["hidden_states"][:, [self.layers.index(layer) for layer in layers]]  # (B, L, 1 + T, D)
            tokens = hidden.transpose(0, 2, 1, 3)  # (B, 1 + T, L, D), as encode_windows stacks them
        return torch.from_numpy(np.ascontiguousarray(tokens)), torch.from_numpy(outputs["pooler_output"])


def main(argv=None) -> Path:
    """The command line (`python -m vit1d.export`, `run_export.py`): `ExportArguments` -> `run_export`."""
    from transformers import HfArgumentParser

    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    (args,) = HfArgumentParser(ExportArguments).parse_args_into_dataclasses(args=argv)
    return run_export(args)


__all__ = ["ExportArguments", "LogMelFrontEnd", "OUTPUT_NAMES", "OnnxEncoder", "ViT1DWaveformEncoder",
           "batch_waveforms", "check_parity", "export_folder", "export_onnx", "flat_layers", "main", "onnx_session",
           "parity", "quantize_onnx", "require_onnx", "run_export"]


if __name__ == "__main__":
    import sys

    main(sys.argv[1:])
