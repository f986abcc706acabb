"""Bach chorales from the music21 corpus as `Piece`s: real four-voice music with labels read from the score.

A chorale is parsed once into a `ChoraleScore` (notes and bar grid in quarter notes, key from the score) and then
played at a seeded tempo, transposition and instrumentation by the pure function `piece_from_score`:

- key: the score's `Key` object (not `analyze("key")`, which disagrees with the written key for 22 % of the
  chorales), moved by the transposition (-5..+6 semitones spreads the 24 keys);
- tempo: a quarter note at 60-120 BPM, chosen first; the performance is cropped to `seconds` (never stretched to fit).
  `Piece.tempo` is in beats per minute of the first time signature (its beat is a half note in 3/2);
- beats and downbeats: from the measures of the first part (`beat_grid`), so pickups and bars split around repeat
  signs get the right bar positions;
- chords: estimated from the sounding notes (`scores.chords_from_notes`, `chord_source="chordify"`): passing tones make
  them noisy, unlike the exact chords of the grooves;
- performance rules, kept simple so that every label stays exact: strict tempo (fermatas are not held longer), repeat
  signs are ignored (the chorale is played through once as written: more distinct music per clip), tied notes sound
  as one note. A chorale shorter than `seconds` ends in silence: no beats, and chord "N", after its last bar.

`chorale_works` lists the 251 usable chorales (148 major, 103 minor) of the 350 distinct ones music21 ships: four
voices, a Key in the score, and a final bass note on that key's tonic (see `KEY_NOT_AT_END`). Needs `pip install
music21`, imported only when a chorale is needed.
"""

import math
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import numpy as np

from . import require
from .scores import NoteEvent, Piece, chords_from_notes

QUARTER_BPM = (60.0, 120.0)
TRANSPOSITIONS = (-5, 6)  # inclusive
ENSEMBLES: dict[str, tuple[int, int, int, int]] = {  # General MIDI programs for soprano, alto, tenor, bass
    "organ": (19, 19, 19, 19),
    "piano": (0, 0, 0, 0),
    "choir": (52, 52, 52, 52),
    "strings": (40, 41, 42, 43),  # violin, viola, cello, contrabass
    "brass": (56, 60, 57, 58),  # trumpet, horn, trombone, tuba
    "woodwind": (73, 68, 71, 70),  # flute, oboe, clarinet, bassoon
    "mixed": (-1, -1, -1, -1),  # every voice drawn from the instruments of its range below
}
VOICE_PROGRAMS = (  # instruments that can play each voice, for the "mixed" ensemble
    (0, 19, 40, 52, 56, 68, 73), (0, 19, 40, 41, 52, 60, 71), (0, 19, 42, 52, 57, 60, 71), (0, 19, 42, 43, 58, 70),
)
# Chorales left out, found by parsing all 350 distinct chorale files of music21 10.5 (the slow test
# `test_chorale_exclusions_are_current` re-derives both lists). Not four voices alone (instrumental parts), or no Key:
NOT_FOUR_VOICES = frozenset({
    "bwv112.5", "bwv136.6", "bwv161.6", "bwv172.6", "bwv19.7", "bwv190.7", "bwv248.23-2", "bwv248.42-4",
    "bwv248.59-6", "bwv248.9-1", "bwv250", "bwv251", "bwv252", "bwv27.6", "bwv29.8", "bwv41.6", "bwv62.6",
    "bwv70.11", "bwv8.6", "bwv91.6",
})
# The final bass note is not the tonic of the score's key (`ends_on_tonic`), so that key is a doubtful label: modal
# chorales written with a signature one flat short (31 end on the fourth of their written minor key), Phrygian
# endings on the dominant (20), minor chorales written with their relative major's key (7), and a few others.
KEY_NOT_AT_END = frozenset({
    "bwv102.7", "bwv121.6", "bwv127.5", "bwv145.5", "bwv153.5", "bwv166.6", "bwv176.6", "bwv184.5", "bwv244.15",
    "bwv244.40", "bwv244.54", "bwv244.62", "bwv245.15", "bwv245.3", "bwv245.37", "bwv248.5", "bwv254", "bwv265",
    "bwv266", "bwv270", "bwv271", "bwv274", "bwv275", "bwv276", "bwv277", "bwv283", "bwv288", "bwv289", "bwv293",
    "bwv296", "bwv297", "bwv298", "bwv305", "bwv309", "bwv311", "bwv312", "bwv314", "bwv319", "bwv322", "bwv328",
    "bwv33.6", "bwv335", "bwv337", "bwv341", "bwv342", "bwv343", "bwv344", "bwv351", "bwv354", "bwv357", "bwv364",
    "bwv370", "bwv371", "bwv372", "bwv38.6", "bwv382", "bwv383", "bwv384", "bwv387", "bwv399", "bwv4.8", "bwv40.3",
    "bwv40.8", "bwv403", "bwv408", "bwv412", "bwv422", "bwv423", "bwv425", "bwv437", "bwv46.6", "bwv56.5",
    "bwv64.2", "bwv65.2", "bwv73.5", "bwv83.5", "bwv85.6", "bwv87.7", "bwv96.6",
})
_EPS = 1e-6


