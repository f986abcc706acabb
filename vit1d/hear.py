"""The HEAR 2021 common API for ViT-1D, so that the HEAR evaluation kit (`hear-eval-kit`, `hear-validator`) can run
the model: point it at the module `vit1d.hear`.

    hear-validator vit1d.hear -m outputs/pretraining
    python -m heareval.embeddings.runner vit1d.hear --model outputs/pretraining --model-options '{"layers": [3, 6, 9]}'
    python -m heareval.embeddings.runner vit1d.hear --model-options '{"model_file_path": "org/vit1d"}'   # a Hub id

(the kit's `--model` must be an existing path, hence `model_file_path` in `--model-options` for a Hub id; every other
keyword argument of [`load_model`] can be given there too).

```python
>>> import torch
>>> from vit1d import hear

>>> model = hear.load_model("path/or/hub-id")          # a ViT-1D folder or Hub id; "" = random-init paper model
>>> audio = torch.rand(3, 5 * model.sample_rate) * 2 - 1  # (n_sounds, n_samples), 16 kHz mono in [-1, 1]
>>> embeddings, timestamps = hear.get_timestamp_embeddings(audio, model)  # (3, 157, 192), (3, 157) in ms
>>> scene = hear.get_scene_embeddings(audio, model)                      # (3, 192)
```

Sounds are embedded like `vit1d.embed_long_audio` embeds a track: 4 s windows (the training length), so sounds of any
length work, with the windows of all the sounds of a call batched together.
"""

import contextlib
import os
import warnings
from collections.abc import Sequence

import numpy as np
import torch
from torch import nn

from .configuration_vit1d import ViT1DConfig
from .embedding import (
    TokenStitcher,
    encode_windows,
    pad_short_window,
    plan_windows,
    pool_windows,
    windows_from_array,
)
from .feature_extraction_vit1d import ViT1DFeatureExtractor
from .loading import check_front_end, load_encoder
from .modeling_vit1d import ViT1DPreTrainedModel

__all__ = ["HearModel", "get_scene_embeddings", "get_timestamp_embeddings", "load_model"]


