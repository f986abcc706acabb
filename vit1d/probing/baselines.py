"""Floors for the probe tables: classical methods that need no training, and the chance level of each task.

Every probe table shows, next to the encoder under test, what a method without any learned representation reaches on
the same tracks with the same metric code (`vit1d.probing.metrics`), track by track, so that the per-track scores
can go into the same paired bootstrap intervals as the probes':

- beat: spectral flux of the model's own log-mel, decoded by librosa's tempo-regular dynamic programming
  (`librosa.beat.beat_track`, Ellis 2007) -> `classical_beats`; the decoder alone, for any activation curve at the
  token rate (a probe's beat activation too) -> `tempo_regular_beats`;
- chord: `librosa.feature.chroma_cqt` matched against 24 binary major/minor triad templates, "N" below an energy
  gate -> `classical_chords`;
- key: the Krumhansl-Schmuckler algorithm, the track's mean chroma correlated with the 24 rotations of the
  Krumhansl-Kessler (1982) profiles -> `classical_key`;
- chance: the scores of predictors that ignore the audio (the train split's majority key / chord class / median tempo,
  uniform-random keys, random tag rankings) -> `chance_levels`.

`evaluate_classical` runs a classical method over a list of tracks (paths or waveforms) and returns per-track scores
and their aggregate, as the probes' `ProbeOutcome.per_track` / `metrics` do.

Every method works at 16 kHz (other rates are resampled with soxr, `vit1d.audio.resample`), the rate the encoder
reads, so that the floor sees the same band-limited audio as the model; and on the encoder's frame grid (hop 512 =
31.25 frames per second, frame `t` centred at `t * 512 / 16000` s, `ViT1DFeatureExtractor.frame_times`).
"""

import math
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

import librosa
import numpy as np
from scipy.ndimage import median_filter

from vit1d.audio import load_audio, resample
from vit1d.chords import NO_CHORD_CLASS, QUALITY_INTERVALS
from vit1d.probing.labels import (
    CHORD_CLASS_LABELS,
    NUM_KEY_CLASSES,
    chord_class,
    key_class,
    multi_hot,
    parse_chords,
    read_beats,
    read_chords,
    tag_vocabulary,
    token_period,
)
from vit1d.probing.metrics import (
    DEFAULT_TRIM_FIRST_SECONDS,
    aggregate,
    beat_metrics,
    chord_metrics,
    is_number,
    key_metrics,
    scorable_tags,
)

__all__ = [
    "CHORD_RELATIVE_GATE_DB", "CHORD_SMOOTHING_FRAMES", "CLASSICAL_METHODS", "ClassicalResult", "FRAME_RATE",
    "HOP_LENGTH", "KRUMHANSL_KESSLER_MAJOR", "KRUMHANSL_KESSLER_MINOR", "SAMPLING_RATE", "SILENCE_FLOOR_DB",
    "chance_levels", "chord_scores", "chroma_frames", "classical_beats", "classical_chords", "classical_key",
    "evaluate_classical", "expected_random_average_precision", "key_correlations", "onset_envelope",
    "tempo_regular_beats", "triad_templates",
]

SAMPLING_RATE = 16000  # the encoder's rate (ViT1DFeatureExtractor.sampling_rate)
HOP_LENGTH = 512  # the encoder's hop: one frame (= one token with one frame per patch) every 32 ms
FRAME_RATE = SAMPLING_RATE / HOP_LENGTH  # 31.25 frames per second

# Short names of the methods, for the rows of the tables.
CLASSICAL_METHODS = {
    "beat": "spectral flux + librosa beat_track (tempo-regular DP)",
    "chord": "chroma_cqt + maj/min triad templates",
    "key": "Krumhansl-Schmuckler (Krumhansl-Kessler profiles)",
}

# ----------------------------------------------------------------------------------------------------------------
# audio
# ----------------------------------------------------------------------------------------------------------------


def _at_16k(waveform, sampling_rate: int) -> np.ndarray:
    """A mono float32 waveform at 16 kHz (soxr HQ resampling when `sampling_rate` differs)."""
    y = np.asarray(waveform, dtype=np.float32)
    if y.ndim != 1:
        raise ValueError(f"Expected a mono 1-D waveform, got shape {y.shape} (mix it down first, e.g. "
                         "vit1d.load_audio(path, sampling_rate=16000)).")
    if y.size == 0:
        raise ValueError("Got an empty waveform.")
    if not np.isfinite(y).all():
        raise ValueError("The waveform holds NaN or infinite samples.")
    return resample(y, int(sampling_rate), SAMPLING_RATE).astype(np.float32, copy=False)


