"""Onsets read from ViT-1D's attention maps.

The paper reads note onsets from the attention maps, peak-picks them and scores them with `mir_eval.onset` (50 ms
window): F 0.877 for the trained model against 0.501 at random initialisation. It does not publish how a map becomes
an onset curve, so every choice is a parameter here and every layer and head is reported:

- `mode="class_row"`: the attention the class token pays to each sequence token, `A[l, h, 0, 1:]`;
- `mode="column_mean"`: how much each sequence token is attended to by the others, the mean over query tokens of
  `A[l, h, 1:, 1:]`.

Layers are numbered like the blocks, 1..num_hidden_layers: layer `l` is `outputs.attentions[l - 1]`, the block whose
output is `hidden_states[l]`.

A curve scores something only against its floors, peak-picked and scored the same way on the same token grid
(`FLOORS`): `noise_curves` (i.i.d. uniform noise: what peak picking finds in nothing), `random_projection_curves` (the
log-mel frame of each token projected on a random unit vector over the mel bins: a random linear map of the frame,
which is about what a random-init token is) and `spectral_flux` (the classical detector). `onset_score_grid` scores
many curves at several peak-picking thresholds at once (each curve is scaled and averaged once), for selecting the
threshold on a validation split.
"""

from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
import torch
from tqdm.auto import tqdm

from ..embedding import TokenStitcher, forward_windows, pad_short_window, plan_windows, windows_from_array

MODES = ("class_row", "column_mean")
# The onset floors scored beside the attention curves (see the module docstring).
FLOORS = ("noise", "random_projection", "spectral_flux")


@torch.inference_mode()
def attention_maps(model, feature_extractor, waveform, sampling_rate: int) -> tuple[np.ndarray, np.ndarray]:
    """Attention probabilities of every layer and head for one window of audio (4 s, the training length, is what
    the model knows; other lengths work).

    Returns:
        `(attentions, times)`: float32 `(layers, heads, 1 + T, 1 + T)` (query, key; index 0 is the class token) and
        the time in seconds of the `T` sequence tokens from the start of `waveform`.
    """
    encoder = model.base_model
    device = next(encoder.parameters()).device
    inputs = feature_extractor(waveform, sampling_rate=sampling_rate, return_tensors="pt", device=device)
    outputs = encoder(inputs["input_values"].to(device), output_attentions=True, return_dict=True)
    attentions = torch.stack([layer[0] for layer in outputs.attentions]).float().cpu().numpy()
    times = feature_extractor.frame_times(inputs["input_values"].shape[1],
                                          frames_per_patch=encoder.config.frames_per_patch)
    return attentions, times


def onset_strength(attentions, mode: str) -> np.ndarray:
    """Onset strength of every sequence token from attention maps `(..., 1 + T, 1 + T)` (e.g. `(layers, heads, ...)`
    from [`attention_maps`]), shaped `(..., T)`.

    The class token's share is removed and each row renormalised over the sequence tokens before the strength is
    scaled by `T`, so that uniform attention gives 1 everywhere. Why: how much attention goes to the class token
    differs between layers and between windows, and windows of different lengths spread it over different numbers of
    tokens; on this scale the curves of the windows of a track can be stitched together and compared.
    """
    if mode not in MODES:
        raise ValueError(f"mode must be one of {MODES}, got {mode!r}.")
    attentions = np.asarray(attentions, dtype=np.float64)
    sequence = attentions[..., 1:, 1:] if mode == "column_mean" else attentions[..., :1, 1:]
    num_tokens = sequence.shape[-1]
    rows = sequence / np.maximum(sequence.sum(axis=-1, keepdims=True), 1e-12)
    return (rows.mean(axis=-2) * num_tokens).astype(np.float32)


def spectral_flux(input_values, frames_per_patch: int = 1) -> np.ndarray:
    """A plain onset detector on the model's own input, for scale: the half-wave rectified increase of the log-mel
    frames (dB) summed over bins, one value per token (the largest of its frames). Scored like the attention curves,
    it tells whether an attention head beats the spectrogram it reads."""
    frames = np.asarray(input_values, dtype=np.float64)
    flux = np.zeros(len(frames))
    flux[1:] = np.maximum(np.diff(frames, axis=0), 0.0).sum(axis=1)
    pad = (-len(flux)) % frames_per_patch
    return np.pad(flux, (0, pad)).reshape(-1, frames_per_patch).max(axis=1).astype(np.float32)


