import json

import numpy as np
import pytest
from datasets import load_dataset

import vit1d
from vit1d.data.render import assign_splits, render_piece, write_corpus
from vit1d.data.scores import DRUM_CHANNEL, KICK, PITCH_CLASSES, SCALES, NoteEvent, Piece, generate_groove


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
    summary = write_corpus(tmp_path / "corpus", pieces=10, seconds=4.0, seed=1)
    assert summary["splits"] == {"train": 8, "validation": 1, "test": 1}
    corpus = load_dataset(str(tmp_path / "corpus"))  # the folder's dataset card maps the splits
    assert set(corpus) == {"train", "validation", "test"}
    ids = [set(corpus[split]["piece_id"]) for split in corpus]
    assert sum(len(i) for i in ids) == 10 and len(set.union(*ids)) == 10  # no piece in two splits
    row = corpus["train"][0]
    assert row["audio_path"].startswith("train/") and row["sampling_rate"] == 16000
    waveform = vit1d.load_audio(tmp_path / "corpus" / row["audio_path"], sampling_rate=16000)
    assert waveform.shape == (4 * 16000,)
    piece = generate_groove(1 * 1_000_003 + int(row["piece_id"].split("-")[-1]), 4.0)
    np.testing.assert_allclose(waveform, render_piece(piece), atol=2 / 2**15)  # 16-bit FLAC
    assert row["key"] == piece.key and row["beats"] == pytest.approx(piece.beats)
    assert row["chord_labels"] == [label for _, _, label in piece.chords]
    assert row["chord_intervals"] == [[s, e] for s, e, _ in piece.chords]
    again = write_corpus(tmp_path / "again", pieces=10, seconds=4.0, seed=1)
    for split in ("train", "validation", "test"):
        first = (tmp_path / "corpus" / split / "metadata.jsonl").read_text()
        assert first == (tmp_path / "again" / split / "metadata.jsonl").read_text()
    assert again["splits"] == summary["splits"]
