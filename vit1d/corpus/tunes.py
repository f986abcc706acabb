"""Fiddle tunes from the music21 corpus (Ryan's Mammoth Collection, 1883, in ABC) as `Piece`s: a real melody with a
strict metre, over a generated accompaniment whose chords are the labels.

A tune is parsed once into a `TuneScore` (melody and bar grid in quarter notes, key from the score, harmonisation)
and then played at a seeded tempo, transposition, accompaniment pattern and instruments by the pure function
`piece_from_score`:

- metre: reels, hornpipes, jigs, strathspeys and clogs in 2/4 (278 tunes), 2/2 (168), 6/8 (114), 4/4 (26), 9/8 (18)
  and 12/8 (1), with one time signature each; repeats are played as written (`expandRepeats`: AABB); beats and downbeats come from the measures
  (`chorales.beat_grid`, so pickups and the bars that repeat signs cut in two get the right bar positions), and a tune
  is only used if that grid is regular: a downbeat every bar, one beat every beat length, from the first downbeat
  to the end;
- key: the ABC `K:` field (major or minor only: modal tunes are left out), and only when the tune ends on its tonic,
  moved by the transposition (-5..+6 semitones spreads the 24 keys);
- tempo: 70-140 beats per minute of the time signature (a half note in 2/2, a dotted quarter in 6/8), strict;
- chords: the tunes carry no chord symbols, so `harmonise` chooses one diatonic triad per bar (per half bar in 4/4)
  from the melody notes, and a bass and a chord instrument play exactly those chords. The labels are therefore exact
  for the audio (`chord_source="score"`, as for the grooves): they are the chords that sound, not a transcription
  of how the tune is traditionally accompanied. Nothing is accompanied before the first downbeat (chord "N" under
  the pickup); a tune shorter than the clip ends in silence, as a chorale does.

`tune_works` lists the usable tunes, each once: of the collection's 1059 files, `EXCLUDED` (from `tune_exclusions`)
leaves out those failing a check above and the repeats of an earlier tune (the same tune filed under two titles or
written in two keys: one tune in two splits would leak). That leaves 605 tunes, 34 of them minor. Needs `pip install
music21`.
"""

import copy
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import numpy as np

from ..chords import NO_CHORD, PITCH_CLASSES, QUALITY_INTERVALS
from .chorales import Measure, _music21, beat_grid, final_bass_pitch_class, merge_ties
from .scores import NoteEvent, Piece
from .tune_exclusions import IRREGULAR_METRE, KEY_NOT_AT_END, MODAL_OR_NO_SINGLE_KEY, SAME_TUNE

COLLECTION = "ryansMammoth"
BEAT_BPM = (70.0, 140.0)
TRANSPOSITIONS = (-5, 6)  # inclusive
ACCOMPANIMENTS = ("boom_chick", "strummed", "sustained")
PROGRAMS = {  # General MIDI programs per role
    "melody": (40, 40, 73, 72, 71, 68, 21, 22, 78, 0),  # violin (twice: fiddle tunes), flute, piccolo, clarinet, ...
    "bass": (32, 33, 43, 58, 0),  # acoustic and finger bass, contrabass, tuba, piano
    "chords": (0, 24, 25, 21, 6, 48, 19),  # piano, nylon and steel guitar, accordion, harpsichord, strings, organ
}
MELODY, BASS, CHORDS = 0, 1, 2  # MIDI channels
# Diatonic triads a tune is harmonised with, as (semitones above the tonic, quality): I ii iii IV V vi in major;
# i III iv V VI VII in minor (V major, the harmonic-minor dominant, as folk accompanists play it).
DIATONIC = {
    "major": ((0, "maj"), (2, "min"), (4, "min"), (5, "maj"), (7, "maj"), (9, "min")),
    "minor": ((0, "min"), (3, "maj"), (5, "min"), (7, "maj"), (8, "maj"), (10, "maj")),
}
# Bonus per quarter note of a chord: the tonic, then the dominant and subdominant, are the usual folk harmonies, so
# they win the ties a melody leaves open; a chord is also kept rather than changed when the melody allows it.
PRIOR = {0: 0.3, 7: 0.15, 5: 0.15}
KEEP_BONUS = 0.2
# Left out: tunes failing a check of `load_tune`, and repeats of an earlier tune.
EXCLUDED = MODAL_OR_NO_SINGLE_KEY | IRREGULAR_METRE | KEY_NOT_AT_END | SAME_TUNE
_EPS = 1e-6


@dataclass(frozen=True)
class TuneScore:
    """What a performance needs from a parsed tune, in quarter notes (repeats expanded); free of music21 objects.
    `chords` is the harmonisation, (start, end, root pitch class, quality) in the written key."""

    work: str
    key_tonic: int
    key_mode: str
    beats_per_bar: int
    beat_length: float
    notes: tuple[tuple[float, float, int], ...]  # (offset, duration, MIDI pitch)
    measures: tuple[Measure, ...]
    chords: tuple[tuple[float, float, int, str], ...]

    @property
    def length(self) -> float:
        last = self.measures[-1]
        return last.offset + last.duration


