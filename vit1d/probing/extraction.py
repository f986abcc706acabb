"""Embeddings for probing: extracted once per (model, track, settings), cached as safetensors, reused by every probe.

Per track the cache holds, for every hidden-state layer 0..L (0 = embeddings, L = last layer before the final
LayerNorm), the class token, the mean of the sequence tokens and the token count of each 4 s window and, for local
tasks, the sequence tokens stitched over the whole track (float16) with their times. The cache key combines:
- the model: its name or path, the revision, and a hash of its weights and config (a retrained folder at the same
  path gets a new key);
- the audio: the file's path, size and modification time, or a hash of its bytes;
- the settings: window, hop, whether sequence tokens are kept, the feature extractor's configuration.
"""

import hashlib
import json
import os
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import torch
from safetensors.torch import load_file

from ..embedding import embed_long_audio
from ..files import save_safetensors


@dataclass(frozen=True)
class ExtractionSettings:
    window_seconds: float = 4.0
    hop_seconds: float | None = None  # default: the window (no overlap)
    sequence_tokens: bool = False  # keep every token (local tasks), not only window summaries
    batch_size: int = 16


@dataclass
class TrackEmbeddings:
    """Cached embeddings of one track. Layer axis: hidden-state index 0..L."""

    class_tokens: torch.Tensor  # (windows, layers, hidden)
    sequence_means: torch.Tensor  # (windows, layers, hidden)
    tokens_per_window: torch.Tensor  # (windows,)
    sequence_tokens: torch.Tensor | None = None  # (tokens, layers, hidden), float16
    token_times: torch.Tensor | None = None  # (tokens,), seconds

    def to_tensors(self) -> dict[str, torch.Tensor]:
        return {k: v.contiguous() for k, v in asdict(self).items() if v is not None}

    @classmethod
    def from_tensors(cls, tensors: dict[str, torch.Tensor]) -> "TrackEmbeddings":
        return cls(**tensors)


def model_fingerprint(model, name_or_path: str | None = None, revision: str | None = None) -> str:
    """A short hash of the model's identity: name, revision, config and weights."""
    digest = hashlib.sha256()
    digest.update(json.dumps([name_or_path, revision, model.config.to_dict()], sort_keys=True, default=str).encode())
    if not isinstance(model, torch.nn.Module):  # an exported graph (vit1d.export.OnnxEncoder): its file is the model
        digest.update(model.graph_digest().encode())
        return digest.hexdigest()[:16]
    for name, tensor in sorted(model.state_dict().items()):
        digest.update(name.encode())
        digest.update(tensor.detach().cpu().contiguous().view(torch.uint8).numpy().tobytes())
    return digest.hexdigest()[:16]


def audio_fingerprint(audio) -> str:
    """A short hash of a track's identity: path, size and mtime for files, content for bytes."""
    digest = hashlib.sha256()
    if isinstance(audio, (str, os.PathLike)):
        stat = os.stat(audio)
        # fsencode: the file system's bytes, so that a name that is not valid UTF-8 hashes too.
        digest.update(os.fsencode(os.path.abspath(audio)) + f"|{stat.st_size}|{stat.st_mtime_ns}".encode())
    else:
        digest.update(bytes(audio))
    return digest.hexdigest()[:24]


def settings_fingerprint(settings: ExtractionSettings, feature_extractor) -> str:
    values = {k: v for k, v in asdict(settings).items() if k != "batch_size"}  # batching does not change results
    values["feature_extractor"] = feature_extractor.to_dict()
    return hashlib.sha256(json.dumps(values, sort_keys=True, default=str).encode()).hexdigest()[:16]


