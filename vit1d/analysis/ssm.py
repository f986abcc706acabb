"""Self-similarity matrices (SSMs) of ViT-1D's sequence tokens, layer by layer, and simple measures of how their
structure lines up with the music.

The paper shows `S[i, j] = cos(z_i, z_j)` per layer: blocks at layer 3 (harmony), sub-diagonals at layer 12
(rhythm), without a number to go with the pictures. Three plain measures are offered here, none of them the paper's:

- **novelty lift**: Foote's checkerboard novelty along the diagonal of `S`, z-scored over the track; its largest
  value within `+-window` of each reference boundary, averaged, minus the same quantity averaged over every token.
  0 means boundaries are no more novel than anywhere else; positive values are in standard deviations. Computed at
  chord changes and at the beats that are *not* chord changes, so that "harmony" and "rhythm" are compared on
  disjoint events (chord changes mostly fall on beats, so scoring all beats would count them twice).
- **novelty F-measure**: novelty peaks against chord changes and against all beats (`mir_eval.onset.f_measure`).
  Denser references (beats) are easier to hit by chance, so compare a layer with other layers, not beats with chords.
- **beat-lag contrast**: mean similarity along the sub-diagonals one to four beats apart minus along those half a beat
  off (0.5, 1.5, ... beats): positive when tokens a whole number of beats apart are more alike, the "sub-diagonal"
  picture of layer 12.
"""

from collections.abc import Sequence

import numpy as np
import torch

from ..embedding import embed_long_audio
from .attention import trim_events


def self_similarity(tokens, center: bool = False) -> np.ndarray:
    """Cosine self-similarity `(T, T)` of tokens `(T, D)`. `center=True` subtracts the mean token first: hidden
    states share a large common component (the residual stream before the final LayerNorm), which pushes every
    cosine towards 1; centring shows the variation around it. Novelty does not depend on it much (the checkerboard
    kernel sums to zero), pictures do."""
    z = tokens.detach().float().cpu().numpy() if isinstance(tokens, torch.Tensor) else np.asarray(tokens, np.float32)
    if z.ndim != 2:
        raise ValueError(f"tokens must be (T, D), got shape {z.shape}.")
    z = z.astype(np.float64)
    if center:
        z = z - z.mean(axis=0, keepdims=True)
    z = z / np.maximum(np.linalg.norm(z, axis=1, keepdims=True), 1e-12)
    return (z @ z.T).astype(np.float32)


def ssm_for_layers(model, feature_extractor, audio, layers: Sequence[int] = (3, 6, 9, 12),
                   sampling_rate: int | None = None, window_seconds: float = 4.0, hop_seconds: float | None = 2.0,
                   batch_size: int = 16, center: bool = False) -> tuple[dict[int, np.ndarray], np.ndarray]:
    """SSMs of a window or a whole track (a waveform at `sampling_rate`, or a path / bytes) for hidden-state
    `layers` (0 = embeddings, 12 = last layer before the final LayerNorm), from `vit1d.embed_long_audio`'s stitched
    tokens. The default hop (2 s, half-overlapping 4 s windows) takes every token from a window in which it lies far
    from the edges, which keeps window seams from showing as lines in the matrix. `T x T` floats per layer: about
    3.5 MB for 30 s, 1.4 GB for 10 minutes.

    Returns:
        `({layer: (T, T)}, token_times)`.
    """
    embedding = embed_long_audio(model, feature_extractor, audio, sampling_rate=sampling_rate,
                                 window_seconds=window_seconds, hop_seconds=hop_seconds, batch_size=batch_size,
                                 layers=tuple(layers))
    ssms = {layer: self_similarity(embedding.sequence_tokens[:, index], center=center)
            for index, layer in enumerate(embedding.layers)}
    return ssms, embedding.token_times


def checkerboard_kernel(half_size: int) -> np.ndarray:
    """Foote's Gaussian-tapered checkerboard kernel `(2L, 2L)`: + on the two within-segment quadrants, - on the two
    across, sum of absolute values 1. Even-sized, so that at token `t` it compares tokens `[t - L, t)` with
    `[t, t + L)`: the novelty peak falls on the first token of a new segment, not on a tie between two tokens."""
    if half_size < 1:
        raise ValueError(f"half_size must be at least 1, got {half_size}.")
    offsets = np.arange(-half_size, half_size) + 0.5
    taper = np.exp(-0.5 * (offsets / (0.5 * half_size)) ** 2)
    kernel = np.outer(np.sign(offsets) * taper, np.sign(offsets) * taper)
    return kernel / np.abs(kernel).sum()


