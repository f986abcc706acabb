"""The four probing tasks on cached embeddings: features, targets, training, track-level predictions and metrics.

Global tasks (tagging, key) train on 4 s windows labelled with their track's label and predict a track by the mean
of its windows' logits. Local tasks (beat, chord) train on the sequence tokens stitched over whole tracks (31.25 per
second) and decode the track-level activation: peak picking for beats (threshold chosen on the validation split),
the argmax per token for chords.

Representations (the paper's): `class` (class token), `sequence_mean` (mean of the sequence tokens), `average`
(mean of the class and sequence tokens), `sequence` (every sequence token, local tasks), each at any hidden-state layer
0..L or several layers concatenated (e.g. 3,6,9,12).
"""

from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
import torch

from ..embedding import pool_windows
from ..task_info import GLOBAL_TASKS, HEADLINE, LOCAL_TASKS, TASKS  # noqa: F401 (re-exported)
from .extraction import TrackEmbeddings
from .labels import (
    CHORD_CLASS_LABELS,
    beat_targets,
    chord_targets,
    key_class,
    key_vocabulary,
    multi_hot,
    tag_vocabulary,
    to_mir_eval_key,
)
from .metrics import (
    DEFAULT_BEAT_THRESHOLD,
    aggregate,
    beat_metrics,
    chord_metrics,
    decode_beats,
    key_metrics,
    select_beat_threshold,
    tagging_metrics,
)
from .probe import LinearProbe, ProbeConfig, train_probe

GLOBAL_REPRESENTATIONS = ("class", "sequence_mean", "average")
# The score early stopping maximises on the validation split, and the headline test metric, per task.
VALIDATION_METRIC = HEADLINE


@dataclass(frozen=True)
class Representation:
    kind: str
    layers: tuple[int, ...]

    def __post_init__(self):
        if self.kind not in GLOBAL_REPRESENTATIONS + ("sequence",):
            raise ValueError(f"Unknown representation {self.kind!r}: use class, sequence_mean, average or sequence.")
        if not self.layers:
            raise ValueError("A representation needs at least one layer.")

    @property
    def name(self) -> str:
        return f"{self.kind}@{'+'.join(map(str, self.layers))}"


def window_features(track: TrackEmbeddings, representation: Representation) -> torch.Tensor:
    """`(windows, len(layers) * hidden)` features of a global representation."""
    if representation.kind not in GLOBAL_REPRESENTATIONS:
        raise ValueError(f"{representation.kind!r} is not a global representation.")
    layers = list(representation.layers)
    values = pool_windows(track.class_tokens[:, layers], track.sequence_means[:, layers], track.tokens_per_window,
                          representation.kind)  # (windows, len(layers), hidden)
    return values.reshape(len(values), -1).float()


def token_features(track: TrackEmbeddings, representation: Representation) -> torch.Tensor:
    """`(tokens, len(layers) * hidden)` sequence-token features of a local task."""
    if representation.kind != "sequence":
        raise ValueError(f"Local tasks probe sequence tokens, not {representation.kind!r}.")
    if track.sequence_tokens is None:
        raise ValueError("These embeddings were extracted without sequence tokens (ExtractionSettings).")
    values = track.sequence_tokens[:, list(representation.layers)]
    return values.reshape(len(values), -1).float()


@dataclass
class TaskData:
    """One split of one task: embeddings and references, track by track."""

    embeddings: list[TrackEmbeddings]
    references: list  # per track: tag list, key string, beat-time array, or (intervals, labels)
    names: list[str] = field(default_factory=list)
    audios: list = field(default_factory=list)  # per track: what `vit1d.load_audio` reads (the classical floors)
    strata: list = field(default_factory=list)  # per track: its stratum of the built-in corpus, or None


@dataclass
class ProbeOutcome:
    """What one probe gives on the test split.

    Attributes:
        metrics: the task's metrics over the test split.
        validation: the early-stopping score on the validation split.
        best_step / steps_run: the probe's training.
        per_track: `{metric: [score of each test track]}`, in the order of `test.names`, for confidence intervals
            over tracks (beat F, key weighted score, chord accuracies; NaN where a track has no score).
        track_weights: `[weight of each test track]` when the split's metric is a weighted mean (chord durations).
        track_scores: tagging: the `(tracks, tags)` scores and `targets` the split's macro mAP is computed from,
            which is not a mean over tracks (its interval recomputes it on resampled tracks).
        extra: details (the beat threshold chosen on validation, the tag vocabulary, ...).
    """

    metrics: dict[str, float]
    validation: dict[str, float]
    best_step: int
    steps_run: int
    extra: dict = field(default_factory=dict)
    per_track: dict[str, list[float]] = field(default_factory=dict)
    track_weights: list[float] | None = None
    track_scores: dict[str, np.ndarray] = field(default_factory=dict)


