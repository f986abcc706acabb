"""Embedding tracks of any length with ViT-1D, window by window, in bounded memory."""

import json
import logging
import math
import os
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch
from tqdm.auto import tqdm

from .audio import audio_info, display_path, stream_audio
from .feature_extraction_vit1d import ViT1DFeatureExtractor
from .modeling_vit1d import ViT1DModel, ViT1DPreTrainedModel

logger = logging.getLogger(__name__)


# The one pooling of a window's tokens, under `config.pooling`'s names and the paper's (probing's `--representation`).
POOLINGS = {"cls": "cls", "class": "cls", "mean": "mean", "sequence_mean": "mean", "cls_and_mean": "cls_and_mean",
            "average": "cls_and_mean"}


def pool_windows(class_tokens: torch.Tensor, sequence_means: torch.Tensor, tokens_per_window,
                 pooling: str) -> torch.Tensor:
    """Pool windows from their class tokens, the means of their (unpadded) sequence tokens and how many sequence
    tokens each has: "cls" / "class" (the class token), "mean" / "sequence_mean" (the sequence mean) or
    "cls_and_mean" / "average" (the mean over the class token and the sequence tokens, the paper's "average": it
    weighs the class token as one token among `1 + count`). `class_tokens` and `sequence_means` are `(windows, ...)`
    (or one window without the leading axis, with a scalar count); HEAR, probing and `LongAudioEmbedding` pool with
    this function, so their numbers agree to the last bit."""
    kind = POOLINGS.get(pooling)
    if kind is None:
        raise ValueError(f"Unknown pooling {pooling!r}: use one of {sorted(POOLINGS)}.")
    if kind == "cls":
        return class_tokens
    if kind == "mean":
        return sequence_means
    counts = torch.as_tensor(tokens_per_window).to(class_tokens.dtype)
    if counts.ndim:  # (windows,) -> (windows, 1, ...) against (windows, ..., hidden)
        counts = counts.view(-1, *([1] * (class_tokens.ndim - 1)))
    return (class_tokens + counts * sequence_means) / (1 + counts)


@dataclass
class LongAudioEmbedding:
    """Embeddings of one track, computed in windows.

    Attributes:
        class_tokens: `(num_windows, hidden_size)`, or `(num_windows, len(layers), hidden_size)` when layers were
            asked for: the class token of every window.
        pooled: `(num_windows, hidden_size)`: `pooler_output` of every window (see `config.pooling`).
        sequence_means: shaped like `class_tokens`: the mean of every window's (unpadded) sequence tokens.
        tokens_per_window: `(num_windows,)`: how many sequence tokens each window has (fewer in a short last window).
            The mean of the class and sequence tokens of window `w` (the paper's "average") is
            `(class_tokens[w] + tokens_per_window[w] * sequence_means[w]) / (1 + tokens_per_window[w])`.
        window_times: `(num_windows, 2)`: start and end of every window in seconds.
        sequence_tokens: `(num_tokens, hidden_size)` or `(num_tokens, len(layers), hidden_size)`: one token per
            `1 / config.tokens_per_second` s of the track, stitched from the windows; where windows overlap, each
            token comes from the window in which it lies farthest from the edges (ties: the earlier window).
        token_times: `(num_tokens,)`: the time in seconds of every sequence token (frame centres).
        layers: the hidden-state indices the tokens come from (0 = embeddings, 12 = last layer before the final
            LayerNorm), or `None` for `last_hidden_state`.
    """

    class_tokens: torch.Tensor
    pooled: torch.Tensor
    window_times: np.ndarray
    sequence_tokens: torch.Tensor
    token_times: np.ndarray
    layers: tuple[int, ...] | None = None
    sequence_means: torch.Tensor | None = None
    tokens_per_window: torch.Tensor | None = None

    def to_tensors(self) -> dict[str, torch.Tensor]:
        """What `run_embedding.py` saves: the tokens, the pooled outputs and the times, as contiguous tensors."""
        return {
            "class_tokens": self.class_tokens.contiguous(),
            "pooled": self.pooled.contiguous(),
            "sequence_tokens": self.sequence_tokens.contiguous(),
            "token_times": torch.from_numpy(np.ascontiguousarray(self.token_times)),
            "window_times": torch.from_numpy(np.ascontiguousarray(self.window_times)),
        }

    def class_and_sequence_means(self) -> torch.Tensor:
        """Per window, the mean over the class token and the sequence tokens (the paper's "average")."""
        return pool_windows(self.class_tokens, self.sequence_means, self.tokens_per_window, "average")


