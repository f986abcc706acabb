"""Positive pairs for contrastive pretraining, as the paper's group samples them: two crops of the same track whose
centres lie a few seconds apart, silent crops rejected, several pairs per track.

The functions take a `decode(start_seconds, seconds) -> waveform` callable instead of audio, so that a stream decodes
only the crops it uses (`vit1d.load_audio(path, offset=..., duration=...)` seeks) and the rules can be tested
without files.
"""

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np


@dataclass
class PairSampling:
    """Rules of positive-pair sampling (defaults: the paper group's code, see shared notes).

    Args:
        crop_seconds: length of each crop (4 s, 126 frames).
        min_distance_seconds / max_distance_seconds: range of the distance between the two crop centres.
        pairs_per_track: pairs drawn from one track (fewer when crops keep being silent).
        silence_db: a crop whose RMS lies more than this many dB below the track's reference RMS is silent.
        probe_crops: crops, evenly spread over the track, whose pooled RMS is the track's reference level: an
            estimate that avoids decoding whole tracks.
        attempts_per_pair: candidate pairs tried per pair before the track gives up.
        short_tracks: tracks too short for `min_distance_seconds` (shorter than crop + min distance):
            `"skip"` (default) draws no pair from them: their two crops would overlap or nearly so, a positive pair
            that is almost a copy (the paper's pairs are 5-90 s apart);
            `"widest"` takes the two crops as far apart as the track allows (they may overlap), for corpora of short
            clips. Tracks shorter than one crop are always skipped.
    """

    crop_seconds: float = 4.0
    min_distance_seconds: float = 5.0
    max_distance_seconds: float = 90.0
    pairs_per_track: int = 10
    silence_db: float = 7.5
    probe_crops: int = 8
    attempts_per_pair: int = 4
    short_tracks: str = "skip"

    def __post_init__(self):
        if not 0 <= self.min_distance_seconds <= self.max_distance_seconds:
            raise ValueError("Need 0 <= min_distance_seconds <= max_distance_seconds.")
        if self.short_tracks not in ("widest", "skip"):
            raise ValueError(f"short_tracks must be 'widest' or 'skip', got {self.short_tracks!r}.")


def holds_pairs(duration: float, rules: PairSampling) -> bool:
    """Whether a track of `duration` seconds can give pairs under `rules.short_tracks`."""
    span = duration - rules.crop_seconds  # the range the first crop's start can take
    return span >= (rules.min_distance_seconds if rules.short_tracks == "skip" else 0.0)


def draw_pair_starts(duration: float, rng: np.random.Generator, rules: PairSampling) -> tuple[float, float] | None:
    """Start times (s) of two crops whose centres are `min..max_distance_seconds` apart, in random order, or None
    when the track cannot hold them under `rules.short_tracks`."""
    if not holds_pairs(duration, rules):
        return None
    span = duration - rules.crop_seconds
    if span < rules.min_distance_seconds:
        distance = span
    else:
        distance = rng.uniform(rules.min_distance_seconds, min(rules.max_distance_seconds, span))
    first = rng.uniform(0.0, span - distance)
    starts = (first, first + distance)
    return starts if rng.random() < 0.5 else starts[::-1]


def rms_db(waveform: np.ndarray) -> float:
    power = float(np.mean(np.square(waveform, dtype=np.float64))) if len(waveform) else 0.0
    return 10.0 * np.log10(max(power, 1e-20))


def reference_db(decode: Callable[[float, float], np.ndarray], duration: float, rules: PairSampling) -> float:
    """The track's reference level: the RMS (dB) of `rules.probe_crops` crops spread evenly over it, pooled."""
    length = min(rules.crop_seconds, duration)
    starts = np.linspace(0.0, duration - length, num=max(1, rules.probe_crops))
    power = np.mean([10 ** (rms_db(decode(float(start), length)) / 10) for start in starts])
    return 10.0 * np.log10(max(power, 1e-20))


@dataclass
class TrackPairs:
    pairs: list[tuple[float, float, np.ndarray, np.ndarray]]  # (start_a, start_b, crop_a, crop_b)
    silent_crops: int
    skipped_short: bool


def sample_pairs(
    decode: Callable[[float, float], np.ndarray],
    duration: float,
    rng: np.random.Generator,
    rules: PairSampling,
    reference: float | None = None,
) -> TrackPairs:
    """Draw up to `rules.pairs_per_track` positive pairs from one track, rejecting pairs with a silent crop.

    `reference` is the track's level (`reference_db`) when the caller has measured it already."""
    if not holds_pairs(duration, rules):
        return TrackPairs([], 0, skipped_short=True)
    threshold = (reference_db(decode, duration, rules) if reference is None else reference) - rules.silence_db
    pairs, silent = [], 0
    for _ in range(rules.pairs_per_track * rules.attempts_per_pair):
        if len(pairs) == rules.pairs_per_track:
            break
        start_a, start_b = draw_pair_starts(duration, rng, rules)
        crop_a, crop_b = decode(start_a, rules.crop_seconds), decode(start_b, rules.crop_seconds)
        quiet = [rms_db(crop) < threshold for crop in (crop_a, crop_b)]
        if any(quiet):
            silent += sum(quiet)
            continue
        pairs.append((start_a, start_b, crop_a, crop_b))
    return TrackPairs(pairs, silent, skipped_short=False)
