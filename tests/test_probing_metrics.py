"""Labels and metrics of the probing tasks, checked against mir_eval / scikit-learn on hand-made annotations."""

import math
import os
from pathlib import Path

import mir_eval
import numpy as np
import pytest

from vit1d import ViT1DFeatureExtractor
from vit1d.chords import NUM_MAJMIN_CLASSES, majmin_class
from vit1d.probing.labels import (
    CHORD_CLASS_LABELS,
    KEY_LABELS,
    NO_CHORD_CLASS,
    beat_targets,
    chord_class,
    chord_targets,
    key_class,
    key_label,
    key_vocabulary,
    load_lab,
    multi_hot,
    parse_chords,
    parse_key,
    read_beats,
    read_chords,
    tag_vocabulary,
    to_mir_eval_key,
    write_lab,
)
from vit1d.probing.metrics import (
    aggregate,
    beat_metrics,
    chord_metrics,
    decode_beats,
    key_metrics,
    select_beat_threshold,
    tagging_metrics,
    tokens_to_intervals,
)

METRICS_DIR = Path(__file__).resolve().parents[1] / "metrics"
C, A_MIN = 0, 12 + 9  # class indices: C:maj, A:min


def token_times(seconds: float) -> np.ndarray:
    """Token times of the extractor (31.25 tokens/s) for `seconds` of audio."""
    return ViT1DFeatureExtractor().frame_times(math.ceil(seconds * 16000 / 512))


# ---------------------------------------------------------------------------------------------------------------- key


@pytest.mark.parametrize("spelling, expected", [
    ("Eb minor", (3, "minor")), ("eb minor", (3, "minor")), ("D# min", (3, "minor")), ("E\u266d minor", (3, "minor")),
    ("Db major", (1, "major")), ("C# major", (1, "major")), ("C:maj", (0, "major")), ("F#_major", (6, "major")),
    ("Am", (9, "minor")), ("Bbm", (10, "minor")), ("bb minor", (10, "minor")), ("B minor", (11, "minor")),
    ("G", (7, "major")), ("A MINOR", (9, "minor")), ("none", None), ("X", None), ("N", None),
])
def test_parse_key_spellings(spelling, expected):
    assert parse_key(spelling) == expected


def test_parse_key_rejects_garbage():
    for bad in ("H major", "C dorian", "C# major minor"):
        with pytest.raises(ValueError):
            parse_key(bad)


def test_key_vocabulary_round_trip_and_none():
    assert key_vocabulary() == list(KEY_LABELS) and len(KEY_LABELS) == 24
    assert key_vocabulary(include_none=True)[-1] == "none"
    for index, label in enumerate(KEY_LABELS):
        assert key_class(label) == index and key_label(index) == label
    assert key_class("Db major") == key_class("C# major") == 1
    assert key_class("none", include_none=True) == 24 and to_mir_eval_key(24) == "X"
    with pytest.raises(ValueError, match="include_none"):
        key_class("none")


@pytest.mark.parametrize("reference, estimate, expected", [
    ("C major", "C major", 1.0),
    ("C major", "G major", 0.5),  # a fifth above
    ("A minor", "E minor", 0.5),
    ("C major", "A minor", 0.3),  # relative
    ("A minor", "C major", 0.3),
    ("C major", "C minor", 0.2),  # parallel
    ("C major", "F major", 0.0),  # a fifth below is not a fifth error in MIREX
    ("Db major", "C# major", 1.0),  # enharmonic
    ("eb minor", "D# min", 1.0),
    ("Eb minor", "Gb major", 0.3),
    ("none", "X", 1.0),
    ("none", "C major", 0.0),
])
def test_key_weighted_score(reference, estimate, expected):
    result = key_metrics([estimate], [reference])
    assert result["weighted_score"] == pytest.approx(expected)
    assert result["accuracy"] == float(expected == 1.0)
    if "none" not in reference:  # mir_eval itself only reads its own spelling
        assert mir_eval.key.weighted_score(to_mir_eval_key(reference), to_mir_eval_key(estimate)) == expected