class HearModel(nn.Module):
    r"""
    A ViT-1D encoder with its feature extractor and the attributes the HEAR 2021 API asks of a model. Returned by
    [`load_model`]; pass it to [`get_timestamp_embeddings`] and [`get_scene_embeddings`]. `model.to(device)` moves the
    encoder, and the features are then computed on that device too.

    Args:
        encoder ([`ViT1DModel`] or a ViT-1D head model):
            The encoder (a head model's `vit1d` encoder is used; the head is dropped).
        feature_extractor ([`ViT1DFeatureExtractor`]):
            The encoder's feature extractor; its `sampling_rate` becomes `sample_rate`.
        layers (`int`, `Sequence[int]` or `str`, *optional*):
            Hidden-state indices (or a comma-separated string of them) to embed with instead of `last_hidden_state`
            (0 = the embeddings, `num_hidden_layers` = the last layer before the final LayerNorm), concatenated in the
            given order along the feature axis: `layers=(3, 6, 9, 12)` gives embeddings of `4 * hidden_size` values.
        window_seconds (`float`, *optional*, defaults to 4.0):
            Length of the windows the sounds are cut into (4 s is the training length).
        hop_seconds (`float`, *optional*):
            Hop between windows, rounded to whole tokens; defaults to `window_seconds` (no overlap). Applies to both
            functions: scene embeddings average every window, timestamp embeddings take each token from the window in
            which it lies farthest from the edges.
        batch_size (`int`, *optional*, defaults to 64):
            Windows per forward pass, taken across the sounds of a call; bounds the memory used besides the output.

    Attributes:
        sample_rate (`int`): 16000 for ViT-1D (the feature extractor's rate).
        scene_embedding_size (`int`): `hidden_size * len(layers)` (`hidden_size` without `layers`).
        timestamp_embedding_size (`int`): the same.
    """

    def __init__(
        self,
        encoder: ViT1DPreTrainedModel,
        feature_extractor: ViT1DFeatureExtractor,
        layers: int | Sequence[int] | None = None,
        window_seconds: float = 4.0,
        hop_seconds: float | None = None,
        batch_size: int = 64,
    ):
        super().__init__()
        self.encoder = encoder.base_model  # the bare ViT1DModel of a base or head model
        self.encoder.eval()
        self.feature_extractor = feature_extractor
        config = self.encoder.config
        check_front_end(config, feature_extractor)
        if isinstance(layers, str):  # "3,6,9,12", as a command line or JSON model options may give it
            layers = tuple(int(part) for part in layers.split(","))
        if layers is not None:
            layers = (layers,) if isinstance(layers, int) else tuple(int(layer) for layer in layers)
            if not layers or not all(0 <= layer <= config.num_hidden_layers for layer in layers):
                raise ValueError(
                    f"layers must be hidden-state indices in 0..{config.num_hidden_layers} (0 = the embeddings), got "
                    f"{layers}; leave it unset for last_hidden_state."
                )
        if batch_size < 1:
            raise ValueError(f"batch_size must be a positive number of windows, got {batch_size}.")
        # Checks hop_seconds now, at load time, rather than on the first batch of audio.
        plan_windows(feature_extractor, config.frames_per_patch, window_seconds, hop_seconds)
        self.layers = layers
        self.window_seconds = float(window_seconds)
        self.hop_seconds = None if hop_seconds is None else float(hop_seconds)
        self.batch_size = int(batch_size)
        self.sample_rate = int(feature_extractor.sampling_rate)
        # Python ints: the HEAR validator checks `isinstance(size, int)`.
        self.timestamp_embedding_size = int(config.hidden_size * (len(layers) if layers else 1))
        self.scene_embedding_size = self.timestamp_embedding_size

    def forward(self, audio: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Same as [`get_timestamp_embeddings`]`(audio, self)`."""
        return get_timestamp_embeddings(audio, self)

    def extra_repr(self) -> str:
        return (
            f"sample_rate={self.sample_rate}, scene_embedding_size={self.scene_embedding_size}, "
            f"timestamp_embedding_size={self.timestamp_embedding_size}, layers={self.layers}, "
            f"window_seconds={self.window_seconds}, hop_seconds={self.hop_seconds}"
        )


def load_model(
    model_file_path: str = "",
    *,
    revision: str | None = None,
    trust_remote_code: bool = False,
    layers: int | Sequence[int] | None = None,
    window_seconds: float = 4.0,
    hop_seconds: float | None = None,
    batch_size: int = 64,
    device: str | torch.device | None = None,
    config: ViT1DConfig | None = None,
    seed: int = 0,
    **kwargs,
) -> HearModel:
    r"""
    Loads a ViT-1D encoder and its feature extractor for the HEAR 2021 API.

    Args:
        model_file_path (`str`, *optional*, defaults to `""`):
            A saved ViT-1D folder (any ViT-1D head; only the encoder is kept) or a Hub model id. `""` builds a
            randomly initialised model (the paper's configuration, or `config`), with a warning: it is only good for
            smoke tests such as `hear-validator vit1d.hear` without `-m`.
        revision (`str`, *optional*):
            Hub revision (branch, tag or commit sha) of `model_file_path`.
        trust_remote_code (`bool`, *optional*, defaults to `False`):
            Accepted for symmetry with the other entry points. The folder is read by this package's own classes, so
            no code from the folder runs either way.
        layers (`int` or `Sequence[int]`, *optional*):
            Hidden-state indices to embed with instead of `last_hidden_state`, concatenated (see [`HearModel`]).
        window_seconds (`float`, *optional*, defaults to 4.0), hop_seconds (`float`, *optional*), batch_size (`int`,
        *optional*, defaults to 64):
            Windowing and batching, see [`HearModel`].
        device (`str` or `torch.device`, *optional*):
            Device to put the model on; the HEAR kit moves it itself with `model.to(device)`. Defaults to the CPU.
        config ([`ViT1DConfig`], *optional*):
            Configuration of the random model when `model_file_path` is `""`.
        seed (`int`, *optional*, defaults to 0):
            Seed of the random initialisation when `model_file_path` is `""`, so that every process that loads the
            random model (the HEAR kit embeds each task in its own run) gets the same one. The global RNG is left as
            it was.
        kwargs:
            Passed to `from_pretrained` of the model and the feature extractor (e.g. `cache_dir`, `token`,
            `local_files_only`).

    Returns:
        [`HearModel`]: in eval mode, with `sample_rate`, `scene_embedding_size` and `timestamp_embedding_size`.
    """
    model_file_path = os.fspath(model_file_path) if model_file_path is not None else ""
    # load_encoder refuses Hub options without a model to load them for.
    encoder, feature_extractor, _ = load_encoder(model_file_path, seed=seed, config=config, revision=revision,
                                                 trust_remote_code=trust_remote_code, **kwargs)
    if model_file_path == "":
        warnings.warn(
            "vit1d.hear.load_model got no model_file_path: using a randomly initialised ViT-1D, whose embeddings are "
            "only good for smoke tests. Pass a trained ViT-1D folder or Hub id.",
            stacklevel=2,
        )
    model = HearModel(
        encoder, feature_extractor, layers=layers, window_seconds=window_seconds, hop_seconds=hop_seconds,
        batch_size=batch_size,
    )
    if device is not None:
        model.to(device)
    return model.eval()


def get_timestamp_embeddings(audio: torch.Tensor, model: HearModel) -> tuple[torch.Tensor, torch.Tensor]:
    r"""
    One embedding per sequence token (every 32 ms for ViT-1D: `1 / config.tokens_per_second`) of every sound.

    The tokens are those of `vit1d.embed_long_audio(...).sequence_tokens` (flattened over `layers` when set): each
    sound is cut into windows of `model.window_seconds`, every window is encoded on its own, and each token is taken
    from the window in which it lies farthest from the edges.

    Args:
        audio (`torch.Tensor` of shape `(n_sounds, n_samples)`):
            Mono sounds at `model.sample_rate` (16 kHz), float samples in [-1, 1]. Any length works, including sounds
            shorter than a window. numpy arrays are accepted too.

    Returns:
        `tuple(torch.Tensor, torch.Tensor)`: the embeddings, float32 of shape `(n_sounds, n_timestamps,
        model.timestamp_embedding_size)` with `n_timestamps = 1 + n_samples // (hop_length * frames_per_patch)`, and
        the timestamps in milliseconds, float32 of shape `(n_sounds, n_timestamps)` (the same row for every sound):
        the centre of every token, `feature_extractor.frame_times(...) * 1000` (0, 32, 64, ... ms). Both are on the
        device of `audio`.
    """
    audio = _check_audio(audio, model)
    tokens, _, times = _embed(audio, model, with_tokens=True)
    timestamps = torch.from_numpy(times * 1000.0).to(torch.float32)
    return tokens.to(audio.device), timestamps.repeat(len(audio), 1).to(audio.device)


def get_scene_embeddings(audio: torch.Tensor, model: HearModel) -> torch.Tensor:
    r"""
    One embedding per sound: the mean over the sound's windows of the pooled window embedding.

    Without `layers`, a window's embedding is its `pooler_output`, which follows `config.pooling` (`cls`, `mean` or
    `cls_and_mean`, read from `last_hidden_state`), so that the result equals
    `vit1d.embed_long_audio(...).pooled.mean(0)`. With `layers`, the same pooling rule is applied to each chosen
    hidden state and the results are concatenated: `class_tokens`, `sequence_means` or `class_and_sequence_means()`
    of the `LongAudioEmbedding`, averaged over windows and flattened. Every window counts once, a short last window
    as much as a full one.

    Args:
        audio (`torch.Tensor` of shape `(n_sounds, n_samples)`):
            Mono sounds at `model.sample_rate` (16 kHz), float samples in [-1, 1]; any length.

    Returns:
        `torch.Tensor`: float32 of shape `(n_sounds, model.scene_embedding_size)`, on the device of `audio`.
    """
    audio = _check_audio(audio, model)
    _, scene, _ = _embed(audio, model, with_tokens=False)
    return scene.to(audio.device)


def _check_audio(audio, model: HearModel) -> torch.Tensor:
    if not isinstance(model, HearModel):
        raise TypeError(f"model must be the HearModel that vit1d.hear.load_model returns, got {type(model).__name__}.")
    if isinstance(audio, np.ndarray):
        audio = torch.from_numpy(audio)
    if not isinstance(audio, torch.Tensor):
        raise ValueError(f"audio must be a torch.Tensor of shape (n_sounds, n_samples), got {type(audio).__name__}.")
    if audio.ndim != 2:
        hint = (
            "for one sound, pass audio[None]" if audio.ndim == 1
            else "mix multichannel audio down to mono first, e.g. audio.mean(dim=1) for (n_sounds, channels, samples)"
        )
        raise ValueError(f"audio must have shape (n_sounds, n_samples), got {tuple(audio.shape)}: {hint}.")
    if audio.shape[1] <= 8 < audio.shape[0]:
        raise ValueError(
            f"audio has shape {tuple(audio.shape)}, which looks like one multichannel sound of shape (n_samples, "
            "channels); HEAR takes (n_sounds, n_samples) mono: pass audio.mean(dim=1)[None] for one sound."
        )
    if not audio.is_floating_point():
        raise ValueError(
            f"audio must hold float samples in [-1, 1] (float32), got {audio.dtype}; convert PCM first, e.g. "
            "audio.float() / 32768 for int16."
        )
    if audio.shape[0] == 0 or audio.shape[1] == 0:
        raise ValueError(f"audio has shape {tuple(audio.shape)}: pass at least one sound of at least one sample.")
    finite = torch.isfinite(audio).all(dim=1)
    if not bool(finite.all()):
        bad = torch.nonzero(~finite).flatten().tolist()
        raise ValueError(
            f"audio holds NaN or infinite samples in sound(s) {bad[:10]}; clean them first, e.g. "
            "torch.nan_to_num(audio)."
        )
    return audio


@contextlib.contextmanager
def _eval_mode(module: nn.Module):
    # HEAR asks for deterministic embeddings: dropout off even if a caller left the model in training mode.
    was_training = module.training
    module.eval()
    try:
        yield
    finally:
        module.train(was_training)


# no_grad rather than inference_mode: the returned tensors are then ordinary tensors that callers may modify.
@torch.no_grad()
def _embed(audio: torch.Tensor, model: HearModel, with_tokens: bool):
    """Embeds every sound like `embed_long_audio` does, with the windows of all the sounds batched together.

    Returns the stitched tokens `(n_sounds, n_tokens, embedding_size)` (or `None`), the scene embeddings
    `(n_sounds, embedding_size)` and the token times in seconds, on the CPU.
    """
    encoder, extractor, layers = model.encoder, model.feature_extractor, model.layers
    config = encoder.config
    plan = plan_windows(extractor, config.frames_per_patch, model.window_seconds, model.hop_seconds)
    waveforms = audio.detach().to(device="cpu", dtype=torch.float32).numpy()
    n_sounds, n_samples = waveforms.shape
    # All the sounds of a call have the same length, hence the same windows. Going window by window across the
    # sounds keeps each sound's windows in order (as the stitcher needs) and puts equal-length windows together.
    starts = [start for start, _ in windows_from_array(waveforms[0], plan)]
    items = [(sound, start) for start in starts for sound in range(n_sounds)]

    num_tokens = 1 + n_samples // plan.samples_per_token
    stitchers = [TokenStitcher(num_tokens) for _ in range(n_sounds)] if with_tokens else None
    scene_sums = torch.zeros(n_sounds, model.scene_embedding_size)
    with _eval_mode(model):
        for begin in range(0, len(items), model.batch_size):
            batch = items[begin : begin + model.batch_size]
            chunks, counts = zip(
                *(pad_short_window(waveforms[sound, start : start + plan.window_samples], plan)
                  for sound, start in batch)
            )
            tokens, window_vectors = encode_windows(encoder, extractor, chunks, layers)
            if layers is not None:  # tokens: (batch, 1 + tokens, len(layers), hidden_size)
                window_vectors = torch.stack(
                    [_pool_layers(tokens[row, : 1 + count], config.pooling) for row, count in enumerate(counts)]
                ).flatten(1)
            for row, ((sound, start), count) in enumerate(zip(batch, counts)):
                scene_sums[sound] += window_vectors[row]
                if with_tokens:
                    # A copy, so that the batch's hidden states are not kept alive by a view.
                    stitchers[sound].add(start // plan.samples_per_token, tokens[row, 1 : 1 + count].clone())

    scene = scene_sums / len(starts)
    token_grid = None
    if with_tokens:
        token_grid = torch.stack([stitcher.result() for stitcher in stitchers]).flatten(2)
    times = extractor.frame_times(num_tokens * config.frames_per_patch, frames_per_patch=config.frames_per_patch)
    return token_grid, scene, times[:num_tokens]


def _pool_layers(tokens: torch.Tensor, pooling: str) -> torch.Tensor:
    """`config.pooling` applied to each layer of one window's unpadded tokens `(1 + count, len(layers), hidden)`."""
    return pool_windows(tokens[0], tokens[1:].mean(dim=0), len(tokens) - 1, pooling)
