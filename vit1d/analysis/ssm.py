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
- **linear CKA between layers** ([`linear_cka`], Kornblith et al. 2019): how alike two layers' token geometries are,
  1 for the same up to rotation and scale, near 0 for unrelated ones. A random pre-norm encoder's layers stay close
  to its embeddings (the residual stream carries them through), so "layers differ" is read as trained CKA below
  random CKA.

Memory: neither measure needs the whole `T x T` matrix. Novelty reads a band of `2L` sub-diagonals (`L` tokens, half
the kernel), the beat-lag contrast a few sub-diagonals up to `max_beats` beats, so [`ssm_summary_from_tokens`] (what
`run_analysis` uses) computes only the band `band[t, d] = S[t, t + d]`, `d = 0..max_lag` ([`similarity_band`]), in
`O(T * max_lag)` memory; [`pooled_self_similarity`] gives a bounded `N x N` picture of any track (exact block means of
`S`). The full-matrix functions (`self_similarity`, `ssm_for_layers`, `novelty`, `beat_lag_contrast`, `ssm_summary`)
remain for short excerpts and go through the same band code.
"""

from collections.abc import Sequence

import numpy as np
import torch

from ..embedding import embed_long_audio
from .attention import trim_events


def _unit_tokens(tokens, center: bool = False) -> np.ndarray:
    """Tokens `(T, D)` as float64 unit vectors (after subtracting the mean token when `center`): `S = z @ z.T`."""
    z = tokens.detach().float().cpu().numpy() if isinstance(tokens, torch.Tensor) else np.asarray(tokens, np.float32)
    if z.ndim != 2:
        raise ValueError(f"tokens must be (T, D), got shape {z.shape}.")
    z = z.astype(np.float64)
    if center:
        z = z - z.mean(axis=0, keepdims=True)
    return z / np.maximum(np.linalg.norm(z, axis=1, keepdims=True), 1e-12)


def self_similarity(tokens, center: bool = False) -> np.ndarray:
    """Cosine self-similarity `(T, T)` of tokens `(T, D)`. `center=True` subtracts the mean token first: hidden
    states share a large common component (the residual stream before the final LayerNorm), which pushes every
    cosine towards 1; centring shows the variation around it. Novelty does not depend on it much (the checkerboard
    kernel sums to zero), pictures do. `T x T` float32: for whole tracks use [`similarity_band`] (measures) and
    [`pooled_self_similarity`] (pictures) instead."""
    z = _unit_tokens(tokens, center)
    return (z @ z.T).astype(np.float32)


def pooled_self_similarity(tokens, times, max_size: int = 1024,
                           center: bool = False) -> tuple[np.ndarray, np.ndarray]:
    """A picture of the self-similarity of any number of tokens, at most `max_size x max_size`: the tokens `(T, D)`
    are cut into `min(T, max_size)` consecutive bins of `T // max_size` or one more tokens, and entry `(i, j)` is the
    mean cosine between the tokens of bin `i` and those of bin `j`, exactly the block mean of
    [`self_similarity`]`(tokens, center)`. Why it is cheap: cosines are dot products of unit vectors, so their
    block mean is the dot product of the bins' mean unit vectors, `O(T * D)` memory instead of `O(T^2)`. With
    `T <= max_size` it is `self_similarity` itself.

    Returns:
        `(matrix, bin_times)`: float32 `(N, N)` and the mean time of each bin's tokens `(N,)` (`times`: `(T,)`).
    """
    if max_size < 1:
        raise ValueError(f"max_size must be at least 1, got {max_size}.")
    z = _unit_tokens(tokens, center)
    times = np.asarray(times, dtype=np.float64).reshape(-1)
    if len(times) != len(z):
        raise ValueError(f"tokens has {len(z)} rows but times has {len(times)}.")
    if len(z) == 0:
        return np.zeros((0, 0), dtype=np.float32), times
    bins = min(max_size, len(z))
    edges = np.arange(bins + 1) * len(z) // bins  # strictly increasing: every bin holds at least one token
    counts = np.diff(edges)
    means = np.add.reduceat(z, edges[:-1], axis=0) / counts[:, None]  # (N, D)
    return (means @ means.T).astype(np.float32), np.add.reduceat(times, edges[:-1]) / counts


def _diagonal_band(matrix: np.ndarray, max_lag: int) -> np.ndarray:
    """`band[r, d] = matrix[r, r + d]` for `d = 0..max_lag`, float64, NaN where `r + d` runs past the columns."""
    rows = np.arange(matrix.shape[0])[:, None]
    columns = rows + np.arange(max_lag + 1)[None, :]  # (R, max_lag + 1)
    inside = columns < matrix.shape[1]
    band = matrix[rows, np.minimum(columns, matrix.shape[1] - 1)].astype(np.float64)
    band[~inside] = np.nan
    return band


def ssm_band(ssm, max_lag: int) -> np.ndarray:
    """The band of a full (symmetric, as cosine SSMs are) matrix `(T, T)`: `band[t, d] = ssm[t, t + d]` for
    `d = 0..max_lag`, float64 `(T, max_lag + 1)`, NaN past the end of the track. What the band measures
    ([`novelty_from_band`], [`beat_lag_contrast_from_band`]) read."""
    ssm = np.asarray(ssm)
    if ssm.ndim != 2 or ssm.shape[0] != ssm.shape[1]:
        raise ValueError(f"ssm must be square (T, T), got shape {ssm.shape}.")
    if max_lag < 0:
        raise ValueError(f"max_lag must be at least 0, got {max_lag}.")
    return _diagonal_band(ssm, max_lag)


def similarity_band(tokens, max_lag: int, center: bool = False, block_size: int = 512) -> np.ndarray:
    """The band of [`self_similarity`]`(tokens, center)` computed from the tokens `(T, D)` without the full matrix:
    `band[t, d] = cos(z_t, z_{t + d})` for `d = 0..max_lag`, float64 `(T, max_lag + 1)`, NaN past the end of the
    track (unlike `self_similarity`, not rounded to float32). Rows are taken `block_size` at a time against the
    tokens up to `max_lag` past them, so memory stays `O(T * (D + max_lag))` for any track length."""
    if max_lag < 0:
        raise ValueError(f"max_lag must be at least 0, got {max_lag}.")
    z = _unit_tokens(tokens, center)
    band = np.empty((len(z), max_lag + 1))
    for start in range(0, len(z), block_size):
        stop = min(start + block_size, len(z))
        block = z[start:stop] @ z[start : stop + max_lag].T  # (B, B + max_lag): one matrix product per block
        band[start:stop] = _diagonal_band(block, max_lag)
    return band


def ssm_for_layers(model, feature_extractor, audio, layers: Sequence[int] = (3, 6, 9, 12),
                   sampling_rate: int | None = None, window_seconds: float = 4.0, hop_seconds: float | None = 2.0,
                   batch_size: int = 16, center: bool = False) -> tuple[dict[int, np.ndarray], np.ndarray]:
    """SSMs of a window or a whole track (a waveform at `sampling_rate`, or a path / bytes) for hidden-state
    `layers` (0 = embeddings, 12 = last layer before the final LayerNorm), from `vit1d.embed_long_audio`'s stitched
    tokens. The default hop (2 s, half-overlapping 4 s windows) takes every token from a window in which it lies far
    from the edges, which keeps window seams from showing as lines in the matrix. `T x T` floats per layer: about
    3.5 MB for 30 s, 1.4 GB for 10 minutes; `run_analysis` does not use it, it reads the band of each matrix
    ([`ssm_summary_from_tokens`]) and pictures of bounded size ([`pooled_self_similarity`]).

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


