"""The benchmark's strata: metrical pieces hide the beat from onsets, harmonic pieces carry chords beyond triads
with exact labels, and reference onsets come from fast-attack parts only."""

import numpy as np
import pytest

from vit1d.chords import QUALITY_INTERVALS, pitch_class
from vit1d.corpus.scores import DRUM_CHANNEL, NoteEvent, Piece
from vit1d.corpus.strata import ACCOMPANIMENT, BASS, INTERVAL_NAMES, MELODY, generate_harmonic, generate_metrical

SEEDS = range(12)


def parse(label: str) -> tuple[int, str, int]:
    """(root, quality, bass pitch class) of a generated label such as "Eb:maj7/3"."""
    chord, _, inversion = label.partition("/")
    root_name, quality = chord.split(":")
    root = pitch_class(root_name)
    names = {name: semitones for semitones, name in INTERVAL_NAMES.items()}
    return root, quality, (root + names[inversion]) % 12 if inversion else root


@pytest.mark.parametrize("seed", SEEDS)
def test_metrical_pieces_hide_the_beat_from_their_onsets(seed):
    piece = generate_metrical(seed, 30.0)
    settings = piece.generator
    per_beat, jitter = settings["subdivision"], settings["jitter_ms"] / 1000
    assert DRUM_CHANNEL not in piece.programs and not any(n.channel == DRUM_CHANNEL for n in piece.notes)
    beats = np.asarray(piece.beats)
    # Dense subdivisions: the ostinato plays every subdivision of every beat, at one velocity.
    ostinato = [n for n in piece.notes if n.channel == ACCOMPANIMENT]
    assert len(ostinato) >= per_beat * (len(beats) - 1)
    assert {n.velocity for n in ostinato} == {72} and {n.velocity for n in piece.notes if n.channel == MELODY} == {80}
    # So most onsets are off the beat: at least (subdivision - 1) / subdivision of the ostinato's, minus jitter's.
    onsets = np.asarray(piece.onsets)
    distance = np.abs(onsets[:, None] - beats[None]).min(axis=1)
    assert (distance > 0.05).mean() >= (per_beat - 1) / per_beat - 0.1
    # Syncopation, as recorded: the share of melody onsets off the beat (more than half, over the stratum).
    melody = np.asarray([n.start for n in piece.notes if n.channel == MELODY])
    melody_distance = np.abs(melody[:, None] - beats[None]).min(axis=1)
    assert (melody_distance > 2.5 * jitter + 1e-4).mean() == pytest.approx(settings["melody_off_beat_share"], abs=0.01)
    # The slower cues sit on downbeats: the bass starts a note once per bar, near the downbeat; chords change there.
    downbeats = np.asarray(piece.downbeats)
    bass = np.asarray([n.start for n in piece.notes if n.channel == BASS])
    assert len(bass) == len(downbeats)
    np.testing.assert_allclose(bass, downbeats, atol=2.5 * jitter + 1e-4)
    np.testing.assert_allclose([start for start, _, _ in piece.chords], downbeats, atol=1e-5)
    # The grid is irregular: a tempo curve and humanised timing.
    intervals = np.diff(beats)
    assert intervals.max() / intervals.min() > 1 + settings["tempo_depth"]
    assert all(n.start >= 0 for n in piece.notes)
    assert generate_metrical(seed, 30.0) == piece  # same seed, same piece


def test_the_metrical_stratum_is_syncopated():
    shares = [generate_metrical(seed, 30.0).generator["melody_off_beat_share"] for seed in SEEDS]
    assert np.mean(shares) > 0.6 and min(shares) > 0.35


@pytest.mark.parametrize("seed", SEEDS)
def test_harmonic_labels_equal_the_sounding_chord_tones(seed):
    piece = generate_harmonic(seed, 30.0)
    assert piece.chord_source == "score" and piece.chords[0][0] == 0.0
    for start, end, label in piece.chords[:-1]:  # the last chord may be cut short by the end of the piece
        root, quality, bass_pc = parse(label)
        expected = {(root + interval) % 12 for interval in QUALITY_INTERVALS[quality]}
        inside = [n for n in piece.notes if start - 1e-6 <= n.start < end - 1e-6]
        sounding = {n.pitch % 12 for n in inside if n.channel in (BASS, ACCOMPANIMENT)}
        assert sounding == expected, (label, sorted(sounding))
        (bass,) = [n for n in inside if n.channel == BASS]
        assert bass.pitch % 12 == bass_pc and bass.pitch == min(n.pitch for n in inside)
    assert generate_harmonic(seed, 30.0) == piece


def test_harmonic_pieces_contain_the_stated_chord_types():
    totals = {"qualities": {}, "inversions": 0, "passing": 0, "neighbour": 0, "suspension": 0}
    voicings = set()
    for seed in SEEDS:
        piece = generate_harmonic(seed, 30.0)
        voicings.add(piece.generator["voicing"])
        labels = [label for _, _, label in piece.chords]
        qualities = [parse(label)[1] for label in labels]
        for quality in qualities:
            totals["qualities"][quality] = totals["qualities"].get(quality, 0) + 1
        assert sum(piece.generator["qualities"].values()) >= len(labels)  # recorded before cropping to 30 s
        for key in ("inversions", "passing", "neighbour", "suspension"):
            totals[key] += piece.generator[key]
        # Non-chord tones are in the melody only: its pitch classes may leave the chord, the others never do.
        assert any(n.channel == MELODY for n in piece.notes)
    assert {"maj7", "7", "min7", "hdim7", "dim7"} <= set(totals["qualities"])
    assert totals["inversions"] > 20 and min(totals["passing"], totals["neighbour"], totals["suspension"]) > 10
    assert voicings == {"arpeggio", "alberti", "broken"}


def test_no_instant_of_a_harmonic_piece_holds_its_whole_chord():
    """What gives the stratum headroom: the accompaniment sounds one chord tone at a time and the bass only the first
    beat, so nearly every instant holds fewer pitch classes than the chord (a frame cannot name it; context can)."""
    whole, instants, at_most_two = 0, 0, 0
    for seed in SEEDS:
        piece = generate_harmonic(seed, 30.0)
        for start, end, label in piece.chords[:-1]:
            root, quality, _ = parse(label)
            chord = {(root + interval) % 12 for interval in QUALITY_INTERVALS[quality]}
            for t in np.arange(start + 0.01, end, 0.02):  # every 20 ms
                sounding = {n.pitch % 12 for n in piece.notes
                            if n.channel in (BASS, ACCOMPANIMENT) and n.start <= t < n.end}
                instants += 1
                whole += sounding == chord
                at_most_two += len(sounding) <= 2
    assert instants > 5000
    assert whole / instants < 0.02 and at_most_two / instants > 0.95


def test_reference_onsets_come_from_fast_attack_parts_only():
    notes = [NoteEvent(0.5, 1.0, 60, 80, 0), NoteEvent(1.0, 2.0, 64, 80, 1),
             NoteEvent(1.5, 1.6, 36, 100, DRUM_CHANNEL)]
    piece = Piece("p", "test", "test", 120.0, 4, 0, "major", 3.0, {0: 0, 1: 52, DRUM_CHANNEL: 0}, notes)  # 52: choir
    assert piece.onsets == [0.5, 1.5] and piece.all_onsets == [0.5, 1.0, 1.5]
    labels = piece.labels()
    assert labels["onsets"] == [0.5, 1.5] and labels["onsets_all"] == [0.5, 1.0, 1.5]
    assert generate_metrical(0, 10.0).labels()["stratum"] == "metrical"