@dataclass(frozen=True)
class Measure:
    """A measure of the first part, in quarter notes: where it starts, how long it is, and its time signature's bar
    and beat lengths."""

    offset: float
    duration: float
    bar_length: float
    beat_length: float


@dataclass(frozen=True)
class ChoraleScore:
    """What a performance needs from a parsed chorale, in quarter notes; free of music21 objects."""

    work: str
    key_tonic: int
    key_mode: str
    beats_per_bar: int
    beat_length: float
    notes: tuple[tuple[float, float, int, int], ...]  # (offset, duration, MIDI pitch, voice 0 = soprano)
    measures: tuple[Measure, ...]

    @property
    def length(self) -> float:
        last = self.measures[-1]
        return last.offset + last.duration


def final_bass_pitch_class(notes) -> int:
    """The pitch class of the lowest note sounding at the end of `notes`, tuples that start with (offset, duration,
    MIDI pitch)."""
    end = max(offset + duration for offset, duration, *_ in notes)
    return min(pitch for offset, duration, pitch, *_ in notes if offset + duration >= end - _EPS) % 12


def ends_on_tonic(score: ChoraleScore) -> bool:
    """Whether the lowest note of the final chord is the tonic of the score's key: chorales end on their tonic, so
    when this fails the written key (often a modal signature) is not the key one hears."""
    return final_bass_pitch_class(score.notes) == score.key_tonic


def _music21():
    return require("music21", "Reading Bach chorales and fiddle tunes from the music21 corpus")


@lru_cache(maxsize=1)
def chorale_works() -> tuple[str, ...]:
    """Corpus names ("bach/bwv269", ...) of the usable chorales in Riemenschneider order, each once (the numbering
    lists some chorales twice, and one piece in two splits would leak)."""
    names = _music21().corpus.chorales.Iterator(returnType="filename")
    excluded = NOT_FOUR_VOICES | KEY_NOT_AT_END
    return tuple(name for name in dict.fromkeys(names) if work_name(name) not in excluded)


def work_name(work: str | Path) -> str:
    """Short name of a chorale: "bach/bwv153.1" and ".../bach/bwv153.1.mxl" are both "bwv153.1" (not `Path.stem`,
    which would cut "bwv153.1" to "bwv153" and merge distinct chorales)."""
    name = Path(str(work)).name
    return name[: -len(Path(name).suffix)] if Path(name).suffix in (".mxl", ".xml", ".musicxml", ".krn") else name


def beat_grid(measures: tuple[Measure, ...] | list[Measure]) -> tuple[list[float], list[float]]:
    """Beat and downbeat times in quarter notes from a sequence of measures. A short first measure is a pickup
    (right-aligned in its bar); a later short measure completes an unfinished bar if it fits (the halves of a bar
    split around a repeat sign), else starts a bar (a short final bar). Bar positions come from the durations
    rather than music21's `paddingLeft`, which a few scores set on the wrong half of a split bar (bwv4.8, bwv276)."""
    beats, downbeats = [], []
    carry = 0.0  # position in its bar where the previous measure ended, 0 on a barline
    for index, measure in enumerate(measures):
        if measure.duration >= measure.bar_length - _EPS:
            start = 0.0
        elif index == 0:
            start = measure.bar_length - measure.duration
        else:
            start = carry if carry + measure.duration <= measure.bar_length + _EPS else 0.0
        end = start + measure.duration
        carry = end if end < measure.bar_length - _EPS else 0.0
        for k in range(math.ceil((start - _EPS) / measure.beat_length), math.ceil((end - _EPS) / measure.beat_length)):
            position = k * measure.beat_length
            at = round(measure.offset + position - start, 6)
            beats.append(at)
            bar_phase = position % measure.bar_length
            if min(bar_phase, measure.bar_length - bar_phase) < _EPS:
                downbeats.append(at)
    return beats, downbeats


def merge_ties(events: list[tuple[float, float, int, str | None]]) -> list[tuple[float, float, int]]:
    """(offset, duration, pitch) of one voice with tied notes joined: a note whose tie type is "stop" or "continue"
    lengthens the open note of the same pitch instead of striking again. Events are in score order."""
    notes: list[list] = []
    open_note: dict[int, int] = {}  # pitch -> index of the note its tie continues
    for offset, duration, pitch, tie in events:
        index = open_note.pop(pitch, None)
        if tie in ("stop", "continue") and index is not None:
            notes[index][1] = offset + duration - notes[index][0]
        else:
            index = len(notes)
            notes.append([offset, duration, pitch])
        if tie in ("start", "continue"):
            open_note[pitch] = index
    return [tuple(note) for note in notes]