def _novelty_weights(half: int) -> np.ndarray:
    """`W[i, d]`: the weight of `band[t - half + i, d]` in the novelty at `t`, i.e. the checkerboard kernel's entry
    `(i, i + d)`, doubled for `d > 0` because the kernel and the matrix are symmetric and the band holds only the
    upper half; 0 where `i + d` falls outside the kernel."""
    kernel = checkerboard_kernel(half)
    size = 2 * half
    rows, lags = np.meshgrid(np.arange(size), np.arange(size), indexing="ij")  # (2L, 2L) each
    weights = np.where(rows + lags < size, kernel[rows, np.minimum(rows + lags, size - 1)], 0.0)
    weights[:, 1:] *= 2.0
    return weights


def novelty_from_band(band, kernel_size: int | None = None, kernel_seconds: float | None = None,
                      tokens_per_second: float = 31.25) -> np.ndarray:
    """[`novelty`] from the band of the SSM ([`similarity_band`] or [`ssm_band`] with lags 0..`2L - 1` at least, for
    a `2L`-token kernel): the same curve in `O(T * L)` memory."""
    band = np.asarray(band, dtype=np.float64)
    half = kernel_half_size(kernel_size, kernel_seconds, tokens_per_second)
    size = 2 * half
    if band.ndim != 2 or band.shape[1] < size:
        raise ValueError(f"A {size}-token kernel needs a band of at least {size} lags (0..{size - 1}), got shape "
                         f"{band.shape}.")
    out = np.zeros(len(band))
    count = len(band) - size + 1  # kernel positions that fit: centres half..T - half
    if count <= 0:
        return out
    weights = _novelty_weights(half)
    values = np.zeros(count)
    # One kernel row at a time, every position at once: band rows i..i + count against the lags that stay inside
    # the kernel (and so inside the track).
    for row in range(size):
        inside = size - row
        values += band[row : row + count, :inside] @ weights[row, :inside]  # (count, inside) @ (inside,)
    out[half : half + count] = values
    return out