def pick_onsets(strength, times, threshold: float = 0.05, average_seconds: float = 0.1,
                min_distance_seconds: float = 0.05) -> np.ndarray:
    """Onset times from a 1-D strength curve: local maxima (scipy's `find_peaks`) that exceed the mean of the curve
    over +-`average_seconds` by `threshold`, at least `min_distance_seconds` apart (the higher peak wins). This is the
    rule of `librosa.util.peak_pick` / `librosa.onset.onset_detect` with one token of `pre_max`/`post_max`.

    The curve is first scaled to `[0, 1]` between its minimum and its 99th percentile (not its maximum: one
    attention spike, e.g. on the first note after a silence, would otherwise flatten the rest of the track), so
    that one `threshold` serves every layer, head and model, whose attention curves have very different ranges.
    Defaults: the token period is 32 ms, so `average_seconds=0.1` averages 7 tokens and `min_distance_seconds=0.05`
    keeps peaks two tokens apart. `threshold=0.05` and `average_seconds=0.1` were chosen on the validation split of
    the built-in corpus, once for every curve: the best values for the attention curves of the trained demo model
    and of a random one, within 0.02 F of the best for the spectral-flux baseline.
    """
    x, local_mean, distance = _scaled_curve(strength, times, average_seconds, min_distance_seconds)
    return np.asarray(times, dtype=np.float64).reshape(-1)[_peaks(x, local_mean, distance, threshold)]


def _scaled_curve(strength, times, average_seconds: float = 0.1,
                  min_distance_seconds: float = 0.05) -> tuple[np.ndarray, np.ndarray, int]:
    """What [`pick_onsets`] computes before its threshold: the curve scaled to `[0, 1]` (min to 99th percentile),
    its local mean and the minimum peak distance in tokens; `x` is empty for curves under 3 tokens."""
    x = np.asarray(strength, dtype=np.float64).reshape(-1)
    times = np.asarray(times, dtype=np.float64).reshape(-1)
    if len(x) != len(times):
        raise ValueError(f"strength has {len(x)} values but times has {len(times)}.")
    if len(x) < 3:
        return np.zeros(0), np.zeros(0), 1
    period = float(np.median(np.diff(times)))
    low, high = x.min(), np.percentile(x, 99)
    x = (x - low) / (high - low) if high > low else np.zeros_like(x)
    half = max(1, int(round(average_seconds / period)))
    kernel = np.ones(2 * half + 1)
    local_mean = np.convolve(x, kernel, mode="same") / np.convolve(np.ones_like(x), kernel, mode="same")
    distance = max(1, int(np.ceil(min_distance_seconds / period - 1e-9)))
    return x, local_mean, distance


def _peaks(x: np.ndarray, local_mean: np.ndarray, distance: int, threshold: float) -> np.ndarray:
    from scipy.signal import find_peaks

    if len(x) == 0:
        return np.zeros(0, dtype=int)
    peaks, _ = find_peaks(x, height=local_mean + threshold, distance=distance)
    return peaks


def trim_events(events, start: float, end: float, trim_seconds: float) -> np.ndarray:
    """Events inside `[start + trim_seconds, end - trim_seconds]`, sorted and unique."""
    events = np.unique(np.asarray(events, dtype=np.float64).reshape(-1))
    return events[(events >= start + trim_seconds) & (events <= end - trim_seconds)]


def onset_scores(strengths, times, reference_onsets, window: float = 0.05, trim_seconds: float = 0.1,
                 threshold: float = 0.05, **pick_kwargs) -> dict[str, np.ndarray]:
    """`mir_eval.onset.f_measure` of the onsets picked from every curve of `strengths` `(..., T)` (e.g.
    `(layers, heads, T)`), against `reference_onsets`.

    Reference and estimated onsets within `trim_seconds` of the first or last token are left out of the score: a
    peak needs a neighbour on both sides, so an onset on the first or last token (every groove of the built-in
    corpus starts with one at 0 s) could never be found, and the edge tokens see reflect-padded STFT frames. Window
    edges inside a track are not trimmed: [`track_onset_strength`] takes every token from a window in which it lies
    far from the edges.

    Returns:
        `{"f_measure", "precision", "recall"}`, arrays shaped `strengths.shape[:-1]`; NaN when no reference onset is
        left to score.
    """
    scores = onset_score_grid(strengths, times, reference_onsets, [threshold], window=window,
                              trim_seconds=trim_seconds, **pick_kwargs)
    return {name: values[0] for name, values in scores.items()}