def test_key_metrics_over_tracks_and_class_indices():
    refs = ["C major", "C major", "C major", "C major", "C major"]
    preds = ["C major", "G major", "A minor", "C minor", "D major"]
    result = key_metrics(preds, refs)
    assert result["weighted_score"] == pytest.approx((1 + 0.5 + 0.3 + 0.2 + 0) / 5)
    assert result["accuracy"] == pytest.approx(0.2)
    assert [result[r] for r in ("correct", "fifth", "relative", "parallel", "other")] == [0.2] * 5
    as_indices = key_metrics([key_class(p) for p in preds], [key_class(r) for r in refs])
    assert as_indices == result


# ---------------------------------------------------------------------------------------------------------------- tags


def test_tag_vocabulary_and_multi_hot():
    vocabulary = tag_vocabulary([["rock", "guitar"], ["piano"], "guitar, drums", None])
    assert vocabulary == ["drums", "guitar", "piano", "rock"]
    np.testing.assert_array_equal(multi_hot(["rock", "flute"], vocabulary), [0, 0, 0, 1])  # unseen tag ignored
    np.testing.assert_array_equal(multi_hot("drums,piano", vocabulary), [1, 0, 1, 0])


def test_tagging_metrics_equal_sklearn_and_count_left_out_tags():
    from sklearn.metrics import average_precision_score, roc_auc_score

    rng = np.random.default_rng(0)
    targets = (rng.random((12, 5)) < 0.4).astype(np.float32)
    targets[:, 3] = 0  # no positive
    targets[:, 4] = 1  # no negative
    targets[0, :3] = 1  # make sure the other columns have positives
    targets[1, :3] = 0
    scores = rng.normal(size=targets.shape) + targets
    result = tagging_metrics(scores, targets)
    assert result["num_tags_scored"] == 3 and result["num_tags_excluded"] == 2
    assert result["mAP"] == pytest.approx(average_precision_score(targets[:, :3], scores[:, :3], average="macro"))
    assert result["ROC-AUC"] == pytest.approx(roc_auc_score(targets[:, :3], scores[:, :3], average="macro"))


def test_tagging_metrics_hand_made():
    # one tag, scores ranking: pos 0.9, neg 0.8, pos 0.7, neg 0.1 -> AP = (1/1 + 2/3) / 2, AUC = 3/4
    result = tagging_metrics(np.array([[0.9], [0.8], [0.7], [0.1]]), np.array([[1], [0], [1], [0]]))
    assert result["mAP"] == pytest.approx((1 + 2 / 3) / 2)
    assert result["ROC-AUC"] == pytest.approx(0.75)
    nothing = tagging_metrics(np.zeros((3, 2)), np.zeros((3, 2)))
    assert math.isnan(nothing["mAP"]) and nothing["num_tags_excluded"] == 2


# ---------------------------------------------------------------------------------------------------------------- beat


def test_beat_targets_widening():
    times = np.arange(20) * 0.1
    target = beat_targets([0.5, 0.72, 1.9], times)
    expected = np.zeros(20)
    expected[[4, 6, 8, 18]] = 0.5
    expected[[5, 7, 19]] = 1.0  # 0.72 is nearest to token 7; token 6 sits between two beats and keeps 0.5
    np.testing.assert_array_equal(target, expected)
    marble = beat_targets([1.0], times, neighbour_weights=(0.95, 0.5))
    np.testing.assert_allclose(marble[8:13], [0.5, 0.95, 1.0, 0.95, 0.5], rtol=1e-6)
    assert beat_targets([1.0], times, neighbour_weights=()).sum() == 1
    assert beat_targets([-1.0, 2.5], times).sum() == 0  # outside the tokens: dropped


def test_perfect_activation_decodes_to_the_reference_beats():
    times = token_times(30.0)
    period = times[1] - times[0]
    ref = np.cumsum(np.full(50, 60 / 117))  # 117 BPM, from 0.51 s
    ref = np.concatenate([[0.0], ref[ref < times[-1]]])  # a beat on the very first token, too
    est = decode_beats(beat_targets(ref, times), times)
    assert len(est) == len(ref)
    assert np.max(np.abs(est - ref)) <= period / 2 + 1e-9
    assert mir_eval.beat.f_measure(ref, est, 0.07) == 1.0
    assert beat_metrics(est, ref)["F-measure"] == 1.0


