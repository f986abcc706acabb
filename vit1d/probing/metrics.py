"""Metrics of the four probing tasks: mir_eval for key, beat and chord, scikit-learn for tagging.

Every function takes plain arrays (numpy, lists; times in seconds) and returns a dict of floats, so the same code
serves `run_probe.py`, the `evaluate` modules under `metrics/`, and users' own loops. Dataset-level tasks (tagging,
key) take the whole split at once; track-level tasks (beat, chord) score one track per call, and `aggregate` averages
the per-track dicts.

Local tasks work on *track-level* activations: per-token probe outputs of the windows stitched back into one array
per track, with the token times of that array (`ViT1DFeatureExtractor.frame_times`, 31.25 tokens/s, shifted by each
window's start).
"""

import math
import warnings
from collections.abc import Mapping, Sequence

import mir_eval
import numpy as np
from scipy.signal import find_peaks

from vit1d.probing.labels import CHORD_CLASS_LABELS, chord_targets, to_mir_eval_key, token_period

# Cited by the `evaluate` modules under metrics/.
MIR_EVAL_CITATION = """\
@inproceedings{raffel2014mireval,
  title = {mir_eval: A Transparent Implementation of Common MIR Metrics},
  author = {Raffel, Colin and McFee, Brian and Humphrey, Eric J. and Salamon, Justin and Nieto, Oriol and
            Liang, Dawen and Ellis, Daniel P. W.},
  booktitle = {Proceedings of the 15th International Society for Music Information Retrieval Conference (ISMIR)},
  year = {2014}
}
"""
SKLEARN_CITATION = """\
@article{pedregosa2011sklearn,
  title = {Scikit-learn: Machine Learning in {P}ython},
  author = {Pedregosa, F. and Varoquaux, G. and Gramfort, A. and Michel, V. and Thirion, B. and Grisel, O. and
            Blondel, M. and Prettenhofer, P. and Weiss, R. and Dubourg, V. and others},
  journal = {Journal of Machine Learning Research},
  volume = {12},
  pages = {2825--2830},
  year = {2011}
}
"""

# ----------------------------------------------------------------------------------------------------------------
# tagging
# ----------------------------------------------------------------------------------------------------------------


def _sklearn_metrics():
    try:
        from sklearn import metrics
    except ImportError as error:  # scikit-learn is only needed for tagging
        raise ImportError("tagging_metrics needs scikit-learn (a dependency of vit1d): "
                          "`pip install scikit-learn`.") from error
    return metrics


def scorable_tags(targets: np.ndarray) -> np.ndarray:
    """Boolean mask of the tags (columns) that have at least one positive and one negative track: AP and ROC-AUC are
    undefined for the others."""
    positives = (np.asarray(targets) >= 0.5).sum(axis=0)
    return (positives > 0) & (positives < np.asarray(targets).shape[0])


def tagging_metrics(scores: np.ndarray, targets: np.ndarray) -> dict[str, float]:
    """Macro mAP and macro ROC-AUC of a multi-label tagger over a split.

    Args:
        scores: `(num_tracks, num_tags)` scores; any monotonic scale (logits or sigmoid probabilities) gives the same
            values, as both metrics only rank the tracks.
        targets: `(num_tracks, num_tags)` multi-hot targets (>= 0.5 counts as positive).

    Tags with no positive or no negative track in the split are left out of both means (their AP / AUC is
    undefined) and counted in `num_tags_excluded`; `num_tags_scored` is the number averaged. The means are NaN if no
    tag can be scored.
    """
    scores = np.asarray(scores, dtype=np.float64)
    targets = np.asarray(targets)
    if scores.shape != targets.shape or scores.ndim != 2:
        raise ValueError(f"scores {scores.shape} and targets {targets.shape} must be the same (tracks, tags) shape.")
    sk = _sklearn_metrics()
    keep = scorable_tags(targets)
    positives = targets >= 0.5
    aps = [sk.average_precision_score(positives[:, k], scores[:, k]) for k in np.flatnonzero(keep)]
    aucs = [sk.roc_auc_score(positives[:, k], scores[:, k]) for k in np.flatnonzero(keep)]
    return {
        "mAP": float(np.mean(aps)) if aps else math.nan,
        "ROC-AUC": float(np.mean(aucs)) if aucs else math.nan,
        "num_tags_scored": int(keep.sum()),
        "num_tags_excluded": int((~keep).sum()),
    }