def onset_score_grid(strengths, times, reference_onsets, thresholds: Sequence[float], window: float = 0.05,
                     trim_seconds: float = 0.1, average_seconds: float = 0.1,
                     min_distance_seconds: float = 0.05) -> dict[str, np.ndarray]:
    """[`onset_scores`] at every peak-picking threshold of `thresholds` (each curve is scaled and averaged once).

    Returns:
        `{"f_measure", "precision", "recall"}`, arrays shaped `(len(thresholds), *strengths.shape[:-1])`; NaN when no
        reference onset is left to score.
    """
    import mir_eval

    strengths = np.asarray(strengths)
    times = np.asarray(times, dtype=np.float64)
    thresholds = [float(threshold) for threshold in thresholds]
    reference = trim_events(reference_onsets, times[0], times[-1], trim_seconds)
    shape = (len(thresholds), *strengths.shape[:-1])
    scores = {name: np.full(shape, np.nan) for name in ("f_measure", "precision", "recall")}
    if len(reference) == 0:
        return scores
    for index in np.ndindex(strengths.shape[:-1]):
        x, local_mean, distance = _scaled_curve(strengths[index], times, average_seconds, min_distance_seconds)
        for position, threshold in enumerate(thresholds):
            estimated = trim_events(times[_peaks(x, local_mean, distance, threshold)], times[0], times[-1],
                                    trim_seconds)
            f, p, r = (mir_eval.onset.f_measure(reference, estimated, window=window) if len(estimated)
                       else (0.0, 0.0, 0.0))
            cell = (position, *index)
            scores["f_measure"][cell], scores["precision"][cell], scores["recall"][cell] = f, p, r
    return scores


def noise_curves(num_tokens: int, draws: int = 5, seed: int = 0, key: str = "") -> np.ndarray:
    """The noise floor: `draws` i.i.d. uniform curves `(draws, num_tokens)` on a track's token grid, to be
    peak-picked like attention curves (what peak picking finds in nothing). Deterministic for `(seed, key)`; `key`
    (e.g. the track's name) gives every track its own draws."""
    import zlib

    salt = zlib.crc32(str(key).encode("utf-8"))
    return np.stack([np.random.default_rng((int(seed), salt, draw)).random(int(num_tokens))
                     for draw in range(draws)]).astype(np.float32)


def random_directions(num_mel_bins: int, draws: int = 5, seed: int = 0) -> np.ndarray:
    """`(draws, num_mel_bins)` random unit vectors (isotropic: normalised Gaussian draws), deterministic for `seed`;
    the same for every track, as one random linear map is."""
    directions = np.stack([np.random.default_rng((int(seed), 7919, draw)).standard_normal(int(num_mel_bins))
                           for draw in range(draws)])
    return directions / np.linalg.norm(directions, axis=1, keepdims=True)


def random_projection_curves(frames, draws: int = 5, seed: int = 0) -> np.ndarray:
    """The random-projection floor: each token's log-mel frame(s) `frames` `(num_tokens, frames_per_patch,
    num_mel_bins)` (or `(num_tokens, num_mel_bins)`; `OnsetStrengths.frames`) projected on each of `draws` random unit
    vectors over the mel bins ([`random_directions`]); a token of several frames takes the mean of their projections,
    so every curve is a linear map of the token's input patch, as a random-init token nearly is. Its sign is drawn
    too: a projection on which onsets are dips is part of what a random map does.

    Returns:
        `(draws, num_tokens)` float32 curves.
    """
    frames = np.asarray(frames, dtype=np.float64)
    frames = frames[:, None] if frames.ndim == 2 else frames
    directions = random_directions(frames.shape[-1], draws, seed)
    return np.einsum("tfm,dm->dt", frames, directions).astype(np.float32) / frames.shape[1]


@dataclass
class OnsetStrengths:
    """Onset-strength curves of one track on its token grid.

    Attributes:
        strengths: `{mode: (layers, heads, num_tokens)}` from [`onset_strength`].
        times: `(num_tokens,)`: time of every token in seconds.
        spectral_flux: `(num_tokens,)`: the [`spectral_flux`] baseline on the same grid.
        tokens: `{layer: (num_tokens, hidden_size)}`: hidden states `hidden_states[layer]` stitched on the same grid,
            when `token_layers` were asked for (for self-similarity matrices without a second pass).
        frames: `(num_tokens, frames_per_patch, num_mel_bins)`: the log-mel input frames of every token (the
            [`random_projection_curves`] floor), or None.
    """

    strengths: dict[str, np.ndarray]
    times: np.ndarray
    spectral_flux: np.ndarray
    tokens: dict[int, np.ndarray] = field(default_factory=dict)
    frames: np.ndarray | None = None


