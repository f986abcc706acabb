import importlib.util
import json
import os

import numpy as np
import pytest
from datasets import load_dataset

import vit1d
from vit1d.chords import (
    NUM_MAJMIN_CLASSES,
    PITCH_CLASSES,
    QUALITY_INTERVALS,
    majmin_class,
    name_chord,
    split_chord_label,
    to_majmin,
)
from vit1d.corpus import chorales, render, tunes
from vit1d.corpus.chorales import (
    ENSEMBLES,
    VOICE_PROGRAMS,
    Measure,
    beat_grid,
    chorale_piece,
    load_chorale,
    merge_ties,
)
from vit1d.corpus.effects import PARAM_KEYS, apply_realism
from vit1d.corpus.render import assign_splits, make_piece, plan_corpus, render_piece, split_by_work, write_corpus
from vit1d.corpus.scores import DRUM_CHANNEL, KICK, SCALES, NoteEvent, Piece, chords_from_notes, generate_groove

needs_music21 = pytest.mark.skipif(importlib.util.find_spec("music21") is None, reason="needs `pip install music21`")


def _load_corpus(folder):
    """`load_dataset(folder)` with a cache of its own: datasets 5 keys its cache by the folder's name, so a shared
    cache can hand back the rows of another folder called "corpus" (another test run's, with other columns)."""
    return load_dataset(str(folder), cache_dir=str(folder.parent / "datasets-cache"))


@pytest.mark.parametrize("seed", range(12))
def test_groove_labels_are_consistent(seed):
    piece = generate_groove(seed, seconds=20.0)
    beat = 60.0 / piece.tempo
    assert 60 <= piece.tempo <= 180 and piece.beats_per_bar in (3, 4)
    np.testing.assert_allclose(np.diff(piece.beats), beat, atol=2e-6)
    assert piece.beats[0] == 0.0 and piece.beats[-1] < 20.0 <= piece.beats[-1] + beat + 1e-6
    assert piece.downbeats == piece.beats[:: piece.beats_per_bar]
    # Chords tile the piece, one per bar, and are diatonic triads of the key.
    assert piece.chords[0][0] == 0.0 and piece.chords[-1][1] == pytest.approx(20.0)
    assert all(a[1] == pytest.approx(b[0]) for a, b in zip(piece.chords, piece.chords[1:]))
    assert [c[0] for c in piece.chords] == pytest.approx(piece.downbeats)
    scale = {(piece.key_tonic + step) % 12 for step in SCALES[piece.key_mode]}
    for _, _, label in piece.chords:
        root, quality = label.split(":")
        assert PITCH_CLASSES.index(root) in scale and quality in ("maj", "min")
    # The first chord is the tonic triad in the key's mode.
    assert piece.chords[0][2] == f"{PITCH_CLASSES[piece.key_tonic]}:{'maj' if piece.key_mode == 'major' else 'min'}"
    assert ("drums" in piece.tags) == (piece.style != "no_drums")
    assert piece.onsets == sorted(set(piece.onsets)) and all(0 <= t < 20.0 for t in piece.onsets)
    assert json.loads(json.dumps(piece.labels()))["key"] == piece.key


def test_grooves_and_renders_are_deterministic():
    a, b = generate_groove(7, 8.0), generate_groove(7, 8.0)
    assert a == b and a != generate_groove(8, 8.0)
    audio = render_piece(a)
    np.testing.assert_array_equal(audio, render_piece(b))
    assert audio.shape == (8 * 16000,) and audio.dtype == np.float32
    assert np.abs(audio).max() == pytest.approx(0.9, abs=1e-6)


def test_rendered_click_track_onsets_match_the_labels():
    beats = [0.5 + k * 0.75 for k in range(10)]
    notes = [NoteEvent(t, t + 0.05, KICK, 120, DRUM_CHANNEL) for t in beats]
    piece = Piece("click", "test", "click", 80.0, 4, 0, "major", 8.0, {DRUM_CHANNEL: 0}, notes, beats, beats[::4])
    audio = render_piece(piece)
    envelope = np.abs(audio)
    for t in beats:
        window = envelope[int((t - 0.05) * 16000) : int((t + 0.05) * 16000)]
        onset = t - 0.05 + np.argmax(window > 0.1 * envelope.max()) / 16000
        assert abs(onset - t) < 0.010, (t, onset)
        before = envelope[int((t - 0.1) * 16000) : int((t - 0.005) * 16000)]
        assert before.max() < 0.05 * envelope.max()  # nothing sounds just before a labelled onset


def test_splits_are_by_piece_and_deterministic():
    splits = assign_splits(50, seed=3)
    assert splits == assign_splits(50, seed=3) and splits != assign_splits(50, seed=4)
    assert (splits.count("train"), splits.count("validation"), splits.count("test")) == (40, 5, 5)