def resampled_tagging_metrics(scores: np.ndarray, targets: np.ndarray, weights: np.ndarray) -> dict[str, np.ndarray]:
    """`tagging_metrics`' macro mAP and ROC-AUC for many bootstrap resamples of the tracks at once.

    A resample with replacement is a vector of track multiplicities, so each resample's metrics are those of
    scikit-learn's `average_precision_score` / `roc_auc_score` with `sample_weight` = its multiplicities (tested to
    agree). Each tag's tracks are sorted by score once; every resample is then cumulative sums over that order, which
    is what makes a few thousand resamples of a 50-tag split take a second instead of minutes.

    Args:
        scores: `(tracks, tags)`; tracks of equal score within a tag share a threshold, as in scikit-learn (tied
            tracks happen: identical audio, or a probe that saturates).
        targets: `(tracks, tags)` multi-hot.
        weights: `(B, tracks)` multiplicities of the tracks in each of `B` resamples.

    Returns:
        `{"mAP": (B,), "ROC-AUC": (B,)}`: the mean over the tags that have a positive and a negative track in the
        resample (NaN where none has).
    """
    scores = np.asarray(scores, dtype=np.float64)
    positives = (np.asarray(targets) >= 0.5).astype(np.float64)
    weights = np.asarray(weights, dtype=np.float64)
    order = np.argsort(-scores, axis=0, kind="stable")  # (T, K): each tag's tracks, best score first
    ranked = np.take_along_axis(scores, order, axis=0)
    num_tracks = len(ranked)
    # Tracks of equal score within a tag share one threshold, as in scikit-learn: every position is read at the
    # last position of its group of ties (`group_end`), and the negatives tied with a positive count half in AUC
    # (`before`: the last position of the previous group, -1 for the first).
    position = np.arange(num_tracks)[:, None]
    last_of_group = np.ones_like(ranked, dtype=bool)
    last_of_group[:-1] = np.diff(ranked, axis=0) != 0
    group_end = np.flip(np.minimum.accumulate(np.flip(np.where(last_of_group, position, num_tracks), 0), axis=0), 0)
    previous_end = np.where(last_of_group, position, -1)
    before = np.concatenate([np.full((1, ranked.shape[1]), -1), np.maximum.accumulate(previous_end, axis=0)[:-1]])
    y = np.take_along_axis(positives, order, axis=0)  # (T, K)
    w = weights[:, order]  # (B, T, K): each resample's multiplicities in each tag's order
    true_positives = np.cumsum(w * y, axis=1)
    false_positives = np.cumsum(w * (1 - y), axis=1)
    total_positive, total_negative = true_positives[:, -1], false_positives[:, -1]  # (B, K)
    scorable = (total_positive > 0) & (total_negative > 0)
    tp_end = np.take_along_axis(true_positives, group_end[None], axis=1)
    fp_end = np.take_along_axis(false_positives, group_end[None], axis=1)
    fp_before = np.where(before[None] >= 0, np.take_along_axis(false_positives, np.maximum(before, 0)[None], axis=1),
                         0.0)
    with np.errstate(invalid="ignore", divide="ignore"):
        seen = tp_end + fp_end  # 0 before the first drawn track: no precision there, and none used
        precision = np.where(seen > 0, tp_end / np.where(seen > 0, seen, 1), 0.0)
        # AP: precision at each positive's threshold, weighted by its multiplicity; AUC: for each positive, the
        # weight of the negatives ranked below it, plus half of those tied with it.
        ap = (w * y * precision).sum(axis=1) / total_positive
        below = total_negative[:, None, :] - 0.5 * (fp_end + fp_before)
        auc = (w * y * below).sum(axis=1) / (total_positive * total_negative)
        mean_ap = np.where(scorable, ap, 0).sum(axis=1) / scorable.sum(axis=1)
        mean_auc = np.where(scorable, auc, 0).sum(axis=1) / scorable.sum(axis=1)
    return {"mAP": mean_ap, "ROC-AUC": mean_auc}