@torch.inference_mode()
def track_onset_strength(model, feature_extractor, waveform, sampling_rate: int, modes: Sequence[str] = MODES,
                         window_seconds: float = 4.0, hop_seconds: float | None = 2.0,
                         batch_size: int = 8, token_layers: Sequence[int] | None = None,
                         progress_bar: bool = False) -> OnsetStrengths:
    """Onset-strength curves of a whole track: the model sees `window_seconds` windows (4 s, its training length)
    every `hop_seconds`, and each token of the track's grid (window start + `feature_extractor.frame_times`) takes
    its value from the window in which it lies farthest from the edges, as `vit1d.embed_long_audio` stitches
    tokens. Why the overlapping default hop (2 s): a token at a window edge is attended with context on one side
    only, and a peak picker would read the seam between two windows as a change; with half-overlapping windows every
    token kept lies at least a second from its window's edges, except at the ends of the track.

    `token_layers` (hidden-state indices, e.g. `(3, 6, 9, 12)`) also returns those layers' sequence tokens, stitched
    the same way from the same forward passes: what [`vit1d.analysis.ssm.ssm_for_layers`] computes with
    `embed_long_audio(hop_seconds=hop_seconds)`, at half the cost when attention is wanted too. `progress_bar` shows
    a tqdm bar over the windows.
    """
    for mode in modes:
        if mode not in MODES:
            raise ValueError(f"mode must be one of {MODES}, got {mode!r}.")
    waveform = np.asarray(waveform, dtype=np.float32).reshape(-1)
    if sampling_rate != feature_extractor.sampling_rate:
        raise ValueError(f"The waveform must be at {feature_extractor.sampling_rate} Hz (got {sampling_rate}): "
                         "resample it with vit1d.load_audio(path, sampling_rate=16000).")
    if len(waveform) == 0:
        raise ValueError("track_onset_strength got an empty waveform.")
    encoder = model.base_model
    frames_per_patch = encoder.config.frames_per_patch
    plan = plan_windows(feature_extractor, frames_per_patch, window_seconds, hop_seconds)
    num_tokens = 1 + len(waveform) // plan.samples_per_token
    layers, heads = encoder.config.num_hidden_layers, encoder.config.num_attention_heads
    token_layers = tuple(int(layer) for layer in token_layers or ())
    if not all(0 <= layer <= layers for layer in token_layers):
        raise ValueError(f"token_layers must lie in 0..{layers}, got {token_layers}.")

    # Every token's values side by side (the strengths of each mode, the flux, the hidden states of each layer), so
    # that one TokenStitcher places them all with embed_long_audio's rule.
    stitcher = TokenStitcher(num_tokens)
    windows = list(windows_from_array(waveform, plan))
    bar = tqdm(total=len(windows), desc="attention", unit="window", disable=not progress_bar)
    for first in range(0, len(windows), batch_size):
        batch = windows[first : first + batch_size]
        chunks, counts = zip(*(pad_short_window(chunk, plan) for _, chunk in batch))
        features, outputs = forward_windows(encoder, feature_extractor, chunks, output_attentions=True,
                                            output_hidden_states=bool(token_layers))
        attentions = torch.stack(outputs.attentions, dim=1).float().cpu().numpy()  # (batch, layers, heads, q, k)
        input_values = features["input_values"].float().cpu().numpy()
        hidden = {layer: outputs.hidden_states[layer].float().cpu().numpy() for layer in token_layers}
        for row, ((start, _), count) in enumerate(zip(batch, counts)):
            first_token = start // plan.samples_per_token
            count = min(count, num_tokens - first_token)
            window_maps = attentions[row, :, :, : 1 + count, : 1 + count]
            columns = [onset_strength(window_maps, mode).reshape(layers * heads, count).T for mode in modes]
            frames = input_values[row, : count * frames_per_patch]
            flux = spectral_flux(frames, frames_per_patch)
            columns.append(flux[:count, None])
            # The token's input patch (frames_per_patch frames, the last one padded with its last frame if short).
            frames = np.pad(frames, ((0, count * frames_per_patch - len(frames)), (0, 0)), mode="edge")
            columns.append(frames.reshape(count, -1))
            columns += [hidden[layer][row, 1 : 1 + count] for layer in token_layers]
            stitcher.add(first_token, torch.from_numpy(np.concatenate(columns, axis=1, dtype=np.float32)))
        bar.update(len(batch))
    bar.close()

    grid = stitcher.result().numpy()
    num_bins = input_values.shape[-1]
    sizes = ([layers * heads] * len(modes) + [1, frames_per_patch * num_bins]
             + [encoder.config.hidden_size] * len(token_layers))
    parts = np.split(grid, np.cumsum(sizes)[:-1], axis=1)
    strengths = {mode: np.ascontiguousarray(part.T).reshape(layers, heads, -1) for mode, part in zip(modes, parts)}
    flux = np.ascontiguousarray(parts[len(modes)][:, 0])
    frames = np.ascontiguousarray(parts[len(modes) + 1]).reshape(-1, frames_per_patch, num_bins)
    tokens = {layer: np.ascontiguousarray(part) for layer, part in zip(token_layers, parts[len(modes) + 2 :])}
    times = feature_extractor.frame_times(num_tokens * frames_per_patch, frames_per_patch=frames_per_patch)
    return OnsetStrengths(strengths, times, flux, tokens, frames)


__all__ = ["FLOORS", "MODES", "OnsetStrengths", "attention_maps", "noise_curves", "onset_score_grid", "onset_scores",
           "onset_strength", "pick_onsets", "random_directions", "random_projection_curves", "spectral_flux",
           "track_onset_strength", "trim_events"]
