"""Scores with labels for the built-in corpus: the `Piece` every source produces, generated grooves, and chords
estimated from notes. The chord vocabulary (mir_eval-style labels, their reduction to 25 maj/min/N classes) is
`vit1d.chords`, shared with probing.

Everything here is pure Python + numpy and deterministic for a seed; `vit1d.corpus.chorales` builds pieces from the
music21 corpus and `vit1d.corpus.render` turns a `Piece` into audio.
"""

import math
from dataclasses import dataclass, field

import numpy as np

from ..chords import NO_CHORD, PITCH_CLASSES, name_chord, to_majmin

DRUM_CHANNEL = 9  # General MIDI percussion
KICK, SNARE, CLAP, CLOSED_HAT, OPEN_HAT, RIDE = 36, 38, 39, 42, 46, 51

SCALES = {"major": (0, 2, 4, 5, 7, 9, 11), "minor": (0, 2, 3, 5, 7, 8, 10)}  # natural minor
PROGRESSIONS = {  # scale degrees, 1-based, never the diminished triad; one chord per bar
    "major": ((1, 5, 6, 4), (1, 4, 5, 1), (6, 4, 1, 5), (1, 6, 4, 5), (1, 4, 1, 5)),
    "minor": ((1, 6, 3, 7), (1, 4, 5, 1), (1, 7, 6, 7), (1, 4, 7, 3), (1, 6, 4, 5)),
}
STYLES = ("rock", "four_on_the_floor", "halftime", "no_drums")
# The stratum of the benchmark each source belongs to (see `vit1d.corpus.strata` for what each can test).
STRATUM_OF_SOURCE = {"groove": "easy", "metrical": "metrical", "harmonic": "harmonic", "chorale": "chorale",
                     "tune": "tune"}
PROGRAMS = {  # General MIDI programs per role
    "bass": (32, 33, 34, 38),
    "chords": (0, 4, 16, 19, 24, 48, 52, 88),
    "melody": (11, 40, 56, 65, 73, 80),
}


# General MIDI programs whose notes start within a few milliseconds (struck, plucked, percussive): pianos (0-7),
# chromatic percussion (8-15), guitars (24-31), basses (32-39), pizzicato strings, harp, timpani (45-47), plucked
# ethnic instruments (104-108) and percussive ones (112-118), plus the drum kit. Bowed, blown, sung and pad presets
# swell in over 50-300 ms (TimGM6mb's choir takes 291 ms to half level, its flute 53 ms): no detector can place their
# onsets within the 50 ms of mir_eval.onset, so they are left out of the reference onsets (`Piece.onsets`).
FAST_ATTACK_PROGRAMS = frozenset([*range(0, 16), *range(24, 40), 45, 46, 47, *range(104, 109), *range(112, 119)])


def instrument_family(program: int) -> str:
    """Instrument-family tag of a General MIDI program."""
    families = ((8, "piano"), (16, "mallet"), (24, "organ"), (32, "guitar"), (40, "bass"), (52, "strings"),
                (55, "choir"), (56, "strings"), (64, "brass"), (80, "woodwind"), (104, "synth"))
    for upper, family in families:
        if program < upper:
            return family
    return "other"


@dataclass(frozen=True)
class NoteEvent:
    start: float
    end: float
    pitch: int
    velocity: int
    channel: int


def chords_from_notes(notes: list[NoteEvent], duration: float) -> list[tuple[float, float, str]]:
    """Chord segments tiling [0, duration] estimated from the pitched notes, like music21's `chordify`: cut the time
    at every note start and end, name each slice's pitch classes with `name_chord`, and merge equal neighbours.
    Silence is "N". A slice that names no chord (a passing tone, a bare interval) keeps the chord before it within
    the same stretch of sound, or takes the next one at the start of a stretch; a stretch naming no chord is "N"."""
    pitched = [n for n in notes if n.channel != DRUM_CHANNEL and n.start < duration and n.end > n.start]
    cuts = sorted({0.0, duration} | {n.start for n in pitched} | {min(n.end, duration) for n in pitched})
    slices = []
    for start, end in zip(cuts, cuts[1:]):
        sounding = [n.pitch for n in pitched if n.start <= start and n.end >= end]
        label = name_chord({p % 12 for p in sounding}, min(sounding) % 12) if sounding else NO_CHORD
        slices.append([start, end, label])
    for order in (slices, slices[::-1]):  # forward fill, then backward fill, never across silence
        previous = None
        for item in order:
            if item[2] is None:
                item[2] = previous
            previous = None if item[2] == NO_CHORD else item[2]
    chords: list[tuple[float, float, str]] = []
    for start, end, label in slices:
        label = label or NO_CHORD
        if chords and chords[-1][2] == label:
            chords[-1] = (chords[-1][0], round(end, 6), label)
        else:
            chords.append((round(start, 6), round(end, 6), label))
    return chords


