"""Classical floors and chance levels of the probe tables (vit1d.probing.baselines), on audio synthesised here."""

import itertools
import math

import mir_eval
import numpy as np
import pytest
import soundfile as sf

from vit1d.probing.baselines import (
    KRUMHANSL_KESSLER_MAJOR,
    KRUMHANSL_KESSLER_MINOR,
    chance_levels,
    classical_beats,
    classical_chords,
    classical_key,
    evaluate_classical,
    expected_random_average_precision,
    key_correlations,
    tempo_regular_beats,
    triad_templates,
)
from vit1d.probing.labels import CHORD_CLASS_LABELS, NO_CHORD_CLASS, key_class
from vit1d.probing.metrics import aggregate, beat_metrics, chord_metrics, decode_beats, tagging_metrics

SR = 16000
TOKEN_TIMES_20S = np.arange(625) * 512 / SR  # the model's token grid over 20 s


def click_track(beat_times, seconds, sampling_rate=SR):
    """Short decaying 1 kHz bursts (10 ms) at each beat."""
    y = np.zeros(int(seconds * sampling_rate), dtype=np.float32)
    n = int(0.01 * sampling_rate)
    burst = (np.sin(2 * np.pi * 1000 * np.arange(n) / sampling_rate) * np.exp(-np.arange(n) / (n / 4))).astype(
        np.float32)
    for t in beat_times:
        start = int(round(t * sampling_rate))
        y[start : start + n] += burst[: len(y) - start]
    return 0.5 * y


def tone(midi_notes, seconds, amplitude=0.2, sampling_rate=SR):
    """Notes as sums of three sine partials (1, 1/2, 1/4), with 10 ms / 20 ms linear fades."""
    t = np.arange(int(seconds * sampling_rate)) / sampling_rate
    y = np.zeros_like(t)
    for note in midi_notes:
        f = 440.0 * 2 ** ((note - 69) / 12)
        for harmonic, weight in ((1, 1.0), (2, 0.5), (3, 0.25)):
            y += weight * np.sin(2 * np.pi * f * harmonic * t)
    fade = np.minimum(1.0, np.minimum(t / 0.01, (seconds - t) / 0.02))
    return (amplitude * y * fade / len(midi_notes)).astype(np.float32)


def sequence(events, seconds_each, sampling_rate=SR):
    return np.concatenate([tone(e if isinstance(e, list) else [e], seconds_each, sampling_rate=sampling_rate)
                           for e in events])


def beat_activation(times, beats, rng, noise=0.2):
    """A probe-like beat activation: uniform noise in [0, noise) with a 20 ms Gaussian bump of height 1 per beat."""
    curve = rng.uniform(0, noise, len(times))
    for beat in beats:
        curve = np.maximum(curve, np.exp(-0.5 * ((times - beat) / 0.02) ** 2))
    return curve


def chord_track(sampling_rate=SR):
    """C major (C4 E4 G4) for 2 s, A minor (A3 C4 E4) for 2 s, 1 s of silence."""
    return np.concatenate([tone([60, 64, 67], 2.0, sampling_rate=sampling_rate),
                           tone([57, 60, 64], 2.0, sampling_rate=sampling_rate),
                           np.zeros(sampling_rate, dtype=np.float32)])


CHORD_REFERENCE = (np.array([[0.0, 2.0], [2.0, 4.0], [4.0, 5.0]]), ["C:maj", "A:min", "N"])


# ----------------------------------------------------------------------------------------------------------------
# beat
# ----------------------------------------------------------------------------------------------------------------


def test_classical_beats_click_track():
    reference = np.arange(0.0, 20.0, 0.5)  # 120 BPM
    beats = classical_beats(click_track(reference, 20.0), SR)
    scores = beat_metrics(beats, reference)
    assert scores["F-measure"] > 0.9
    assert scores["Correct Metric Level Total"] > 0.9
    assert np.all(np.diff(beats) > 0)
    assert np.median(np.diff(beats)) == pytest.approx(0.5, abs=0.04)