def probe_task(task: str, representation: Representation, train: TaskData, validation: TaskData, test: TaskData,
               config: ProbeConfig, **task_options) -> ProbeOutcome:
    """Train a probe for `task` on `train`, early-stopped on `validation`, and score `test`."""
    runner = {"tagging": _tagging, "key": _key, "beat": _beat, "chord": _chord}[task]
    return runner(representation, train, validation, test, config, **task_options)


# -- global tasks ---------------------------------------------------------------------------------------------------


def _stack_windows(data: TaskData, representation: Representation, track_targets: Sequence):
    features = [window_features(e, representation) for e in data.embeddings]
    targets = [np.repeat(np.asarray(t)[None], len(f), axis=0) for f, t in zip(features, track_targets)]
    return torch.cat(features), torch.from_numpy(np.concatenate(targets))


def _track_logits(probe: LinearProbe, data: TaskData, representation: Representation) -> np.ndarray:
    """Mean of the windows' logits, one row per track."""
    return np.stack([probe.predict(window_features(e, representation)).mean(0).numpy() for e in data.embeddings])


def _global(task, representation, train, validation, test, config, targets_of, score_of, objective, num_outputs):
    features, targets = _stack_windows(train, representation, targets_of(train))
    probe_config = ProbeConfig(**{**config.__dict__, "objective": objective})
    probe, history = train_probe(features, targets, num_outputs, probe_config,
                                 validation_score=lambda p: score_of(p, validation))
    best = {VALIDATION_METRIC[task]: history.best_score}
    outcome = ProbeOutcome(score_of(probe, test, full=True), best, history.best_step, history.steps_run)
    return outcome, probe


def _tagging(representation, train, validation, test, config, **_):
    vocabulary = tag_vocabulary(train.references)

    def targets_of(data):
        return [multi_hot(tags, vocabulary) for tags in data.references]

    def score_of(probe, data, full=False):
        scores = _track_logits(probe, data, representation)
        result = tagging_metrics(scores, np.stack(targets_of(data)))
        return result if full else _nan_to_low(result["mAP"])

    outcome, probe = _global("tagging", representation, train, validation, test, config, targets_of, score_of,
                             "multilabel", len(vocabulary))
    outcome.extra["tags"] = vocabulary
    outcome.track_scores = {"scores": _track_logits(probe, test, representation),
                            "targets": np.stack(targets_of(test))}
    return outcome


def _key(representation, train, validation, test, config, include_none: bool = False, **_):
    def targets_of(data):
        return [key_class(key, include_none) for key in data.references]

    def score_of(probe, data, full=False):
        predicted = _track_logits(probe, data, representation).argmax(1)
        result = key_metrics([int(p) for p in predicted], [to_mir_eval_key(k) for k in data.references])
        return result if full else result["weighted_score"]

    outcome, probe = _global("key", representation, train, validation, test, config, targets_of, score_of,
                             "multiclass", len(key_vocabulary(include_none)))
    predicted = _track_logits(probe, test, representation).argmax(1)
    per_track = [key_metrics([int(p)], [to_mir_eval_key(k)]) for p, k in zip(predicted, test.references)]
    outcome.per_track = {name: [score[name] for score in per_track] for name in ("weighted_score", "accuracy")}
    return outcome


# -- local tasks ----------------------------------------------------------------------------------------------------


def _times(track: TrackEmbeddings) -> np.ndarray:
    return track.token_times.numpy()