def test_written_corpus_loads_with_datasets(tmp_path):
    summary = write_corpus(tmp_path / "corpus", pieces=10, seconds=4.0, seed=1, score_fraction=0.0,
                           strata_fraction=0.0)
    assert summary["splits"] == {"train": 8, "validation": 1, "test": 1}
    corpus = _load_corpus(tmp_path / "corpus")  # the folder's dataset card maps the splits
    assert set(corpus) == {"train", "validation", "test"}
    ids = [set(corpus[split]["piece_id"]) for split in corpus]
    assert sum(len(i) for i in ids) == 10 and len(set.union(*ids)) == 10  # no piece in two splits
    row = corpus["train"][0]
    assert row["audio_path"].startswith("train/") and row["sampling_rate"] == 16000
    waveform = vit1d.load_audio(tmp_path / "corpus" / row["audio_path"], sampling_rate=16000)
    assert waveform.shape == (4 * 16000,)
    piece = generate_groove(1 * 1_000_003 + int(row["piece_id"].split("-")[-1]), 4.0)
    recorded = apply_realism(render_piece(piece), 16000, row["realism"])  # the recording chain the row records
    np.testing.assert_allclose(waveform, recorded, atol=2 / 2**15)  # 16-bit FLAC
    assert row["key"] == piece.key and row["beats"] == pytest.approx(piece.beats)
    assert row["chord_labels"] == [label for _, _, label in piece.chords]
    assert row["chord_intervals"] == [[s, e] for s, e, _ in piece.chords]
    again = write_corpus(tmp_path / "again", pieces=10, seconds=4.0, seed=1, score_fraction=0.0,
                         strata_fraction=0.0)
    for split in ("train", "validation", "test"):
        first = (tmp_path / "corpus" / split / "metadata.jsonl").read_text()
        assert first == (tmp_path / "again" / split / "metadata.jsonl").read_text()
    assert again["splits"] == summary["splits"]


# Chord vocabulary ------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("label, majmin", [
    ("C:maj", "C:maj"), ("G:7", "G:maj"), ("Bb:maj7", "Bb:maj"), ("Eb:aug", "Eb:maj"), ("D", "D:maj"),
    ("A:min", "A:min"), ("A:min7", "A:min"), ("B:dim", "B:min"), ("F#:hdim7", "F#:min"), ("C#:dim7", "C#:min"),
    ("E:min/b3", "E:min"), ("Db:maj", "C#:maj"), ("N", "N"), ("X", "N"),
])
def test_chord_labels_reduce_to_majmin_by_their_third(label, majmin):
    assert to_majmin(label) == majmin


def test_majmin_classes():
    classes = {majmin_class(f"{root}:{quality}") for root in PITCH_CLASSES for quality in ("maj", "min", "7", "dim")}
    assert classes == set(range(24))
    assert (majmin_class("C:maj"), majmin_class("B:7"), majmin_class("C:min"), majmin_class("A:min7")) == (0, 11, 12, 21)
    assert majmin_class("N") == NUM_MAJMIN_CLASSES - 1 == 24
    with pytest.raises(ValueError, match="sus4"):
        to_majmin("C:sus4")


@pytest.mark.parametrize("pitch_classes, bass, label", [
    ({0, 4, 7}, 0, "C:maj"), ({0, 4}, 4, "C:maj"), ({9, 0, 4}, 0, "A:min"), ({9, 0, 4, 7}, 0, "A:min7"),
    ({7, 11, 5}, 11, "G:7"), ({11, 2, 5}, 2, "B:dim"), ({2, 5, 8, 11}, 5, "F:dim7"), ({0, 4, 8}, 4, "E:aug"),
    ({0, 7}, 0, None), ({0, 2, 4}, 0, None),
])
def test_name_chord(pitch_classes, bass, label):
    assert name_chord(pitch_classes, bass) == label


def test_chords_from_notes_hold_through_passing_tones_and_mark_silence():
    def triad(start, end, *pitches):
        return [NoteEvent(start, end, pitch, 80, voice) for voice, pitch in enumerate(pitches)]

    notes = (triad(0, 1, 48, 64, 67) + triad(1, 1.5, 48, 64, 65)  # C major, then a passing F: still C major
             + triad(1.5, 2, 45, 65, 72)  # F major in first inversion
             + triad(3, 4, 43, 62) + triad(4, 5, 43, 59, 62, 65)  # a bare fifth takes the G:7 that follows
             + triad(6, 7, 48, 55)  # a bare fifth alone names no chord
             + [NoteEvent(0, 8, KICK, 100, DRUM_CHANNEL)])  # drums never count
    assert chords_from_notes(notes, 8.0) == [
        (0.0, 1.5, "C:maj"), (1.5, 2.0, "F:maj"), (2.0, 3.0, "N"), (3.0, 5.0, "G:7"), (5.0, 8.0, "N")]


# Chorales: pure parts --------------------------------------------------------------------------------------------


def test_beat_grid_handles_pickups_split_bars_and_metres():
    three_four = [Measure(0, 1, 3, 1), Measure(1, 3, 3, 1), Measure(4, 2, 3, 1),  # pickup; bar cut by a repeat sign
                  Measure(6, 1, 3, 1), Measure(7, 3, 3, 1), Measure(10, 2, 3, 1)]  # its other half; short last bar
    beats, downbeats = beat_grid(three_four)
    assert beats == list(range(12)) and downbeats == [1, 4, 7, 10]
    mixed = [Measure(0, 6, 6, 1.5), Measure(6, 4, 4, 1), Measure(10, 6, 6, 2)]  # 12/8, 4/4, 3/2
    assert beat_grid(mixed) == ([0, 1.5, 3, 4.5, 6, 7, 8, 9, 10, 12, 14], [0, 6, 10])
    assert beat_grid([Measure(0, 3, 4, 1), Measure(3, 4, 4, 1)]) == ([0, 1, 2, 3, 4, 5, 6], [3])  # 3-beat pickup


def test_merge_ties():
    events = [(0, 1, 60, "start"), (1, 1, 60, "stop"), (1, 1, 64, None), (2, 1, 60, None),
              (3, 1, 62, "start"), (4, 1, 62, "continue"), (5, 0.5, 62, "stop")]
    assert merge_ties(events) == [(0, 2, 60), (1, 1, 64), (2, 1, 60), (3, 2.5, 62)]


def test_work_names_keep_the_chorale_number():
    assert chorales.work_name("bach/bwv153.1") == "bwv153.1" != chorales.work_name("bach/bwv153.5")
    assert chorales.work_name("/x/music21/corpus/bach/bwv248.12-2.mxl") == "bwv248.12-2"