def kernel_half_size(kernel_size: int | None = None, kernel_seconds: float | None = None,
                     tokens_per_second: float = 31.25) -> int:
    """`L` of a `2L`-token kernel given in tokens or seconds (the full width)."""
    if (kernel_size is None) == (kernel_seconds is None):
        raise ValueError("Give exactly one of kernel_size (tokens) and kernel_seconds.")
    size = kernel_size if kernel_size is not None else kernel_seconds * tokens_per_second
    return max(1, int(round(size / 2)))


def novelty(ssm, kernel_size: int | None = None, kernel_seconds: float | None = None,
            tokens_per_second: float = 31.25) -> np.ndarray:
    """Foote novelty `(T,)`: the checkerboard kernel of `kernel_size` tokens (or `kernel_seconds`) correlated along
    the diagonal of `ssm`. High where the tokens before are alike, the tokens after are alike, and the two groups
    differ: a boundary at the kernel's scale, peaking on the first token after it. Zero within half a kernel of
    either end, where the kernel does not fit (padding would make the ends look like boundaries); leave those tokens
    out of any score."""
    ssm = np.asarray(ssm, dtype=np.float64)
    half = kernel_half_size(kernel_size, kernel_seconds, tokens_per_second)
    kernel = checkerboard_kernel(half)
    out = np.zeros(len(ssm))
    for t in range(half, len(ssm) - half + 1):
        out[t] = np.sum(kernel * ssm[t - half : t + half, t - half : t + half])
    return out


def chord_changes(intervals, labels: Sequence[str] | None = None) -> np.ndarray:
    """Times at which the chord changes: the starts of chord intervals whose label differs from the previous one's
    (every start after the first when `labels` is None). The first start is the beginning of the music, not a
    change."""
    intervals = np.asarray(intervals, dtype=np.float64).reshape(-1, 2)
    if len(intervals) < 2:
        return np.zeros(0)
    starts = intervals[1:, 0]
    if labels is None:
        return starts
    labels = list(labels)
    changed = np.array([labels[i] != labels[i - 1] for i in range(1, len(labels))], dtype=bool)
    return starts[changed]


def beats_without_changes(beats, changes, window: float) -> np.ndarray:
    """Beats farther than `window` from every chord change: rhythmic events without a harmonic one."""
    beats = np.asarray(beats, dtype=np.float64).reshape(-1)
    changes = np.asarray(changes, dtype=np.float64).reshape(-1)
    if len(changes) == 0:
        return beats
    distance = np.abs(beats[:, None] - changes[None, :]).min(axis=1)
    return beats[distance > window]


def _windowed_max(values: np.ndarray, half: int) -> np.ndarray:
    padded = np.pad(values, half, mode="edge")
    return np.lib.stride_tricks.sliding_window_view(padded, 2 * half + 1).max(axis=1)


def boundary_alignment(novelty_curve, times, boundaries, window: float = 0.1, trim_seconds: float = 0.0,
                       min_distance_seconds: float = 0.25) -> dict[str, float]:
    """How well a novelty curve marks reference `boundaries` (seconds).

    Only tokens and boundaries at least `trim_seconds` from either end count (pass half the novelty kernel).

    Returns:
        `lift`: mean over boundaries of the largest z-scored novelty within `+-window`, minus the mean of the same
        over all tokens (0: boundaries are not special; in standard deviations). `f_measure`, `precision`,
        `recall`: `mir_eval.onset.f_measure(boundaries, peaks, window)`, peaks being local maxima of novelty above
        its mean, at least `min_distance_seconds` apart. `num_boundaries`. NaN scores when no boundary is left.
    """
    import mir_eval
    from scipy.signal import find_peaks

    curve = np.asarray(novelty_curve, dtype=np.float64)
    times = np.asarray(times, dtype=np.float64)
    start, end = times[0] + trim_seconds, times[-1] - trim_seconds
    inside = (times >= start - 1e-9) & (times <= end + 1e-9)
    boundaries = trim_events(boundaries, times[0], times[-1], trim_seconds)
    result = {"lift": float("nan"), "f_measure": float("nan"), "precision": float("nan"), "recall": float("nan"),
              "num_boundaries": int(len(boundaries))}
    if len(boundaries) == 0 or inside.sum() < 3:
        return result
    period = float(np.median(np.diff(times)))
    values, span_times = curve[inside], times[inside]
    z = (values - values.mean()) / max(values.std(), 1e-12)
    local_max = _windowed_max(z, max(0, int(round(window / period))))
    at_boundaries = local_max[np.clip(np.searchsorted(span_times, boundaries), 0, len(span_times) - 1)]
    result["lift"] = float(at_boundaries.mean() - local_max.mean())
    peaks, _ = find_peaks(z, height=0.0, distance=max(1, int(round(min_distance_seconds / period))))
    if len(peaks):
        f, p, r = mir_eval.onset.f_measure(boundaries, span_times[peaks], window=window)
    else:
        f = p = r = 0.0
    result.update(f_measure=float(f), precision=float(p), recall=float(r))
    return result