def _parse(work: str | Path) -> ChoraleScore:
    music21 = _music21()
    score = music21.corpus.parse(str(work))
    parts = list(score.parts)
    keys = list(parts[0].recurse().getElementsByClass(music21.key.Key)) if parts else []
    if len(parts) != 4 or not keys or keys[0].mode not in ("major", "minor"):
        raise ValueError(f"{work}: not a four-voice chorale with a major or minor key in its score")
    measures, time_signature = [], None
    for measure in parts[0].getElementsByClass(music21.stream.Measure):
        time_signature = measure.timeSignature or time_signature
        measures.append(Measure(float(measure.offset), float(measure.duration.quarterLength),
                                float(time_signature.barDuration.quarterLength),
                                float(time_signature.beatDuration.quarterLength)))
    notes = []
    for voice, part in enumerate(parts):
        events = [(float(n.offset), float(n.duration.quarterLength), pitch.midi, n.tie.type if n.tie else None)
                  for n in part.flatten().notes if n.duration.quarterLength > 0 for pitch in n.pitches]
        notes += [(offset, duration, pitch, voice) for offset, duration, pitch in merge_ties(events)]
    first_signature = next(iter(parts[0].recurse().getElementsByClass(music21.meter.TimeSignature)))
    return ChoraleScore(work_name(work), keys[0].tonic.pitchClass, keys[0].mode, first_signature.beatCount,
                        float(first_signature.beatDuration.quarterLength), tuple(sorted(notes)), tuple(measures))


@lru_cache(maxsize=None)
def load_chorale(work: str | int) -> ChoraleScore:
    """Parse a chorale once per process: `work` is an index into `chorale_works()`, a corpus name ("bach/bwv269")
    or a file path. music21 also keeps a pickle of every parsed file, so later processes parse faster."""
    return _parse(chorale_works()[work] if isinstance(work, int) else work)


def piece_from_score(score: ChoraleScore, seed: int, seconds: float = 30.0, piece_id: str | None = None,
                     ensemble: str | None = None) -> Piece:
    """Perform a parsed chorale from its start for `seconds`, with a tempo, transposition and instruments (one of
    `ENSEMBLES`, unless given) drawn from `seed`. Deterministic for (score, seed, seconds, ensemble)."""
    rng = np.random.default_rng(seed)
    quarter_bpm = float(np.round(rng.uniform(*QUARTER_BPM), 2))
    transpose = int(rng.integers(TRANSPOSITIONS[0], TRANSPOSITIONS[1] + 1))
    drawn = str(rng.choice(list(ENSEMBLES)))  # drawn even when overridden, so the override changes nothing else
    velocity = int(rng.integers(70, 96))
    ensemble = ensemble or drawn
    programs = {voice: int(program) if program >= 0 else int(rng.choice(VOICE_PROGRAMS[voice]))
                for voice, program in enumerate(ENSEMBLES[ensemble])}
    seconds_per_quarter = 60.0 / quarter_bpm

    piece = Piece(piece_id or f"chorale-{score.work}-{seed}", "chorale", ensemble,
                  round(quarter_bpm / score.beat_length, 2), score.beats_per_bar, (score.key_tonic + transpose) % 12,
                  score.key_mode, seconds, programs, chord_source="chordify", work=score.work)
    for offset, duration, pitch, voice in score.notes:
        start = offset * seconds_per_quarter
        if start < seconds:
            end = min((offset + duration) * seconds_per_quarter, seconds)
            # The soprano carries the tune: a little louder, as a choir or organist would balance it.
            piece.notes.append(NoteEvent(round(start, 6), round(end, 6), pitch + transpose,
                                         min(velocity + (10 if voice == 0 else 0), 127), voice))
    piece.notes.sort(key=lambda n: (n.start, n.channel, n.pitch))
    beats, downbeats = beat_grid(score.measures)
    piece.beats = [round(b * seconds_per_quarter, 6) for b in beats if b * seconds_per_quarter < seconds]
    piece.downbeats = [round(b * seconds_per_quarter, 6) for b in downbeats if b * seconds_per_quarter < seconds]
    piece.chords = chords_from_notes(piece.notes, seconds)
    return piece


def chorale_piece(work: str | int, seed: int, seconds: float = 30.0, piece_id: str | None = None,
                  ensemble: str | None = None) -> Piece:
    """A chorale of the music21 corpus performed for `seconds` (see `piece_from_score`); parsed once per process."""
    return piece_from_score(load_chorale(work), seed, seconds, piece_id, ensemble)
