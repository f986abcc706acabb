"""The strata of the benchmark and the generators of the two that were built to have headroom.

What each stratum was built to test. A claim counts on a stratum only where its headroom check passes: beat claims
use every qualifying stratum but the easy one (reported apart), chord claims every qualifying stratum but the
chorales (`vit1d.claims.claim_strata`):

| stratum | source | labels | can test |
|---|---|---|---|
| easy | `scores.generate_groove` | exact | everything, but a one-frame probe already finds the beat (drums on every beat) |
| metrical | `generate_metrical` | exact | beat: no drums, dense equal-velocity subdivisions and syncopation, so onsets do not mark the beat; beat cues only in slower structure (bass and harmony on downbeats); tempo curves and humanised timing |
| harmonic | `generate_harmonic` | exact | chord: sevenths, inversions, detached arpeggiated and broken voicings (one chord tone at a time, so a frame cannot name the chord), passing and neighbour tones and suspensions in the melody |
| chorale | `chorales.chorale_piece` | chords estimated (`chordify`) | key, tagging; kept out of the chord claim |
| tune | `tunes.tune_piece` | exact chords of a generated accompaniment | key, tagging, beat (notated beat level: report CMLt and AMLt) |

Evidence for the design (shared/notes/evidence.md, section 1): on grooves with a bass note, a chord hit and a drum on
every beat, a one-frame linear probe reaches beat F 0.86 and spectral flux 0.93, so a model that learned nothing
about metre scores as well as one that did. Tempo curves and jitter alone change nothing; what lowers the floor is
onsets that do not mark beats. Clean triads let a random encoder reach 0.76 chord accuracy; real recordings sit at
0.24-0.42.

Both generators are pure numpy and deterministic for a seed; every label is what the generator played.
"""

import math

import numpy as np

from ..chords import PITCH_CLASSES, QUALITY_INTERVALS
from .scores import PROGRESSIONS, SCALES, NoteEvent, Piece

MELODY, BASS, ACCOMPANIMENT = 2, 0, 1  # MIDI channels; non-chord tones are only ever on MELODY
# Fast-attack programs (see scores.FAST_ATTACK_PROGRAMS), so that every note's onset is a reference onset.
METRICAL_PROGRAMS = {"ostinato": (0, 4, 11, 12, 24, 46), "melody": (0, 8, 13, 25, 105), "bass": (33, 34, 32)}
HARMONIC_PROGRAMS = {"accompaniment": (0, 4, 24, 46, 11), "melody": (0, 11, 13, 25, 73, 40), "bass": (32, 33, 43)}
# Diatonic seventh chords: (semitones above the tonic, quality), minor with the harmonic minor's V7 and vii dim7.
DIATONIC_SEVENTHS = {
    "major": ((0, "maj7"), (2, "min7"), (4, "min7"), (5, "maj7"), (7, "7"), (9, "min7"), (11, "hdim7")),
    "minor": ((0, "min7"), (2, "hdim7"), (3, "maj7"), (5, "min7"), (7, "7"), (8, "maj7"), (11, "dim7")),
}
TRIAD_OF = {"maj7": "maj", "7": "maj", "min7": "min", "hdim7": "dim", "dim7": "dim"}
# Degree sequences (0-based scale degrees) of common progressions, walked in a loop.
HARMONIC_PROGRESSIONS = ((0, 5, 1, 4), (0, 3, 4, 0), (1, 4, 0, 5), (0, 5, 3, 4), (5, 1, 4, 0), (0, 2, 5, 1, 4, 0),
                         (0, 3, 6, 0), (5, 1, 6, 0))
# How the harmonic stratum's accompaniment breaks its chords (`_voicing`), and how long each of its eighth notes
# lasts, as a share of the eighth: detached, so that one chord tone sounds at a time.
VOICINGS = ("arpeggio", "alberti", "broken")
STACCATO = 0.45
# mir_eval's name of a bass note by its semitones above the root (for inversion labels such as "C:maj/3").
INTERVAL_NAMES = {3: "b3", 4: "3", 6: "b5", 7: "5", 8: "#5", 9: "bb7", 10: "b7", 11: "7"}