# The window-level building blocks below are shared by `embed_long_audio`, `vit1d.hear` (which batches the windows
# of many sounds together) and `vit1d.analysis` (which needs attention maps per window).


@dataclass
class WindowPlan:
    """Where the windows of a track start and how long they are, in samples (see `plan_windows`)."""

    window_samples: int
    hop_samples: int
    min_samples: int
    samples_per_token: int
    sampling_rate: int

    def num_windows(self, num_samples: int) -> int:
        """How many windows `windows_from_array` yields for a track of `num_samples` samples."""
        return 1 + max(0, -(-(num_samples - self.window_samples) // self.hop_samples))


def plan_windows(feature_extractor: ViT1DFeatureExtractor, frames_per_patch: int, window_seconds,
                 hop_seconds) -> WindowPlan:
    """The window plan of `embed_long_audio`: `window_seconds` windows every `hop_seconds` (default: no overlap),
    the hop rounded to whole tokens. Raises a ValueError for a hop shorter than a token or longer than a window."""
    sampling_rate = feature_extractor.sampling_rate
    samples_per_token = feature_extractor.hop_length * frames_per_patch
    window_samples = int(round(window_seconds * sampling_rate))
    hop_seconds = window_seconds if hop_seconds is None else hop_seconds
    # Window starts are whole numbers of tokens apart so that every window's tokens fall on one global token grid.
    hop_tokens = int(round(hop_seconds * sampling_rate / samples_per_token))
    window_tokens = 1 + window_samples // samples_per_token
    if hop_tokens < 1 or hop_tokens > window_tokens:
        raise ValueError(
            f"hop_seconds={hop_seconds} must lie between one token ({samples_per_token / sampling_rate:.3f} s) and "
            f"the window length ({window_seconds} s); larger hops would leave parts of the track unembedded."
        )
    min_samples = feature_extractor.n_fft // 2 + 1
    return WindowPlan(window_samples, hop_tokens * samples_per_token, min_samples, samples_per_token, sampling_rate)


def check_finite(chunk: np.ndarray, start: int, plan: WindowPlan, name: str) -> np.ndarray:
    """`chunk` (the window starting at sample `start` of `name`) if its samples are finite; else a ValueError that
    names the track and the time in it, which the feature extractor (which sees a batch of windows) cannot."""
    finite = np.isfinite(chunk)
    if not finite.all():
        first = (start + int(np.argmin(finite))) / plan.sampling_rate
        raise ValueError(f"{name} has NaN or infinite samples from {first:.2f} s: clean it first (e.g. "
                         "np.nan_to_num), or re-encode the file.")
    return chunk


def windows_from_array(waveform: np.ndarray, plan: WindowPlan,
                       name: str = "the waveform") -> Iterator[tuple[int, np.ndarray]]:
    """`(start sample, window)` of a waveform, the last window possibly shorter; at least one (maybe empty). A
    window with NaN or infinite samples raises a ValueError naming `name` and the time (`check_finite`)."""
    start = 0
    while True:
        yield start, check_finite(waveform[start : start + plan.window_samples], start, plan, name)
        if start + plan.window_samples >= len(waveform):
            return
        start += plan.hop_samples


def windows_from_stream(blocks: Iterator[np.ndarray], plan: WindowPlan,
                        name: str = "the audio") -> Iterator[tuple[int, np.ndarray]]:
    """The windows of `windows_from_array` from decoded blocks of a file, without holding the track."""
    # Holds at most one window plus one block of samples, whatever the track length.
    buffer = np.zeros(0, dtype=np.float32)
    buffer_start = 0
    start = 0
    exhausted = False
    while True:
        # Read one sample past the window so that "is this the last window?" is known, as for an array.
        while not exhausted and buffer_start + len(buffer) <= start + plan.window_samples:
            block = next(blocks, None)
            if block is None:
                exhausted = True
            else:
                buffer = np.concatenate([buffer, block])
        if start == 0 and len(buffer) == 0:
            raise ValueError("embed_long_audio got an audio file without samples.")
        offset = start - buffer_start
        yield start, check_finite(buffer[offset : offset + plan.window_samples], start, plan, name)
        if start + plan.window_samples >= buffer_start + len(buffer):
            return
        start += plan.hop_samples
        drop = start - buffer_start
        buffer, buffer_start = buffer[drop:], start


def pad_short_window(chunk: np.ndarray, plan: WindowPlan) -> tuple[np.ndarray, int]:
    """A tail shorter than the STFT's reflect padding allows is zero-padded; returns it and its real token count."""
    num_tokens = 1 + len(chunk) // plan.samples_per_token if len(chunk) else 0
    if 0 < len(chunk) < plan.min_samples:
        chunk = np.pad(chunk, (0, plan.min_samples - len(chunk)))
    return chunk, num_tokens


def forward_windows(encoder: ViT1DModel, feature_extractor: ViT1DFeatureExtractor, chunks: Sequence[np.ndarray],
                    **model_kwargs):
    """The features and the encoder's outputs for a batch of windows (each passed through `pad_short_window`), on
    the encoder's device; `model_kwargs` go to the encoder (e.g. `output_attentions=True`)."""
    device = next(encoder.parameters()).device
    features = feature_extractor(
        list(chunks), sampling_rate=feature_extractor.sampling_rate, return_tensors="pt", device=device
    )
    outputs = encoder(
        features["input_values"].to(device),
        attention_mask=features["attention_mask"].to(device),
        return_dict=True,
        **model_kwargs,
    )
    return features, outputs


def encode_windows(
    encoder: ViT1DModel, feature_extractor: ViT1DFeatureExtractor, chunks: Sequence[np.ndarray],
    layers: Sequence[int] | None = None,
) -> tuple[torch.Tensor, torch.Tensor]:
    """One forward pass over a batch of windows (each passed through `pad_short_window`), on the encoder's device.

    Returns, on the CPU in float32, the tokens `(batch, 1 + tokens, hidden_size)` of `last_hidden_state`, or
    `(batch, 1 + tokens, len(layers), hidden_size)` of the `hidden_states` in `layers`, and the `pooler_output`
    `(batch, hidden_size)`. Rows of windows shorter than the longest are padded past their own token count.
    """
    if not isinstance(encoder, torch.nn.Module):  # an OnnxEncoder (vit1d.export): its graph holds the front end
        return encoder.encode_windows(chunks, layers)
    _, outputs = forward_windows(encoder, feature_extractor, chunks, output_hidden_states=layers is not None)
    tokens = outputs.last_hidden_state
    if layers is not None:
        tokens = torch.stack([outputs.hidden_states[layer] for layer in layers], dim=2)
    return tokens.float().cpu(), outputs.pooler_output.float().cpu()


def _batched(iterable, batch_size: int):
    batch = []
    for item in iterable:
        batch.append(item)
        if len(batch) == batch_size:
            yield batch
            batch = []
    if batch:
        yield batch


class TokenStitcher:
    """Places each window's sequence tokens on the track's token grid as windows arrive in order. A token goes to the
    window in which it lies farthest from the edges (ties: the earlier window). Settled tokens are written straight
    into one preallocated grid, so memory stays at the output plus one window."""

    def __init__(self, expected_tokens: int):
        self.expected_tokens = max(1, expected_tokens)
        self.grid: torch.Tensor | None = None
        self.settled = 0
        self.pending: torch.Tensor | None = None
        self.pending_distance: torch.Tensor | None = None

    def _write(self, tokens: torch.Tensor) -> None:
        if self.grid is None:
            self.grid = tokens.new_empty((self.expected_tokens, *tokens.shape[1:]))
        end = self.settled + len(tokens)
        if end > len(self.grid):  # the estimate from a file's header was short: grow (rare)
            extra = self.grid.new_empty((max(end, 2 * len(self.grid)) - len(self.grid), *self.grid.shape[1:]))
            self.grid = torch.cat([self.grid, extra])
        self.grid[self.settled : end] = tokens
        self.settled = end

    def add(self, start: int, tokens: torch.Tensor) -> None:
        index = torch.arange(len(tokens))
        distance = torch.minimum(index, len(tokens) - 1 - index)
        if self.pending is None:
            self.pending, self.pending_distance = tokens, distance
            return
        settled = start - self.settled  # no window starting at `start` or later reaches these tokens
        if settled > 0:
            self._write(self.pending[:settled])
            self.pending, self.pending_distance = self.pending[settled:], self.pending_distance[settled:]
        overlap = min(len(self.pending), len(tokens))
        better = distance[:overlap] > self.pending_distance[:overlap]
        choose = better.view(-1, *([1] * (tokens.ndim - 1)))
        merged = torch.where(choose, tokens[:overlap], self.pending[:overlap])
        merged_distance = torch.where(better, distance[:overlap], self.pending_distance[:overlap])
        self.pending = torch.cat([merged, self.pending[overlap:], tokens[overlap:]])
        self.pending_distance = torch.cat([merged_distance, self.pending_distance[overlap:], distance[overlap:]])

    def result(self) -> torch.Tensor:
        self._write(self.pending)
        return self.grid[: self.settled]


@torch.inference_mode()
def embed_long_audio(
    model: ViT1DPreTrainedModel,
    feature_extractor: ViT1DFeatureExtractor,
    audio,
    sampling_rate: int | None = None,
    window_seconds: float = 4.0,
    hop_seconds: float | None = None,
    batch_size: int = 16,
    layers: Sequence[int] | None = None,
    block_seconds: float = 60.0,
    progress_bar: bool = False,
) -> LongAudioEmbedding:
    """Embed a track of any length in windows of `window_seconds` (4 s, the training length) every `hop_seconds`
    (default: the window length, no overlap; rounded to whole tokens).

    Args:
        model: a ViT-1D model (a head model's encoder is used); it runs on the device it is on. An
            `vit1d.export.OnnxEncoder` runs the windows through its ONNX graph instead (fp32 or int8).
        feature_extractor: the model's feature extractor.
        audio: a mono waveform at `sampling_rate` (numpy or torch, 1-D), or a path / bytes / file object, which is
            decoded block by block (`vit1d.stream_audio`) and never held whole in memory.
        sampling_rate: rate of a waveform `audio`; must equal the feature extractor's (use `vit1d.load_audio` or the
            extractor's `resample=True` to convert). Files are resampled while streaming.
        batch_size: windows per forward pass; bounds the memory used besides the output.
        layers: hidden-state indices (0-12) to return instead of `last_hidden_state`, e.g. `(3, 6, 9, 12)`.
        block_seconds: decoding block of file inputs.
        progress_bar: show a tqdm bar over the windows (Gradio's `gr.Progress(track_tqdm=True)` shows it in a page).

    Returns:
        A [`LongAudioEmbedding`] on the CPU, float32.
    """
    encoder = model.base_model  # the bare ViT1DModel of a base or head model
    config = encoder.config
    if layers is not None:
        layers = tuple(int(layer) for layer in layers)
        if not all(0 <= layer <= config.num_hidden_layers for layer in layers):
            raise ValueError(f"layers must lie in 0..{config.num_hidden_layers}, got {layers}.")
    plan = plan_windows(feature_extractor, config.frames_per_patch, window_seconds, hop_seconds)
    windows, num_samples = _window_source(audio, sampling_rate, feature_extractor, block_seconds, plan)

    class_tokens, pooled, window_times, sequence_means, window_token_counts = [], [], [], [], []
    stitcher = TokenStitcher(expected_tokens=1 + num_samples // plan.samples_per_token)
    bar = tqdm(total=plan.num_windows(num_samples), desc="embedding", unit="window", disable=not progress_bar)
    for batch in _batched(windows, batch_size):
        chunks, counts = zip(*(pad_short_window(chunk, plan) for _, chunk in batch))
        tokens, pooler_output = encode_windows(encoder, feature_extractor, chunks, layers)
        # Copies, not views: a view would keep the whole batch of hidden states alive until the end.
        pooled.append(pooler_output.clone())
        class_tokens.append(tokens[:, 0].clone())
        for row, ((start, chunk), count) in enumerate(zip(batch, counts)):
            stitcher.add(start // plan.samples_per_token, tokens[row, 1 : 1 + count])
            sequence_means.append(tokens[row, 1 : 1 + count].mean(dim=0))
            window_token_counts.append(count)
            window_times.append((start, start + len(chunk)))
        bar.update(len(batch))
    bar.close()

    token_grid = stitcher.result()
    token_times = feature_extractor.frame_times(
        len(token_grid) * config.frames_per_patch, frames_per_patch=config.frames_per_patch
    )
    return LongAudioEmbedding(
        class_tokens=torch.cat(class_tokens),
        pooled=torch.cat(pooled),
        window_times=np.asarray(window_times, dtype=np.float64) / feature_extractor.sampling_rate,
        sequence_tokens=token_grid,
        token_times=token_times[: len(token_grid)],
        layers=layers,
        sequence_means=torch.stack(sequence_means),
        tokens_per_window=torch.tensor(window_token_counts, dtype=torch.long),
    )


def _window_source(audio, sampling_rate, feature_extractor, block_seconds, plan):
    if isinstance(audio, (np.ndarray, torch.Tensor)):
        waveform = audio.detach().cpu().numpy() if isinstance(audio, torch.Tensor) else audio
        if waveform.ndim != 1:
            raise ValueError(
                f"embed_long_audio takes a mono 1-D waveform, got shape {waveform.shape}; mix down first "
                "(e.g. waveform.mean(axis=0)) or pass the file path."
            )
        if sampling_rate is None or sampling_rate != feature_extractor.sampling_rate:
            raise ValueError(
                f"A waveform must come with sampling_rate={feature_extractor.sampling_rate} (got {sampling_rate}); "
                "resample it (vit1d.load_audio(path, sampling_rate=16000)) or pass the file path."
            )
        if len(waveform) == 0:
            raise ValueError("embed_long_audio got an empty waveform.")
        return windows_from_array(waveform, plan), len(waveform)
    native_rate, native_frames, _ = audio_info(audio)  # header only; sizes the token grid
    blocks = stream_audio(audio, sampling_rate=feature_extractor.sampling_rate, block_seconds=block_seconds)
    expected_samples = math.ceil(native_frames * feature_extractor.sampling_rate / native_rate)
    name = display_path(audio) if isinstance(audio, (str, os.PathLike)) else "the audio"
    return windows_from_stream(iter(blocks), plan, name), expected_samples


# -- many files to safetensors (run_embedding.py) -------------------------------------------------------------------


def _outputs_of(paths: Sequence[str]) -> dict[str, str]:
    """Where the embeddings of each file go, relative to the output folder: the file's path relative to the folder
    that holds all inputs, plus `.safetensors` (`a/intro.ogg` -> `a/intro.ogg.safetensors`). Keeping the folders and
    the extension keeps two inputs from sharing an output (`a/intro.ogg` and `b/intro.ogg`, or `intro.ogg` and
    `intro.wav`)."""
    absolute = [os.path.abspath(path) for path in paths]
    base = os.path.commonpath([os.path.dirname(path) for path in absolute])
    return {path: os.path.relpath(full, base) + ".safetensors" for path, full in zip(paths, absolute)}


class _CollectWarnings:
    """Collects the warnings that vit1d logs while one track is embedded (e.g. a truncated file), for its summary."""

    def __init__(self):
        self.messages: list[str] = []
        self.handler = logging.Handler(logging.WARNING)
        self.handler.emit = lambda record: self.messages.append(record.getMessage())
        self.logger = logging.getLogger("vit1d")

    def __enter__(self):
        self.logger.addHandler(self.handler)
        return self.messages

    def __exit__(self, *exc):
        self.logger.removeHandler(self.handler)


def expand_audio_inputs(inputs: Sequence[str | os.PathLike]) -> list[str]:
    """Files and folders (searched recursively for audio files, through linked folders) to a list of files without
    repeats, in the order given. A path that does not exist stays in the list, so that it is reported as failed."""
    from .data.sources import list_audio_files

    files = []
    for item in inputs:
        files.extend(list_audio_files(item) if os.path.isdir(item) else [os.fspath(item)])
    return list(dict.fromkeys(files))


def embed_files(
    model: ViT1DPreTrainedModel,
    feature_extractor: ViT1DFeatureExtractor,
    inputs: Sequence[str | os.PathLike],
    output_dir: str | os.PathLike,
    window_seconds: float = 4.0,
    hop_seconds: float | None = None,
    batch_size: int = 16,
    layers: Sequence[int] | None = None,
    metadata: dict[str, str] | None = None,
) -> dict:
    """Embed audio files and folders with [`embed_long_audio`] and save each track's tokens as safetensors.

    Every readable input is embedded, whatever fails before or after it. Each file's embeddings go to
    `output_dir/<its path relative to the folder holding all inputs>.safetensors` (see `_outputs_of`), with the tensors
    `class_tokens`, `pooled`, `sequence_tokens`, `token_times` and `window_times` and the metadata `layers` plus
    `metadata`. `output_dir/summary.json` lists every input: the embedded ones (output file, seconds, windows,
    tokens, time taken, warnings such as a truncated file) and the failed ones with the reason; it is written after
    every track, so an interrupted run keeps the record of what it did.

    Returns:
        The summary: `{"tracks": [...], "failed": [...], "num_embedded": int, "num_failed": int, ...}`.
    """
    from .files import save_safetensors

    files = expand_audio_inputs(inputs)
    if not files:
        raise ValueError(f"No audio files in {[display_path(item) for item in inputs]}.")
    outputs = _outputs_of(files)
    output_dir = Path(output_dir)
    output_dir.mkdir(parents=True, exist_ok=True)
    summary = {"window_seconds": window_seconds, "hop_seconds": hop_seconds,
               "layers": None if layers is None else list(layers), **(metadata or {}),
               "tracks": [], "failed": [], "num_embedded": 0, "num_failed": 0}

    def write_summary():
        (output_dir / "summary.json").write_text(json.dumps(summary, indent=2))

    progress = tqdm(files, desc="embedding", unit="track")
    for path in progress:
        name = display_path(path)
        progress.set_postfix_str(os.path.basename(name)[-40:])
        start = time.perf_counter()
        try:
            with _CollectWarnings() as warnings:
                result = embed_long_audio(model, feature_extractor, path, window_seconds=window_seconds,
                                          hop_seconds=hop_seconds, batch_size=batch_size, layers=layers)
            target = output_dir / outputs[path]
            target.parent.mkdir(parents=True, exist_ok=True)
            save_safetensors(result.to_tensors(), target,
                             metadata={"layers": json.dumps(result.layers), "source": name, **(metadata or {})})
        except Exception as err:  # noqa: BLE001 - one bad file must not cost the others; each failure is recorded
            reason = f"{type(err).__name__}: {err}"
            logger.warning(f"Could not embed {name}: {reason}")
            summary["failed"].append({"input": name, "error": reason})
        else:
            elapsed = time.perf_counter() - start
            seconds = float(result.window_times[-1, 1])
            summary["tracks"].append({
                "input": name, "output": display_path(outputs[path]), "seconds": seconds,
                "windows": len(result.window_times), "tokens": len(result.sequence_tokens),
                "embed_seconds": round(elapsed, 3), "real_time_factor": round(seconds / elapsed, 1),
                "warnings": warnings,
            })
        summary["num_embedded"], summary["num_failed"] = len(summary["tracks"]), len(summary["failed"])
        write_summary()
    progress.close()
    logger.info(f"Embedded {summary['num_embedded']} of {len(files)} file(s) into {display_path(output_dir)}"
                + (f"; {summary['num_failed']} failed (see summary.json)." if summary["failed"] else "."))
    return summary


@dataclass
class EmbeddingArguments:
    """`run_embedding.py`'s arguments (`HfArgumentParser`)."""

    output_dir: str = field(metadata={"help": "Folder for the .safetensors files and summary.json."})
    audio: list[str] = field(
        default_factory=list, metadata={"help": "Audio files (any format soundfile reads) and folders of them."}
    )
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
    dtype: str = field(default="float32", metadata={
        "help": "The torch model's weights. bfloat16: about twice as fast on CPUs with AMX or AVX512-BF16 (token "
                "cosine ~0.9999 to float32; slower on CPUs without them); float16 for GPUs.",
        "choices": ["float32", "bfloat16", "float16"]})
    onnx_dir: str | None = field(
        default=None, metadata={"help": "An export folder (`python -m vit1d.export`) to embed with onnxruntime on the "
                                        "CPU instead of the torch model (replaces --model_name_or_path)."}
    )
    int8: bool = field(default=False, metadata={"help": "With --onnx_dir: its dynamic int8 graph, model.int8.onnx "
                                                        "(export with --quantize int8)."})
    demo_seconds: float = field(
        default=180.0, metadata={"help": "Length of the synthetic track used without --audio."}
    )


def run_embedding(args: EmbeddingArguments) -> dict:
    """Load the encoder (`vit1d.loading.load_encoder`) and `embed_files` the inputs; without `--audio`, a synthetic
    track written to the output folder and read back as any file is. Returns `embed_files`' summary."""
    import soundfile as sf

    from .loading import load_encoder
    from .synthetic import synthetic_music

    if args.onnx_dir is not None:
        if args.model_name_or_path is not None:
            raise ValueError("Give --onnx_dir (an exported graph) or --model_name_or_path, not both.")
        if args.dtype != "float32":
            raise ValueError(f"--dtype {args.dtype} sets the torch model's weights; an exported graph has its own "
                             "(--int8 for the quantised one).")
        from .export import OnnxEncoder

        model = OnnxEncoder(args.onnx_dir, int8=args.int8)
        extractor, name = model.feature_extractor, model.name
    elif args.int8:
        raise ValueError("--int8 runs an exported int8 graph: export the model with `python -m vit1d.export "
                         "--model_name_or_path MODEL --output_dir DIR --quantize int8`, then pass --onnx_dir DIR.")
    else:
        if args.model_name_or_path is None:
            logger.warning("No --model_name_or_path: using a randomly initialised ViT-1D (the paper's configuration).")
        model, extractor, name = load_encoder(args.model_name_or_path, revision=args.revision,
                                              trust_remote_code=args.trust_remote_code)
        model.to(device=args.device, dtype=getattr(torch, args.dtype))
        name += "" if args.dtype == "float32" else f" ({args.dtype})"
    inputs = args.audio
    if not inputs:
        path = Path(args.output_dir) / "synthetic.flac"
        path.parent.mkdir(parents=True, exist_ok=True)
        sf.write(path, synthetic_music(args.demo_seconds, extractor.sampling_rate), extractor.sampling_rate)
        inputs = [str(path)]
    return embed_files(model, extractor, inputs, args.output_dir, window_seconds=args.window_seconds,
                       hop_seconds=args.hop_seconds, batch_size=args.batch_size, layers=args.layers,
                       metadata={"model": name})