def novelty(ssm, kernel_size: int | None = None, kernel_seconds: float | None = None,
            tokens_per_second: float = 31.25) -> np.ndarray:
    """Foote novelty `(T,)`: the checkerboard kernel of `kernel_size` tokens (or `kernel_seconds`) correlated along
    the diagonal of `ssm` (symmetric, as cosine SSMs are). High where the tokens before are alike, the tokens after
    are alike, and the two groups differ: a boundary at the kernel's scale, peaking on the first token after it.
    Zero within half a kernel of either end, where the kernel does not fit (padding would make the ends look like
    boundaries); leave those tokens out of any score. Reads only the band of [`novelty_from_band`]."""
    half = kernel_half_size(kernel_size, kernel_seconds, tokens_per_second)
    return novelty_from_band(ssm_band(ssm, 2 * half - 1), kernel_size=2 * half)


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


def _beat_lags(times, beats, max_beats: int) -> tuple[int, int, list[tuple[int, int]]] | None:
    """`(first, last, pairs)` of the beat-lag contrast: the tokens `first..last - 1` between the first and last
    beat, and the `(on, off)` lags in tokens, `k` and `k - 0.5` beats (`k = 1..max_beats`, rounded), of the pairs
    whose two sub-diagonals both exist in that span. None when it is not measurable: fewer than two beats or a
    beat shorter than two tokens."""
    times = np.asarray(times, dtype=np.float64)
    beats = np.sort(np.asarray(beats, dtype=np.float64).reshape(-1))
    if len(beats) < 2:
        return None
    beat_tokens = float(np.median(np.diff(beats))) / float(np.median(np.diff(times)))
    if beat_tokens < 2:
        return None
    first, last = int(np.searchsorted(times, beats[0])), int(np.searchsorted(times, beats[-1], side="right"))
    pairs = [(int(round(k * beat_tokens)), int(round((k - 0.5) * beat_tokens))) for k in range(1, max_beats + 1)]
    return first, last, [(on, off) for on, off in pairs if 0 < min(on, off) and max(on, off) < last - first]


def _beat_max_lag(times, beats, max_beats: int = 4) -> int:
    """The widest lag the beat-lag contrast reads (0 when it reads none)."""
    lags = _beat_lags(times, beats, max_beats) if beats is not None else None
    return max((max(pair) for pair in lags[2]), default=0) if lags is not None else 0


def beat_lag_contrast_from_band(band, times, beats, max_beats: int = 4) -> float:
    """[`beat_lag_contrast`] from the band of the SSM ([`similarity_band`] or [`ssm_band`], at least
    `max_beats` beats of lags)."""
    band = np.asarray(band, dtype=np.float64)
    lags = _beat_lags(times, beats, max_beats)
    if lags is None or not lags[2]:
        return float("nan")
    first, last, pairs = lags
    widest = max(max(pair) for pair in pairs)
    if widest >= band.shape[1]:
        raise ValueError(f"The beat-lag contrast needs lags up to {widest} tokens, the band has {band.shape[1] - 1}.")

    def mean_at(lag: int) -> float:  # sub-diagonal `lag` of the span: rows first..last - lag - 1
        return float(band[first : last - lag, lag].mean())

    return float(np.mean([mean_at(on) - mean_at(off) for on, off in pairs]))


def beat_lag_contrast(ssm, times, beats, max_beats: int = 4) -> float:
    """Mean similarity on the sub-diagonals 1..`max_beats` beats apart minus on those 0.5, 1.5, ... beats apart,
    over the span between the first and last beat (beat period: the median inter-beat interval). NaN without at
    least two beats or when a beat is shorter than two tokens. Reads only the band of
    [`beat_lag_contrast_from_band`]."""
    return beat_lag_contrast_from_band(ssm_band(ssm, _beat_max_lag(times, beats, max_beats)), times, beats,
                                       max_beats)


