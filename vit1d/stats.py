"""Confidence intervals and multiple-comparison control for results over test tracks and seeds.

A score of the benchmark is a mean over test tracks, and, where seeds vary (probe seeds, random-initialisation seeds,
pretraining seeds), over seeds. Both vary: tracks because the test set is a sample of music, seeds because training
is. `bootstrap_effect` resamples both levels (a two-level bootstrap): tracks with replacement, with the same draw for
every arm scored on the same tracks (a paired design: per-track differences cancel what the tracks have in common),
and each arm's seeds with replacement. With one seed it is the ordinary paired bootstrap over tracks
(`scipy.stats.bootstrap(..., paired=True)` gives the same percentile interval; tested).

The p-value of an effect is the one the percentile interval inverts to (the smallest two-sided level at which the
interval leaves out 0), so the interval and the test never disagree. Holm's step-down correction
(`holm_adjust`) controls the family-wise error over the claims of one report; it is a few lines, written here rather
than adding statsmodels (`multipletests(method="holm")`, against which it is tested on known values) as a
dependency.
"""

from collections.abc import Callable, Mapping
from dataclasses import asdict, dataclass

import numpy as np
from scipy.stats import norm


@dataclass(frozen=True)
class Arm:
    """The scores of one arm (a model, a floor, a layer, ...) on a set of tracks.

    Args:
        scores: `(seeds, tracks)` per-track scores (a 1-D array is one seed). NaN marks a track without a score
            (e.g. no reference onsets); such tracks are left out of every mean.
        tracks: the name of the track set the columns belong to. Arms with the same name must score the same tracks in
            the same order: they are resampled together (paired).
        weights: `(tracks,)` weights of a weighted mean (e.g. durations: MIREX's duration-weighted chord accuracy);
            None: every track counts the same.
    """

    scores: np.ndarray
    tracks: str = "test"
    weights: np.ndarray | None = None

    def matrix(self) -> np.ndarray:
        scores = np.asarray(self.scores, dtype=np.float64)
        return scores[None] if scores.ndim == 1 else scores


@dataclass(frozen=True)
class Interval:
    """An estimate with its bootstrap confidence interval and the p-value of "the effect is 0"."""

    value: float
    low: float
    high: float
    p_value: float
    num_tracks: dict[str, int]
    num_seeds: dict[str, int]
    confidence: float = 0.95

    def to_dict(self) -> dict:
        return asdict(self)

    def entry(self, p_value: bool = False) -> dict:
        """The interval as results files store it (`ci95`): value, low, high, num_tracks, num_seeds (a number for
        one arm, `{arm: seeds}` for an effect of several), and the p-value when asked."""
        seeds = self.num_seeds
        out = {"value": self.value, "low": self.low, "high": self.high, "num_tracks": max(self.num_tracks.values()),
               "num_seeds": next(iter(seeds.values())) if len(seeds) == 1 else dict(seeds)}
        if p_value:
            out["p_value"] = self.p_value
        return out


def _percentile_interval(value: float, draws: np.ndarray, confidence: float, num_tracks: dict, num_seeds: dict
                         ) -> Interval:
    """The percentile interval of the finite `draws` around `value`, and the two-sided p-value it inverts to:
    `2 * min(P*(effect <= 0), P*(effect >= 0))`, with the usual +1 so that it is never 0."""
    draws = draws[np.isfinite(draws)]
    if len(draws) == 0:
        raise ValueError("The effect is not finite on any resample (arms without scores?).")
    alpha = 1.0 - confidence
    low, high = np.quantile(draws, [alpha / 2, 1 - alpha / 2])
    tail = min(np.sum(draws <= 0), np.sum(draws >= 0))
    p_value = min(1.0, 2.0 * (tail + 1) / (len(draws) + 1))
    return Interval(value, float(low), float(high), float(p_value), num_tracks, num_seeds, confidence)


def _means(matrix: np.ndarray, seed_index: np.ndarray, track_index: np.ndarray,
           weights: np.ndarray | None = None) -> np.ndarray:
    """(Weighted) mean over the resampled seeds and tracks of a `(seeds, tracks)` matrix for each of `B` resamples:
    `seed_index (B, S)` and `track_index (B, T)` -> `(B,)`. NaN scores are left out of the mean."""
    picked = matrix[seed_index[:, :, None], track_index[:, None, :]]  # (B, S, T)
    weight = np.ones(matrix.shape[1]) if weights is None else np.asarray(weights, dtype=np.float64)
    weight = np.broadcast_to(weight[track_index][:, None, :], picked.shape) * np.isfinite(picked)
    with np.errstate(invalid="ignore", divide="ignore"):  # a resample of only NaN tracks: NaN, dropped by the caller
        return np.nansum(picked * weight, axis=(1, 2)) / weight.sum(axis=(1, 2))


def arm_mean(arm: Arm) -> float:
    """The arm's (weighted) mean score over its seeds and tracks, NaN scores left out."""
    matrix = arm.matrix()
    whole = np.arange(matrix.shape[1])[None]
    return float(_means(matrix, np.arange(len(matrix))[None], whole, arm.weights)[0])