def _beat(representation, train, validation, test, config, neighbour_weights=(0.5,), trim_first_seconds=0.0, **_):
    features = torch.cat([token_features(e, representation) for e in train.embeddings])
    targets = np.concatenate([beat_targets(beats, _times(e), neighbour_weights)
                              for e, beats in zip(train.embeddings, train.references)])
    positive_fraction = max(float((targets > 0).mean()), 1e-3)
    # Beat tokens are rare (about 1 in 15 at 120 BPM): weigh positives up unless the caller chose a weight.
    positive_weight = config.positive_weight or (1 - positive_fraction) / positive_fraction
    probe_config = ProbeConfig(**{**config.__dict__, "objective": "multilabel", "positive_weight": positive_weight})

    def activations(probe, data):
        return [torch.sigmoid(probe.predict(token_features(e, representation))[:, 0]).numpy() for e in data.embeddings]

    def per_track(probe, data, threshold=DEFAULT_BEAT_THRESHOLD):
        return [beat_metrics(decode_beats(a, _times(e), threshold), b, trim_first_seconds)
                for a, e, b in zip(activations(probe, data), data.embeddings, data.references)]

    def mean_f(probe, data, threshold=DEFAULT_BEAT_THRESHOLD):
        return aggregate(per_track(probe, data, threshold))

    probe, history = train_probe(features, torch.from_numpy(targets)[:, None], 1, probe_config,
                                 validation_score=lambda p: mean_f(p, validation)["F-measure"])
    threshold = select_beat_threshold(activations(probe, validation), [_times(e) for e in validation.embeddings],
                                        validation.references,
                                        trim_first_seconds=trim_first_seconds)
    scores = per_track(probe, test, threshold)
    # The same activations decoded by a tempo-regular dynamic programme (librosa's beat_track), which needs no
    # threshold: it asks what a metrical decoder reads from the probe, as the paper's beat trackers do.
    from .baselines import tempo_regular_beats

    regular = [beat_metrics(tempo_regular_beats(a, _times(e)), b, trim_first_seconds)
               for a, e, b in zip(activations(probe, test), test.embeddings, test.references)]
    metrics = {**aggregate(scores), **{f"{TEMPO_REGULAR}{name}": value
                                        for name, value in aggregate(regular).items() if name != "num_tracks"}}
    per_track_scores = {**_per_track(scores, BEAT_TRACK_METRICS),
                        **{f"{TEMPO_REGULAR}{name}": values
                           for name, values in _per_track(regular, BEAT_TRACK_METRICS).items()}}
    return ProbeOutcome(metrics, {"F-measure": history.best_score}, history.best_step,
                        history.steps_run, {"threshold": threshold, "trim_first_seconds": trim_first_seconds,
                                            "neighbour_weights": list(neighbour_weights)},
                        per_track=per_track_scores)


def _chord_frames(data: TaskData, representation) -> tuple[torch.Tensor, torch.Tensor, list[int]]:
    """Every token's features and 25-class target over a split, and the tokens per track."""
    features = [token_features(e, representation) for e in data.embeddings]
    targets = [chord_targets(_times(e), *chords) for e, chords in zip(data.embeddings, data.references)]
    return torch.cat(features), torch.from_numpy(np.concatenate(targets)), [len(f) for f in features]


def _chord(representation, train, validation, test, config, **_):
    features, targets, _ = _chord_frames(train, representation)

    def evaluate(probe, data):
        scores = []
        for track, (intervals, chord_labels) in zip(data.embeddings, data.references):
            predicted = probe.predict(token_features(track, representation)).argmax(1).numpy()
            scores.append(chord_metrics(predicted, _times(track), intervals, chord_labels))
        return scores

    # Early stopping needs only the frame accuracy (duration-weighted over tracks, as `evaluate` aggregates it):
    # computed from features and targets gathered once instead of every mir_eval score at every check.
    valid_features, valid_targets, lengths = _chord_frames(validation, representation)
    durations = torch.tensor([float(np.ptp(np.asarray(intervals))) for intervals, _ in validation.references])

    def validation_accuracy(probe):
        hits = (probe.predict(valid_features).argmax(1) == valid_targets).float()
        per_track = torch.stack([part.mean() for part in hits.split(lengths)])
        return float((per_track * durations).sum() / durations.sum())

    probe_config = ProbeConfig(**{**config.__dict__, "objective": "multiclass"})
    probe, history = train_probe(features, targets, len(CHORD_CLASS_LABELS), probe_config,
                                 validation_score=validation_accuracy)
    scores = evaluate(probe, test)
    return ProbeOutcome(aggregate(scores, weight="duration"), {"frame_accuracy": history.best_score},
                        history.best_step, history.steps_run, per_track=_per_track(scores, CHORD_TRACK_METRICS),
                        track_weights=[float(score["duration"]) for score in scores])


# The per-track metrics a local task records for its confidence intervals (the headline ones of its table).
BEAT_TRACK_METRICS = ("F-measure", "Correct Metric Level Total", "Any Metric Level Total")
TEMPO_REGULAR = "tempo_regular:"  # prefix of the beat scores of the tempo-regular decoder
CHORD_TRACK_METRICS = ("frame_accuracy", "majmin", "root")


def _per_track(scores: Sequence[dict], names: Sequence[str]) -> dict[str, list[float]]:
    return {name: [float(score.get(name, np.nan)) for score in scores] for name in names}


def _nan_to_low(value: float) -> float:
    return -1.0 if value != value else value
