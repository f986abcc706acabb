"""Targets for the four probing tasks, and the readers of the label columns users bring.

Conventions (the same in every function here):

- Times are in seconds from the start of the track.
- Per-token targets are computed at the *token times* the feature extractor gives
  (`ViT1DFeatureExtractor.frame_times`: sequence token `i` sits at `i * 512 / 16000` s, 31.25 tokens per second) or at
  the track-level times of stitched windows; any sorted 1-D array of times works.
- Chord labels follow mir_eval's syntax ("C:maj", "Bb:min7", "A:maj/3", "N", "X"). The 25-class vocabulary and the
  reduction of every quality to it live in `vit1d.chords` (`chord_class`); this module only reuses them.
- Key labels follow mir_eval's syntax ("C major", "Eb minor"; "X" for no or unknown key).

User-dataset schema (one row per track, as a `datasets` row, a dict or a JSON line; only the columns of the task at
hand are needed):

| column | type | task |
|---|---|---|
| `audio` / `audio_path` | audio or path (read by the embedding code, not here) | all |
| `tags` | list of strings (a single string is split on commas) | tagging |
| `key` | string: "Eb minor", "eb min", "D# minor", "Am", "C:maj"; "none"/"N"/"X" for no key | key |
| `beats` | list of times in seconds, or the path of a `.txt`/`.beats` file (first column = time) | beat |
| `chord_intervals` + `chord_labels` | `[[start, end], ...]` and `["C:maj", ...]` (the corpus layout) | chord |
| `chords` (alternative) | path of a `.lab` file (`start end label` per line), or `[[start, end, label], ...]` | chord |
"""

import re
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path

import mir_eval
import numpy as np

from vit1d.chords import (  # noqa: F401 - CHORD_CLASS_LABELS is re-exported: probing's users read it from here
    CHORD_CLASS_LABELS,
    NO_CHORD_CLASS,
    PITCH_CLASSES,
    chord_class,
    pitch_class,
)

# ----------------------------------------------------------------------------------------------------------------
# key
# ----------------------------------------------------------------------------------------------------------------

NO_KEY = "none"
KEY_LABELS: tuple[str, ...] = tuple(f"{pc} major" for pc in PITCH_CLASSES) + tuple(f"{pc} minor" for pc in PITCH_CLASSES)
NUM_KEY_CLASSES = len(KEY_LABELS)  # 24; class 24 is NO_KEY when the vocabulary includes it

_KEY_PATTERN = re.compile(r"^\s*([A-Ga-g])([#b\u266f\u266d]*)\s*[\s:_-]?\s*([A-Za-z]*)\s*$")
_MINOR_WORDS = {"minor", "min", "m"}
_MAJOR_WORDS = {"major", "maj", ""}
_NO_KEY_WORDS = {"", "none", "n", "x", "no key", "nokey"}


def key_vocabulary(include_none: bool = False) -> list[str]:
    """Class names of the key task: "C major".."B major" (0-11), "C minor".."B minor" (12-23), then "none" (24) if
    `include_none` (tracks without a tonal centre)."""
    return list(KEY_LABELS) + ([NO_KEY] if include_none else [])


def parse_key(label: str) -> tuple[int, str] | None:
    """(tonic pitch class, "major" | "minor") of a key string; None for no key ("none", "N", "X", "").

    Accepted spellings, case-insensitive for the mode: mir_eval's "Eb minor", lower case "eb minor", abbreviations
    "D# min", "C:maj", "F#_major", "Am" (a lone lower-case "m" is minor), and a bare tonic ("G") for major. Sharps and
    flats may be "#"/"b" or the Unicode signs; enharmonics give the same tonic ("Db major" == "C# major").
    """
    text = str(label).strip()
    if text.lower() in _NO_KEY_WORDS:
        return None
    match = _KEY_PATTERN.match(text)
    if match is None:
        raise ValueError(f"Cannot read key {label!r}: expected e.g. 'Eb minor', 'D# min', 'C:maj' or 'none'.")
    letter, accidentals, mode = match.groups()
    accidentals = accidentals.replace("\u266f", "#").replace("\u266d", "b")
    if mode not in ("m", "M"):  # "m" vs "M" is the one place where case matters ("Am" is A minor)
        mode = mode.lower()
    if mode in _MINOR_WORDS:
        mode = "minor"
    elif mode in _MAJOR_WORDS or mode == "M":
        mode = "major"
    else:
        raise ValueError(f"Cannot read the mode of key {label!r}: expected major/maj or minor/min/m.")
    return pitch_class(letter.upper() + accidentals), mode