def test_missing_music21_names_the_corpus_extra(monkeypatch):
    monkeypatch.setitem(__import__("sys").modules, "music21", None)
    with pytest.raises(ImportError, match=r'needs `music21`, which comes with the corpus extra: pip install "vit1d\[corpus\]"'):
        chorales._music21()


# Chorales from the music21 corpus ---------------------------------------------------------------------------------


def _transposition(piece: Piece, score) -> int:
    """Semitones between the score and its performance, checked to be the same for every sounding note."""
    played = sorted(n.pitch for n in piece.notes if n.start == 0.0)
    written = sorted(pitch for offset, _, pitch, _ in score.notes if offset == 0.0)
    shifts = {a - b for a, b in zip(played, written)}
    assert len(shifts) == 1 and len(played) == len(written)
    return shifts.pop()


@needs_music21
@pytest.mark.parametrize("work, key", [("bach/bwv269", "G major"), ("bach/bwv318", "G major"),
                                       ("bach/bwv347", "A major"), ("bach/bwv28.6", "A minor"),
                                       ("bach/bwv36.8-2", "B minor"), ("bach/bwv363", "E minor")])
def test_chorale_key_is_the_written_key_transposed(work, key):
    from music21 import corpus
    from music21 import key as m21key

    written = next(iter(corpus.parse(work).parts[0].recurse().getElementsByClass(m21key.Key)))
    assert f"{written.tonic.name.replace('-', 'b')} {written.mode}" == key  # what the score says
    score = load_chorale(work)
    for seed in range(3):
        piece = chorale_piece(work, seed, seconds=200.0)  # the whole chorale
        shift = _transposition(piece, score)
        assert -5 <= shift <= 6
        expected = written.transpose(shift)
        assert piece.key == f"{PITCH_CLASSES[expected.tonic.pitchClass]} {expected.mode}"
        final = [label for _, _, label in piece.chords if label != "N"][-1]
        assert final.split(":")[0] == piece.key.split()[0]  # chorales end on the tonic chord


def test_chorale_transpositions_spread_the_keys():
    score = chorales.ChoraleScore("test", 7, "major", 4, 1.0, ((0.0, 4.0, 67, 0),), (Measure(0, 4, 4, 1),))
    pieces = [chorales.piece_from_score(score, seed, 4.0) for seed in range(200)]
    assert {p.notes[0].pitch - 67 for p in pieces} == set(range(-5, 7))
    assert {p.key for p in pieces} == {f"{name} major" for name in PITCH_CLASSES}
    assert {p.style for p in pieces} == set(ENSEMBLES)
    assert all(60 <= p.tempo <= 120 for p in pieces)


@needs_music21
def test_chorale_beats_follow_its_pickup():
    score = load_chorale("bach/bwv269")  # 3/4 with a one-beat pickup; repeat signs cut bars in two
    assert (score.beats_per_bar, score.measures[0].duration) == (3, 1.0)
    piece = chorale_piece("bach/bwv269", 4, seconds=30.0)
    beat = 60.0 / piece.tempo
    np.testing.assert_allclose(np.diff(piece.beats), beat, atol=2e-6)
    assert piece.beats[0] == 0.0 and piece.downbeats[0] == pytest.approx(beat)  # first downbeat after the pickup
    assert piece.downbeats == piece.beats[1::3]
    assert piece.beats[-1] < 30.0 <= piece.beats[-1] + beat + 1e-6
    full = chorale_piece("bach/bwv318", 4, seconds=30.0)  # 4/4 starting on a downbeat
    assert full.downbeats[0] == 0.0 and full.downbeats == full.beats[::4]


@needs_music21
def test_short_chorale_ends_in_silence():
    score = load_chorale("bach/bwv269")
    piece = chorale_piece("bach/bwv269", 1, seconds=80.0)
    end = score.length * 60.0 / piece.tempo  # 63 quarter notes at 60-120 BPM: at most 63 s
    assert piece.duration == 80.0 and end < 70.0
    assert max(n.end for n in piece.notes) == pytest.approx(end)
    assert piece.beats[-1] < end and piece.downbeats[-1] < end
    assert piece.chords[-1] == (pytest.approx(end), 80.0, "N")
    audio = render_piece(piece)
    assert audio.shape == (80 * 16000,)
    assert np.abs(audio[int((end + 2.0) * 16000):]).max() < 1e-3  # silence once the last chord has died away
    assert np.abs(audio[int((end - 1.0) * 16000):int(end * 16000)]).max() > 0.05


@needs_music21
def test_chorale_pieces_and_renders_are_deterministic():
    a, b = chorale_piece("bach/bwv347", 5, 6.0), chorale_piece("bach/bwv347", 5, 6.0)
    assert a == b and a != chorale_piece("bach/bwv347", 6, 6.0)
    np.testing.assert_array_equal(render_piece(a), render_piece(b))
    assert a.labels().keys() == generate_groove(0, 2.0).labels().keys()  # one schema for every source
    assert (a.labels()["source"], a.labels()["chord_source"], a.labels()["work"]) == ("chorale", "chordify", "bwv347")
    assert a.labels()["chord_labels_majmin"] == [to_majmin(label) for _, _, label in a.chords]


