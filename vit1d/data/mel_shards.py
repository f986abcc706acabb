"""Log-mel shards for pretraining where audio cannot travel: a GPU machine that is bare (no soundfile, no datasets)
and takes at most 64 MiB of inputs (`gpu/pretrain.py`).

`write_mel_shards(source, folder)` decodes segments of every track of a source (`vit1d.data.sources.open_tracks`:
e.g. `data/real_music` from `make real-music`, which may hold the rendered corpus's train split too), computes their
log-mel frames with the feature extractor, and stores them as uint8 in one `mel_shards.npz` with `mel_shards.json`:

- a segment is `segment_seconds` (5 s, 156 frames) of one track; segments are spread evenly over each track, one per
  `spacing` seconds (at least 2 per track), `spacing` chosen so that everything fits in `max_bytes`: two crops of
  4 s drawn from two segments of a track whose starts lie 5-90 s apart are a positive pair, as in `PairSampling`;
- values are dB quantised over `DB_RANGE` (-100 to +40 dB, 0.55 dB a step; louder values are clipped and counted).
  Each segment is clamped to 80 dB below its own maximum by the extractor; the training script clamps each 4 s crop
  again, which differs from the extractor on a crop alone only in bins more than 80 dB below the segment's peak.

Unreadable and damaged tracks are skipped and counted, like the pair stream does.
"""

import json
import logging
import os
from collections import Counter
from pathlib import Path

import numpy as np

from ..audio import load_audio
from ..feature_extraction_vit1d import ViT1DFeatureExtractor
from .sources import TrackSource, readable_tracks

logger = logging.getLogger(__name__)

DB_RANGE = (-100.0, 40.0)
SHARD_FILE, META_FILE = "mel_shards.npz", "mel_shards.json"


def quantise(log_mel: np.ndarray) -> tuple[np.ndarray, int]:
    """uint8 codes of dB values over `DB_RANGE`, and how many values were clipped."""
    low, high = DB_RANGE
    clipped = int(np.count_nonzero((log_mel < low) | (log_mel > high)))
    codes = np.round((np.clip(log_mel, low, high) - low) / (high - low) * 255)
    return codes.astype(np.uint8), clipped


def dequantise(codes):
    """dB values of uint8 codes (numpy array or torch tensor)."""
    low, high = DB_RANGE
    return codes * ((high - low) / 255) + low


def segment_starts(duration: float, segment_seconds: float, spacing: float) -> np.ndarray:
    """Start times of a track's segments: evenly spread, one per `spacing` seconds, at least 2 (or 1 for a track
    shorter than two segments)."""
    span = duration - segment_seconds
    if span < 0:
        return np.zeros(0)
    count = max(2 if span > 0 else 1, int(duration // spacing))
    return np.linspace(0.0, span, num=count)


def write_mel_shards(source: TrackSource, folder: str | os.PathLike, feature_extractor: ViT1DFeatureExtractor | None
                     = None, max_bytes: int = 56 << 20, segment_seconds: float = 5.0, max_tracks: int | None = None
                     ) -> dict:
    """Write `mel_shards.npz` (`mel` uint8 `(segments, frames, mels)`, `track` int32, `start` float32 seconds) and
    `mel_shards.json` into `folder`; returns the summary written to the json."""
    extractor = feature_extractor or ViT1DFeatureExtractor()
    rate = extractor.sampling_rate
    frames = extractor.num_frames(int(round(segment_seconds * rate)))
    segment_bytes = frames * extractor.feature_size
    tracks, skipped = [], Counter()
    for name, audio, duration in readable_tracks(source, skipped, max_tracks):
        if duration < segment_seconds:
            skipped["too_short"] += 1
            continue
        tracks.append((name, audio, duration))
    if not tracks:
        raise ValueError(f"No track of {source.description} is readable and at least {segment_seconds:g} s long.")
    budget = max_bytes // segment_bytes
    # The widest spacing that fits: halve it until the segments no longer fit, then step back.
    spacing = max(duration for _, _, duration in tracks)
    count = sum(len(segment_starts(d, segment_seconds, spacing)) for _, _, d in tracks)
    if count > budget:
        raise ValueError(f"{len(tracks)} tracks need at least {count} segments ({count * segment_bytes >> 20} MiB), "
                         f"more than max_bytes allows: raise max_bytes or use fewer tracks (max_tracks).")
    while spacing > segment_seconds:
        trial = spacing / 1.25
        if sum(len(segment_starts(d, segment_seconds, trial)) for _, _, d in tracks) > budget:
            break
        spacing = trial
    mel, track_index, starts, clipped = [], [], [], 0
    samples = int(round(segment_seconds * rate))
    for index, (name, audio, duration) in enumerate(tracks):
        # One decode per track, sliced: segments cover much of a track, and seeking compressed audio costs more.
        try:
            whole = load_audio(audio, rate)
        except (ValueError, OSError, RuntimeError):
            skipped["unreadable"] += 1
            continue
        for start in segment_starts(duration, segment_seconds, spacing):
            first = int(round(start * rate))
            waveform = whole[first: first + samples]
            if len(waveform) < samples:
                waveform = np.pad(waveform, (0, samples - len(waveform)))
            if not np.isfinite(waveform).all():
                skipped["non_finite_segment"] += 1
                continue
            log_mel = extractor(waveform, sampling_rate=rate)["input_values"][0]
            codes, clip_count = quantise(log_mel)
            clipped += clip_count
            mel.append(codes)
            track_index.append(index)
            starts.append(start)
    if skipped:
        logger.warning(f"write_mel_shards skipped: {dict(skipped)}.")
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    np.savez(folder / SHARD_FILE, mel=np.stack(mel), track=np.asarray(track_index, np.int32),
             start=np.asarray(starts, np.float32))
    summary = {
        "source": source.description, "tracks": len(tracks), "segments": len(mel), "segment_seconds": segment_seconds,
        "segment_frames": frames, "spacing_seconds": round(spacing, 2), "db_range": list(DB_RANGE),
        "clipped_values": clipped, "skipped": dict(skipped), "bytes": (folder / SHARD_FILE).stat().st_size,
        "track_names": [name for name, _, _ in tracks], "feature_extractor": extractor.to_dict(),
    }
    (folder / META_FILE).write_text(json.dumps(summary, indent=1) + "\n")
    return summary


__all__ = ["DB_RANGE", "dequantise", "quantise", "segment_starts", "write_mel_shards"]
