"""ONNX export of the whole path, waveform to tokens: the log-mel front end (the STFT in the graph) and the encoder
as one graph with dynamic batch and length, run by onnxruntime on the CPU.

    python run_export.py --model_name_or_path pretrained/vit1d-tiny-gamemusic-1000 --output_dir outputs/onnx

    session = onnxruntime.InferenceSession("outputs/onnx/model.onnx")
    class_token, sequence_tokens, token_mask, hidden_states, log_mel = session.run(
        None, {"waveform": audio[None], "lengths": np.array([len(audio)])})

Inputs: `waveform` `(batch, samples)` float32 mono at the extractor's sampling rate (16 kHz), clips of different
lengths left-aligned and zero-padded; `lengths` `(batch,)` int64, each clip's own number of samples (at least
`n_fft // 2 + 1` = 513). Outputs (`OUTPUT_NAMES`): `class_token` `(batch, hidden)` and `sequence_tokens` `(batch,
tokens, hidden)` of `last_hidden_state` (after the final LayerNorm), `token_mask` `(batch, tokens)` (True for real
tokens), `hidden_states` `(batch, len(layers), 1 + tokens, hidden)` (the chosen `hidden_states` of the model, class
token first; 0 is the embeddings) and `log_mel` `(batch, frames, mel)` (the features; padded frames hold
`padding_value`). A token's time is `i * frames_per_patch * hop / sampling_rate` as `frame_times` gives it.

Export needs the optional extra: `pip install "vit1d[export]"` (onnx, onnxscript, onnxruntime).
"""

import json
import logging
import math
import time
import warnings
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np
import torch
from torch import nn

from .feature_extraction_vit1d import ViT1DFeatureExtractor
from .loading import layer_sets, load_encoder
from .modeling_vit1d import ViT1DModel

logger = logging.getLogger(__name__)