def test_shifted_activation_scores_lower():
    times = token_times(30.0)
    ref = np.arange(1.0, 29.0, 0.5)
    activation = beat_targets(ref, times)
    late = decode_beats(np.roll(activation, 4), times)  # 128 ms late: outside the 70 ms window
    slightly_late = decode_beats(np.roll(activation, 1), times)  # 32 ms: inside
    assert beat_metrics(late, ref)["F-measure"] == 0.0
    assert beat_metrics(slightly_late, ref)["F-measure"] == 1.0


def test_decode_beats_threshold_and_min_interval():
    times = np.arange(100) / 31.25
    activation = np.zeros(100)
    activation[[10, 13, 40, 70]] = [0.6, 0.9, 0.2, 0.5]
    # 10 and 13 are 96 ms apart: the higher one stays; 40 is below the 0.3 threshold
    np.testing.assert_allclose(decode_beats(activation, times), times[[13, 70]])
    np.testing.assert_allclose(decode_beats(activation, times, threshold=0.1, min_interval=0.05), times[[10, 13, 40, 70]])
    activation[50:53] = 0.8  # a flat top gives one beat in its middle
    assert times[51] in decode_beats(activation, times)
    assert decode_beats(np.zeros(0), np.zeros(0)).size == 0


def test_beat_metrics_hand_made_and_trimming():
    ref = np.arange(1.0, 11.0)  # 10 beats
    est = np.concatenate([ref[:8] + 0.05, [8.5, 9.5]])  # 8 hits within 70 ms, 2 misses
    assert beat_metrics(est, ref)["F-measure"] == pytest.approx(0.8)
    assert beat_metrics(est, ref, f_measure_window=0.04)["F-measure"] == 0.0
    late_start = ref[ref >= 5.0]  # a tracker that only locks on after 5 s
    assert beat_metrics(late_start, ref)["F-measure"] == pytest.approx(2 * 6 / (6 + 10))
    trimmed = beat_metrics(late_start, ref, trim_first_seconds=5.0)
    assert trimmed == pytest.approx(dict(mir_eval.beat.evaluate(ref, late_start)))  # mir_eval's 5 s default
    assert trimmed["F-measure"] == 1.0


def test_select_beat_threshold():
    rng = np.random.default_rng(0)
    times = token_times(12.0)
    refs = [np.arange(0.5, 11.5, 0.6), np.arange(0.3, 11.5, 0.45)]
    activations = [0.45 * beat_targets(ref, times) + 0.25 * rng.random(len(times)) for ref in refs]
    threshold = select_beat_threshold(activations, [times, times], refs)
    assert 0.25 <= threshold <= 0.45  # above the noise, at most the beats' height
    for activation, ref in zip(activations, refs):
        assert beat_metrics(decode_beats(activation, times, threshold), ref)["F-measure"] == 1.0


def test_read_beats(tmp_path):
    path = tmp_path / "track.beats"
    path.write_text("# time position\n0.50 1\n1.00\t2\n\n1.5,3\n", encoding="utf-8")
    np.testing.assert_array_equal(read_beats(path), [0.5, 1.0, 1.5])
    np.testing.assert_array_equal(read_beats(str(path)), [0.5, 1.0, 1.5])
    np.testing.assert_array_equal(read_beats([1.0, 0.5]), [0.5, 1.0])
    assert read_beats(None).size == 0


# ---------------------------------------------------------------------------------------------------------------- chord


def test_chord_class_labels_follow_scores_vocabulary():
    assert len(CHORD_CLASS_LABELS) == NUM_MAJMIN_CLASSES
    assert [majmin_class(label) for label in CHORD_CLASS_LABELS] == list(range(NUM_MAJMIN_CLASSES))