def _kernel_half(times, kernel_seconds: float) -> tuple[int, float]:
    """`(L, tokens per second)` of a `kernel_seconds` novelty kernel on the token grid `times`."""
    tokens_per_second = 1.0 / float(np.median(np.diff(np.asarray(times, dtype=np.float64))))
    return kernel_half_size(kernel_seconds=kernel_seconds, tokens_per_second=tokens_per_second), tokens_per_second


def _summary_max_lag(times, beats, kernel_seconds: float) -> int:
    """The widest lag [`ssm_summary`] reads: the novelty kernel's `2L - 1` or the beat-lag contrast's."""
    return max(2 * _kernel_half(times, kernel_seconds)[0] - 1, _beat_max_lag(times, beats))


def linear_cka(x, y) -> float:
    """Linear centred kernel alignment of two token matrices `(T, D1)` and `(T, D2)` of the same `T` tokens
    (Kornblith et al., ICML 2019): `||Yc^T Xc||_F^2 / (||Xc^T Xc||_F ||Yc^T Yc||_F)` with column-centred `Xc`, `Yc`,
    in float64. In [0, 1], invariant to rotations and isotropic scaling of either; NaN when either has no variance.
    `O(T * D^2)` time, `O(D^2)` memory beyond the tokens: no `T x T` Gram matrix."""
    a, b = (np.asarray(m.detach().float().cpu() if isinstance(m, torch.Tensor) else m, dtype=np.float64)
            for m in (x, y))
    if a.ndim != 2 or b.ndim != 2 or len(a) != len(b):
        raise ValueError(f"linear_cka needs two (T, D) matrices of the same T, got {a.shape} and {b.shape}.")
    a, b = a - a.mean(axis=0), b - b.mean(axis=0)
    cross = np.linalg.norm(b.T @ a) ** 2
    norms = np.linalg.norm(a.T @ a) * np.linalg.norm(b.T @ b)
    return float(cross / norms) if norms > 0 else float("nan")


SUMMARY_KEYS = ("chord_change_lift", "beat_lift", "chord_change_f_measure", "beat_f_measure", "beat_lag_contrast")


def _summary_from_band(band, times, beats=None, changes=None, kernel_seconds: float = 1.0,
                       window: float = 0.1) -> dict:
    times = np.asarray(times, dtype=np.float64)
    half, tokens_per_second = _kernel_half(times, kernel_seconds)
    curve = novelty_from_band(band, kernel_size=2 * half)
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
                       num_beats_without_changes=lift["num_boundaries"],
                       beat_lag_contrast=beat_lag_contrast_from_band(band, times, beats))
    return summary


def ssm_summary(ssm, times, beats=None, changes=None, kernel_seconds: float = 1.0, window: float = 0.1) -> dict:
    """The measures of the module docstring for one SSM (NaN where the annotation is missing): novelty lift at chord
    changes and at beats that are not chord changes, novelty F-measure against chord changes and against all beats,
    beat-lag contrast, and the numbers of events scored. For whole tracks, [`ssm_summary_from_tokens`] gives the
    same without the `T x T` matrix."""
    band = ssm_band(ssm, _summary_max_lag(times, beats, kernel_seconds))
    return _summary_from_band(band, times, beats, changes, kernel_seconds=kernel_seconds, window=window)


def ssm_summary_from_tokens(tokens, times, beats=None, changes=None, kernel_seconds: float = 1.0,
                            window: float = 0.1, center: bool = False) -> dict:
    """[`ssm_summary`] of [`self_similarity`]`(tokens, center)`, computed from the tokens `(T, D)` through the
    band of lags the measures read ([`similarity_band`]): `O(T * (D + max_lag))` memory, for any track length.
    Equal to `ssm_summary` of the float64 matrix (the float32 `self_similarity` differs by its rounding)."""
    band = similarity_band(tokens, _summary_max_lag(times, beats, kernel_seconds), center=center)
    return _summary_from_band(band, times, beats, changes, kernel_seconds=kernel_seconds, window=window)


__all__ = ["SUMMARY_KEYS", "beat_lag_contrast", "beat_lag_contrast_from_band", "beats_without_changes",
           "boundary_alignment", "checkerboard_kernel", "chord_changes", "kernel_half_size", "linear_cka", "novelty",
           "novelty_from_band", "pooled_self_similarity", "self_similarity", "similarity_band", "ssm_band",
           "ssm_for_layers", "ssm_summary", "ssm_summary_from_tokens"]