EXPORT_INSTALL = 'pip install "vit1d[export]"'
INPUT_NAMES = ["waveform", "lengths"]
OUTPUT_NAMES = ["class_token", "sequence_tokens", "token_mask", "hidden_states", "log_mel"]
# What the export must reproduce (the bar): features in dB, tokens by cosine similarity.
MAX_FEATURE_ERROR_DB = 1e-3
MIN_TOKEN_COSINE = 0.9999


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
    by index arithmetic (each clip on its own length, as the extractor pads it), `torch.stft` in float64 (the ONNX
    `STFT` operator), power, the mel filter bank, `10 log10`, the clip's `top_db` clamp over its real frames, the
    optional per-bin standardisation; padded frames hold `padding_value`. Same values as the extractor's torch
    backend to ~1e-5 dB (tested). The extractor keeps its own chunked implementation: it is tuned for CPU memory and
    speed on long batches, which a traced graph cannot express.
    """

    def __init__(self, feature_extractor: ViT1DFeatureExtractor):
        super().__init__()
        fe = feature_extractor
        self.n_fft, self.hop_length, self.top_db = fe.n_fft, fe.hop_length, fe.top_db
        self.padding_value, self.do_peak_normalize = float(fe.padding_value), bool(fe.do_peak_normalize)
        # Buffers, not parameters: constants of the graph, moved by `.to(device)`.
        self.register_buffer("window", torch.from_numpy(fe.window).to(torch.float64), persistent=False)
        self.register_buffer("mel_filters", torch.from_numpy(fe.mel_filters).to(torch.float32), persistent=False)
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
        waveform = waveform.to(torch.float64) * sample_mask  # what lies past a clip's length is not read
        if self.do_peak_normalize:
            peak = waveform.abs().amax(dim=1, keepdim=True)  # (B, 1)
            waveform = waveform / torch.where(peak > 0, peak, torch.ones_like(peak))
        # Reflect padding of each clip on its own length: padded sample p holds clip[|p - pad|] before the clip's
        # end and clip[2 (length - 1) - (p - pad)] after it, up to p = length + 2 pad; zeros beyond.
        positions = torch.arange(num_samples + 2 * pad, device=waveform.device)[None, :]  # (1, N + 2 pad)
        index = (positions - pad).abs()
        last = lengths[:, None] - 1
        index = torch.where(index > last, 2 * last - index, index).clamp(0, num_samples - 1)  # (B, N + 2 pad)
        inside = positions < lengths[:, None] + 2 * pad
        padded = torch.where(inside, torch.gather(waveform, 1, index), torch.zeros((), dtype=waveform.dtype))
        spectrum = torch.stft(padded, self.n_fft, self.hop_length, window=self.window, center=False,
                              return_complex=True)  # (B, bins, frames)
        power = (spectrum.real.square() + spectrum.imag.square()).to(torch.float32).transpose(1, 2)  # (B, T, bins)
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


class ViT1DWaveformEncoder(nn.Module):
    """Waveform to tokens in one module (`LogMelFrontEnd`, then `ViT1DModel`): what `export_onnx` traces. Returns the
    outputs named in `OUTPUT_NAMES`, in that order (see the module docstring)."""

    def __init__(self, model: ViT1DModel, feature_extractor: ViT1DFeatureExtractor, layers: list[int]):
        super().__init__()
        self.front_end = LogMelFrontEnd(feature_extractor)
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
        return last[:, 0], last[:, 1:], token_mask, hidden_states, log_mel


def flat_layers(value: str, num_layers: int) -> list[int]:
    """The hidden-state indices of a `--layers` value (`layer_sets` syntax; every set's layers, in order, once)."""
    layers = []
    for layer_set in layer_sets(value, num_layers):
        layers += [layer for layer in layer_set if layer not in layers]
    return layers


def export_onnx(model: ViT1DModel, feature_extractor: ViT1DFeatureExtractor, path: str | Path,
                layers: list[int] = (), opset_version: int = 18) -> Path:
    """Trace `ViT1DWaveformEncoder(model, feature_extractor, layers)` in float32 with dynamic batch and length and
    write one self-contained ONNX file (weights inside) to `path`."""
    require_onnx()
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    module = ViT1DWaveformEncoder(model.float().eval(), feature_extractor, layers).eval()
    rate = feature_extractor.sampling_rate
    # Two clips of different lengths: the example takes the padded path, and a batch of 1 would fix the batch size.
    example = (torch.zeros(2, 2 * rate), torch.tensor([2 * rate, rate + 123]))
    batch = torch.export.Dim("batch", min=1)
    samples = torch.export.Dim("samples", min=feature_extractor.n_fft // 2 + 1)
    # The exporter's notes ("torchvision is not installed", every initializer it deduplicates) are not ours to show.
    quiet = [logging.getLogger(name) for name in ("torch.onnx._internal.exporter._registration", "onnx_ir")]
    levels = [log.level for log in quiet]
    for log in quiet:
        log.setLevel(logging.ERROR)
    try:
        with warnings.catch_warnings(), torch.no_grad():
            warnings.filterwarnings("ignore", message=".*axis name.*")  # both inputs share the batch axis
            warnings.simplefilter("ignore", category=FutureWarning)
            torch.onnx.export(module, example, str(path), input_names=INPUT_NAMES, output_names=OUTPUT_NAMES,
                              dynamic_shapes={"waveform": {0: batch, 1: samples}, "lengths": {0: batch}},
                              opset_version=opset_version, dynamo=True, external_data=False, verbose=False)
    finally:
        for log, level in zip(quiet, levels):
            log.setLevel(level)
    return path


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
    opset_version: int = field(default=18, metadata={"help": "ONNX opset (STFT needs 17 or later)."})
    check_seconds: str = field(default="1,4.3,30", metadata={
        "help": "Clip lengths (seconds) of the parity check run after export, as one padded batch; '' skips it."})
    revision: str | None = field(default=None, metadata={"help": "Hub revision of the model."})
    trust_remote_code: bool = field(default=False, metadata={"help": "Accepted for symmetry; no folder code runs."})


def run_export(args: ExportArguments) -> Path:
    """Export `args.model_name_or_path` to `output_dir/model.onnx`, check it against the torch path on a padded batch
    of test clips and write `output_dir/export.json` (inputs, outputs, layers, parity figures, export time)."""
    require_onnx()
    model, feature_extractor, name = load_encoder(args.model_name_or_path, revision=args.revision,
                                                  trust_remote_code=args.trust_remote_code)
    layers = flat_layers(args.layers, model.config.num_hidden_layers) if args.layers.strip() else []
    output_dir = Path(args.output_dir)
    start = time.perf_counter()
    path = export_onnx(model, feature_extractor, output_dir / "model.onnx", layers, args.opset_version)
    record = {"model": name, "layers": layers, "inputs": INPUT_NAMES, "outputs": OUTPUT_NAMES,
              "sampling_rate": feature_extractor.sampling_rate, "tokens_per_second": model.config.tokens_per_second,
              "export_seconds": round(time.perf_counter() - start, 1), "arguments": asdict(args)}
    seconds = [float(s) for s in args.check_seconds.split(",") if s.strip()]
    if seconds:
        rng = np.random.default_rng(0)
        rate = feature_extractor.sampling_rate
        clips = [(0.1 * rng.standard_normal(int(s * rate))).astype(np.float32) for s in seconds]
        record["parity"] = parity(onnx_session(path), model, feature_extractor, layers, clips)
        record["parity_clip_seconds"] = seconds
        check_parity(record["parity"])
    (output_dir / "export.json").write_text(json.dumps(record, indent=1) + "\n")
    logger.info(f"Exported {name} to {path} ({path.stat().st_size / 2**20:.1f} MiB); parity: {record.get('parity')}")
    return path


__all__ = ["ExportArguments", "LogMelFrontEnd", "OUTPUT_NAMES", "ViT1DWaveformEncoder", "batch_waveforms",
           "check_parity", "export_onnx", "flat_layers", "onnx_session", "parity", "require_onnx", "run_export"]