@pytest.mark.parametrize("label, expected", [
    ("C:maj7", "C:maj"), ("G:7", "G:maj"), ("E:aug", "E:maj"), ("C", "C:maj"), ("A:min/b3", "A:min"),
    ("B:dim", "B:min"), ("B:hdim7", "B:min"), ("C#:dim7", "C#:min"), ("Db:maj", "C#:maj"), ("D:min7", "D:min"),
    ("N", "N"), ("X", "N"),
    # outside scores.py's vocabulary, through mir_eval's parser and the same rule on the third
    ("F:maj6", "F:maj"), ("C:9", "C:maj"), ("C:7(#9)", "C:maj"), ("E:min(9)", "E:min"), ("G:min6", "G:min"),
    ("C:sus4", "N"), ("C:5", "N"), ("C:maj(*3)", "N"),
])
def test_chord_class_mapping(label, expected):
    assert CHORD_CLASS_LABELS[chord_class(label)] == expected


def test_chord_targets_at_token_times():
    intervals = np.array([[2.0, 4.0], [0.5, 2.0], [4.0, 5.0]])  # unsorted on purpose
    labels = ["A:min7", "C:maj7", "B:dim"]
    times = np.array([0.0, 0.5, 1.99, 2.0, 3.99, 4.0, 4.99, 5.0, 7.0])
    expected = [NO_CHORD_CLASS, C, C, A_MIN, A_MIN, 12 + 11, 12 + 11, NO_CHORD_CLASS, NO_CHORD_CLASS]
    np.testing.assert_array_equal(chord_targets(times, intervals, labels), expected)
    assert chord_targets(times, np.zeros((0, 2)), []).tolist() == [NO_CHORD_CLASS] * len(times)
    with pytest.raises(ValueError):
        chord_targets(times, intervals, labels[:2])


def test_tokens_to_intervals_merges_runs():
    intervals, labels = tokens_to_intervals([0.05, 0.15, 0.25, 0.35], [C, C, A_MIN, NO_CHORD_CLASS])
    np.testing.assert_allclose(intervals, [[0.0, 0.2], [0.2, 0.3], [0.3, 0.4]])
    assert labels == ["C:maj", "A:min", "N"]


REF_INTERVALS = np.array([[0.0, 4.0], [4.0, 8.0], [8.0, 10.0]])
REF_LABELS = ["C:maj7", "A:min", "G:maj"]
TIMES = np.arange(100) * 0.1 + 0.05  # token edges fall on multiples of 0.1 s: segment durations are exact


def predictions_for(labels):
    return np.concatenate([np.full(round((end - start) / 0.1), chord_class(label))
                           for (start, end), label in zip(REF_INTERVALS, labels)])


def test_chord_metrics_perfect():
    result = chord_metrics(predictions_for(REF_LABELS), TIMES, REF_INTERVALS, REF_LABELS)
    assert result["frame_accuracy"] == 1.0 and result["majmin"] == 1.0 and result["root"] == 1.0
    assert result["duration"] == 10.0


def test_chord_metrics_known_fraction_wrong():
    wrong_chord = chord_metrics(predictions_for(["C:maj", "C:maj", "G:maj"]), TIMES, REF_INTERVALS, REF_LABELS)
    assert wrong_chord["majmin"] == pytest.approx(0.6)  # 4 s of 10 wrong
    assert wrong_chord["root"] == pytest.approx(0.6)
    assert wrong_chord["frame_accuracy"] == pytest.approx(0.6)
    wrong_quality = chord_metrics(predictions_for(["C:maj", "A:maj", "G:maj"]), TIMES, REF_INTERVALS, REF_LABELS)
    assert wrong_quality["majmin"] == pytest.approx(0.6) and wrong_quality["root"] == 1.0
    # the same numbers as mir_eval given the segments directly
    direct = mir_eval.chord.evaluate(REF_INTERVALS, REF_LABELS, REF_INTERVALS, ["C:maj", "A:maj", "G:maj"])
    assert wrong_quality["majmin"] == pytest.approx(direct["majmin"])
    assert wrong_quality["root"] == pytest.approx(direct["root"])


