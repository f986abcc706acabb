"""Render the built-in corpus: generated grooves (`scores.generate_groove`, exact labels) and Bach chorales from the
music21 corpus (`chorales.chorale_piece`, labels from the score) played by a General MIDI SoundFont, written as a
folder that `datasets.load_dataset(folder)` loads: one subfolder per split with FLAC files and a `metadata.jsonl`, and a dataset
card whose `configs` map the splits. The audio is referenced by the `audio_path` column (relative to the folder)
rather than an `Audio` feature, because datasets 5 encodes `Audio` through torchcodec, which has no CPU build here;
decode it with `vit1d.load_audio(folder / row["audio_path"], ...)`.

    python -m vit1d.data.render --out data/corpus --pieces 40 --seconds 30 --seed 0 --chorale_fraction 0.5

Every row has the same columns whatever its `source` ("groove" or "chorale"); `chord_source` says whether its chords
are exact ("score") or estimated from the notes ("chordify"). Splits are by work: all renderings of a chorale land in
one split. Needs `tinysoundfont` (install it with `pip install --no-deps tinysoundfont`: its pyaudio dependency is only
for live playback and does not build everywhere), `music21` for the chorales, and, for the default SoundFont,
`pretty_midi`, whose wheel ships `TimGM6mb.sf2`.
"""

import importlib.util
import json
import logging
import sys
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import soundfile as sf

from .chorales import chorale_piece, chorale_works, work_name
from .scores import DRUM_CHANNEL, Piece, generate_groove

logger = logging.getLogger(__name__)

SPLITS = ("train", "validation", "test")


def default_soundfont() -> Path:
    """`TimGM6mb.sf2` from the installed `pretty_midi` package (found without importing it)."""
    spec = importlib.util.find_spec("pretty_midi")
    if spec is None or spec.origin is None:
        raise ImportError(
            "The default SoundFont ships with pretty_midi: `pip install pretty_midi`, or pass a .sf2 path."
        )
    path = Path(spec.origin).parent / "TimGM6mb.sf2"
    if not path.exists():
        raise FileNotFoundError(f"{path} is missing from the pretty_midi installation; pass a .sf2 path instead.")
    return path


# Where Debian/Ubuntu (fluid-soundfont-gm, timgm6mb-soundfont, ...) and other distributions put General MIDI fonts.
SYSTEM_SOUNDFONT_DIRS = ("/usr/share/sounds/sf2", "/usr/share/soundfonts", "/usr/share/sounds/sf3")


def system_soundfonts() -> list[Path]:
    """`.sf2` files installed on this machine (tinysoundfont plays `.sf3` fonts almost silently: they are left out)."""
    found = {path.resolve() for folder in SYSTEM_SOUNDFONT_DIRS if Path(folder).is_dir()
             for path in Path(folder).glob("*.sf2")}
    return sorted(found)


def soundfont_choices(soundfont: Path | None, extra_soundfonts) -> list[Path]:
    """The fonts pieces are played with: the main one (default: TimGM6mb) plus `extra_soundfonts`, a list of paths or
    "auto" for `system_soundfonts()`. Extra fonts give more timbres, but make the corpus depend on what is installed,
    so they are opt-in."""
    extras = system_soundfonts() if extra_soundfonts == "auto" else [Path(p) for p in (extra_soundfonts or ())]
    fonts = [Path(soundfont or default_soundfont()), *extras]
    missing = [str(font) for font in fonts if not font.is_file()]
    if missing:
        raise FileNotFoundError(f"No SoundFont file at {missing}.")
    return list(dict.fromkeys(font.resolve() for font in fonts))


def _synth(soundfont: Path, sampling_rate: int):
    try:
        import tinysoundfont
    except ImportError as err:
        raise ImportError(
            "Rendering the corpus needs tinysoundfont: `pip install --no-deps tinysoundfont` (its pyaudio dependency "
            "is only for live playback)."
        ) from err
    synth = tinysoundfont.Synth(samplerate=sampling_rate)
    return synth, synth.sfload(str(soundfont))