def key_class(label: str, include_none: bool = False) -> int:
    """Class index of a key string in `key_vocabulary(include_none)`: tonic + 12 for minor; 24 for no key, which is
    an error unless `include_none`."""
    parsed = parse_key(label)
    if parsed is None:
        if not include_none:
            raise ValueError(f"Key {label!r} means 'no key'; pass include_none=True to keep it as class 24.")
        return NUM_KEY_CLASSES
    tonic, mode = parsed
    return tonic + (12 if mode == "minor" else 0)


def key_label(index: int) -> str:
    """Key string of a class index, in mir_eval's format ("Eb minor"); 24 is "none"."""
    return key_vocabulary(include_none=True)[int(index)]


def to_mir_eval_key(label: str | int) -> str:
    """A key string or class index in mir_eval's canonical form: "C# major" for "Db major", "X" for no key (mir_eval's
    spelling of an unknown key, which scores 1 against "X" and 0 against any key)."""
    index = int(label) if isinstance(label, (int, np.integer)) else key_class(label, include_none=True)
    return "X" if index == NUM_KEY_CLASSES else KEY_LABELS[index]


# ----------------------------------------------------------------------------------------------------------------
# tags
# ----------------------------------------------------------------------------------------------------------------


def _tag_list(tags: str | Iterable[str] | None) -> list[str]:
    # A bare string would otherwise be iterated character by character.
    if tags is None:
        return []
    if isinstance(tags, str):
        return [tag.strip() for tag in tags.split(",") if tag.strip()]
    return [str(tag) for tag in tags]


def tag_vocabulary(tag_lists: Iterable[str | Iterable[str] | None]) -> list[str]:
    """Sorted list of every tag used in a split (build it on the training split and reuse it for the others)."""
    return sorted({tag for tags in tag_lists for tag in _tag_list(tags)})


def multi_hot(tags: str | Iterable[str] | None, vocabulary: Sequence[str]) -> np.ndarray:
    """Multi-hot float32 vector of a track's tags over `vocabulary`. Tags outside the vocabulary (seen only in an
    evaluation split) are ignored: the probe has no output for them."""
    index = {tag: i for i, tag in enumerate(vocabulary)}
    target = np.zeros(len(vocabulary), dtype=np.float32)
    for tag in _tag_list(tags):
        if tag in index:
            target[index[tag]] = 1.0
    return target


# ----------------------------------------------------------------------------------------------------------------
# beats
# ----------------------------------------------------------------------------------------------------------------

DEFAULT_NEIGHBOUR_WEIGHTS = (0.5,)


def nearest_token(times: np.ndarray, token_times: np.ndarray) -> np.ndarray:
    """Index of the token nearest to each time (`token_times` sorted). Ties go to the earlier token."""
    times = np.asarray(times, dtype=np.float64)
    token_times = np.asarray(token_times, dtype=np.float64)
    right = np.clip(np.searchsorted(token_times, times), 1, max(len(token_times) - 1, 1))
    left = right - 1
    take_right = np.abs(token_times[np.minimum(right, len(token_times) - 1)] - times) < np.abs(token_times[left] - times)
    return np.where(take_right, right, left)


def token_period(token_times: np.ndarray) -> float:
    """Spacing of the token grid, seconds: the median gap (stitched windows give a uniform grid, but do not rely on
    the first gap alone); 1.0 for fewer than two tokens."""
    return float(np.median(np.diff(token_times))) if len(token_times) > 1 else 1.0


def beat_targets(beat_times: Sequence[float], token_times: Sequence[float],
                 neighbour_weights: Sequence[float] = DEFAULT_NEIGHBOUR_WEIGHTS) -> np.ndarray:
    """Widened binary beat target at every token: 1 at the token nearest to each beat, `neighbour_weights[d - 1]` at
    `d` tokens on either side (keeping the larger value where beats' neighbourhoods meet), 0 elsewhere.

    The default `(0.5,)` is the target widening of Böck et al. (TCN beat tracking, ISMIR 2019; at 31.25 tokens/s one
    token is 32 ms, about the annotation jitter); MARBLE's GTZAN probe uses `(0.95, 0.5)` at 75 Hz. `()` gives the
    plain one-hot target. Beats more than half a token period outside the token range are dropped.

    Returns:
        float32 array of shape `(len(token_times),)`.
    """
    token_times = np.asarray(token_times, dtype=np.float64)
    target = np.zeros(len(token_times), dtype=np.float32)
    if len(token_times) == 0:
        return target
    beats = np.asarray(beat_times, dtype=np.float64).reshape(-1)
    half = token_period(token_times) / 2
    beats = beats[(beats >= token_times[0] - half) & (beats < token_times[-1] + half)]
    centres = nearest_token(beats, token_times)
    for distance, weight in enumerate(neighbour_weights, start=1):
        for neighbours in (centres - distance, centres + distance):
            neighbours = neighbours[(neighbours >= 0) & (neighbours < len(target))]
            target[neighbours] = np.maximum(target[neighbours], weight)
    target[centres] = 1.0
    return target