# ----------------------------------------------------------------------------------------------------------------
# key
# ----------------------------------------------------------------------------------------------------------------

# mir_eval.key.weighted_score's values, which identify the relation of an estimate to the reference.
KEY_RELATIONS = {1.0: "correct", 0.5: "fifth", 0.3: "relative", 0.2: "parallel", 0.0: "other"}


def key_metrics(pred_labels: Sequence[str | int], ref_labels: Sequence[str | int]) -> dict[str, float]:
    """Accuracy and the MIREX weighted score (mean of `mir_eval.key.weighted_score`) over a split of tracks.

    Labels are key strings in any spelling `vit1d.probing.labels.parse_key` reads, or class indices of
    `key_vocabulary` (24 = no key, compared as mir_eval's "X"). Enharmonics are equal ("Db major" == "C# major").
    Also returned: the fraction of tracks in each relation MIREX reports (`correct`, `fifth` = estimate a fifth
    above, `relative`, `parallel`, `other`), so weighted_score = correct + 0.5 fifth + 0.3 relative + 0.2 parallel.
    """
    if len(pred_labels) != len(ref_labels):
        raise ValueError(f"{len(pred_labels)} predictions but {len(ref_labels)} references.")
    if len(ref_labels) == 0:
        raise ValueError("key_metrics needs at least one track.")
    scores = np.array([mir_eval.key.weighted_score(to_mir_eval_key(ref), to_mir_eval_key(pred))
                       for pred, ref in zip(pred_labels, ref_labels)])
    result = {"accuracy": float(np.mean(scores == 1.0)), "weighted_score": float(scores.mean())}
    for value, relation in KEY_RELATIONS.items():
        result[relation] = float(np.mean(np.isclose(scores, value)))
    return result


# ----------------------------------------------------------------------------------------------------------------
# beat
# ----------------------------------------------------------------------------------------------------------------

DEFAULT_BEAT_THRESHOLD = 0.3
DEFAULT_MIN_BEAT_INTERVAL = 0.25  # seconds: 240 BPM, faster than madmom's DBN allows (215 BPM)
DEFAULT_TRIM_FIRST_SECONDS = 0.0
F_MEASURE_WINDOW = 0.07  # seconds, either side: the MIREX / mir_eval standard


def decode_beats(activation: Sequence[float], token_times: Sequence[float], threshold: float = DEFAULT_BEAT_THRESHOLD,
                 min_interval: float = DEFAULT_MIN_BEAT_INTERVAL) -> np.ndarray:
    """Beat times from a track-level beat activation, by peak picking.

    A beat is a local maximum of the activation that reaches `threshold`; of two maxima closer than `min_interval`
    seconds (rounded down to whole tokens) the higher is kept (`scipy.signal.find_peaks` with `height` and
    `distance`). A flat top gives one beat at its middle token. Each beat is placed at its token's time, so the
    resolution is one token (32 ms at 31.25 tokens/s, inside the 70 ms F-measure window). The edges count as lower
    than everything, so a beat on the first or last token is found.

    Defaults: `threshold` 0.3, below 0.5 because a probe trained on widened targets (1 at the beat token, 0.5 at its
    neighbours) rarely puts more than 0.5 on a single token when it is unsure by one token; tune it on validation
    tracks with `select_beat_threshold`. `min_interval` 0.25 s allows tempi up to 240 BPM.

    Args:
        activation: per-token beat probability (apply the sigmoid to logits first), shape `(num_tokens,)`.
        token_times: time of each token, seconds, sorted, same length.
    """
    activation = np.asarray(activation, dtype=np.float64).reshape(-1)
    token_times = np.asarray(token_times, dtype=np.float64).reshape(-1)
    if activation.shape != token_times.shape:
        raise ValueError(f"activation {activation.shape} and token_times {token_times.shape} differ in length.")
    if activation.size == 0:
        return np.zeros(0, dtype=np.float64)
    distance = max(1, math.floor(min_interval / token_period(token_times) + 1e-9))
    padded = np.pad(activation, 1, constant_values=-np.inf)
    peaks, _ = find_peaks(padded, height=threshold, distance=distance)
    return token_times[peaks - 1]