def test_chord_metrics_at_extractor_token_times():
    # 31.25 tokens/s: segment edges are off the token grid by up to half a token (16 ms)
    times = token_times(10.0)
    predictions = chord_targets(times, REF_INTERVALS, ["C:maj", "C:maj", "G:maj"])
    result = chord_metrics(predictions, times, REF_INTERVALS, REF_LABELS)
    assert result["majmin"] == pytest.approx(0.6, abs=0.032 / 10)
    assert result["frame_accuracy"] == pytest.approx(np.mean(predictions == chord_targets(times, REF_INTERVALS,
                                                                                          REF_LABELS)))


def test_chord_metrics_dim_reference():
    # 25-class targets map dim to min; mir_eval's majmin leaves dim references out of its score
    intervals, labels = np.array([[0.0, 5.0], [5.0, 10.0]]), ["B:dim", "C:maj"]
    predictions = np.full(100, 12 + 11)
    predictions[50:] = C
    result = chord_metrics(predictions, TIMES, intervals, labels)
    assert result["frame_accuracy"] == 1.0
    assert result["majmin"] == 1.0  # only the C:maj half is scored
    assert result["root"] == 1.0


def test_lab_round_trip_and_chord_columns(tmp_path):
    path = tmp_path / "song.lab"
    intervals = np.array([[0.0, 1.234567891], [1.234567891, 3.5], [3.5, 7.25]])
    labels = ["N", "Eb:min7", "Ab:maj/3"]
    write_lab(path, intervals, labels)
    read_intervals, read_labels = load_lab(path)
    np.testing.assert_array_equal(read_intervals, intervals)
    assert read_labels == labels
    reference = mir_eval.io.load_labeled_intervals(str(path))
    np.testing.assert_array_equal(reference[0], intervals)

    hand_written = tmp_path / "hand.lab"
    hand_written.write_text("0.0 2.0 C:maj\n2.0\t4.0\tA:min\n", encoding="utf-8")
    for row in ({"chord_intervals": [[0.0, 2.0], [2.0, 4.0]], "chord_labels": ["C:maj", "A:min"]},
                {"chords": str(hand_written)},
                {"chords": [[0.0, 2.0, "C:maj"], [2.0, 4.0, "A:min"]]}):
        got_intervals, got_labels = read_chords(row)
        np.testing.assert_array_equal(got_intervals, [[0.0, 2.0], [2.0, 4.0]])
        assert got_labels == ["C:maj", "A:min"]
    assert parse_chords(hand_written)[1] == ["C:maj", "A:min"]
    with pytest.raises(KeyError):
        read_chords({"beats": [1.0]})


# ---------------------------------------------------------------------------------------------------------------- aggregate


def test_aggregate():
    results = [{"F-measure": 1.0, "duration": 1.0}, {"F-measure": 0.5, "duration": 3.0},
               {"F-measure": math.nan, "duration": 2.0, "note": "text"}]
    mean = aggregate(results)
    assert mean["F-measure"] == pytest.approx(0.75) and mean["num_tracks"] == 3 and "note" not in mean
    assert aggregate(results, weight="duration")["F-measure"] == pytest.approx((1.0 + 1.5) / 4)
    with pytest.raises(ValueError):
        aggregate([])


# ---------------------------------------------------------------------------------------------------------------- evaluate modules


@pytest.fixture(scope="module")
def load_metric():
    os.environ.setdefault("HF_HUB_OFFLINE", "1")  # local scripts: nothing to download
    os.environ.setdefault("HF_DATASETS_OFFLINE", "1")
    evaluate = pytest.importorskip("evaluate")
    return lambda name: evaluate.load(str(METRICS_DIR / name), keep_in_memory=True)


def test_evaluate_beat_module(load_metric):
    times = token_times(12.0)
    refs = [np.arange(0.5, 11.5, 0.5), np.arange(1.0, 11.5, 0.4)]
    ests = [decode_beats(beat_targets(refs[0], times), times), refs[1][::2] + 0.02]
    expected = aggregate([beat_metrics(e, r, trim_first_seconds=5.0) for e, r in zip(ests, refs)])
    metric = load_metric("beat")
    got = metric.compute(predictions=[e.tolist() for e in ests], references=[r.tolist() for r in refs],
                         trim_first_seconds=5.0)
    assert got == pytest.approx(expected)


