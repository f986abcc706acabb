"""The chord vocabulary, in one place, for the corpus generator and for probing: labels in mir_eval's syntax
("root:quality": "C:maj", "Bb:min7", "A:maj/3"; "N" for no chord, "X" unknown), the qualities the generator plays
(`QUALITY_INTERVALS`, the single source of truth), and the 25-class maj/min/N reduction that the chord probe
predicts (`chord_class`, `CHORD_CLASS_LABELS`).
"""

import mir_eval

PITCH_CLASSES = ("C", "C#", "D", "Eb", "E", "F", "F#", "G", "Ab", "A", "Bb", "B")

# Chord vocabulary, in one place. Labels follow mir_eval's syntax: "root:quality" ("C:maj", "Bb:min7") or "N" (no
# chord). QUALITY_INTERVALS is the single source of truth: the 25-class reduction below is derived from it.
NO_CHORD = "N"
QUALITY_INTERVALS: dict[str, tuple[int, ...]] = {  # semitones above the root
    "maj": (0, 4, 7), "min": (0, 3, 7), "dim": (0, 3, 6), "aug": (0, 4, 8),
    "7": (0, 4, 7, 10), "maj7": (0, 4, 7, 11), "min7": (0, 3, 7, 10), "hdim7": (0, 3, 6, 10), "dim7": (0, 3, 6, 9),
}  # no sixth chords: in chorales C-E-G-A is nearly always A:min7 over C (ii6/5), not C:maj6
NUM_MAJMIN_CLASSES = 25  # C:maj..B:maj, C:min..B:min, N
_NATURALS = {"C": 0, "D": 2, "E": 4, "F": 5, "G": 7, "A": 9, "B": 11}


def _chord_templates() -> dict[frozenset[int], str]:
    """Pitch-class shapes (relative to the root) that name a chord. A chord with a perfect fifth also matches without
    it, because four voices often leave the fifth out (C-E-C-E is "C:maj"); a lone fifth or other interval names
    nothing. Against the Roman-numeral analyses of the 20 chorales music21 ships, `chords_from_notes` with these
    shapes finds the analysed root 79 % of the time (music21's `chordify` + `root()`: 78 %)."""
    templates = {frozenset(intervals): quality for quality, intervals in QUALITY_INTERVALS.items()}
    for quality, intervals in QUALITY_INTERVALS.items():
        if 7 in intervals:
            templates.setdefault(frozenset(intervals) - {7}, quality)
    return templates


CHORD_TEMPLATES = _chord_templates()


def pitch_class(name: str) -> int:
    """Pitch class of a note name with any accidentals: "C" -> 0, "Eb" -> 3, "F#" -> 6, "Cb" -> 11."""
    return (_NATURALS[name[0].upper()] + name.count("#") - name.count("b", 1)) % 12


def split_chord_label(label: str) -> tuple[int, str] | None:
    """(root pitch class, quality) of a mir_eval chord label; None for "N" / "X". A bare root means major and an
    inversion ("/3") is dropped: it does not change the chord class."""
    if label in (NO_CHORD, "X"):
        return None
    root, _, quality = label.split("/")[0].partition(":")
    quality = quality or "maj"
    if quality not in QUALITY_INTERVALS:
        raise ValueError(f"Unknown chord quality {quality!r} in {label!r}; known: {sorted(QUALITY_INTERVALS)}")
    return pitch_class(root), quality


def to_majmin(label: str) -> str:
    """Reduce a chord label to the 25-class vocabulary by its third: qualities with a major third (maj, aug, 7, maj7)
    become "root:maj", those with a minor third (min, dim, min7, hdim7, dim7) "root:min"; "N" and "X" become "N".
    (mir_eval's `majmin` metric instead leaves dim/aug/hdim7/dim7 references out of the score.)"""
    parsed = split_chord_label(label)
    if parsed is None:
        return NO_CHORD
    root, quality = parsed
    return f"{PITCH_CLASSES[root]}:{'maj' if 4 in QUALITY_INTERVALS[quality] else 'min'}"


def majmin_class(label: str) -> int:
    """Class index of a chord label in the 25-class vocabulary: 0-11 major roots C..B, 12-23 minor roots, 24 N."""
    parsed = split_chord_label(to_majmin(label))
    if parsed is None:
        return NUM_MAJMIN_CLASSES - 1
    root, quality = parsed
    return root + (12 if quality == "min" else 0)


def name_chord(pitch_classes: set[int], bass: int) -> str | None:
    """Label of a set of sounding pitch classes if it forms a chord of the vocabulary, else None (a passing or
    neighbour tone, a lone fifth). Candidate roots are tried bass first, so the bass settles the symmetric shapes
    that several roots explain (an augmented triad, a diminished seventh)."""
    for root in sorted(pitch_classes, key=lambda pc: (pc != bass, pc)):
        quality = CHORD_TEMPLATES.get(frozenset((pc - root) % 12 for pc in pitch_classes))
        if quality is not None:
            return f"{PITCH_CLASSES[root]}:{quality}"
    return None


NO_CHORD_CLASS = NUM_MAJMIN_CLASSES - 1  # 24
CHORD_CLASS_LABELS: tuple[str, ...] = (
    tuple(f"{pc}:maj" for pc in PITCH_CLASSES) + tuple(f"{pc}:min" for pc in PITCH_CLASSES) + (NO_CHORD,)
)  # the order of `majmin_class`; a test checks that the two agree


def chord_class(label: str) -> int:
    """Class of a chord label in the 25-class vocabulary (0-11 maj, 12-23 min, 24 N).

    Qualities of `QUALITY_INTERVALS` go through `majmin_class`, which reduces by the third: maj,
    aug, 7, maj7 -> maj; min, dim, min7, hdim7, dim7 -> min; "N" and "X" -> N. Other Harte qualities that user
    annotations carry (maj6, 9, min(9), sus4, (1,3,5), ...) are parsed by mir_eval and follow the same rule on their
    intervals: a major third -> maj, else a minor third -> min, else (sus2, sus4, power chords, "1") -> N, as they
    are neither major nor minor.
    """
    try:
        return majmin_class(label)
    except ValueError:
        pass
    root, bitmap, _ = mir_eval.chord.encode(label)
    if root < 0:
        return NO_CHORD_CLASS
    if bitmap[4]:
        return int(root)
    if bitmap[3]:
        return int(root) + 12
    return NO_CHORD_CLASS


__all__ = ["CHORD_CLASS_LABELS", "CHORD_TEMPLATES", "NO_CHORD", "NO_CHORD_CLASS", "NUM_MAJMIN_CLASSES", "PITCH_CLASSES",
           "QUALITY_INTERVALS", "chord_class", "majmin_class", "name_chord", "pitch_class", "split_chord_label",
           "to_majmin"]