def beat_metrics(est_beats: Sequence[float], ref_beats: Sequence[float],
                 trim_first_seconds: float = DEFAULT_TRIM_FIRST_SECONDS,
                 f_measure_window: float = F_MEASURE_WINDOW) -> dict[str, float]:
    """Every `mir_eval.beat` score of one track: F-measure (70 ms window), Cemgil, Goto, P-score, the continuity
    scores (CMLc, CMLt, AMLc, AMLt) and Information gain, under mir_eval's names.

    `trim_first_seconds`: beats (reference and estimated) before this time are dropped before scoring. mir_eval's
    `beat.evaluate` trims 5 s by default, a MIREX habit for trackers that need time to lock on; MARBLE's beat probe
    scores every beat. The default here is 0.0, MARBLE's convention (a per-token probe has no warm-up, and the
    paper's probing protocol follows MARBLE's); pass 5.0 for mir_eval/MIREX-style numbers. Report which one you used.
    Over a dataset, average the per-track dicts with `aggregate` (mir_eval's per-track mean; MARBLE instead pools the
    matched beats of all tracks into one F-measure).
    """
    ref = np.sort(np.asarray(ref_beats, dtype=np.float64).reshape(-1))
    est = np.sort(np.asarray(est_beats, dtype=np.float64).reshape(-1))
    scores = mir_eval.beat.evaluate(ref, est, min_beat_time=trim_first_seconds, f_measure_threshold=f_measure_window)
    return {name: float(value) for name, value in scores.items()}


def select_beat_threshold(activations: Sequence[np.ndarray], token_times: Sequence[np.ndarray],
                          ref_beats: Sequence[np.ndarray], thresholds: Sequence[float] | None = None,
                          min_interval: float = DEFAULT_MIN_BEAT_INTERVAL,
                          trim_first_seconds: float = DEFAULT_TRIM_FIRST_SECONDS) -> float:
    """The peak-picking threshold with the best mean F-measure over (validation) tracks; the lowest wins ties.
    `thresholds` defaults to 0.05, 0.10, ..., 0.90."""
    candidates = np.round(np.arange(0.05, 0.91, 0.05), 2) if thresholds is None else np.asarray(thresholds)
    trimmed_refs = [mir_eval.beat.trim_beats(np.sort(np.asarray(r, dtype=np.float64)), trim_first_seconds)
                    for r in ref_beats]
    best, best_f = float(candidates[0]), -1.0
    for threshold in candidates:
        with warnings.catch_warnings():  # a high candidate finding no beat is expected: mir_eval warns and scores 0
            warnings.simplefilter("ignore", UserWarning)
            f = np.mean([
                mir_eval.beat.f_measure(ref, mir_eval.beat.trim_beats(
                    decode_beats(act, times, float(threshold), min_interval), trim_first_seconds), F_MEASURE_WINDOW)
                for act, times, ref in zip(activations, token_times, trimmed_refs)
            ])
        if f > best_f:
            best, best_f = float(threshold), float(f)
    return best


# ----------------------------------------------------------------------------------------------------------------
# chord
# ----------------------------------------------------------------------------------------------------------------