def test_classical_beats_resamples_other_rates():
    reference = np.arange(0.25, 10.0, 0.6)  # 100 BPM at 22.05 kHz
    beats = classical_beats(click_track(reference, 10.0, 22050), 22050)
    assert beat_metrics(beats, reference)["F-measure"] > 0.9


def test_tempo_regular_beats_recovers_noisy_peaks():
    rng = np.random.default_rng(0)
    reference = np.arange(0.5, 20.0, 0.5)
    beats = tempo_regular_beats(beat_activation(TOKEN_TIMES_20S, reference, rng), TOKEN_TIMES_20S)
    assert beat_metrics(beats, reference)["F-measure"] > 0.9
    assert np.isin(beats, TOKEN_TIMES_20S).all()  # beats sit on tokens


def test_tempo_regular_beats_fills_in_missing_peaks_where_peak_picking_cannot():
    rng = np.random.default_rng(1)
    reference = np.arange(0.5, 20.0, 0.5)
    kept = np.sort(rng.choice(reference, len(reference) // 2, replace=False))  # half the beats have no peak
    curve = beat_activation(TOKEN_TIMES_20S, kept, rng)
    regular = beat_metrics(tempo_regular_beats(curve, TOKEN_TIMES_20S), reference)["F-measure"]
    picked = beat_metrics(decode_beats(curve, TOKEN_TIMES_20S), reference)["F-measure"]
    assert picked < 0.7  # peak picking finds the surviving half only
    assert regular > 0.9
    assert regular > picked


def test_tempo_regular_beats_reads_the_rate_and_offset_of_the_grid():
    # Two frames per token (15.625 tokens/s) in a stitched track that starts at 10 s: a decoder that assumed 31.25
    # tokens/s would halve the tempo in BPM and miss every other beat; one that ignored the times would be off by 10 s.
    rng = np.random.default_rng(2)
    times = 10.0 + (np.arange(313) * 2 + 0.5) * 512 / SR
    reference = np.arange(10.5, 29.9, 0.5)
    beats = tempo_regular_beats(beat_activation(times, reference, rng), times)
    assert beat_metrics(beats, reference)["F-measure"] > 0.9


def test_tempo_regular_beats_edge_cases():
    assert len(tempo_regular_beats(np.zeros(100), TOKEN_TIMES_20S[:100])) == 0
    assert len(tempo_regular_beats(np.full(100, 0.7), TOKEN_TIMES_20S[:100])) == 0
    with pytest.raises(ValueError, match="differ in length"):
        tempo_regular_beats(np.zeros(10), TOKEN_TIMES_20S[:11])
    with pytest.raises(ValueError, match="NaN"):
        tempo_regular_beats(np.full(10, np.nan), TOKEN_TIMES_20S[:10])


# ----------------------------------------------------------------------------------------------------------------
# chord
# ----------------------------------------------------------------------------------------------------------------


def test_triad_templates_match_the_class_labels():
    templates = triad_templates()
    for index, row in enumerate(templates):
        root, bitmap, _ = mir_eval.chord.encode(CHORD_CLASS_LABELS[index])
        assert np.array_equal(row, np.roll(bitmap, root)), CHORD_CLASS_LABELS[index]


@pytest.mark.parametrize("gain", [1.0, 0.01])  # the gate is relative to the track's level: -40 dB changes nothing
def test_classical_chords_on_synthesised_triads(gain):
    y = gain * chord_track()
    times = np.arange(1 + len(y) // 512) * 512 / SR
    predicted = classical_chords(y, SR, times)
    target = np.where(times < 2.0, 0, np.where(times < 4.0, 9 + 12, NO_CHORD_CLASS))  # C:maj, A:min, N
    assert np.mean(predicted == target) > 0.8
    assert np.mean(predicted[times < 2.0] == 0) > 0.8
    assert np.mean(predicted[(times >= 2.0) & (times < 4.0)] == 21) > 0.8
    assert np.all(predicted[times >= 4.1] == NO_CHORD_CLASS)  # the silence
    assert chord_metrics(predicted, times, *CHORD_REFERENCE)["frame_accuracy"] > 0.8


def test_classical_chords_at_other_token_times():
    # Tokens at any times take the nearest frame: a coarse grid offset by half a frame still reads the chords.
    times = np.arange(0.016, 5.0, 0.25)
    predicted = classical_chords(chord_track(), SR, times)
    target = np.where(times < 2.0, 0, np.where(times < 4.0, 21, NO_CHORD_CLASS))
    assert np.mean(predicted == target) > 0.8


def test_silence_has_no_chord_and_no_key():
    silence = np.zeros(4 * SR, dtype=np.float32)
    assert np.all(classical_chords(silence, SR, np.arange(10) * 0.032) == NO_CHORD_CLASS)
    assert classical_key(silence, SR) == 24


# ----------------------------------------------------------------------------------------------------------------
# key
# ----------------------------------------------------------------------------------------------------------------


def test_key_profiles_find_their_own_key():
    for tonic in range(12):
        assert np.argmax(key_correlations(np.roll(KRUMHANSL_KESSLER_MAJOR, tonic))) == tonic
        assert np.argmax(key_correlations(np.roll(KRUMHANSL_KESSLER_MINOR, tonic))) == 12 + tonic
    assert np.isnan(key_correlations(np.ones(12))).all()


def test_classical_key_of_a_major_and_a_harmonic_minor_cadence():
    # A scale, then I-IV-V-I (or i-iv-V-i with its raised leading tone, G# in A minor), chords with the bass below.
    c_major = np.concatenate([
        sequence([60, 62, 64, 65, 67, 69, 71, 72], 0.25),
        sequence([[48, 60, 64, 67], [53, 60, 65, 69], [55, 59, 62, 67], [48, 60, 64, 67]], 0.5),
    ])
    a_minor = np.concatenate([
        sequence([57, 59, 60, 62, 64, 65, 68, 69], 0.25),
        sequence([[45, 57, 60, 64], [50, 57, 62, 65], [52, 56, 59, 64], [45, 57, 60, 64]], 0.5),
    ])
    assert classical_key(c_major, SR) == key_class("C major")
    assert classical_key(a_minor, SR) == key_class("A minor")
    # Transposed up a major second, at another rate: D major.
    d_major = np.concatenate([
        sequence([62, 64, 66, 67, 69, 71, 73, 74], 0.25, 22050),
        sequence([[50, 62, 66, 69], [55, 62, 67, 71], [57, 61, 64, 69], [50, 62, 66, 69]], 0.5, 22050),
    ])
    assert classical_key(d_major, 22050) == key_class("D major")


# ----------------------------------------------------------------------------------------------------------------
# running over tracks
# ----------------------------------------------------------------------------------------------------------------


def test_evaluate_classical_reads_files_and_scores_per_track(tmp_path):
    reference = np.arange(0.0, 10.0, 0.5)
    sf.write(tmp_path / "clicks.wav", click_track(reference, 10.0, 22050), 22050)
    sf.write(tmp_path / "chords.wav", chord_track(22050), 22050)

    beat = evaluate_classical("beat", [tmp_path / "clicks.wav", click_track(reference, 10.0)],
                              [reference, reference + 0.25])
    assert len(beat.per_track["F-measure"]) == 2 and beat.track_weights is None
    assert beat.per_track["F-measure"][0] > 0.9 and beat.per_track["F-measure"][1] < 0.2  # the second is off-beat
    assert beat.metrics["F-measure"] == pytest.approx(np.mean(beat.per_track["F-measure"]))
    assert beat.metrics["num_tracks"] == 2

    chord = evaluate_classical("chord", [str(tmp_path / "chords.wav"), (chord_track(), SR)],
                               [CHORD_REFERENCE, {"chord_intervals": [[0, 4]], "chord_labels": ["C:maj"]}])
    accuracy = chord.per_track["frame_accuracy"]
    # The second reference says C:maj from 0 to 4 s: right for 2 s, wrong for 2 s, then N (right) to 5 s: 95 of 157.
    assert accuracy[0] > 0.8 and accuracy[1] == pytest.approx(95 / 157, abs=0.03)
    assert chord.track_weights == [5.0, 4.0]
    assert chord.metrics["frame_accuracy"] == pytest.approx(np.average(accuracy, weights=[5.0, 4.0]))
    assert len(chord.predictions[0]) == len(chord.token_times[0]) == 1 + 5 * SR // 512

    key = evaluate_classical("key", [(chord_track(22050), 22050)], ["A minor"])
    assert set(key.per_track) >= {"accuracy", "weighted_score"}
    assert key.metrics["num_tracks"] == 1 and key.predictions[0] in range(25)

    with pytest.raises(ValueError, match="tagging has chance only"):
        evaluate_classical("tagging", [chord_track()], [["rock"]])


# ----------------------------------------------------------------------------------------------------------------
# chance
# ----------------------------------------------------------------------------------------------------------------


def test_chance_key_majority_and_uniform():
    train = ["C major", "G major", "C major", "Bb minor"]
    test = ["C major", "G major", "A minor", "none"]
    levels = chance_levels("key", train, test)
    majority = levels["majority"]
    assert majority.predictions == [0] * 4
    # C vs C: 1; C vs G major: C is a fifth *below* G, 0; C major for A minor: relative, 0.3; vs no key: 0.
    assert majority.per_track["weighted_score"] == pytest.approx([1.0, 0.0, 0.3, 0.0])
    assert majority.per_track["accuracy"] == [1.0, 0.0, 0.0, 0.0]
    assert majority.metrics["weighted_score"] == pytest.approx(1.3 / 4)
    uniform = levels["uniform"]
    assert uniform.per_track["accuracy"] == pytest.approx([1 / 24] * 3 + [0.0])
    assert uniform.per_track["weighted_score"] == pytest.approx([2.0 / 24] * 3 + [0.0])  # (1 + .5 + .3 + .2) / 24
    # Ties go to the lowest class: G major (7) and C minor (12) twice each.
    tied = chance_levels("key", ["C minor", "G major", "C minor", "G major"], ["G major"])["majority"]
    assert tied.predictions == [7]


def test_chance_chord_majority_class():
    train = [(np.array([[0.0, 3.0], [3.0, 4.0], [4.0, 5.0]]), ["C:maj", "A:min", "N"]),
             (np.array([[0.0, 2.5]]), ["A:min7"])]  # A:min 3.5 s in all, C:maj 3 s
    test = [(np.array([[0.0, 2.0], [2.0, 4.0]]), ["A:min", "G:maj"])]
    result = chance_levels("chord", train, test)["majority"]
    assert np.all(result.predictions[0] == 21)
    # Default grid: tokens every 32 ms from 0 to 4.0 s, 126 of them; the 63 before 2 s are A:min.
    assert len(result.token_times[0]) == 126
    assert result.per_track["frame_accuracy"][0] == pytest.approx(63 / 126)
    assert result.per_track["majmin"][0] == pytest.approx(0.5)
    assert result.track_weights == [4.0]
    own_grid = chance_levels("chord", train, test, token_times=[np.arange(0.1, 4.0, 1.0)])["majority"]
    assert own_grid.per_track["frame_accuracy"][0] == pytest.approx(0.5)  # 0.1, 1.1 | 2.1, 3.1


def test_chance_beat_metronome():
    train = [np.arange(0, 10, 0.5), np.arange(0, 10, 0.6), np.arange(0, 10, 0.5)]  # 120, 100, 120 BPM
    test = [np.arange(0, 10, 0.5), np.arange(0.25, 10, 0.5)]  # in phase with a metronome from 0 s, and off-beat
    result = chance_levels("beat", train, test)["metronome"]
    assert result.metrics["tempo_bpm"] == pytest.approx(120.0)
    assert result.per_track["F-measure"] == pytest.approx([1.0, 0.0])
    assert result.metrics["F-measure"] == pytest.approx(0.5)
    assert result.predictions[0][-1] == pytest.approx(9.5)
    longer = chance_levels("beat", train, test[:1], durations=[12.0])["metronome"]
    assert longer.predictions[0][-1] == pytest.approx(12.0)
    assert longer.per_track["F-measure"][0] < 1.0  # beats past the last reference are false positives


def test_expected_random_average_precision():
    assert expected_random_average_precision(1, 2) == pytest.approx(0.75)  # rank 1: AP 1, rank 2: AP 1/2
    assert expected_random_average_precision(3, 3) == pytest.approx(1.0)
    assert expected_random_average_precision(1, 10) == pytest.approx(sum(1 / k for k in range(1, 11)) / 10)
    assert expected_random_average_precision(100, 10000) == pytest.approx(0.01, abs=0.001)  # -> the positive rate
    with pytest.raises(ValueError):
        expected_random_average_precision(0, 5)


def test_chance_tagging_random_ranking():
    train = [["rock", "guitar"], ["jazz"], ["rock"], "piano"]
    test = [["rock"], ["rock", "guitar"], ["jazz"], [], ["rock", "piano", "unseen"]]
    result = chance_levels("tagging", train, test)["random"]
    # Vocabulary (train): guitar, jazz, piano, rock; positives in 5 test tracks: 1, 1, 1, 3 (all scorable).
    rates = [1 / 5, 1 / 5, 1 / 5, 3 / 5]
    assert result.metrics["mAP_positive_rate"] == pytest.approx(np.mean(rates))
    assert result.metrics["ROC-AUC"] == 0.5 and result.metrics["num_tags_scored"] == 4
    # The exact expectation: macro mAP of scikit-learn averaged over every ranking of the 5 tracks.
    targets = np.array([[0, 0, 0, 1], [1, 0, 0, 1], [0, 1, 0, 0], [0, 0, 0, 0], [0, 0, 1, 1]])
    brute = np.mean([tagging_metrics(np.tile(np.array(order, float)[:, None], (1, 4)), targets)["mAP"]
                     for order in itertools.permutations(range(5))])
    assert result.metrics["mAP"] == pytest.approx(brute)
    assert result.metrics["mAP"] > result.metrics["mAP_positive_rate"]  # small splits: above the positive rate
    assert result.per_track == {}
    # A tag that every test track has (or none has) is left out, as tagging_metrics does.
    excluded = chance_levels("tagging", [["a"], ["b"]], [["a"], ["a"]])["random"]
    assert excluded.metrics["num_tags_excluded"] == 2 and math.isnan(excluded.metrics["mAP"])


def test_chance_levels_checks_its_arguments():
    with pytest.raises(ValueError, match="Unknown task"):
        chance_levels("tempo", [1], [1])
    with pytest.raises(ValueError, match="durations"):
        chance_levels("beat", [np.arange(3.0)], [np.arange(3.0)], durations=[1.0, 2.0])
    with pytest.raises(ValueError, match="at least one test track"):
        chance_levels("key", ["C major"], [])


def test_chance_per_track_scores_aggregate_like_the_probes():
    result = chance_levels("chord", [CHORD_REFERENCE], [CHORD_REFERENCE, (np.array([[0.0, 1.0]]), ["C:maj"])])
    scores = [dict(zip(result["majority"].per_track, values))
              for values in zip(*result["majority"].per_track.values())]
    assert aggregate(scores, weight="duration")["frame_accuracy"] == pytest.approx(
        result["majority"].metrics["frame_accuracy"])