def bootstrap_effect(
    arms: Mapping[str, Arm],
    effect: Callable[[Mapping[str, float]], float],
    n_resamples: int = 10000,
    confidence: float = 0.95,
    seed: int = 0,
) -> Interval:
    """The estimate, percentile confidence interval and p-value of `effect(means)`, where `means[name]` is the mean
    score of arm `name` over its seeds and tracks (e.g. `lambda m: m["trained"] - m["random"]`).

    Each resample draws, for every track set, one set of track indices shared by the arms on it, and for every arm
    its own seed indices. The p-value is two-sided: `2 * min(P*(effect <= 0), P*(effect >= 0))` over the resamples,
    with the usual +1 so that it is never 0.
    """
    if not arms:
        raise ValueError("bootstrap_effect needs at least one arm.")
    matrices = {name: arm.matrix() for name, arm in arms.items()}
    sizes: dict[str, int] = {}
    for name, arm in arms.items():
        count = matrices[name].shape[1]
        if sizes.setdefault(arm.tracks, count) != count:
            raise ValueError(f"Arms on the track set {arm.tracks!r} score different numbers of tracks "
                             f"({sizes[arm.tracks]} and {count}, arm {name!r}): paired arms need the same tracks.")
    if min(sizes.values()) < 2:
        raise ValueError(f"A bootstrap needs at least 2 tracks per track set, got {sizes}.")
    rng = np.random.default_rng(seed)
    track_draws = {tracks: rng.integers(0, count, size=(n_resamples, count)) for tracks, count in sizes.items()}
    resampled = {}
    for name, matrix in matrices.items():
        seed_draw = rng.integers(0, len(matrix), size=(n_resamples, len(matrix)))
        resampled[name] = _means(matrix, seed_draw, track_draws[arms[name].tracks], arms[name].weights)
    observed = {name: arm_mean(arm) for name, arm in arms.items()}
    value = float(effect(observed))
    draws = np.array([effect({name: float(resampled[name][b]) for name in arms}) for b in range(n_resamples)])
    return _percentile_interval(value, draws, confidence,
                                {name: int(np.isfinite(m).any(axis=0).sum()) for name, m in matrices.items()},
                                {name: len(m) for name, m in matrices.items()})


def set_metric_interval(metric: Callable[[int, np.ndarray], np.ndarray], num_tracks: int, num_seeds: int = 1,
                        n_resamples: int = 2000, confidence: float = 0.95, seed: int = 0) -> Interval:
    """The interval of a metric that is not a mean over tracks (macro mAP: an average precision per tag, computed
    over the tracks), by the same two-level resampling. A resample of tracks with replacement is a vector of
    multiplicities, so `metric(seed, weights)` takes `weights (B, tracks)` (how often each track was drawn in each of
    `B` resamples; all ones is the split itself) and returns the metric of each resample, `(B,)`, for the probe of
    seed `seed`; each resample averages it over resampled seeds."""
    if num_tracks < 2:
        raise ValueError(f"A bootstrap needs at least 2 tracks, got {num_tracks}.")
    rng = np.random.default_rng(seed)
    draws = rng.integers(0, num_tracks, size=(n_resamples, num_tracks))
    weights = np.zeros((n_resamples, num_tracks))
    np.add.at(weights, (np.arange(n_resamples)[:, None], draws), 1.0)  # (B, T) multiplicities
    per_seed = np.stack([np.asarray(metric(s, weights), dtype=np.float64) for s in range(num_seeds)])  # (S, B)
    seed_draws = rng.integers(0, num_seeds, size=(n_resamples, num_seeds))
    resampled = per_seed[seed_draws, np.arange(n_resamples)[:, None]].mean(axis=1)  # (B,)
    ones = np.ones((1, num_tracks))
    value = float(np.mean([np.asarray(metric(s, ones))[0] for s in range(num_seeds)]))
    return _percentile_interval(value, resampled, confidence, {"metric": num_tracks}, {"metric": num_seeds})


def mean_interval(scores, tracks: str = "test", weights=None, **kwargs) -> Interval:
    """The (weighted) mean of one arm's scores (`(seeds, tracks)` or `(tracks,)`) with its bootstrap interval."""
    return bootstrap_effect({"arm": Arm(np.asarray(scores), tracks, weights)}, lambda means: means["arm"], **kwargs)


def difference_interval(scores, baseline, tracks: str = "test", **kwargs) -> Interval:
    """`mean(scores) - mean(baseline)` over the same tracks (paired), with its interval and p-value."""
    arms = {"arm": Arm(np.asarray(scores), tracks), "baseline": Arm(np.asarray(baseline), tracks)}
    return bootstrap_effect(arms, lambda means: means["arm"] - means["baseline"], **kwargs)


def holm_adjust(p_values) -> np.ndarray:
    """Holm's step-down adjusted p-values, in the input order: sorted ascending, the i-th smallest (from 0) is
    multiplied by `m - i`, made non-decreasing, capped at 1. Reject where the adjusted value is below alpha."""
    p = np.asarray(p_values, dtype=np.float64)
    order = np.argsort(p, kind="stable")
    scaled = np.minimum(1.0, p[order] * (len(p) - np.arange(len(p))))
    adjusted = np.empty_like(p)
    adjusted[order] = np.maximum.accumulate(scaled)
    return adjusted


def minimum_detectable_difference(paired_differences, alpha: float = 0.05, power: float = 0.8) -> float:
    """The smallest true mean difference a paired comparison on these tracks detects with probability `power` at
    two-sided level `alpha` (normal approximation: `(z_{1 - alpha/2} + z_power) * SD / sqrt(n)`), from the per-track
    differences of a pilot run. What a benchmark's size can resolve, stated before reading any result."""
    d = np.asarray(paired_differences, dtype=np.float64)
    d = d[np.isfinite(d)]
    if len(d) < 2:
        return float("nan")
    return float((norm.ppf(1 - alpha / 2) + norm.ppf(power)) * d.std(ddof=1) / np.sqrt(len(d)))


def format_metric(value) -> str:
    """Three decimals, or 'n/a' for a missing or NaN metric."""
    return "n/a" if value is None or value != value else f"{value:.3f}"


__all__ = ["Arm", "Interval", "arm_mean", "bootstrap_effect", "difference_interval", "format_metric", "holm_adjust",
           "mean_interval", "minimum_detectable_difference", "set_metric_interval"]