def _beat_grid(rng: np.random.Generator, seconds: float, tempo: float, depth: float, period: float) -> np.ndarray:
    """Beat times under a smooth tempo curve `tempo * (1 + depth * sin(2 pi t / period + phase))`, one beat past
    `seconds` (so that the subdivisions of the last beat have an end)."""
    phase = rng.uniform(0, 2 * math.pi)
    times = [0.0]
    while times[-1] <= seconds:
        t = times[-1]
        times.append(t + 60.0 / (tempo * (1 + depth * math.sin(2 * math.pi * t / period + phase))))
    return np.asarray(times)


def _subdivisions(beats: np.ndarray, per_beat: int) -> np.ndarray:
    """`per_beat` equal parts of every beat (the last grid time is only an end): `(len(beats) - 1) * per_beat`."""
    fractions = np.arange(per_beat) / per_beat
    return (beats[:-1, None] + fractions[None] * np.diff(beats)[:, None]).reshape(-1)


def _humanise(notes: list[NoteEvent], rng: np.random.Generator, jitter_seconds: float) -> list[NoteEvent]:
    """Every note moved by a Gaussian jitter (clipped at 2.5 SD, never before 0): the labels keep the metrical grid
    for beats and the played times for onsets."""
    if jitter_seconds <= 0:
        return notes
    shifts = np.clip(rng.normal(0.0, jitter_seconds, len(notes)), -2.5 * jitter_seconds, 2.5 * jitter_seconds)
    return [NoteEvent(max(0.0, n.start + d), max(0.0, n.end + d), n.pitch, n.velocity, n.channel)
            for n, d in zip(notes, shifts)]


def _finish(piece: Piece, notes: list[NoteEvent], beats: np.ndarray, seconds: float) -> Piece:
    """Crop everything to `seconds` and sort the notes."""
    piece.notes = sorted((NoteEvent(round(n.start, 6), round(min(n.end, seconds), 6), n.pitch, n.velocity, n.channel)
                          for n in notes if n.start < seconds and n.end > n.start),
                         key=lambda n: (n.start, n.channel, n.pitch))
    piece.beats = [round(float(b), 6) for b in beats if b < seconds]
    piece.downbeats = [b for i, b in enumerate(piece.beats) if i % piece.beats_per_bar == 0]
    piece.chords = [(s, min(e, round(seconds, 6)), label) for s, e, label in piece.chords if s < seconds]
    return piece


def chord_tones(root: int, quality: str) -> list[int]:
    """Pitch classes of a chord, root first."""
    return [(root + interval) % 12 for interval in QUALITY_INTERVALS[quality]]