def beat_lag_contrast(ssm, times, beats, max_beats: int = 4) -> float:
    """Mean similarity on the sub-diagonals 1..`max_beats` beats apart minus on those 0.5, 1.5, ... beats apart,
    over the span between the first and last beat (beat period: the median inter-beat interval). NaN without at
    least two beats or when a beat is shorter than two tokens."""
    ssm = np.asarray(ssm, dtype=np.float64)
    times = np.asarray(times, dtype=np.float64)
    beats = np.sort(np.asarray(beats, dtype=np.float64).reshape(-1))
    if len(beats) < 2:
        return float("nan")
    period = float(np.median(np.diff(times)))
    beat_tokens = float(np.median(np.diff(beats))) / period
    first, last = np.searchsorted(times, beats[0]), np.searchsorted(times, beats[-1], side="right")
    span = ssm[first:last, first:last]
    if beat_tokens < 2 or len(span) == 0:
        return float("nan")

    def mean_at(lag: float) -> float:
        lag = int(round(lag))
        return float(np.diagonal(span, offset=lag).mean()) if 0 < lag < len(span) else float("nan")

    on = [mean_at(k * beat_tokens) for k in range(1, max_beats + 1)]
    off = [mean_at((k - 0.5) * beat_tokens) for k in range(1, max_beats + 1)]
    pairs = [(a, b) for a, b in zip(on, off) if a == a and b == b]
    return float(np.mean([a - b for a, b in pairs])) if pairs else float("nan")


SUMMARY_KEYS = ("chord_change_lift", "beat_lift", "chord_change_f_measure", "beat_f_measure", "beat_lag_contrast")


def ssm_summary(ssm, times, beats=None, changes=None, kernel_seconds: float = 1.0, window: float = 0.1) -> dict:
    """The measures of the module docstring for one SSM (NaN where the annotation is missing): novelty lift at chord
    changes and at beats that are not chord changes, novelty F-measure against chord changes and against all beats,
    beat-lag contrast, and the numbers of events scored."""
    times = np.asarray(times, dtype=np.float64)
    tokens_per_second = 1.0 / float(np.median(np.diff(times)))
    half = kernel_half_size(kernel_seconds=kernel_seconds, tokens_per_second=tokens_per_second)
    curve = novelty(ssm, kernel_size=2 * half)
    trim = half / tokens_per_second
    nan = float("nan")
    summary = dict.fromkeys(SUMMARY_KEYS, nan)
    summary.update(num_chord_changes=0, num_beats=0, num_beats_without_changes=0)
    if changes is not None:
        scores = boundary_alignment(curve, times, changes, window=window, trim_seconds=trim)
        summary.update(chord_change_lift=scores["lift"], chord_change_f_measure=scores["f_measure"],
                       num_chord_changes=scores["num_boundaries"])
    if beats is not None and len(beats):
        plain_beats = beats_without_changes(beats, changes if changes is not None else [], window)
        lift = boundary_alignment(curve, times, plain_beats, window=window, trim_seconds=trim)
        every = boundary_alignment(curve, times, beats, window=window, trim_seconds=trim)
        summary.update(beat_lift=lift["lift"], beat_f_measure=every["f_measure"], num_beats=every["num_boundaries"],
                       num_beats_without_changes=lift["num_boundaries"], beat_lag_contrast=beat_lag_contrast(
                           ssm, times, beats))
    return summary


__all__ = ["SUMMARY_KEYS", "beat_lag_contrast", "beats_without_changes", "boundary_alignment", "checkerboard_kernel",
           "chord_changes", "kernel_half_size", "novelty", "self_similarity", "ssm_for_layers", "ssm_summary"]