def tokens_to_intervals(token_times: Sequence[float], classes: Sequence[int]) -> tuple[np.ndarray, list[str]]:
    """Chord segments of per-token class predictions: token `i` covers the time from the midpoint with its left
    neighbour to the midpoint with its right one (half a token period before the first token, clipped at 0, and
    after the last), and runs of equal classes are merged. Labels are `CHORD_CLASS_LABELS` ("C:maj", "A:min", "N").
    """
    times = np.asarray(token_times, dtype=np.float64).reshape(-1)
    classes = np.asarray(classes, dtype=np.int64).reshape(-1)
    if times.shape != classes.shape:
        raise ValueError(f"token_times {times.shape} and classes {classes.shape} differ in length.")
    if times.size == 0:
        return np.zeros((0, 2), dtype=np.float64), []
    half = token_period(times) / 2
    edges = np.concatenate([[max(times[0] - half, 0.0)], (times[1:] + times[:-1]) / 2, [times[-1] + half]])
    edges = np.round(edges, 9)  # nanoseconds: drops float noise such as a first edge at 7e-18 s instead of 0
    run_starts = np.flatnonzero(np.concatenate([[True], classes[1:] != classes[:-1]]))
    run_ends = np.append(run_starts[1:], len(classes))
    intervals = np.stack([edges[run_starts], edges[run_ends]], axis=1)
    return intervals, [CHORD_CLASS_LABELS[c] for c in classes[run_starts]]


def chord_metrics(pred_classes: Sequence[int], token_times: Sequence[float], ref_intervals: np.ndarray,
                  ref_labels: Sequence[str]) -> dict[str, float]:
    """Chord scores of one track from per-token 25-class predictions.

    - `frame_accuracy`: fraction of tokens whose predicted class equals the target of `chord_targets` (the reference
      reduced to maj/min/N by its third, so dim counts as min; N outside the annotated segments). Every token counts.
    - `majmin`, `root` and the other `mir_eval.chord.evaluate` scores: the predictions are turned into segments
      (`tokens_to_intervals`), then mir_eval crops/pads them to the reference span with N, merges both segmentations
      and takes the duration-weighted accuracy. Note that mir_eval's `majmin` leaves reference segments that are
      neither maj nor min (dim, aug, sus, ...) out of its score, while the 25-class targets map dim to min.
    - `duration`: the reference span in seconds, to weight tracks in `aggregate` (MIREX's collection-level WCSR).
    """
    pred_classes = np.asarray(pred_classes, dtype=np.int64).reshape(-1)
    ref_intervals = np.asarray(ref_intervals, dtype=np.float64).reshape(-1, 2)
    ref_labels = [str(label) for label in ref_labels]
    if len(ref_intervals) == 0:
        raise ValueError("chord_metrics needs a reference with at least one segment.")
    targets = chord_targets(token_times, ref_intervals, ref_labels)
    est_intervals, est_labels = tokens_to_intervals(token_times, pred_classes)
    scores = mir_eval.chord.evaluate(ref_intervals, ref_labels, est_intervals, est_labels)
    return {
        "frame_accuracy": float(np.mean(pred_classes == targets)) if len(targets) else math.nan,
        **{name: float(value) for name, value in scores.items()},
        "duration": float(ref_intervals.max() - ref_intervals.min()),
    }


# ----------------------------------------------------------------------------------------------------------------
# aggregation
# ----------------------------------------------------------------------------------------------------------------


def aggregate(results: Sequence[Mapping[str, float]], weight: str | None = None) -> dict[str, float]:
    """Average per-track metric dicts into one: the mean of every numeric entry over the tracks that have it,
    leaving NaN values out, plus `num_tracks`.

    `weight` names an entry used as each track's weight (e.g. "duration" of `chord_metrics`, which makes the chord
    scores duration-weighted over the collection, MIREX's convention); by default every track counts the same
    (mir_eval's and most papers' per-track mean for beats).
    """
    if not results:
        raise ValueError("aggregate needs at least one result.")
    names = list(dict.fromkeys(name for result in results for name in result))
    weights = np.array([float(result[weight]) if weight else 1.0 for result in results])
    summary: dict[str, float] = {}
    for name in names:
        if not any(is_number(result.get(name)) for result in results):
            continue  # a text entry: nothing to average
        values = np.array([float(r[name]) if is_number(r.get(name)) else math.nan for r in results])
        valid = ~np.isnan(values) & (weights > 0)
        summary[name] = float(np.average(values[valid], weights=weights[valid])) if valid.any() else math.nan
    summary["num_tracks"] = len(results)
    return summary


def is_number(value) -> bool:
    """A real number (not a bool, not text): what `aggregate` averages."""
    return isinstance(value, (int, float, np.integer, np.floating)) and not isinstance(value, bool)