def render_piece(piece: Piece, soundfont: Path | None = None, sampling_rate: int = 16000) -> np.ndarray:
    """Play a piece with a SoundFont synthesiser; returns mono float32 audio of exactly `piece.duration` seconds,
    peak-normalised to 0.9 (silence stays silent)."""
    synth, font = _synth(Path(soundfont or default_soundfont()), sampling_rate)
    for channel, program in piece.programs.items():
        synth.program_select(channel, font, 128 if channel == DRUM_CHANNEL else 0, program)
    events = [(n.start, 1, n.channel, n.pitch, n.velocity) for n in piece.notes]
    events += [(n.end, 0, n.channel, n.pitch, 0) for n in piece.notes]
    events.sort()  # note-offs (kind 0) before note-ons at the same instant
    total = int(round(piece.duration * sampling_rate))
    audio = np.zeros((total, 2), dtype=np.float32)
    position = 0
    for time_s, kind, channel, pitch, velocity in events:
        sample = min(int(round(time_s * sampling_rate)), total)
        if sample > position:
            audio[position:sample] = np.frombuffer(synth.generate(sample - position), dtype=np.float32).reshape(-1, 2)
            position = sample
        if kind:
            synth.noteon(channel, pitch, velocity)
        else:
            synth.noteoff(channel, pitch)
    if position < total:
        audio[position:] = np.frombuffer(synth.generate(total - position), dtype=np.float32).reshape(-1, 2)
    mono = audio.mean(axis=1)
    peak = float(np.abs(mono).max())
    return (0.9 * mono / peak).astype(np.float32) if peak > 0 else mono


def assign_splits(num_pieces: int, seed: int, fractions=(0.8, 0.1, 0.1)) -> list[str]:
    """Split of every piece: whole pieces go to one split, deterministically for a seed."""
    order = np.random.default_rng(seed).permutation(num_pieces)
    bounds = np.cumsum([round(f * num_pieces) for f in fractions[:-1]])
    splits = [""] * num_pieces
    for rank, index in enumerate(order):
        splits[index] = SPLITS[int(np.searchsorted(bounds, rank, side="right"))]
    return splits


@dataclass(frozen=True)
class PlannedPiece:
    piece_id: str
    seed: int
    work: str | None = None  # music21 corpus name of a chorale; None for a groove

    @property
    def work_id(self) -> str:
        """The work this piece renders, as `Piece.labels()["work"]` names it: splits keep a work together."""
        return work_name(self.work) if self.work else self.piece_id


def plan_corpus(pieces: int, seed: int, chorale_fraction: float = 0.5) -> list[PlannedPiece]:
    """What every piece of a corpus is. The first `pieces - round(pieces * chorale_fraction)` are grooves, with the
    ids and seeds they had before chorales existed; the rest are chorales drawn without replacement in a seeded
    order of `chorale_works()` (starting again, with new seeds, once all have been used)."""
    if not 0.0 <= chorale_fraction <= 1.0:
        raise ValueError(f"chorale_fraction must be in [0, 1], got {chorale_fraction}")
    num_grooves = pieces - round(pieces * chorale_fraction)
    works = chorale_works() if num_grooves < pieces else ()
    order = np.random.default_rng((seed, 1)).permutation(len(works))
    return [
        PlannedPiece(f"groove-{seed}-{index:05d}", seed * 1_000_003 + index) if index < num_grooves else
        PlannedPiece(f"chorale-{seed}-{index:05d}", seed * 1_000_003 + index,
                     works[order[(index - num_grooves) % len(works)]])
        for index in range(pieces)
    ]


def split_by_work(works: list[str], seed: int) -> list[str]:
    """Split of every piece such that all pieces of a work share one; `assign_splits` over the distinct works in
    order of appearance (so a corpus of distinct works splits exactly as `assign_splits` does)."""
    distinct = list(dict.fromkeys(works))
    split_of = dict(zip(distinct, assign_splits(len(distinct), seed)))
    return [split_of[work] for work in works]


def make_piece(planned: PlannedPiece, seconds: float) -> Piece:
    if planned.work is None:
        return generate_groove(planned.seed, seconds, piece_id=planned.piece_id)
    return chorale_piece(planned.work, planned.seed, seconds, piece_id=planned.piece_id)