class EmbeddingCache:
    """`root/<model fingerprint>/<settings fingerprint>/<audio fingerprint>.safetensors`."""

    def __init__(self, root: str | os.PathLike, model, feature_extractor, settings: ExtractionSettings,
                 name_or_path: str | None = None, revision: str | None = None):
        self.model, self.feature_extractor, self.settings = model, feature_extractor, settings
        self.folder = (Path(root) / model_fingerprint(model, name_or_path, revision)
                       / settings_fingerprint(settings, feature_extractor))
        self.hits = self.misses = 0

    def path_of(self, audio) -> Path:
        return self.folder / f"{audio_fingerprint(audio)}.safetensors"

    def get(self, audio) -> TrackEmbeddings:
        path = self.path_of(audio)
        if path.is_file():
            self.hits += 1
            return TrackEmbeddings.from_tensors(load_file(path))
        self.misses += 1
        embeddings = extract_track(self.model, self.feature_extractor, audio, self.settings)
        self.folder.mkdir(parents=True, exist_ok=True)
        save_safetensors(embeddings.to_tensors(), path)  # atomic: a concurrent run never reads half a file
        return embeddings


def extract_track(model, feature_extractor, audio, settings: ExtractionSettings) -> TrackEmbeddings:
    """Every layer's window summaries (and, if asked, stitched sequence tokens) of one track."""
    num_layers = (model.config.num_hidden_layers + 1)
    result = embed_long_audio(model, feature_extractor, audio, window_seconds=settings.window_seconds,
                              hop_seconds=settings.hop_seconds, batch_size=settings.batch_size,
                              layers=range(num_layers))
    return TrackEmbeddings(
        class_tokens=result.class_tokens,
        sequence_means=result.sequence_means,
        tokens_per_window=result.tokens_per_window,
        sequence_tokens=result.sequence_tokens.half() if settings.sequence_tokens else None,
        token_times=torch.from_numpy(np.asarray(result.token_times, dtype=np.float64)) if settings.sequence_tokens
        else None,
    )


def log_mel_embeddings(feature_extractor, audio, settings: ExtractionSettings) -> TrackEmbeddings:
    """The log-mel frames of a track laid out as embeddings with one "layer" of `num_mel_bins` values, for the floor
    of a probe on raw frames: each window's "class token" and "sequence mean" are the mean of its frames (windows of
    `settings`, as the encoder's), and the "sequence tokens" are the frames themselves, one per token time. The whole
    track goes through the feature extractor at once (its dB range is clamped per track, not per window)."""
    from ..audio import load_audio
    from ..embedding import plan_windows, windows_from_array

    rate = feature_extractor.sampling_rate
    waveform = audio if isinstance(audio, np.ndarray) else load_audio(audio, sampling_rate=rate)
    features = feature_extractor(waveform, sampling_rate=rate, return_tensors="pt")
    frames = features["input_values"][0].float()  # (tokens, mel bins): one frame per token at 31.25 per second
    plan = plan_windows(feature_extractor, 1, settings.window_seconds, settings.hop_seconds)
    means, counts = [], []
    for start, chunk in windows_from_array(waveform, plan):
        first = start // plan.samples_per_token
        count = 1 + len(chunk) // plan.samples_per_token
        means.append(frames[first : first + count].mean(dim=0))
        counts.append(min(count, len(frames) - first))
    window_means = torch.stack(means)[:, None]  # (windows, 1, mel bins)
    times = feature_extractor.frame_times(len(frames))
    return TrackEmbeddings(
        class_tokens=window_means, sequence_means=window_means, tokens_per_window=torch.tensor(counts),
        sequence_tokens=frames[:, None].half() if settings.sequence_tokens else None,
        token_times=torch.from_numpy(times) if settings.sequence_tokens else None,
    )


def extract_all(cache: EmbeddingCache, audios: Sequence, description: str = "embedding",
                show_progress: bool = True) -> list[TrackEmbeddings]:
    """Cached embeddings of many tracks, with a progress bar."""
    from tqdm.auto import tqdm

    return [cache.get(audio) for audio in tqdm(audios, desc=description, unit="track", disable=not show_progress)]