def _read_event_file(path: str | Path) -> np.ndarray:
    """First column of a text file of events: one time per line, optionally followed by other columns (Ballroom and
    GTZAN `.beats` files add the beat position in the bar), separated by whitespace or commas; `#` starts a comment."""
    times = []
    for line in Path(path).read_text(encoding="utf-8").splitlines():
        fields = re.split(r"[\s,]+", line.split("#", 1)[0].strip())
        if fields[0]:
            times.append(float(fields[0]))
    return np.asarray(times, dtype=np.float64)


def read_beats(value: str | Path | Sequence[float] | np.ndarray | None) -> np.ndarray:
    """Beat times in seconds, sorted, from a list/array of times or the path of a `.txt`/`.beats` file."""
    if value is None:
        return np.zeros(0, dtype=np.float64)
    if isinstance(value, (str, Path)):
        return np.sort(_read_event_file(value))
    return np.sort(np.asarray(value, dtype=np.float64).reshape(-1))


# ----------------------------------------------------------------------------------------------------------------
# chords
# ----------------------------------------------------------------------------------------------------------------

def chord_targets(token_times: Sequence[float], intervals: np.ndarray, labels: Sequence[str]) -> np.ndarray:
    """Chord class (`chord_class`) of the segment that contains each token time; segments are half-open
    `[start, end)` and tokens outside every segment are N.

    Returns:
        int64 array of shape `(len(token_times),)`.
    """
    token_times = np.asarray(token_times, dtype=np.float64)
    intervals = np.asarray(intervals, dtype=np.float64).reshape(-1, 2)
    if len(intervals) != len(labels):
        raise ValueError(f"{len(intervals)} chord intervals but {len(labels)} labels.")
    order = np.argsort(intervals[:, 0], kind="stable")
    starts, ends = intervals[order, 0], intervals[order, 1]
    targets = np.full(len(token_times), NO_CHORD_CLASS, dtype=np.int64)
    if len(starts) == 0:
        return targets
    classes = np.array([chord_class(labels[i]) for i in order], dtype=np.int64)
    segment = np.maximum(np.searchsorted(starts, token_times, side="right") - 1, 0)
    inside = (token_times >= starts[segment]) & (token_times < ends[segment])
    targets[inside] = classes[segment[inside]]
    return targets


def load_lab(path: str | Path) -> tuple[np.ndarray, list[str]]:
    """Intervals `(n, 2)` in seconds and labels of a `.lab` file (`start end label` per line), read by mir_eval."""
    intervals, labels = mir_eval.io.load_labeled_intervals(str(path))
    return np.asarray(intervals, dtype=np.float64).reshape(-1, 2), list(labels)


def write_lab(path: str | Path, intervals: np.ndarray, labels: Sequence[str]) -> None:
    """Write intervals and labels as a `.lab` file that `load_lab` (and mir_eval) reads back exactly."""
    intervals = np.asarray(intervals, dtype=np.float64).reshape(-1, 2)
    # repr of a float round-trips exactly, which fixed-point formatting would not.
    lines = [f"{float(start)!r}\t{float(end)!r}\t{label}\n" for (start, end), label in zip(intervals, labels)]
    Path(path).write_text("".join(lines), encoding="utf-8")


def parse_chords(value: str | Path | Sequence[Sequence]) -> tuple[np.ndarray, list[str]]:
    """Chord intervals and labels from a `.lab` path or a list of `[start, end, label]` rows."""
    if isinstance(value, (str, Path)):
        return load_lab(value)
    rows = list(value)
    intervals = np.array([[float(row[0]), float(row[1])] for row in rows], dtype=np.float64).reshape(-1, 2)
    return intervals, [str(row[2]) for row in rows]


def read_chords(row: Mapping, intervals_column: str = "chord_intervals", labels_column: str = "chord_labels",
                chords_column: str = "chords") -> tuple[np.ndarray, list[str]]:
    """Reference chords of one dataset row: the `chord_intervals` + `chord_labels` columns (the corpus layout) if
    present, else the `chords` column (a `.lab` path or `[start, end, label]` rows)."""
    if row.get(intervals_column) is not None and row.get(labels_column) is not None:
        intervals = np.asarray(row[intervals_column], dtype=np.float64).reshape(-1, 2)
        return intervals, [str(label) for label in row[labels_column]]
    if row.get(chords_column) is not None:
        return parse_chords(row[chords_column])
    raise KeyError(f"No chord annotation in the row: expected columns {intervals_column!r} + {labels_column!r}, or "
                   f"{chords_column!r}; got {sorted(row)}.")


def resolve_label_path(value, root: Path | None):
    """A relative `.lab` / `.beats` path in a label column is relative to the dataset folder."""
    if isinstance(value, str) and root is not None and not Path(value).is_absolute():
        return str(root / value)
    return value