def work_name(work: str | Path) -> str:
    """Short name of a tune: "ryansMammoth/AcaciaReel.abc" is "AcaciaReel"."""
    return Path(str(work)).stem


def fingerprint(score: "TuneScore", length: int = 24) -> tuple[tuple[int, float], ...]:
    """The first `length` melodic intervals with the durations (in beats) of the notes they leave: equal for two
    files of one tune even when written in different keys, or under different titles."""
    notes = score.notes
    return tuple((b[2] - a[2], round(a[1] / score.beat_length, 3)) for a, b in zip(notes, notes[1:]))[:length]


def _collection_files() -> list[Path]:
    root = Path(_music21().__file__).parent / "corpus" / COLLECTION
    files = sorted(root.glob("*.abc"))
    if not files:
        raise FileNotFoundError(f"No ABC files in {root}: this music21 installation lacks its corpus; reinstall it "
                                "with `pip install --force-reinstall music21`.")
    return files


@lru_cache(maxsize=1)
def tune_works() -> tuple[str, ...]:
    """Corpus names ("ryansMammoth/AcaciaReel.abc", ...) of the usable tunes in file-name order, each tune once (see
    `EXCLUDED`); lists the folder, parses nothing."""
    return tuple(f"{COLLECTION}/{path.name}" for path in _collection_files() if path.stem not in EXCLUDED)


def is_regular(measures: tuple[Measure, ...] | list[Measure]) -> bool:
    """Whether the bar grid is a strict metre: beats evenly spaced from the first to the last, a downbeat every
    bar from the first downbeat on, and at least one full bar."""
    beats, downbeats = beat_grid(measures)
    bar, beat = measures[0].bar_length, measures[0].beat_length
    if len(downbeats) < 2 or any(m.bar_length != bar or m.beat_length != beat for m in measures):
        return False
    expected_beats = np.arange(len(beats)) * beat + beats[0]
    expected_downbeats = np.arange(len(downbeats)) * bar + downbeats[0]
    return (np.allclose(beats, expected_beats, atol=_EPS) and np.allclose(downbeats, expected_downbeats, atol=_EPS)
            and downbeats[0] < bar - _EPS)


def chord_units(measures, beats_per_bar: int) -> list[tuple[float, float]]:
    """Spans that get one chord each, in quarter notes: every bar from the first downbeat on (the pickup before it
    is left unaccompanied), halved in 4-beat bars; the last bar may be short."""
    beats, downbeats = beat_grid(measures)
    end = measures[-1].offset + measures[-1].duration
    bar_beats = [[b for b in beats if start - _EPS <= b < stop - _EPS]
                 for start, stop in zip(downbeats, [*downbeats[1:], end])]
    units = []
    for start, stop, in_bar in zip(downbeats, [*downbeats[1:], end], bar_beats):
        cuts = [start, in_bar[2], stop] if beats_per_bar == 4 and len(in_bar) > 2 else [start, stop]
        units += [(a, b) for a, b in zip(cuts, cuts[1:]) if b > a + _EPS]
    return units


def harmonise(notes, units: list[tuple[float, float]], tonic: int, mode: str) -> list[tuple[float, float, int, str]]:
    """One diatonic triad per unit, chosen left to right: the melody time its tones cover (the note sounding at the
    chord change counts double) minus half the time they do not, plus `PRIOR` and `KEEP_BONUS`; the final unit is
    the tonic when the melody allows it, as a cadence. Equal neighbours stay separate: the accompaniment strikes
    every unit (the labels merge them)."""
    chords: list[tuple[float, float, int, str]] = []
    for index, (start, end) in enumerate(units):
        best, best_score = None, -np.inf
        for degree, quality in DIATONIC[mode]:
            root = (tonic + degree) % 12
            tones = {(root + i) % 12 for i in QUALITY_INTERVALS[quality]}
            score = 0.0
            for offset, duration, pitch in notes:
                overlap = min(offset + duration, end) - max(offset, start)
                if overlap > _EPS:
                    weight = overlap * (2.0 if offset <= start + _EPS else 1.0)
                    score += weight if pitch % 12 in tones else -0.5 * weight
            length = end - start
            kept = bool(chords) and chords[-1][2:] == (root, quality)
            score += length * (PRIOR.get(degree, 0.0) + (KEEP_BONUS if kept else 0.0))
            if index == len(units) - 1 and degree == 0:
                score += length
            if score > best_score + _EPS:
                best, best_score = (root, quality), score
        chords.append((start, end, *best))
    return chords