def write_corpus(out: Path, pieces: int = 40, seconds: float = 30.0, seed: int = 0, sampling_rate: int = 16000,
                 soundfont: Path | None = None, chorale_fraction: float = 0.5, extra_soundfonts=None) -> dict:
    """Render `pieces` pieces of `seconds` s (a `chorale_fraction` of them chorales, the rest grooves, see
    `plan_corpus`) into `out/<split>/<piece_id>.flac` with one `metadata.jsonl` per split (`audio_path`,
    `sampling_rate` and the labels of `Piece.labels`). Deterministic for a seed and set of SoundFonts: each piece is
    played with one of `soundfont_choices(soundfont, extra_soundfonts)`, drawn from its seed and named in the
    `soundfont` column. Returns a summary with timings."""
    out = Path(out)
    start = time.perf_counter()
    plan = plan_corpus(pieces, seed, chorale_fraction)
    splits = split_by_work([planned.work_id for planned in plan], seed)
    rows = {split: [] for split in SPLITS}
    keys = Counter()
    fonts = soundfont_choices(soundfont, extra_soundfonts)
    for planned, split in zip(plan, splits):
        piece = make_piece(planned, seconds)
        keys[piece.key] += 1
        (out / split).mkdir(parents=True, exist_ok=True)
        audio_path = f"{split}/{piece.piece_id}.flac"
        font = fonts[int(np.random.default_rng((planned.seed, 2)).integers(len(fonts)))]
        sf.write(out / audio_path, render_piece(piece, font, sampling_rate), sampling_rate, subtype="PCM_16")
        rows[split].append({"audio_path": audio_path, "sampling_rate": sampling_rate, "soundfont": font.name,
                            **piece.labels()})
    for split, split_rows in rows.items():
        if split_rows:
            with open(out / split / "metadata.jsonl", "w") as handle:
                handle.writelines(json.dumps(row) + "\n" for row in split_rows)
    chorales = sum(planned.work is not None for planned in plan)
    _write_dataset_card(out, [split for split in SPLITS if rows[split]], pieces - chorales, chorales, seconds, seed)
    elapsed = time.perf_counter() - start
    summary = {"pieces": pieces, "grooves": pieces - chorales, "chorales": chorales, "seconds": seconds, "seed": seed,
               "render_seconds": round(elapsed, 2), "real_time_factor": round(pieces * seconds / elapsed, 1),
               "splits": {split: len(split_rows) for split, split_rows in rows.items()},
               "keys": dict(sorted(keys.items())), "soundfonts": [font.name for font in fonts]}
    (out / "corpus.json").write_text(json.dumps(summary, indent=2))
    return summary


def _write_dataset_card(out: Path, splits: list[str], grooves: int, chorales: int, seconds: float, seed: int) -> None:
    data_files = "".join(f"  - split: {split}\n    path: {split}/metadata.jsonl\n" for split in splits)
    (out / "README.md").write_text(
        f"---\nconfigs:\n- config_name: default\n  data_files:\n{data_files}---\n\n"
        f"# vit1d built-in corpus\n\n{grooves} generated grooves and {chorales} Bach chorales from the music21 corpus, "
        f"{seconds:g} s each, rendered with a General MIDI SoundFont (seed {seed}) and split by work. Labels: beats, "
        "downbeats, chords (`chord_intervals`, `chord_labels`, and their 25-class reduction `chord_labels_majmin`), "
        "global key, tempo, note onsets and instrument-family tags. Everything is exact except the chorales' chords "
        "(`chord_source` \"chordify\": estimated from the notes; the grooves' are \"score\"). `audio_path` is "
        "relative to this folder.\n"
    )


def ensure_corpus(folder: str | Path, pieces: int = 40, seconds: float = 30.0) -> str:
    """The built-in corpus in `folder`, rendered (seed 0) the first time; a folder with a `corpus.json` is reused."""
    folder = Path(folder)
    if not (folder / "corpus.json").is_file():
        logger.info(f"Rendering the built-in corpus into {folder} ({pieces} pieces of {seconds:g} s).")
        summary = write_corpus(folder, pieces, seconds, seed=0)
        logger.info(f"Rendered in {summary['render_seconds']} s ({summary['real_time_factor']}x real time).")
    return str(folder)


@dataclass
class RenderArguments:
    out: str = field(metadata={"help": "Output folder."})
    pieces: int = field(default=40, metadata={"help": "Number of pieces."})
    seconds: float = field(default=30.0, metadata={"help": "Length of every piece."})
    seed: int = field(default=0)
    sampling_rate: int = field(default=16000)
    soundfont: str | None = field(default=None, metadata={"help": "A .sf2 file; default: pretty_midi's TimGM6mb."})
    chorale_fraction: float = field(
        default=0.5, metadata={"help": "Share of music21 Bach chorales among the pieces (0: grooves only)."}
    )
    extra_soundfonts: list[str] = field(
        default_factory=list,
        metadata={"help": "More .sf2 files to draw each piece's font from, or 'auto' for those installed in "
                          f"{', '.join(SYSTEM_SOUNDFONT_DIRS)} (e.g. Debian's fluid-soundfont-gm)."},
    )


def main(argv=None):
    from transformers import HfArgumentParser

    (args,) = HfArgumentParser(RenderArguments).parse_args_into_dataclasses(args=argv)
    summary = write_corpus(Path(args.out), args.pieces, args.seconds, args.seed, args.sampling_rate,
                           Path(args.soundfont) if args.soundfont else None, args.chorale_fraction,
                           "auto" if args.extra_soundfonts == ["auto"] else args.extra_soundfonts)
    print(json.dumps(summary))
    return summary


if __name__ == "__main__":
    main(sys.argv[1:])