def _frame_times(num_frames: int) -> np.ndarray:
    """Centre of each of `num_frames` frames at hop 512 / 16 kHz: `ViT1DFeatureExtractor.frame_times` with one frame
    per token."""
    return np.arange(num_frames, dtype=np.float64) * HOP_LENGTH / SAMPLING_RATE


# ----------------------------------------------------------------------------------------------------------------
# beat
# ----------------------------------------------------------------------------------------------------------------


def onset_envelope(waveform, sampling_rate: int = SAMPLING_RATE) -> tuple[np.ndarray, np.ndarray]:
    """Spectral flux of the model's own input: the log-mel of `vit1d.ViT1DFeatureExtractor` (16 kHz, n_fft 1024,
    hop 512, 128 Slaney mel bins, dB with an 80 dB range) reduced by `vit1d.analysis.attention.spectral_flux` (the
    half-wave rectified frame-to-frame increase, summed over the bins).

    Why this and not `librosa.onset.onset_strength`: the two compute the same thing (librosa's default is the mean
    over 128 mel bins of the rectified dB increase at lag 1, no maximum filter; a sum instead of a mean changes only
    the scale, which `beat_track` divides away), but librosa's default spectrogram uses n_fft 2048, and its
    `center=True` delays the envelope by another `n_fft // (2 * hop_length)` frames (2 here) on top of the centred
    STFT. The feature extractor gives the very frames the encoder reads, on the probes' token grid, so the floor
    answers "does the encoder beat the spectrogram it is fed?" with no alignment question left; a probe's beat
    activation then goes through the same decoder (`tempo_regular_beats`) at the same rate.

    Returns:
        `(flux, times)`: float32 `(num_frames,)` (0 at the first frame, which has no predecessor) and the frame
        centres in seconds.
    """
    from vit1d.analysis.attention import spectral_flux
    from vit1d.feature_extraction_vit1d import ViT1DFeatureExtractor

    y = _at_16k(waveform, sampling_rate)
    extractor = ViT1DFeatureExtractor()
    if len(y) < extractor.n_fft // 2 + 1:  # the centred STFT's reflect padding needs this much audio
        y = np.pad(y, (0, extractor.n_fft // 2 + 1 - len(y)))
    log_mel = extractor(y, sampling_rate=SAMPLING_RATE, return_tensors="np")["input_values"][0]
    return spectral_flux(log_mel), extractor.frame_times(len(log_mel))


def tempo_regular_beats(activation: Sequence[float], token_times: Sequence[float], start_bpm: float = 120.0,
                        tightness: float = 100.0, trim: bool = True) -> np.ndarray:
    """Beat times from any beat or onset activation curve by librosa's tempo-regular dynamic programming
    (`librosa.beat.beat_track(onset_envelope=activation, ...)`, Ellis, "Beat tracking by dynamic programming", JNMR
    2007).

    librosa first estimates one global tempo from the autocorrelation of the curve (`librosa.feature.tempo`, a
    log-normal prior centred on `start_bpm`), then picks the beat sequence that maximises the activation at the
    beats minus `tightness` times the squared log-deviation of each inter-beat interval from that tempo; with
    `trim` (librosa's default) it drops the leading and trailing beats where the smoothed activation is under half
    its RMS over the beats, so that silence before the music gets no beats. Unlike peak picking
    (`metrics.decode_beats`), it keeps a regular pulse through weak or missing peaks and ignores off-beat ones, which
    is what a tempo-regular decoder adds on top of a probe's activation.

    Args:
        activation: `(num_tokens,)` curve, any scale (librosa divides it by its standard deviation); a probe's
            sigmoid output or an onset envelope.
        token_times: time of each value, seconds, sorted and evenly spaced (31.25 per second for the model's tokens,
            stitched tracks included; any other spacing works: the frame rate given to librosa is `1 / spacing`, so
            its tempo estimate stays in BPM).
        start_bpm, tightness, trim: `librosa.beat.beat_track`'s parameters, with its defaults.

    Returns:
        Beat times in seconds (`token_times` at the chosen tokens), sorted; empty for a flat curve or one without
        any positive value (librosa's rule).
    """
    activation = np.asarray(activation, dtype=np.float64).reshape(-1)
    token_times = np.asarray(token_times, dtype=np.float64).reshape(-1)
    if activation.shape != token_times.shape:
        raise ValueError(f"activation {activation.shape} and token_times {token_times.shape} differ in length.")
    if not np.isfinite(activation).all():
        raise ValueError("The activation holds NaN or infinite values.")
    if activation.size < 2 or np.ptp(activation) == 0 or not (activation > 0).any():
        return np.zeros(0, dtype=np.float64)  # a flat or all-zero curve has no beat to find
    rate = 1.0 / token_period(token_times)
    _, frames = librosa.beat.beat_track(onset_envelope=activation, sr=rate, hop_length=1, start_bpm=start_bpm,
                                        tightness=tightness, trim=trim, units="frames")
    return token_times[np.asarray(frames, dtype=np.int64)]


def classical_beats(waveform, sampling_rate: int = SAMPLING_RATE, **beat_track_options) -> np.ndarray:
    """The classical beat tracker: `tempo_regular_beats` (librosa's `beat_track`) on the spectral flux of the
    model's log-mel (`onset_envelope`). `beat_track_options` go to `tempo_regular_beats` (start_bpm, tightness,
    trim). Returns beat times in seconds."""
    flux, times = onset_envelope(waveform, sampling_rate)
    return tempo_regular_beats(flux, times, **beat_track_options)


# ----------------------------------------------------------------------------------------------------------------
# chroma: shared by chord and key
# ----------------------------------------------------------------------------------------------------------------

CHORD_RELATIVE_GATE_DB = 40.0  # a frame more than this far below the track's loudest frame is "no chord"
SILENCE_FLOOR_DB = -70.0  # dBFS: a frame quieter than this is "no chord" whatever the track's level
CHORD_SMOOTHING_FRAMES = 9  # median filter of the chroma over 9 frames = 0.29 s


def chroma_frames(waveform, sampling_rate: int = SAMPLING_RATE, relative_gate_db: float = CHORD_RELATIVE_GATE_DB,
                  silence_floor_db: float = SILENCE_FLOOR_DB) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Chroma and a silence gate on the model's frame grid.

    - Chroma: `librosa.feature.chroma_cqt(y, sr=16000, hop_length=512)` (librosa's defaults: a constant-Q transform
      of 7 octaves from C1, 3 bins per semitone, folded to 12 pitch classes, each frame scaled to a maximum of 1;
      the track's deviation from A440 is estimated first, `librosa.estimate_tuning`, as recordings are not always
      tuned to it).
      Constant-Q rather than STFT chroma because its log-spaced bins resolve the semitones of bass notes, which an
      STFT of a few thousand samples smears, and it is the chroma of librosa's own chord and key examples.
    - Gate: the RMS of each frame (`librosa.feature.rms`, frame 1024 = the model's n_fft, hop 512) in dBFS; a frame
      is silent when it lies more than `relative_gate_db` (40) below the loudest frame of the track, or under
      `silence_floor_db` (-70 dBFS). The relative gate makes it independent of the track's level; the absolute one
      keeps a track of near-silence (or dither) from being read as chords. Chroma of silent frames is noise that the
      frame normalisation blows up to full scale, so those frames have no chord and no say in the key.

    Returns:
        `(chroma, voiced, times)`: float32 `(12, num_frames)` (C, C#, ..., B), bool `(num_frames,)` (True where not
        silent), and the frame centres in seconds (`i * 512 / 16000`, as the model's tokens).
    """
    y = _at_16k(waveform, sampling_rate)
    rms = librosa.feature.rms(y=y, frame_length=1024, hop_length=HOP_LENGTH)[0]
    level = 20 * np.log10(np.maximum(rms, 1e-10))
    voiced = (level >= level.max() - relative_gate_db) & (level >= silence_floor_db)
    # librosa estimates the tuning (`librosa.estimate_tuning`) unless told; silence has none to estimate.
    tuning = None if voiced.any() else 0.0
    chroma = librosa.feature.chroma_cqt(y=y, sr=SAMPLING_RATE, hop_length=HOP_LENGTH, tuning=tuning)
    num_frames = min(chroma.shape[1], len(voiced))
    return chroma[:, :num_frames].astype(np.float32), voiced[:num_frames], _frame_times(num_frames)


# ----------------------------------------------------------------------------------------------------------------
# chord
# ----------------------------------------------------------------------------------------------------------------


def triad_templates() -> np.ndarray:
    """`(24, 12)` binary templates, one row per class of the 25-class vocabulary but N: rows 0-11 the major triads
    on C..B, rows 12-23 the minor triads (`vit1d.chords.QUALITY_INTERVALS` "maj" (0, 4, 7) and "min" (0, 3, 7)
    rotated to each root), the order of `CHORD_CLASS_LABELS`."""
    templates = np.zeros((24, 12), dtype=np.float64)
    for offset, quality in ((0, "maj"), (12, "min")):
        for root in range(12):
            templates[offset + root, [(root + i) % 12 for i in QUALITY_INTERVALS[quality]]] = 1.0
    return templates


def chord_scores(chroma: np.ndarray) -> np.ndarray:
    """`(24, num_frames)` cosine similarity of each chroma frame `(12, num_frames)` with each triad template (0 for
    an all-zero frame). All templates have three notes, so cosine ranks them as the dot product does."""
    chroma = np.asarray(chroma, dtype=np.float64)
    templates = triad_templates()
    dots = templates @ chroma
    norms = np.linalg.norm(templates, axis=1)[:, None] * np.linalg.norm(chroma, axis=0)[None, :]
    return np.divide(dots, norms, out=np.zeros_like(dots), where=norms > 0)


def classical_chords(waveform, sampling_rate: int, token_times: Sequence[float],
                     smoothing_frames: int = CHORD_SMOOTHING_FRAMES, relative_gate_db: float = CHORD_RELATIVE_GATE_DB,
                     silence_floor_db: float = SILENCE_FLOOR_DB) -> np.ndarray:
    """Chord class (0-11 major roots C..B, 12-23 minor roots, 24 = N; `CHORD_CLASS_LABELS`) at each token time, by
    template matching, the classical recogniser (Fujishima, ICMC 1999):

    1. chroma on the model's frame grid (`chroma_frames`: `librosa.feature.chroma_cqt`, hop 512);
    2. a median filter along time over `smoothing_frames` frames (9 = 0.29 s) per pitch class
       (`scipy.ndimage.median_filter`): it removes onset transients and passing tones shorter than half the window
       while keeping chord changes sharp, which averaging would blur; 1 disables it;
    3. the triad template with the highest cosine similarity (`chord_scores`; ties go to the lower class);
    4. N where the frame is silent (`chroma_frames`' gate: 40 dB below the track's loudest frame, or -70 dBFS).

    Each token takes the class of the frame nearest to its time (frame `i` at `i * 512 / 16000` s, so a token of the
    model's grid is exactly its frame). Score the result with `metrics.chord_metrics(pred, token_times, intervals,
    labels)`.

    Returns:
        int64 `(len(token_times),)`.
    """
    token_times = np.asarray(token_times, dtype=np.float64).reshape(-1)
    chroma, voiced, _ = chroma_frames(waveform, sampling_rate, relative_gate_db, silence_floor_db)
    if smoothing_frames > 1:
        chroma = median_filter(chroma, size=(1, int(smoothing_frames)), mode="nearest")
    frame_classes = np.argmax(chord_scores(chroma), axis=0)
    frame_classes = np.where(voiced, frame_classes, NO_CHORD_CLASS)
    frames = np.clip(np.round(token_times * FRAME_RATE).astype(np.int64), 0, len(frame_classes) - 1)
    return frame_classes[frames].astype(np.int64)


# ----------------------------------------------------------------------------------------------------------------
# key
# ----------------------------------------------------------------------------------------------------------------

# Krumhansl & Kessler (1982), "Tracing the dynamic changes in perceived tonal organization in a spatial representation
# of musical keys", Psychological Review 89(4), 334-368: the probe-tone ratings (1-7 scale) of the 12 pitch classes
# in a major and a minor key context, from the tonic up by semitones. These are the key profiles of the
# Krumhansl-Schmuckler key-finding algorithm (Krumhansl, "Cognitive Foundations of Musical Pitch", Oxford University
# Press, 1990, chapter 4), the same values as music21's `analysis.discrete.KrumhanslSchmuckler` weights.
KRUMHANSL_KESSLER_MAJOR = (6.35, 2.23, 3.48, 2.33, 4.38, 4.09, 2.52, 5.19, 2.39, 3.66, 2.29, 2.88)
KRUMHANSL_KESSLER_MINOR = (6.33, 2.68, 3.52, 5.38, 2.60, 3.53, 2.54, 4.75, 3.98, 2.69, 3.34, 3.17)


def key_correlations(pitch_class_distribution: Sequence[float]) -> np.ndarray:
    """Pearson correlation of a 12-value pitch-class distribution (C..B) with the Krumhansl-Kessler profile of each
    of the 24 keys (the major profile rotated to tonics C..B, then the minor one): `(24,)` in the order of
    `labels.KEY_LABELS`. NaN for a constant distribution (no key information)."""
    x = np.asarray(pitch_class_distribution, dtype=np.float64).reshape(12)
    profiles = np.array([np.roll(profile, tonic) for profile in (KRUMHANSL_KESSLER_MAJOR, KRUMHANSL_KESSLER_MINOR)
                         for tonic in range(12)])
    x = x - x.mean()
    profiles = profiles - profiles.mean(axis=1, keepdims=True)
    norm = np.linalg.norm(x) * np.linalg.norm(profiles, axis=1)
    with np.errstate(invalid="ignore", divide="ignore"):
        return profiles @ x / norm


def classical_key(waveform, sampling_rate: int = SAMPLING_RATE, relative_gate_db: float = CHORD_RELATIVE_GATE_DB,
                  silence_floor_db: float = SILENCE_FLOOR_DB) -> int:
    """Key class (0-11 major tonics C..B, 12-23 minor; `labels.key_vocabulary`) of a track by the
    Krumhansl-Schmuckler algorithm: the key whose Krumhansl-Kessler profile correlates best (`key_correlations`)
    with the track's pitch-class distribution.

    The distribution is the mean over the non-silent frames of `chroma_frames` (chroma_cqt, each frame scaled to a
    maximum of 1), which stands for the algorithm's note durations: every sounding frame counts the same whatever its
    loudness. Returns 24 (no key, scored as mir_eval's "X") for a track with no non-silent frame or a flat chroma.

    What it can and cannot do: it reads a pitch-class histogram only, so a tonal passage that dwells on its tonic
    triad and leading tone is found, while relative keys (C major / A minor share their notes) and dominant keys are
    its usual confusions (MIREX's weighted score gives those 0.3 and 0.5).
    """
    chroma, voiced, _ = chroma_frames(waveform, sampling_rate, relative_gate_db, silence_floor_db)
    if not voiced.any():
        return NUM_KEY_CLASSES
    correlations = key_correlations(chroma[:, voiced].mean(axis=1))
    if not np.isfinite(correlations).any():
        return NUM_KEY_CLASSES
    return int(np.nanargmax(correlations))


# ----------------------------------------------------------------------------------------------------------------
# running a method over tracks
# ----------------------------------------------------------------------------------------------------------------

# The per-track metrics whose aggregate is a weighted mean over tracks, per task.
_TRACK_WEIGHT = {"beat": None, "key": None, "chord": "duration"}


@dataclass
class ClassicalResult:
    """Scores of a classical method (or a chance predictor) over a split, in the layout of the probes' outcome.

    Attributes:
        metrics: the aggregate (`metrics.aggregate` of the per-track dicts: the mean over tracks, weighted by
            duration for chords, MIREX's convention; for key the same as `metrics.key_metrics` over the split).
        per_track: `{metric: [score of each track]}` in the order of the tracks, for bootstrap intervals (every
            numeric entry of the per-track metric dicts; NaN where a track has no value).
        track_weights: `[weight of each track]` when the aggregate is a weighted mean (chord durations), else None.
        predictions: per track: beat times (s), per-token chord classes, or the key class.
        token_times: chord only: the token times each track was predicted at.
    """

    metrics: dict[str, float]
    per_track: dict[str, list[float]]
    track_weights: list[float] | None = None
    predictions: list = field(default_factory=list)
    token_times: list = field(default_factory=list)


def _collect(task: str, scores: Sequence[Mapping[str, float]], predictions: list,
             token_times: list | None = None) -> ClassicalResult:
    weight = _TRACK_WEIGHT[task]
    names = [name for name in dict.fromkeys(n for s in scores for n in s)
             if any(is_number(s.get(name)) for s in scores)]  # leaves text entries out, as aggregate does
    per_track = {name: [float(s[name]) if is_number(s.get(name)) else math.nan for s in scores] for name in names}
    weights = [float(s[weight]) for s in scores] if weight else None
    return ClassicalResult(aggregate(scores, weight=weight), per_track, weights, predictions, token_times or [])


def _read_track(track, sampling_rate: int) -> np.ndarray:
    """A track at 16 kHz: a path (read by `vit1d.load_audio(path, sampling_rate=16000)`), a `(waveform, rate)`
    pair, or a waveform at `sampling_rate`."""
    if isinstance(track, (str, os.PathLike)):
        return load_audio(track, sampling_rate=SAMPLING_RATE)
    if isinstance(track, tuple) and len(track) == 2 and np.ndim(track[1]) == 0:
        return _at_16k(track[0], track[1])
    return _at_16k(track, sampling_rate)


def _chord_reference(reference) -> tuple[np.ndarray, list[str]]:
    if isinstance(reference, Mapping):
        return read_chords(reference)
    if isinstance(reference, (str, os.PathLike)):
        return parse_chords(reference)
    intervals, chord_labels = reference
    return np.asarray(intervals, dtype=np.float64).reshape(-1, 2), [str(label) for label in chord_labels]


def evaluate_classical(task: str, tracks: Sequence, references: Sequence, sampling_rate: int = SAMPLING_RATE,
                       trim_first_seconds: float = DEFAULT_TRIM_FIRST_SECONDS, **method_options) -> ClassicalResult:
    """Run the classical method of `task` ("beat", "chord" or "key") over tracks and score each with the probes'
    metric function.

    Args:
        tracks: per track, an audio path (read with `vit1d.load_audio(path, sampling_rate=16000)`), a `(waveform,
            sampling_rate)` pair, or a mono waveform at `sampling_rate`.
        references: per track, as the probes' `TaskData.references`: beat times (array or `.beats` path,
            `labels.read_beats`); `(intervals, labels)` for chords (or a `.lab` path, or a dataset row for
            `labels.read_chords`); a key string or class index.
        trim_first_seconds: beat only, passed to `metrics.beat_metrics` (0.0, the probes' default).
        method_options: passed to `classical_beats` / `classical_chords` / `classical_key`.

    Scoring: beat: `metrics.beat_metrics` of `classical_beats`; chord: `metrics.chord_metrics` of
    `classical_chords` at the model's token grid of the track (`i * 512 / 16000` s for `1 + samples // 512` tokens,
    what a probe stitched over the whole track predicts at); key: `metrics.key_metrics` of `classical_key` per track.
    """
    if task not in _TRACK_WEIGHT:
        raise ValueError(f"No classical method for task {task!r}: use beat, chord or key (tagging has chance only).")
    if len(tracks) != len(references):
        raise ValueError(f"{len(tracks)} tracks but {len(references)} references.")
    if not tracks:
        raise ValueError("evaluate_classical needs at least one track.")
    scores, predictions, grids = [], [], []
    for track, reference in zip(tracks, references):
        y = _read_track(track, sampling_rate)
        if task == "beat":
            beats = classical_beats(y, SAMPLING_RATE, **method_options)
            scores.append(beat_metrics(beats, read_beats(reference), trim_first_seconds))
            predictions.append(beats)
        elif task == "chord":
            times = _frame_times(1 + len(y) // HOP_LENGTH)
            classes = classical_chords(y, SAMPLING_RATE, times, **method_options)
            scores.append(chord_metrics(classes, times, *_chord_reference(reference)))
            predictions.append(classes)
            grids.append(times)
        else:
            key = classical_key(y, SAMPLING_RATE, **method_options)
            scores.append(key_metrics([key], [reference]))
            predictions.append(key)
    return _collect(task, scores, predictions, grids)


# ----------------------------------------------------------------------------------------------------------------
# chance
# ----------------------------------------------------------------------------------------------------------------


def expected_random_average_precision(num_positives: int, num_items: int) -> float:
    """Exact expectation of the average precision of a uniformly random ranking of `num_items` items of which
    `num_positives` are positive (Bestgen, "Exact expected average precision of the random baseline for system
    evaluation", Prague Bulletin of Mathematical Linguistics 103, 2015):

        E[AP] = (R - 1) / (N - 1) + H_N (N - R) / (N (N - 1)),   H_N = 1 + 1/2 + ... + 1/N.

    A positive at rank k has on average (k - 1)(R - 1)/(N - 1) positives above it, so its expected precision is
    (1 + (k - 1)(R - 1)/(N - 1)) / k; averaging over k = 1..N gives the formula. It tends to the positive rate R / N
    for large N but exceeds it on small splits (one positive among 10 tracks: 0.293, not 0.1), which is why it, and
    not R / N, is the chance level reported as `mAP`. This is scikit-learn's `average_precision_score` for untied
    scores (precision at each positive), averaged over the N! rankings.
    """
    n, r = int(num_items), int(num_positives)
    if not 0 < r <= n:
        raise ValueError(f"Need 0 < num_positives <= num_items, got {r} and {n}.")
    if n == 1:
        return 1.0
    harmonic = float(np.sum(1.0 / np.arange(1, n + 1)))
    return (r - 1) / (n - 1) + harmonic * (n - r) / (n * (n - 1))


def _key_chance(train_references, test_references) -> dict[str, ClassicalResult]:
    train_classes = [int(k) if isinstance(k, (int, np.integer)) else key_class(k, include_none=True)
                     for k in train_references]
    counts = np.bincount(train_classes, minlength=NUM_KEY_CLASSES + 1)
    majority = int(np.argmax(counts))  # ties: the lowest class index
    majority_scores = [key_metrics([majority], [reference]) for reference in test_references]
    # Uniform over the 24 keys: the exact expectation of each track's scores is their mean over the 24 guesses.
    uniform_scores = [key_metrics(list(range(NUM_KEY_CLASSES)), [reference] * NUM_KEY_CLASSES)
                      for reference in test_references]
    majority_result = _collect("key", majority_scores, [majority] * len(test_references))
    uniform_result = _collect("key", uniform_scores, [])
    return {"majority": majority_result, "uniform": uniform_result}


def _chord_chance(train_references, test_references, token_times) -> dict[str, ClassicalResult]:
    durations = np.zeros(len(CHORD_CLASS_LABELS))
    for reference in train_references:
        intervals, chord_labels = _chord_reference(reference)
        for (start, end), label in zip(intervals, chord_labels):
            durations[chord_class(label)] += max(float(end) - float(start), 0.0)
    if durations.sum() <= 0:
        raise ValueError("The train references hold no chord segment of positive duration.")
    majority = int(np.argmax(durations))  # ties: the lowest class index
    scores, predictions, grids = [], [], []
    for index, reference in enumerate(test_references):
        intervals, chord_labels = _chord_reference(reference)
        if token_times is not None:
            times = np.asarray(token_times[index], dtype=np.float64).reshape(-1)
        else:  # the model's token grid over the reference span, from 0 s
            times = _frame_times(1 + int(math.floor(float(np.max(intervals)) * FRAME_RATE + 1e-9)))
        classes = np.full(len(times), majority, dtype=np.int64)
        scores.append(chord_metrics(classes, times, intervals, chord_labels))
        predictions.append(classes)
        grids.append(times)
    return {"majority": _collect("chord", scores, predictions, grids)}


def _track_tempo(beats: np.ndarray) -> float:
    intervals = np.diff(np.sort(beats))
    intervals = intervals[intervals > 0]
    return 60.0 / float(np.median(intervals)) if len(intervals) else math.nan


def _beat_chance(train_references, test_references, durations, trim_first_seconds) -> dict[str, ClassicalResult]:
    tempi = np.array([_track_tempo(read_beats(reference)) for reference in train_references])
    tempi = tempi[np.isfinite(tempi)]
    if not len(tempi):
        raise ValueError("No train track has two beats: no tempo to build the metronome from.")
    tempo = float(np.median(tempi))
    period = 60.0 / tempo
    scores, predictions = [], []
    for index, reference in enumerate(test_references):
        ref = read_beats(reference)
        end = float(durations[index]) if durations is not None else (float(ref.max()) if len(ref) else 0.0)
        beats = np.arange(0.0, end + 1e-9, period)
        scores.append(beat_metrics(beats, ref, trim_first_seconds))
        predictions.append(beats)
    result = _collect("beat", scores, predictions)
    result.metrics["tempo_bpm"] = tempo
    return {"metronome": result}


def _tagging_chance(train_references, test_references) -> dict[str, ClassicalResult]:
    vocabulary = tag_vocabulary(train_references)
    targets = np.stack([multi_hot(tags, vocabulary) for tags in test_references]) if len(vocabulary) else \
        np.zeros((len(test_references), 0))
    keep = scorable_tags(targets) if targets.size else np.zeros(0, dtype=bool)
    positives = (targets >= 0.5).sum(axis=0)
    num_tracks = len(test_references)
    expected = [expected_random_average_precision(int(positives[k]), num_tracks) for k in np.flatnonzero(keep)]
    rates = [positives[k] / num_tracks for k in np.flatnonzero(keep)]
    metrics = {
        "mAP": float(np.mean(expected)) if expected else math.nan,
        "mAP_positive_rate": float(np.mean(rates)) if rates else math.nan,
        "ROC-AUC": 0.5 if expected else math.nan,
        "num_tags_scored": int(keep.sum()),
        "num_tags_excluded": int((~keep).sum()),
        "num_tracks": num_tracks,
    }
    return {"random": ClassicalResult(metrics, {}, None, [])}


def chance_levels(task: str, train_references: Sequence, test_references: Sequence, *,
                  token_times: Sequence[Sequence[float]] | None = None, durations: Sequence[float] | None = None,
                  trim_first_seconds: float = DEFAULT_TRIM_FIRST_SECONDS) -> dict[str, ClassicalResult]:
    """Scores of predictors that never look at the audio, scored on `test_references` with the probes' metrics.

    References are in the probes' format (`TaskData.references`): tag lists, key strings (or class indices), beat
    times, `(intervals, labels)` chords. Returns `{predictor: ClassicalResult}`, with per-track scores wherever the
    metric is a mean over tracks (bootstrap intervals), per task:

    - key: `majority`: always the train split's most frequent key (ties: the lowest class), scored per track by
      `metrics.key_metrics`; `uniform`: a key drawn uniformly from the 24, its exact expected scores per track (the
      mean of the 24 guesses' scores: accuracy 1/24 and weighted score (1 + 0.5 + 0.3 + 0.2) / 24 = 1/12 for a track
      with a key, 0 for a "no key" track).
    - chord: `majority`: every token gets the class (25-class, `chord_class`) that covers the most annotated time in
      the train split (ties: the lowest class), scored per track by `metrics.chord_metrics` at `token_times[i]` (the
      probe's token grid of test track `i`), by default the model's grid `k * 0.032` s from 0 over the reference span;
      aggregated weighted by duration.
    - beat: `metronome`: beats every 60 / T seconds from 0 s to the end of the track (`durations[i]`, by default the
      last reference beat), T the median over train tracks of each track's tempo (60 / its median inter-beat
      interval), scored per track by `metrics.beat_metrics` with `trim_first_seconds`. A metronome keeps the
      typical tempo but knows no phase or tempo of the test track: what a tempo prior alone gives. `metrics` also
      holds `tempo_bpm`.
    - tagging: `random`: scores drawn at random (any continuous distribution: only the ranking matters). Its exact
      expected macro mAP is the mean over the scorable tags (those with a positive and a negative test track, as
      `metrics.tagging_metrics` scores) of `expected_random_average_precision`; `mAP_positive_rate` is the common
      approximation, the mean positive rate (the limit for many tracks); ROC-AUC is 0.5. Macro mAP is not a mean over
      tracks, so there are no per-track scores. Tags are the train split's vocabulary, as the probe's.
    """
    if len(test_references) == 0:
        raise ValueError("chance_levels needs at least one test track.")
    if task == "key":
        return _key_chance(train_references, test_references)
    if task == "chord":
        if token_times is not None and len(token_times) != len(test_references):
            raise ValueError(f"{len(token_times)} token grids but {len(test_references)} test tracks.")
        return _chord_chance(train_references, test_references, token_times)
    if task == "beat":
        if durations is not None and len(durations) != len(test_references):
            raise ValueError(f"{len(durations)} durations but {len(test_references)} test tracks.")
        return _beat_chance(train_references, test_references, durations, trim_first_seconds)
    if task == "tagging":
        return _tagging_chance(train_references, test_references)
    raise ValueError(f"Unknown task {task!r}: use tagging, key, beat or chord.")