def generate_metrical(seed: int, seconds: float = 30.0, piece_id: str | None = None) -> Piece:
    """A piece whose beat is not marked by its onsets: no drums; an ostinato of equal-velocity notes on every
    subdivision (8ths, triplets or 16ths) cycling through the chord tones in a pattern whose length does not divide
    the beat; a syncopated melody (more onsets off the beat than on it) of equal velocity; the beat's only cues are
    slower: the bass and the harmony change on downbeats, once per bar. A smooth tempo curve (+-3-8 %) and humanised
    timing (5-15 ms) make the grid irregular. Labels: beats and downbeats on the metrical grid (before jitter),
    chords (one triad per bar), key; onsets are the played (jittered) note starts.

    `piece.generator` records the subdivision, the tempo curve, the jitter, and the share of melody onsets off the
    beat."""
    rng = np.random.default_rng(seed)
    tempo = float(np.round(rng.uniform(70.0, 150.0), 2))
    beats_per_bar = int(rng.choice([3, 4], p=[0.3, 0.7]))
    per_beat = int(rng.choice([2, 3, 4]))
    depth, period = float(rng.uniform(0.03, 0.08)), float(rng.uniform(8.0, 24.0))
    jitter = float(rng.uniform(0.005, 0.015))
    tonic, mode = int(rng.integers(12)), str(rng.choice(["major", "minor"]))
    steps = SCALES[mode]
    progression = PROGRESSIONS[mode][rng.integers(len(PROGRESSIONS[mode]))]
    programs = {BASS: int(rng.choice(METRICAL_PROGRAMS["bass"])),
                ACCOMPANIMENT: int(rng.choice(METRICAL_PROGRAMS["ostinato"])),
                MELODY: int(rng.choice(METRICAL_PROGRAMS["melody"]))}
    piece = Piece(piece_id or f"metrical-{seed}", "metrical", f"metrical-{per_beat}", tempo, beats_per_bar, tonic,
                  mode, seconds, programs)
    beats = _beat_grid(rng, seconds, tempo, depth, period)
    grid = _subdivisions(beats, per_beat)  # every subdivision start
    ends = np.append(grid[1:], beats[-1])
    # The ostinato cycles through a pattern of chord-tone indices whose length is coprime with the subdivision, so
    # neither its pitch contour nor its velocity repeats with the beat.
    pattern_length = next(n for n in (5, 7, 5, 7) if math.gcd(n, per_beat) == 1 and n != per_beat)
    pattern = rng.integers(0, 4, pattern_length)
    notes, off_beat, melody_notes = [], 0, 0
    bar_length = beats_per_bar * per_beat
    for bar_start in range(0, len(grid), bar_length):
        bar = bar_start // bar_length
        degree = progression[bar % len(progression)] - 1
        root = (tonic + steps[degree]) % 12
        third = (steps[(degree + 2) % 7] - steps[degree]) % 12
        quality = "maj" if third == 4 else "min"
        bar_beats = beats[bar * beats_per_bar: bar * beats_per_bar + beats_per_bar + 1]
        start, end = float(bar_beats[0]), float(bar_beats[-1])
        piece.chords.append((round(start, 6), round(end, 6), f"{PITCH_CLASSES[root]}:{quality}"))
        tones = [48 + (root + i) % 12 for i in QUALITY_INTERVALS[quality]] + [60 + root % 12]
        notes.append(NoteEvent(start, start + 0.95 * (end - start), 36 + root, 90, BASS))  # downbeat: the cue
        for index in range(bar_start, min(bar_start + bar_length, len(grid))):
            pitch = tones[pattern[index % pattern_length]] + 12
            notes.append(NoteEvent(grid[index], grid[index] + 0.9 * (ends[index] - grid[index]), pitch, 72,
                                   ACCOMPANIMENT))
        # Melody: an arch over the bar, onsets on subdivisions with syncopation (off-beat positions more likely).
        position = bar_start
        while position < min(bar_start + bar_length, len(grid)):
            on_beat = (position - bar_start) % per_beat == 0
            length = int(rng.integers(1, per_beat + 2))
            if rng.random() < (0.25 if on_beat else 0.8):
                contour = math.sin(math.pi * (position - bar_start) / bar_length)
                step = int(round(2 + 4 * contour + rng.integers(-1, 2)))
                pitch = 72 + (tonic + steps[step % 7]) % 12 + 12 * (step // 7)
                stop = min(position + length, len(grid) - 1)
                notes.append(NoteEvent(grid[position], grid[stop] if stop > position else ends[position], pitch, 80,
                                       MELODY))
                melody_notes += 1
                off_beat += not on_beat
            position += length
    piece.generator = {"subdivision": per_beat, "tempo_depth": round(depth, 4), "tempo_period_s": round(period, 3),
                       "jitter_ms": round(1000 * jitter, 2), "ostinato_pattern": pattern.tolist(),
                       "melody_off_beat_share": round(off_beat / max(melody_notes, 1), 3)}
    return _finish(piece, _humanise(notes, rng, jitter), beats, seconds)


def inversion_label(root: int, quality: str, bass: int) -> str:
    """mir_eval's label of a chord over one of its tones: "C:maj", "C:maj/3", "A:min7/b7"."""
    label = f"{PITCH_CLASSES[root]}:{quality}"
    interval = (bass - root) % 12
    return label if interval == 0 else f"{label}/{INTERVAL_NAMES[interval]}"


def generate_harmonic(seed: int, seconds: float = 30.0, piece_id: str | None = None) -> Piece:
    """A piece whose chords go beyond clean triads and must be heard over time: diatonic seventh chords (maj7, 7,
    min7, hdim7, dim7) or their triads, in root position or inverted (the bass on the third, fifth or seventh, half
    of the chords), changing every 1, 2 or 4 beats; the accompaniment breaks them into detached eighth notes (an
    arpeggio up and down, an Alberti figure, or broken upwards again and again), so that it sounds one chord tone at a
    time; the bass strikes the chord's bass note for its first beat only; the melody adds passing and neighbour tones
    and 4-3 suspensions at chord changes. No single instant holds the whole chord (a 32 ms frame hears one or two of
    its tones, and a melody note that may not belong to it): naming the chord takes the context of a beat or more,
    which is what this stratum tests (block chords, which a one-frame probe names, were dropped in corpus version 5:
    with them the contextual reference beat the log-mel frame probe by 0.108 only, below the headroom rule's 0.15).

    Non-chord tones are only ever in the melody (channel `MELODY`): the bass and the accompaniment sound exactly the
    chord of the label (`inversion_label`), so the labels stay exact (they are generated, not estimated from the
    notes). `piece.generator` records the voicing, the harmonic rhythm and the counts of chords by quality, of
    inversions and of passing, neighbour and suspended tones."""
    rng = np.random.default_rng(seed)
    tempo = float(np.round(rng.uniform(60.0, 140.0), 2))
    beats_per_bar = int(rng.choice([3, 4], p=[0.3, 0.7]))
    tonic, mode = int(rng.integers(12)), str(rng.choice(["major", "minor"]))
    steps = SCALES[mode] if mode == "major" else (0, 2, 3, 5, 7, 8, 11)  # harmonic minor: V7 and vii dim7
    voicing = str(rng.choice(VOICINGS))
    seventh_share = float(rng.uniform(0.4, 0.9))
    progression = HARMONIC_PROGRESSIONS[rng.integers(len(HARMONIC_PROGRESSIONS))]
    programs = {BASS: int(rng.choice(HARMONIC_PROGRAMS["bass"])),
                ACCOMPANIMENT: int(rng.choice(HARMONIC_PROGRAMS["accompaniment"])),
                MELODY: int(rng.choice(HARMONIC_PROGRAMS["melody"]))}
    piece = Piece(piece_id or f"harmonic-{seed}", "harmonic", f"harmonic-{voicing}", tempo, beats_per_bar, tonic,
                  mode, seconds, programs)
    beat = 60.0 / tempo
    beats = np.arange(0.0, seconds + beat, beat)
    counts = {"qualities": {}, "inversions": 0, "passing": 0, "neighbour": 0, "suspension": 0}
    notes, time, index, previous_top = [], 0.0, 0, None
    while time < seconds:
        degree = progression[index % len(progression)]
        root_offset, seventh = DIATONIC_SEVENTHS[mode][degree]
        root = (tonic + root_offset) % 12
        quality = seventh if rng.random() < seventh_share else TRIAD_OF[seventh]
        tones = chord_tones(root, quality)
        bass_tone = tones[int(rng.choice(len(tones), p=_inversion_weights(len(tones))))]
        counts["qualities"][quality] = counts["qualities"].get(quality, 0) + 1
        counts["inversions"] += bass_tone != root
        length_beats = int(rng.choice([1, 2, 2, 4]))
        start, end = time, time + length_beats * beat
        piece.chords.append((round(start, 6), round(end, 6), inversion_label(root, quality, bass_tone)))
        notes.append(NoteEvent(start, min(start + beat, end) - 0.02, 36 + bass_tone, 85, BASS))
        # Accompaniment: the chord's tones above the bass, within C4-B4 (plus a fifth of room).
        upper = sorted(60 + tone for tone in tones)
        notes += _voicing(voicing, upper, start, end, beat, ACCOMPANIMENT)
        # Melody: a chord tone on the chord's start (a suspension instead, sometimes), then passing or neighbour
        # tones between chord tones on the off-beats.
        melody, top = _melody(rng, tones, root, quality, steps, tonic, start, end, beat, previous_top, counts)
        notes += melody
        previous_top = top
        time, index = end, index + 1
    piece.generator = {"voicing": voicing, "seventh_share": round(seventh_share, 3),
                       "progression": list(progression), **counts}
    return _finish(piece, notes, beats, seconds)


def _inversion_weights(num_tones: int) -> list[float]:
    """Root position about a third of the time, then first, second (and third) inversions: a bass that is the root
    half the time would name the chord's root from the lowest note of most frames."""
    weights = [0.35, 0.3, 0.2, 0.15][:num_tones]
    return [w / sum(weights) for w in weights]


def _voicing(voicing: str, upper: list[int], start: float, end: float, beat: float, channel: int) -> list[NoteEvent]:
    """The accompaniment of one chord: its tones as detached eighth notes (`STACCATO` of the eighth), one at a
    time, in the order of `voicing` (`VOICINGS`); a figure too short to reach every tone adds the missing ones at
    the start."""
    if voicing not in VOICINGS:
        raise ValueError(f"Unknown voicing {voicing!r}; known: {VOICINGS}")
    if voicing == "arpeggio":  # up and down: C E G E C E G E ...
        order = upper + upper[-2:0:-1]
    elif voicing == "alberti":  # low, high, middle, high
        order = [upper[0], upper[-1], upper[1], upper[-1]]
    else:  # "broken": upwards, again and again
        order = list(upper)
    notes, step, t, i = [], beat / 2, start, 0
    while t < end - 1e-9:
        notes.append(NoteEvent(t, min(t + STACCATO * step, end), order[i % len(order)], 68, channel))
        t, i = t + step, i + 1
    missing = set(upper) - {n.pitch for n in notes}
    notes += [NoteEvent(start, min(start + STACCATO * step, end), pitch, 60, channel) for pitch in sorted(missing)]
    return notes


def _melody(rng, tones, root, quality, steps, tonic, start, end, beat, previous_top, counts):
    """The melody over one chord: (notes, last pitch). Passing tones fill a third between two chord tones with the
    scale step between them; neighbour tones step away from a chord tone and back; a 4-3 suspension holds the fourth
    above the root for half a beat and resolves down to the (major or minor) third."""
    scale = sorted({(tonic + step) % 12 for step in steps})
    chord_pitches = [p for p in range(72, 88) if p % 12 in tones]
    notes, t = [], start
    third = next((i for i in (3, 4) if i in QUALITY_INTERVALS[quality]), None)
    if third is not None and previous_top is not None and rng.random() < 0.3 and end - start >= beat:
        fourth = 72 + (root + 5) % 12
        notes.append(NoteEvent(t, t + beat / 2, fourth, 80, MELODY))
        notes.append(NoteEvent(t + beat / 2, t + beat, fourth - (5 - third), 80, MELODY))
        counts["suspension"] += 1
        t += beat
    current = int(rng.choice(chord_pitches))
    while t < end - 1e-9:
        notes.append(NoteEvent(t, t + beat / 2 * 0.95, current, 80, MELODY))
        target = int(rng.choice(chord_pitches))
        between = [p for p in range(min(current, target) + 1, max(current, target))
                   if p % 12 in scale and p % 12 not in tones]
        kind = rng.random()
        if between and kind < 0.5:  # passing tone on the off-beat, then the target chord tone
            notes.append(NoteEvent(t + beat / 2, t + beat * 0.95, between[len(between) // 2], 75, MELODY))
            counts["passing"] += 1
        elif kind < 0.8:  # neighbour tone: a scale step above or below, returning to `current` next beat
            direction = 1 if rng.random() < 0.5 else -1
            neighbour = current + direction
            while neighbour % 12 not in scale or neighbour % 12 in tones:
                neighbour += direction
            notes.append(NoteEvent(t + beat / 2, t + beat * 0.95, neighbour, 75, MELODY))
            counts["neighbour"] += 1
            target = current
        current, t = target, t + beat
    return [n for n in notes if n.start < end], current


__all__ = ["DIATONIC_SEVENTHS", "chord_tones", "generate_harmonic", "generate_metrical", "inversion_label"]