@needs_music21
@pytest.mark.parametrize("ensemble", list(ENSEMBLES))
def test_chorale_instruments_and_tags(ensemble):
    piece, drawn = chorale_piece("bach/bwv347", 2, 4.0, ensemble=ensemble), chorale_piece("bach/bwv347", 2, 4.0)
    assert piece.style == ensemble and sorted(piece.programs) == [0, 1, 2, 3]
    assert (piece.tempo, piece.key, piece.beats, piece.chords) == (drawn.tempo, drawn.key, drawn.beats, drawn.chords)
    if ensemble == "mixed":
        assert all(piece.programs[voice] in VOICE_PROGRAMS[voice] for voice in range(4))
    else:
        assert tuple(piece.programs.values()) == ENSEMBLES[ensemble] and ensemble in piece.tags
    assert "drums" not in piece.tags and piece.tags[-1] == "major"


def _assert_onsets_are_heard(piece: Piece, audio: np.ndarray) -> None:
    """The labelled onsets are the heard ones, within 30 ms, both ways."""
    envelope = np.abs(audio)
    assert piece.onsets[0] == 0.0 and np.argmax(envelope > 0.1 * envelope.max()) / 16000 < 0.020
    # Half-wave rectified log-spectral flux, 5 ms hop; its peaks are the heard onsets.
    hop, size = 80, 1024
    frames = np.lib.stride_tricks.sliding_window_view(np.pad(audio, size // 2), size)[::hop] * np.hanning(size)
    spectrum = np.log1p(100 * np.abs(np.fft.rfft(frames, axis=1)))
    flux = np.maximum(np.diff(spectrum, axis=0), 0).sum(axis=1)
    peaks = [i for i in range(1, len(flux) - 1)
             if flux[i] > flux.mean() + flux.std() and flux[i] >= flux[i - 1] and flux[i] > flux[i + 1]]
    detected = (np.array(peaks) + 1) * hop / 16000
    labelled = np.array(piece.onsets[1:])  # the flux cannot rise into the very first frame
    errors = np.array([np.abs(detected - t).min() for t in labelled])
    assert np.mean(errors < 0.03) >= 0.9, errors
    assert np.median(errors) < 0.02
    assert np.mean([np.abs(np.array(piece.onsets) - t).min() < 0.03 for t in detected]) >= 0.9


@needs_music21
def test_rendered_chorale_onsets_match_the_labels():
    piece = chorale_piece("bach/bwv269", 3, seconds=12.0, ensemble="piano")
    _assert_onsets_are_heard(piece, render_piece(piece))


# Fiddle tunes ---------------------------------------------------------------------------------------------------


def _assert_accompaniment_plays_the_labels(piece: Piece) -> None:
    """Every chord label is what the bass and chord instruments strike under it, and nothing is struck under "N"
    (a chord cut by the end of the clip may not have sounded all its notes yet)."""
    for start, end, label in piece.chords:
        struck = {n.pitch % 12 for n in piece.notes if n.channel in (tunes.BASS, tunes.CHORDS) and start <= n.start < end}
        parsed = split_chord_label(label)
        if parsed is None:
            assert not struck, (start, end, label)
        else:
            root, quality = parsed
            tones = {(root + i) % 12 for i in QUALITY_INTERVALS[quality]}
            assert root in struck and struck <= tones, (start, end, label)
            assert struck == tones or end == piece.duration, (start, end, label)


def _assert_metre_is_strict(piece: Piece) -> None:
    beat = 60.0 / piece.tempo
    np.testing.assert_allclose(np.diff(piece.beats), beat, atol=2e-6)
    first = piece.beats.index(piece.downbeats[0])
    assert first < piece.beats_per_bar and piece.downbeats == piece.beats[first :: piece.beats_per_bar]


def _assert_chords_tile(piece: Piece) -> None:
    assert piece.chords[0][0] == 0.0 and piece.chords[-1][1] == pytest.approx(piece.duration)
    assert all(a[1] == b[0] and a[2] != b[2] for a, b in zip(piece.chords, piece.chords[1:]))
    assert all(0 <= majmin_class(label) < NUM_MAJMIN_CLASSES for _, _, label in piece.chords)


def test_harmonise_follows_the_melody_and_ends_on_the_tonic():
    two_four = [Measure(0, 1, 2, 1)] + [Measure(1 + 2 * k, 2, 2, 1) for k in range(4)]  # a one-beat pickup
    units = tunes.chord_units(two_four, 2)
    assert units == [(1, 3), (3, 5), (5, 7), (7, 9)]  # one chord a bar; the pickup is not accompanied
    melody = [(0, 1, 67), (1, 1, 60), (2, 1, 64), (3, 1, 65), (4, 1, 69), (5, 1, 67), (6, 1, 71), (7, 2, 60)]
    assert [c[2:] for c in tunes.harmonise(melody, units, 0, "major")] == [
        (0, "maj"), (5, "maj"), (7, "maj"), (0, "maj")]  # C F G C
    four_four = [Measure(0, 4, 4, 1), Measure(4, 4, 4, 1)]
    units = tunes.chord_units(four_four, 4)
    assert units == [(0, 2), (2, 4), (4, 6), (6, 8)]  # half bars in 4/4
    melody = [(0, 1, 69), (1, 1, 72), (2, 1, 64), (3, 1, 76), (4, 1, 68), (5, 1, 71), (6, 2, 69)]  # A minor
    assert [c[2:] for c in tunes.harmonise(melody, units, 9, "minor")] == [
        (9, "min"), (9, "min"), (4, "maj"), (9, "min")]  # the dominant of a minor key is major (G#)


def test_tune_metre_check():
    regular = [Measure(0, 0.5, 2, 1), Measure(0.5, 2, 2, 1), Measure(2.5, 1.5, 2, 1), Measure(4, 0.5, 2, 1),
               Measure(4.5, 2, 2, 1), Measure(6.5, 1.5, 2, 1)]  # pickup; the last bar of a part and the pickup again
    assert tunes.is_regular(regular)
    assert not tunes.is_regular([Measure(0, 2, 2, 1), Measure(2, 2, 2, 1), Measure(4, 0.5, 2, 1),
                                 Measure(4.5, 2, 2, 1)])  # a pickup after a full bar shifts every later bar
    assert not tunes.is_regular([Measure(0, 2, 2, 1), Measure(2, 1.5, 2, 1), Measure(3.5, 2, 2, 1)])


def test_tune_performances_spread_keys_and_play_their_labels():
    measures = (Measure(0, 1, 2, 1), *(Measure(1 + 2 * k, 2, 2, 1) for k in range(8)))
    melody = tuple((1.0 + k, 1.0, 62 + 5 * (k % 3)) for k in range(16))
    score = tunes.TuneScore("test", 2, "major", 2, 1.0, ((0.0, 1.0, 69), *melody), measures,
                            tuple(tunes.harmonise(melody, tunes.chord_units(measures, 2), 2, "major")))
    pieces = [tunes.piece_from_score(score, seed, 6.0) for seed in range(150)]
    assert {p.key for p in pieces} == {f"{name} major" for name in PITCH_CLASSES}
    assert {p.style for p in pieces} == set(tunes.ACCOMPANIMENTS)
    assert all(tunes.BEAT_BPM[0] <= p.tempo <= tunes.BEAT_BPM[1] for p in pieces)
    for piece in pieces[:30]:
        _assert_accompaniment_plays_the_labels(piece)
        _assert_metre_is_strict(piece)
        _assert_chords_tile(piece)
        assert piece.chords[0] == (0.0, piece.downbeats[0], "N")  # nothing accompanies the one-beat pickup
        assert piece.downbeats[0] == pytest.approx(60.0 / piece.tempo) and piece.beats[0] == 0.0
        assert piece.notes[0].pitch - 69 == (piece.key_tonic - 2 + 5) % 12 - 5  # the melody moves with the key
    assert tunes.piece_from_score(score, 3, 6.0) == pieces[3]
    with pytest.raises(ValueError, match="boom_chick"):
        tunes.piece_from_score(score, 3, 6.0, accompaniment="polka")


def test_tune_fingerprints_ignore_the_key():
    measures = (Measure(0, 2, 2, 1),)
    a = tunes.TuneScore("a", 7, "major", 2, 1.0, ((0, 0.5, 67), (0.5, 0.5, 71), (1, 1, 74)), measures, ())
    b = tunes.TuneScore("b", 9, "major", 2, 1.0, ((0, 0.5, 69), (0.5, 0.5, 73), (1, 1, 76)), measures, ())
    c = tunes.TuneScore("c", 7, "major", 2, 1.0, ((0, 1, 67), (1, 0.5, 71), (1.5, 0.5, 74)), measures, ())
    assert tunes.fingerprint(a) == tunes.fingerprint(b) == ((4, 0.5), (3, 0.5)) != tunes.fingerprint(c)
    assert tunes.work_name("/x/corpus/ryansMammoth/CampMeetingJigNo2.abc") == "CampMeetingJigNo2"


@needs_music21
@pytest.mark.parametrize("work, metre, key", [
    ("AcaciaReel", (2, 1.0), "G major"),  # 2/4 with an eighth-note pickup
    ("AdmiralsHornpipe", (2, 2.0), "G major"),  # 2/2
    ("BannocksOBarleyMealJig", (2, 1.5), "D major"),  # 6/8
    ("BoatieRowsStrathspey", (4, 1.0), "G major"),  # 4/4
    ("AndrewCareysSlipjig", (3, 1.5), "D major"),  # 9/8
    ("BillyORourkesJig", (2, 1.5), "E minor"),  # 6/8, minor
])
def test_tune_labels_are_exact(work, metre, key):
    score = tunes.load_tune(f"ryansMammoth/{work}.abc")
    assert (score.beats_per_bar, score.beat_length) == metre
    assert f"{PITCH_CLASSES[score.key_tonic]} {score.key_mode}" == key
    for seed in range(4):
        piece = tunes.tune_piece(f"ryansMammoth/{work}.abc", seed, seconds=30.0)
        played = sorted(n.pitch for n in piece.notes if n.channel == tunes.MELODY)
        seconds_per_quarter = 60.0 / (piece.tempo * score.beat_length)
        written = sorted(p for offset, _, p in score.notes if offset * seconds_per_quarter < 30.0)
        shift = {a - b for a, b in zip(played, written)}
        assert len(played) == len(written) and len(shift) == 1  # one transposition for the whole tune
        shift = shift.pop()
        assert -5 <= shift <= 6
        assert piece.key == f"{PITCH_CLASSES[(score.key_tonic + shift) % 12]} {score.key_mode}"
        assert (piece.source, piece.chord_source, piece.work) == ("tune", "score", work)
        _assert_metre_is_strict(piece)
        _assert_chords_tile(piece)
        _assert_accompaniment_plays_the_labels(piece)
        end = score.length * seconds_per_quarter
        assert piece.beats[-1] < min(30.0, end) <= piece.beats[-1] + 60.0 / piece.tempo + 1e-6
        if end < 30.0:  # a short tune ends in silence
            assert piece.chords[-1] == (pytest.approx(end), 30.0, "N")
        final = [label for _, _, label in tunes.piece_from_score(score, seed, end + 1.0).chords if label != "N"][-1]
        assert final == f"{piece.key.split()[0]}:{'maj' if score.key_mode == 'major' else 'min'}"  # cadence


@needs_music21
def test_rendered_tune_onsets_match_the_labels():
    piece = tunes.piece_from_score(tunes.load_tune("ryansMammoth/BannocksOBarleyMealJig.abc"), 1, 12.0,
                                   accompaniment="boom_chick", programs={tunes.MELODY: 0, tunes.CHORDS: 0})
    audio = render_piece(piece)
    assert audio.shape == (12 * 16000,)
    _assert_onsets_are_heard(piece, audio)


@needs_music21
def test_tune_works_are_distinct_usable_tunes():
    works = tunes.tune_works()
    names = {tunes.work_name(work) for work in works}
    assert len(works) == len(names) == 605 and not names & tunes.EXCLUDED
    assert len({"BagOfMealThe", "BanishMisfortune"} & names) == 1  # one file under two titles
    assert len({"OldZipCoonReel_A", "OldZipCoonReel_G"} & names) == 1  # one tune in two keys
    scores = [tunes.load_tune(work) for work in works[:25]]
    assert len({tunes.fingerprint(score) for score in scores}) == 25
    assert {score.key_mode for score in scores} <= {"major", "minor"}


# Mixed corpus ----------------------------------------------------------------------------------------------------


def test_splits_keep_every_work_together():
    works = ["a", "b", "a", "c", "b", "d", "a", "e", "f", "g"]
    splits = split_by_work(works, seed=0)
    assert all(len({s for w, s in zip(works, splits) if w == work}) == 1 for work in works)
    assert split_by_work(list("abcdefghij"), 5) == assign_splits(10, 5)
    assert [p.piece_id for p in plan_corpus(10, 1, 0.0, strata_fraction=0.0)] == [f"groove-1-{i:05d}"
                                                                                    for i in range(10)]
    strata = plan_corpus(10, 1, 0.0)  # generated pieces: grooves, then the metrical and harmonic strata
    assert [p.source for p in strata] == ["groove"] * 3 + ["metrical"] * 4 + ["harmonic"] * 3
    assert [p.piece_id for p in strata][:3] == [f"groove-1-{i:05d}" for i in range(3)]
    assert strata[5].piece_id == "metrical-1-00005" and strata[9].piece_id == "harmonic-1-00009"


@needs_music21
def test_plans_cycle_through_the_chorales_without_leaking_across_splits():
    plan = plan_corpus(600, 0, score_fraction=0.9, tune_fraction=0.0)
    chorale_plan = [p for p in plan if p.work]
    assert len(chorale_plan) == 540 and len(plan) - len(chorale_plan) == 60
    works = chorales.chorale_works()
    assert len(works) == 251 and len({p.work for p in chorale_plan}) == len({p.work_id for p in chorale_plan}) == 251
    assert len({p.seed for p in plan}) == len({p.piece_id for p in plan}) == 600
    splits = split_by_work([p.work_id for p in plan], 0)
    for work in {p.work_id for p in plan}:
        assert len({s for p, s in zip(plan, splits) if p.work_id == work}) == 1
    with pytest.raises(ValueError, match="score_fraction"):
        plan_corpus(10, 0, score_fraction=1.5)
    with pytest.raises(ValueError, match="tune_fraction"):
        plan_corpus(10, 0, tune_fraction=-0.1)


@needs_music21
def test_plans_mix_the_sources_and_keep_tunes_in_one_split():
    assert render.score_counts(120) == {"grooves": 20, "metrical": 20, "harmonic": 20, "chorales": 30,
                                        "tunes": 30}  # the demo corpus
    assert render.score_counts(10, 0.3, 1.0, 0.0) == {"grooves": 7, "metrical": 0, "harmonic": 0, "chorales": 0,
                                                      "tunes": 3}
    with pytest.raises(ValueError, match="strata_fraction"):
        render.score_counts(10, strata_fraction=2.0)
    plan = plan_corpus(1400, 3, score_fraction=0.9, tune_fraction=0.5, strata_fraction=0.0)
    sources = [p.source for p in plan]
    assert sources == ["groove"] * 140 + ["chorale"] * 630 + ["tune"] * 630
    tune_plan = [p for p in plan if p.source == "tune"]
    assert {p.work for p in tune_plan} == set(tunes.tune_works())  # every tune, some twice
    assert all(p.piece_id.startswith("tune-3-") and p.work_id == tunes.work_name(p.work) for p in tune_plan)
    assert len({p.seed for p in plan}) == len({p.piece_id for p in plan}) == 1400
    splits = split_by_work([p.work_id for p in plan], 3)
    for work in {p.work_id for p in tune_plan}:
        assert len({s for p, s in zip(plan, splits) if p.work_id == work}) == 1
    # Without tunes a plan is what it was before they existed; with them, the grooves and their seeds are unchanged.
    without = plan_corpus(20, 3, 0.5, 0.0, 0.0)
    assert [p.source for p in without] == ["groove"] * 10 + ["chorale"] * 10
    assert plan_corpus(20, 3, 0.5, strata_fraction=0.0)[:10] == without[:10] == plan_corpus(20, 3, 0.0, 0.5,
                                                                                            0.0)[:10]
    assert plan_corpus(20, 3) == plan_corpus(20, 3) and plan_corpus(20, 3) != plan_corpus(20, 4)


@needs_music21
def test_mixed_corpus_loads_with_datasets(tmp_path):
    summary = write_corpus(tmp_path / "corpus", 8, 3.0, 2)  # positional arguments as before chorales existed
    assert (summary["grooves"], summary["metrical"], summary["harmonic"], summary["chorales"], summary["tunes"]) == (
        1, 2, 1, 2, 2)
    corpus = _load_corpus(tmp_path / "corpus")
    rows = [row for split in corpus for row in corpus[split]]
    assert {(row["source"], row["stratum"], row["chord_source"]) for row in rows} == {
        ("groove", "easy", "score"), ("metrical", "metrical", "score"), ("harmonic", "harmonic", "score"),
        ("chorale", "chorale", "chordify"), ("tune", "tune", "score")}
    for split in corpus:
        assert not {row["work"] for row in corpus[split]} & {r["work"] for s in corpus if s != split for r in corpus[s]}
    plan = {p.piece_id: p for p in plan_corpus(8, 2)}
    for source in ("chorale", "tune", "metrical", "harmonic"):
        row = next(row for row in rows if row["source"] == source)
        piece = make_piece(plan[row["piece_id"]], 3.0)
        assert row["work"] == piece.labels()["work"] and row["key"] == piece.key and row["beats"] == pytest.approx(
            piece.beats)
        assert row["chord_labels"] == [label for _, _, label in piece.chords]
        waveform = vit1d.load_audio(tmp_path / "corpus" / row["audio_path"], sampling_rate=16000)
        # The row records the recording chain drawn for the piece: it gives the file's audio from the dry render.
        assert set(row["realism"]) == set(PARAM_KEYS) and row["realism"]["snr_db"] is not None
        np.testing.assert_allclose(waveform, apply_realism(render_piece(piece), 16000, row["realism"]),
                                   atol=2 / 2**15)


# Reusing a rendered corpus ---------------------------------------------------------------------------------------


def test_ensure_corpus_reuses_only_a_corpus_rendered_with_the_requested_parameters(tmp_path, monkeypatch):
    folder = tmp_path / "corpus"
    assert render.ensure_corpus(folder, 3, 2.0, score_fraction=0.0) == str(folder)
    recorded = json.loads((folder / "corpus.json").read_text())
    assert recorded["parameters"] == render.render_parameters(3, 2.0, 0, 16000, 0.0, 0.5,
                                                              render.soundfont_choices(None), 2 / 3)
    assert recorded["parameters"]["soundfonts"][0]["name"] == "TimGM6mb.sf2"
    stamp = (folder / "corpus.json").stat().st_mtime_ns
    assert render.ensure_corpus(folder, 3, 2.0, score_fraction=0.0) == str(folder)  # reused, not rendered again
    assert (folder / "corpus.json").stat().st_mtime_ns == stamp
    for changed, expected in [({"pieces": 4}, "pieces: 3 there, 4 requested"),
                              ({"seconds": 3.0}, "seconds: 2.0 there, 3.0 requested"),
                              ({"seed": 1}, "seed: 0 there, 1 requested"),
                              ({"score_fraction": 0.5}, "score_fraction: 0.0 there, 0.5 requested")]:
        arguments = {"pieces": 3, "seconds": 2.0, "score_fraction": 0.0, **changed}
        with pytest.raises(ValueError, match=expected) as error:
            render.ensure_corpus(folder, **arguments)
        assert "--corpus_dir" in str(error.value) and f"delete {folder}" in str(error.value)
    assert (folder / "corpus.json").stat().st_mtime_ns == stamp  # a refused folder is left as it was
    # Another set of SoundFonts renders other audio for the same seed: also refused.
    other = tmp_path / "fonts" / "TimGM6mb.sf2"
    other.parent.mkdir()
    other.write_bytes(render.default_soundfont().read_bytes()[:-2])
    monkeypatch.setattr(render, "default_soundfont", lambda: other)
    with pytest.raises(ValueError, match="soundfonts"):
        render.ensure_corpus(folder, 3, 2.0, score_fraction=0.0)
    monkeypatch.undo()
    # A corpus rendered before the parameters were recorded cannot be checked: refused, with the fix.
    del recorded["parameters"]
    (folder / "corpus.json").write_text(json.dumps(recorded))
    with pytest.raises(ValueError, match="older vit1d.*did not record"):
        render.ensure_corpus(folder, 3, 2.0, score_fraction=0.0)


# Slow: every chorale of the music21 corpus -----------------------------------------------------------------------


@needs_music21
@pytest.mark.slow
def test_chorale_exclusions_are_current():
    from music21.corpus.chorales import Iterator

    not_four_voices, key_not_at_end = set(), set()
    for name in dict.fromkeys(Iterator(returnType="filename")):
        try:
            score = load_chorale(name)
        except ValueError:
            not_four_voices.add(name.split("/")[-1])
            continue
        if not chorales.ends_on_tonic(score):
            key_not_at_end.add(name.split("/")[-1])
    assert not_four_voices == chorales.NOT_FOUR_VOICES and key_not_at_end == chorales.KEY_NOT_AT_END


@needs_music21
@pytest.mark.slow
def test_chorale_chords_agree_with_roman_numeral_analyses():
    """music21 ships Roman-numeral analyses of the first 20 chorales (Riemenschneider order): the estimated roots
    should agree with the analysed ones most of the time (79 % when written; music21's chordify + root(): 78 %)."""
    from music21 import corpus, roman
    from music21.corpus.chorales import Iterator

    names = list(Iterator(returnType="filename"))
    agree = total = 0
    for number in range(1, 21):
        try:
            score = load_chorale(names[number - 1])
        except ValueError:  # bwv41.6 has instrumental parts
            continue
        analysis = corpus.parse(f"riemenschneider{number:03d}.rntxt").flatten().getElementsByClass(roman.RomanNumeral)
        offsets, roots = [float(rn.offset) for rn in analysis], [rn.root().pitchClass for rn in analysis]
        notes = [NoteEvent(offset, offset + duration, pitch, 80, voice) for offset, duration, pitch, voice in score.notes]
        chords = chords_from_notes(notes, score.length)
        for t in np.arange(0.125, score.length, 0.25):
            label = next(label for start, end, label in chords if start <= t < end)
            reference = roots[int(np.searchsorted(offsets, t, side="right")) - 1]
            agree += label != "N" and PITCH_CLASSES.index(to_majmin(label).split(":")[0]) == reference
            total += 1
    assert agree / total > 0.75, agree / total


@needs_music21
@pytest.mark.slow
def test_tune_exclusions_are_current():
    from vit1d.corpus import tune_exclusions

    found = {"MODAL_OR_NO_SINGLE_KEY": set(), "IRREGULAR_METRE": set(), "KEY_NOT_AT_END": set(), "SAME_TUNE": set()}
    fingerprints = set()
    for path in tunes._collection_files():
        try:
            score = tunes.load_tune(f"{tunes.COLLECTION}/{path.name}")
        except ValueError as err:
            reason = str(err)
            group = ("MODAL_OR_NO_SINGLE_KEY" if "major or minor" in reason else
                     "KEY_NOT_AT_END" if "tonic" in reason else "IRREGULAR_METRE")
            found[group].add(path.stem)
            continue
        if tunes.fingerprint(score) in fingerprints:
            found["SAME_TUNE"].add(path.stem)
        fingerprints.add(tunes.fingerprint(score))
    assert found == {name: getattr(tune_exclusions, name) for name in found}


def test_extra_soundfonts_are_drawn_per_piece_and_named(tmp_path, monkeypatch):
    import shutil

    other = tmp_path / "fonts" / "Other.sf2"
    other.parent.mkdir()
    shutil.copy(render.default_soundfont(), other)
    summary = render.write_corpus(tmp_path / "c", pieces=8, seconds=3, seed=0, score_fraction=0.0,
                                  extra_soundfonts=[other])
    rows = [json.loads(line) for path in sorted((tmp_path / "c").glob("*/metadata.jsonl"))
            for line in path.read_text().splitlines()]
    assert summary["soundfonts"] == ["TimGM6mb.sf2", "Other.sf2"]
    assert [font["name"] for font in summary["parameters"]["soundfonts"]] == summary["soundfonts"]  # checked on reuse
    assert {row["soundfont"] for row in rows} == {"TimGM6mb.sf2", "Other.sf2"}
    again = render.write_corpus(tmp_path / "d", pieces=8, seconds=3, seed=0, score_fraction=0.0,
                                extra_soundfonts=[other])
    assert again["soundfonts"] == summary["soundfonts"]
    for path in (tmp_path / "c").glob("*/metadata.jsonl"):  # the same seed draws the same font for every piece
        assert (tmp_path / "d" / path.parent.name / "metadata.jsonl").read_text() == path.read_text()
    monkeypatch.setenv("VIT1D_SOUNDFONT_DIRS", f"{other.parent}{os.pathsep}{tmp_path / 'missing'}")
    assert render.system_soundfonts() == [other.resolve()]
    assert [p.name for p in render.soundfont_choices(None, "auto")] == ["TimGM6mb.sf2", "Other.sf2"]
    assert [p.name for p in render.soundfont_choices(None)] == ["TimGM6mb.sf2"]  # "gm": FluidR3_GM only
    fluid = other.parent / "FluidR3_GM.sf2"
    shutil.copy(render.default_soundfont(), fluid)
    assert [p.name for p in render.soundfont_choices(None)] == ["TimGM6mb.sf2", "FluidR3_GM.sf2"]
    assert [p.name for p in render.soundfont_choices(None, [])] == ["TimGM6mb.sf2"]
    with pytest.raises(FileNotFoundError, match="No SoundFont"):
        render.soundfont_choices(None, [tmp_path / "nope.sf2"])


def test_a_reused_player_renders_every_piece_as_a_fresh_one_does():
    first, second = generate_groove(3, 2.0), generate_groove(4, 2.0)
    player = render.SoundFontPlayer()
    player.render(first)
    np.testing.assert_array_equal(player.render(second), render_piece(second))  # no tail of the first piece
    np.testing.assert_array_equal(player.render(first), render_piece(first))


def test_splits_are_stratified_by_source():
    works = [f"g{i}" for i in range(20)] + [f"c{i // 2}" for i in range(40)]  # chorale works rendered twice
    groups = ["groove"] * 20 + ["chorale"] * 40
    splits = split_by_work(works, 0, (0.5, 0.2, 0.3), groups)
    for group, size in (("groove", 20), ("chorale", 20)):  # distinct works per group
        group_works = {w: s for w, s, g in zip(works, splits, groups) if g == group}
        counts = {split: list(group_works.values()).count(split) for split in render.SPLITS}
        assert counts == {"train": round(0.5 * size), "validation": round(0.2 * size),
                          "test": size - round(0.5 * size) - round(0.2 * size)}
    assert all(len({s for w, s in zip(works, splits) if w == work}) == 1 for work in works)
    assert split_by_work(works, 0, (0.5, 0.2, 0.3), groups) == splits != split_by_work(works, 1, (0.5, 0.2, 0.3),
                                                                                       groups)
    assert render.split_sizes(20) == [16, 2, 2] and render.split_sizes(3) == [1, 1, 1]  # small: one each
    assert render.split_sizes(2) == [2, 0, 0] and render.split_sizes(5, (0.5, 0.5, 0.0)) == [2, 3, 0]
    assert render.split_sizes(1000, (0.4, 0.15, 0.45)) == [400, 150, 450]
    assert render.parse_split_fractions("0.4, 0.15,0.45") == (0.4, 0.15, 0.45)
    for bad in ("0.5,0.5", "0.5,0.3,0.3", "-0.1,0.6,0.5", "a,b,c"):
        with pytest.raises(ValueError, match="split_fractions"):
            render.parse_split_fractions(bad)