def test_evaluate_key_module(load_metric):
    preds, refs = ["G major", "A minor", "Db major", "none"], ["C major", "C major", "C# major", "E minor"]
    metric = load_metric("key")
    assert metric.compute(predictions=preds, references=refs) == pytest.approx(key_metrics(preds, refs))
    indices = metric.compute(predictions=[key_class(p, True) for p in preds], references=[key_class(r) for r in refs])
    assert indices == pytest.approx(key_metrics(preds, refs))


def test_evaluate_tagging_module(load_metric):
    rng = np.random.default_rng(1)
    targets = (rng.random((10, 4)) < 0.5).astype(int)
    targets[:, 3] = 0
    scores = rng.random((10, 4))
    metric = load_metric("tagging")
    got = metric.compute(predictions=scores.tolist(), references=targets.tolist())
    assert got == pytest.approx(tagging_metrics(scores, targets))


def test_evaluate_chord_module(load_metric):
    tracks = [(predictions_for(["C:maj", "A:maj", "G:maj"]), TIMES, REF_INTERVALS, REF_LABELS),
              (np.full(50, C), TIMES[:50], np.array([[0.0, 5.0]]), ["A:min"])]
    per_track = [chord_metrics(*track) for track in tracks]
    metric = load_metric("chord")
    inputs = dict(predictions=[t[0].tolist() for t in tracks], token_times=[t[1].tolist() for t in tracks],
                  reference_intervals=[t[2].tolist() for t in tracks], reference_labels=[t[3] for t in tracks])
    by_duration = metric.compute(**inputs)
    assert by_duration == pytest.approx(aggregate(per_track, weight="duration"))
    assert by_duration["majmin"] == pytest.approx(6 / 15)  # 6 s right out of 15
    assert metric.compute(**inputs, weighting="track") == pytest.approx(aggregate(per_track))


@pytest.mark.parametrize("ties", [False, True])
def test_resampled_tagging_metrics_equal_scikit_learn_with_multiplicities(ties):
    from sklearn.metrics import average_precision_score, roc_auc_score

    from vit1d.probing.metrics import resampled_tagging_metrics, tagging_metrics

    rng = np.random.default_rng(0)
    scores = rng.normal(size=(30, 6))
    if ties:  # groups of tied tracks within tags (identical audio, a saturated probe): one threshold per group
        scores = np.round(scores * 2) / 2
        scores[:10, 0] = 1.0
    targets = (rng.uniform(size=(30, 6)) < 0.3).astype(float)
    targets[:, 5] = 0  # a tag without positives is left out, as tagging_metrics leaves it out
    weights = np.vstack([np.ones(30), rng.multinomial(30, np.ones(30) / 30, size=20)])  # the split, 20 resamples
    fast = resampled_tagging_metrics(scores, targets, weights)
    assert fast["mAP"][0] == pytest.approx(tagging_metrics(scores, targets)["mAP"], abs=1e-12)
    assert fast["ROC-AUC"][0] == pytest.approx(tagging_metrics(scores, targets)["ROC-AUC"], abs=1e-12)
    for b, w in enumerate(weights):
        keep = [k for k in range(6) if 0 < (w * targets[:, k]).sum() < w.sum()]
        ap = np.mean([average_precision_score(targets[:, k], scores[:, k], sample_weight=w) for k in keep])
        auc = np.mean([roc_auc_score(targets[:, k], scores[:, k], sample_weight=w) for k in keep])
        assert fast["mAP"][b] == pytest.approx(ap, abs=1e-12) and fast["ROC-AUC"][b] == pytest.approx(auc, abs=1e-12)
    all_tied = resampled_tagging_metrics(np.zeros((4, 1)), np.array([[1], [0], [1], [0]]), np.ones((1, 4)))
    assert all_tied["mAP"][0] == pytest.approx(0.5) and all_tied["ROC-AUC"][0] == pytest.approx(0.5)