@dataclass
class Piece:
    """A score with its labels. Times in seconds from the start of the piece."""

    piece_id: str
    source: str
    style: str
    tempo: float
    beats_per_bar: int
    key_tonic: int
    key_mode: str
    duration: float
    programs: dict[int, int]  # channel -> General MIDI program (the drum channel holds the kit)
    notes: list[NoteEvent] = field(default_factory=list)
    beats: list[float] = field(default_factory=list)
    downbeats: list[float] = field(default_factory=list)
    chords: list[tuple[float, float, str]] = field(default_factory=list)  # (start, end, "C:maj" / "A:min7" / "N")
    chord_source: str = "score"  # "score": the chords the generator played (exact); "chordify": estimated from notes
    work: str = ""  # the composition a piece renders; splits keep every rendering of a work together
    generator: dict = field(default_factory=dict)  # what a generator drew (subdivision, tempo curve, ...), recorded

    @property
    def key(self) -> str:
        """The global key in mir_eval's format, e.g. `"Eb minor"`."""
        return f"{PITCH_CLASSES[self.key_tonic]} {self.key_mode}"

    def fast_attack(self, note: NoteEvent) -> bool:
        return note.channel == DRUM_CHANNEL or self.programs.get(note.channel) in FAST_ATTACK_PROGRAMS

    @property
    def onsets(self) -> list[float]:
        """Reference onsets: the starts of the notes of fast-attack parts (`FAST_ATTACK_PROGRAMS`), so that
        slow-attack presets do not cap every detector; empty when every part swells in."""
        return sorted({round(note.start, 6) for note in self.notes if self.fast_attack(note)})

    @property
    def all_onsets(self) -> list[float]:
        """The start of every note, whatever its attack."""
        return sorted({round(note.start, 6) for note in self.notes})

    @property
    def tags(self) -> list[str]:
        families = {instrument_family(p) for c, p in self.programs.items() if c != DRUM_CHANNEL}
        if DRUM_CHANNEL in self.programs:
            families.add("drums")
        tempo_class = "slow" if self.tempo < 90 else "fast" if self.tempo > 130 else "medium"
        return sorted(families) + [tempo_class, self.key_mode]

    def labels(self) -> dict:
        """JSON-serialisable labels, as written to the corpus metadata; every source has the same columns.
        `chord_labels` keep the full quality, `chord_labels_majmin` are their 25-class reduction (`to_majmin`)."""
        return {
            "piece_id": self.piece_id, "work": self.work or self.piece_id, "source": self.source, "style": self.style,
            "duration": self.duration, "tempo": self.tempo, "beats_per_bar": self.beats_per_bar, "key": self.key,
            "beats": self.beats, "downbeats": self.downbeats,
            "chord_intervals": [[start, end] for start, end, _ in self.chords],  # mir_eval's layout
            "chord_labels": [label for _, _, label in self.chords],
            "chord_labels_majmin": [to_majmin(label) for _, _, label in self.chords],
            "chord_source": self.chord_source, "onsets": self.onsets, "onsets_all": self.all_onsets,
            "tags": self.tags, "stratum": STRATUM_OF_SOURCE.get(self.source, self.source),
            "generator": self.generator,
        }


def _drum_pattern(style: str, beats_per_bar: int) -> list[tuple[float, int, int]]:
    """(position in beats within a bar, drum key, velocity) of one bar."""
    hits = []
    if style == "no_drums":
        return hits
    for beat in range(beats_per_bar):
        if style == "four_on_the_floor":
            hits += [(beat, KICK, 110), (beat + 0.5, OPEN_HAT, 70)]
            if beat % 2 == 1:
                hits.append((beat, CLAP, 95))
        elif style == "halftime":
            hits.append((beat, CLOSED_HAT, 60))
            if beat == 0:
                hits.append((beat, KICK, 110))
            if beat == beats_per_bar // 2 + (beats_per_bar % 2):
                hits.append((beat, SNARE, 100))
        else:  # rock
            hits += [(beat, CLOSED_HAT, 70), (beat + 0.5, CLOSED_HAT, 55)]
            hits.append((beat, KICK if beat % 2 == 0 else SNARE, 105 if beat == 0 else 95))
    return hits