def check_tune(score) -> str | None:
    """Why a parsed music21 tune is unusable, or None: see the module docstring for the checks."""
    music21 = _music21()
    parts = list(score.parts)
    keys = list(score.recurse().getElementsByClass(music21.key.Key))
    signatures = {ts.ratioString for ts in score.recurse().getElementsByClass(music21.meter.TimeSignature)}
    if len(parts) != 1:
        return "not one part"
    if not keys or keys[0].mode not in ("major", "minor") or len({(k.tonic.name, k.mode) for k in keys}) > 1:
        return "no single major or minor key"
    if len(signatures) != 1:
        return f"time signatures {sorted(signatures)}"
    return None


def performance_order(part) -> list:
    """The part's measures in the order they are played, repeats and first and second endings expanded by music21's
    own `repeat.Expander`, run on a skeleton of the part (empty measures with its barlines, repeat brackets and
    repeat expressions): expanding the part itself deep-copies every note and takes about three times as long.
    Raises `repeat.ExpanderException` for badly formed repeats."""
    music21 = _music21()
    stream, repeat = music21.stream, music21.repeat
    measures = list(part.getElementsByClass(stream.Measure))
    skeleton, stand_ins = stream.Part(), {}
    for index, measure in enumerate(measures):
        stand_in = stream.Measure(number=measure.number)
        stand_in.numberSuffix = measure.numberSuffix
        stand_in.leftBarline = copy.deepcopy(measure.leftBarline)
        stand_in.rightBarline = copy.deepcopy(measure.rightBarline)
        for expression in measure.getElementsByClass(repeat.RepeatExpression):
            stand_in.insert(expression.offset, copy.deepcopy(expression))
        stand_in.append(music21.note.Rest(quarterLength=measure.duration.quarterLength))
        stand_in.groups.append(f"vit1d-measure-{index}")
        stand_ins[id(measure)] = stand_in
        skeleton.append(stand_in)
    for bracket in part.spannerBundle.getByClass(music21.spanner.RepeatBracket):
        spanned = [stand_ins[id(m)] for m in bracket.getSpannedElements() if id(m) in stand_ins]
        skeleton.insert(0, music21.spanner.RepeatBracket(spanned, number=bracket.number))
    order = []
    for copied in skeleton.expandRepeats().getElementsByClass(stream.Measure):
        index = next(int(g.rsplit("-", 1)[1]) for g in copied.groups if g.startswith("vit1d-measure-"))
        order.append(measures[index])
    return order


def _parse(work: str | Path) -> TuneScore:
    music21 = _music21()
    score = music21.corpus.parse(str(work))
    problem = check_tune(score)
    if problem is None:
        try:
            played = performance_order(score.parts[0])
        except music21.repeat.ExpanderException:
            problem = "badly formed repeats"
    if problem:
        raise ValueError(f"{work}: {problem}")
    part = score.parts[0]
    key = next(iter(part.recurse().getElementsByClass(music21.key.Key)))
    signature = next(iter(part.recurse().getElementsByClass(music21.meter.TimeSignature)))
    bar, beat = float(signature.barDuration.quarterLength), float(signature.beatDuration.quarterLength)
    measures, events, offset = [], [], 0.0
    for measure in played:
        length = float(measure.duration.quarterLength)
        measures.append(Measure(offset, length, bar, beat))
        events += [(offset + float(n.offset), float(n.duration.quarterLength), pitch.midi, n.tie.type if n.tie else None)
                   for n in measure.flatten().notes if n.duration.quarterLength > 0 for pitch in n.pitches]
        offset += length
    measures = tuple(measures)
    notes = tuple(sorted(merge_ties(events)))
    if not notes or not is_regular(measures):
        raise ValueError(f"{work}: no strict metre (bars of irregular length)")
    if final_bass_pitch_class(notes) != key.tonic.pitchClass:
        raise ValueError(f"{work}: does not end on the tonic of {key}")
    units = chord_units(measures, signature.beatCount)
    chords = harmonise(notes, units, key.tonic.pitchClass, key.mode)
    return TuneScore(work_name(work), key.tonic.pitchClass, key.mode, signature.beatCount, beat, notes, measures,
                     tuple(chords))


@lru_cache(maxsize=None)
def load_tune(work: str | int) -> TuneScore:
    """Parse a tune once per process: `work` is an index into `tune_works()`, a corpus name
    ("ryansMammoth/AcaciaReel.abc") or a file path. music21 keeps a pickle of every parsed file, so later processes
    parse faster."""
    return _parse(tune_works()[work] if isinstance(work, int) else work)


def _triad(root: int, quality: str) -> list[int]:
    """A close-position chord between F3 and E5."""
    base = 53 + (root - 5) % 12
    return [base + interval for interval in QUALITY_INTERVALS[quality]]


