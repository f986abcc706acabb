"""Per-mel-bin statistics of a training corpus, for the feature extractor's standardisation (`mel_mean`, `mel_std`).

The Audio Spectrogram Transformer standardises its input with its dataset's mean and SD; ViT-1D's extractor does it
per mel bin when it holds `mel_mean` and `mel_std`. `mel_statistics` estimates them from a sample of crops spread
evenly over the first `max_tracks` tracks of a source (the same reader as pretraining: folders, manifests, datasets),
so a long corpus costs a bounded number of decodes. Unreadable, damaged and empty tracks are skipped and counted.

    source = open_tracks("my_music/")
    extractor = with_mel_statistics(ViT1DFeatureExtractor(), *mel_statistics(source, ViT1DFeatureExtractor()))
"""

import logging
from collections import Counter
from dataclasses import dataclass

import numpy as np

from ..audio import load_audio
from ..feature_extraction_vit1d import ViT1DFeatureExtractor
from .sources import TrackSource, readable_tracks

logger = logging.getLogger(__name__)


@dataclass
class MelStatistics:
    """Per-bin mean and SD (dB) of the log-mel frames read, and what was read."""

    mean: list[float]
    std: list[float]
    tracks: int
    frames: int
    skipped: dict[str, int]


def mel_statistics(source: TrackSource, feature_extractor: ViT1DFeatureExtractor, max_tracks: int = 200,
                   crops_per_track: int = 8, crop_seconds: float = 4.0) -> MelStatistics:
    """Mean and SD of every mel bin over `crops_per_track` crops spread evenly over each of the first `max_tracks`
    tracks (the whole track when shorter than one crop), computed in dB by `feature_extractor` without any
    standardisation of its own. Accumulated in float64 (sums and sums of squares of a few million frames)."""
    plain = ViT1DFeatureExtractor.from_dict({**feature_extractor.to_dict(), "mel_mean": None, "mel_std": None})
    rate = plain.sampling_rate
    total = np.zeros(plain.feature_size)
    squares = np.zeros(plain.feature_size)
    frames, tracks, skipped = 0, 0, Counter()
    for _, audio, duration in readable_tracks(source, skipped, max_tracks):
        seconds = min(crop_seconds, duration)
        starts = np.linspace(0.0, duration - seconds, num=crops_per_track) if duration > seconds else [0.0]
        try:
            crops = [load_audio(audio, rate, offset=float(start), duration=seconds) for start in starts]
        except (ValueError, OSError, RuntimeError):
            skipped["unreadable"] += 1
            continue
        if not all(np.isfinite(crop).all() for crop in crops):
            skipped["non_finite"] += 1
            continue
        for log_mel in plain(crops, sampling_rate=rate, padding=False, return_attention_mask=False)["input_values"]:
            log_mel = np.asarray(log_mel, dtype=np.float64)
            total += log_mel.sum(axis=0)
            squares += np.square(log_mel).sum(axis=0)
            frames += len(log_mel)
        tracks += 1
    if skipped:
        logger.warning(f"mel_statistics skipped {skipped.total()} track(s): {dict(skipped)}.")
    if frames == 0:
        raise ValueError(f"No readable audio in the first {max_tracks} tracks of {source.description}: the mel "
                         "statistics need at least one readable track.")
    mean = total / frames
    std = np.sqrt(np.maximum(squares / frames - np.square(mean), 0.0))
    # A bin that never varies (a constant test tone's empty bins at the dB floor) would divide by zero.
    std = np.maximum(std, 1e-3)
    return MelStatistics([float(v) for v in mean], [float(v) for v in std], tracks, frames, dict(skipped))


def with_mel_statistics(feature_extractor: ViT1DFeatureExtractor, statistics: MelStatistics) -> ViT1DFeatureExtractor:
    """A copy of `feature_extractor` that standardises each mel bin with `statistics`."""
    return ViT1DFeatureExtractor.from_dict(
        {**feature_extractor.to_dict(), "mel_mean": statistics.mean, "mel_std": statistics.std})