def generate_groove(seed: int, seconds: float = 30.0, piece_id: str | None = None) -> Piece:
    """A groove in a random key, tempo (60-180 BPM), metre (3 or 4 beats per bar) and style: drums (except in the
    `no_drums` style, where beats must be heard from the other parts), bass on the chord roots, a chord instrument
    and a melody on the scale. Chords change every bar; every label is exact by construction."""
    rng = np.random.default_rng(seed)
    tempo = float(np.round(rng.uniform(60.0, 180.0), 2))
    beats_per_bar = int(rng.choice([3, 4], p=[0.3, 0.7]))
    tonic, mode = int(rng.integers(12)), str(rng.choice(["major", "minor"]))
    style = str(rng.choice(STYLES))
    steps = SCALES[mode]
    progression = PROGRESSIONS[mode][rng.integers(len(PROGRESSIONS[mode]))]
    programs = {0: int(rng.choice(PROGRAMS["bass"])), 1: int(rng.choice(PROGRAMS["chords"])),
                2: int(rng.choice(PROGRAMS["melody"]))}
    if style != "no_drums":
        programs[DRUM_CHANNEL] = 0
    piece = Piece(piece_id or f"groove-{seed}", "groove", style, tempo, beats_per_bar, tonic, mode, seconds, programs)

    beat_seconds = 60.0 / tempo
    num_bars = math.ceil(seconds / (beat_seconds * beats_per_bar))
    chord_rhythm = "held" if programs[1] in (16, 19, 48, 52, 88) else "struck"
    for bar in range(num_bars):
        bar_start = bar * beats_per_bar * beat_seconds
        degree = progression[bar % len(progression)] - 1
        root = (tonic + steps[degree]) % 12
        third = (steps[(degree + 2) % 7] - steps[degree]) % 12
        fifth = (steps[(degree + 4) % 7] - steps[degree]) % 12
        quality = "maj" if third == 4 else "min"
        bar_end = min(bar_start + beats_per_bar * beat_seconds, seconds)
        if bar_start < seconds:
            piece.chords.append((round(bar_start, 6), round(bar_end, 6), f"{PITCH_CLASSES[root]}:{quality}"))
        for beat in range(beats_per_bar):
            t = bar_start + beat * beat_seconds
            piece.beats.append(round(t, 6))
            if beat == 0:
                piece.downbeats.append(round(t, 6))
            piece.notes.append(NoteEvent(t, t + 0.9 * beat_seconds, 36 + root, 100 if beat == 0 else 80, 0))
            if chord_rhythm == "struck" or beat == 0:
                length = 0.9 * beat_seconds if chord_rhythm == "struck" else beats_per_bar * beat_seconds * 0.95
                for interval in (0, third, fifth):
                    piece.notes.append(NoteEvent(t, t + length, 60 + (root + interval) % 12 - 12 * (root > 7),
                                                 85 if beat == 0 else 70, 1))
        for position, drum, velocity in _drum_pattern(style, beats_per_bar):
            t = bar_start + position * beat_seconds
            piece.notes.append(NoteEvent(t, t + 0.1, drum, velocity, DRUM_CHANNEL))
        position = 0.0
        while position < beats_per_bar:
            length = float(rng.choice([0.5, 1.0, 1.5, 2.0]))
            if rng.random() < 0.8:
                pitch = 72 + steps[int(rng.integers(7))] + tonic - 12 * (tonic > 5)
                t = bar_start + position * beat_seconds
                piece.notes.append(NoteEvent(t, t + 0.95 * length * beat_seconds, int(pitch), 90, 2))
            position += length

    piece.beats = [b for b in piece.beats if b < seconds]
    piece.downbeats = [b for b in piece.downbeats if b < seconds]
    piece.notes = sorted(
        (NoteEvent(n.start, min(n.end, seconds), n.pitch, n.velocity, n.channel) for n in piece.notes
         if n.start < seconds),
        key=lambda n: (n.start, n.channel, n.pitch),
    )
    return piece