def piece_from_score(score: TuneScore, seed: int, seconds: float = 30.0, piece_id: str | None = None,
                     accompaniment: str | None = None, programs: dict[int, int] | None = None) -> Piece:
    """Perform a parsed tune from its start for `seconds`, with a tempo, transposition, accompaniment pattern (one
    of `ACCOMPANIMENTS`) and instruments drawn from `seed` unless given. Deterministic for its arguments.

    Patterns, the bass held for each chord in all of them: "boom_chick" (bass alone on the chord's first beat, the
    chord on its other beats), "strummed" (the chord on every beat), "sustained" (the chord held as long as the
    bass)."""
    rng = np.random.default_rng(seed)
    beat_bpm = float(np.round(rng.uniform(*BEAT_BPM), 2))
    transpose = int(rng.integers(TRANSPOSITIONS[0], TRANSPOSITIONS[1] + 1))
    drawn = str(rng.choice(ACCOMPANIMENTS))  # drawn even when given, so an override changes nothing else
    drawn_programs = {channel: int(rng.choice(PROGRAMS[role]))
                      for channel, role in ((MELODY, "melody"), (BASS, "bass"), (CHORDS, "chords"))}
    velocity = int(rng.integers(85, 106))
    accompaniment = accompaniment or drawn
    if accompaniment not in ACCOMPANIMENTS:
        raise ValueError(f"Unknown accompaniment {accompaniment!r}; choose one of {ACCOMPANIMENTS}.")
    programs = {**drawn_programs, **(programs or {})}
    seconds_per_quarter = 60.0 / (beat_bpm * score.beat_length)

    def at(quarters: float) -> float:
        return round(quarters * seconds_per_quarter, 6)

    piece = Piece(piece_id or f"tune-{score.work}-{seed}", "tune", accompaniment, beat_bpm, score.beats_per_bar,
                  (score.key_tonic + transpose) % 12, score.key_mode, seconds, programs, chord_source="score",
                  work=score.work)
    notes = [NoteEvent(at(offset), at(offset + duration), pitch + transpose, velocity, MELODY)
             for offset, duration, pitch in score.notes]
    beats, downbeats = beat_grid(score.measures)
    for start, end, root, quality in score.chords:
        root = (root + transpose) % 12
        chord_beats = [b for b in beats if start - _EPS <= b < end - _EPS]
        bass = 36 + root if root < 7 else 24 + root  # G1..F#2: under the chords whatever the key
        accent = velocity - 20
        # Every accompaniment note lasts until the next one starts: a release between beats would be heard as an
        # event that no label names.
        notes.append(NoteEvent(at(start), at(end), bass, accent, BASS))
        for index, beat in enumerate(chord_beats):
            alone = accompaniment == "boom_chick" and index == 0 and len(chord_beats) > 1  # the "boom"
            if alone or accompaniment == "sustained" and index > 0:
                continue
            stop = end if accompaniment == "sustained" else min(beat + score.beat_length, end)
            notes += [NoteEvent(at(beat), at(stop), pitch, accent - (5 if index else 0), CHORDS)
                      for pitch in _triad(root, quality)]
    piece.notes = sorted((NoteEvent(n.start, min(n.end, seconds), n.pitch, n.velocity, n.channel)
                          for n in notes if n.start < seconds), key=lambda n: (n.start, n.channel, n.pitch))
    piece.beats = [at(b) for b in beats if at(b) < seconds]
    piece.downbeats = [at(b) for b in downbeats if at(b) < seconds]
    piece.chords = _chord_segments(score.chords, transpose, at, seconds)
    return piece


def _chord_segments(chords, transpose: int, at, seconds: float) -> list[tuple[float, float, str]]:
    """The played chords as labels tiling [0, seconds], equal neighbours merged: "N" before the first (the pickup)
    and after the last."""
    segments: list[tuple[float, float, str]] = []
    cursor = 0.0
    for start, end, root, quality in chords:
        start_s, end_s = at(start), min(at(end), seconds)
        if start_s >= seconds:
            break
        label = f"{PITCH_CLASSES[(root + transpose) % 12]}:{quality}"
        if start_s > cursor:
            segments.append((cursor, start_s, NO_CHORD))
        if segments and segments[-1][2] == label and segments[-1][1] == start_s:
            segments[-1] = (segments[-1][0], end_s, label)
        else:
            segments.append((start_s, end_s, label))
        cursor = end_s
    if cursor < seconds:
        segments.append((cursor, float(seconds), NO_CHORD))
    return segments


def tune_piece(work: str | int, seed: int, seconds: float = 30.0, piece_id: str | None = None,
               accompaniment: str | None = None) -> Piece:
    """A tune of the music21 corpus performed for `seconds` (see `piece_from_score`); parsed once per process."""
    return piece_from_score(load_tune(work), seed, seconds, piece_id, accompaniment)
