"""Render the built-in corpus: generated grooves (`scores.generate_groove`, exact labels), Bach chorales
(`chorales.chorale_piece`) and fiddle tunes over a generated accompaniment (`tunes.tune_piece`) from the music21
corpus, played by a General MIDI SoundFont, written as a folder that `datasets.load_dataset(folder)` loads: one
subfolder per split with FLAC files and a `metadata.jsonl`, and a dataset card whose `configs` map the splits. The
audio is referenced by the `audio_path` column (relative to the folder) rather than an `Audio` feature, because
datasets 5 encodes `Audio` through torchcodec, which has no CPU build here; decode it with
`vit1d.load_audio(folder / row["audio_path"], ...)`.

    python -m vit1d.corpus.render --out data/corpus --pieces 40 --seconds 30 --score_fraction 0.5 --tune_fraction 0.5

Every row has the same columns whatever its `source` ("groove", "chorale" or "tune"); `chord_source` says whether
its chords are exact ("score": the chords the grooves' and tunes' accompaniment plays) or estimated from the notes
("chordify", the chorales). Splits are by work: all renderings of a chorale or tune land in one split. Needs the
corpus extra (`pip install "vit1d[corpus]" && pip install --no-deps tinysoundfont`): `tinysoundfont` synthesises
(without its pyaudio dependency, which is only for live playback and does not build everywhere), `music21` holds
the scores, and `pretty_midi`'s wheel ships the default SoundFont, `TimGM6mb.sf2`.
"""

import importlib.util
import json
import logging
import sys
import time
from collections import Counter
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np
import soundfile as sf

from . import CORPUS_INSTALL, require
from .chorales import chorale_piece, chorale_works, work_name
from .effects import RealismSettings, apply_realism, draw_realism
from .scores import DRUM_CHANNEL, Piece, generate_groove
from .strata import generate_harmonic, generate_metrical
from .tunes import tune_piece, tune_works
from .tunes import work_name as tune_work_name

logger = logging.getLogger(__name__)

SPLITS = ("train", "validation", "test")


def default_soundfont() -> Path:
    """`TimGM6mb.sf2` from the installed `pretty_midi` package (found without importing it)."""
    spec = importlib.util.find_spec("pretty_midi")
    if spec is None or spec.origin is None:
        raise ImportError(
            f"The default SoundFont (TimGM6mb.sf2) ships with pretty_midi, which comes with the corpus extra: "
            f"{CORPUS_INSTALL}; or pass a .sf2 path."
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
    tinysoundfont = require("tinysoundfont", "Rendering the corpus (the SoundFont synthesiser)")
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
    work: str | None = None  # music21 corpus name of a chorale or tune; None for a generated piece
    source: str = "groove"  # "groove", "metrical", "harmonic", "chorale" or "tune"

    @property
    def work_id(self) -> str:
        """The work this piece renders, as `Piece.labels()["work"]` names it: splits keep a work together."""
        if self.source == "chorale":
            return work_name(self.work)
        return tune_work_name(self.work) if self.source == "tune" else self.piece_id


def score_counts(pieces: int, score_fraction: float = 0.5, tune_fraction: float = 0.5,
                 strata_fraction: float = 2 / 3) -> dict[str, int]:
    """How many pieces of each source a corpus has: `round(pieces * score_fraction)` scores from the music21 corpus,
    `round(scores * tune_fraction)` of them fiddle tunes and the others Bach chorales; the rest are generated:
    `round(generated * strata_fraction)` of them the metrical and harmonic strata (`vit1d.corpus.strata`; the
    metrical one gets the odd piece), the others drum grooves (the easy stratum)."""
    for name, value in (("score_fraction", score_fraction), ("tune_fraction", tune_fraction),
                        ("strata_fraction", strata_fraction)):
        if not 0.0 <= value <= 1.0:
            raise ValueError(f"{name} must be in [0, 1], got {value}")
    scores = round(pieces * score_fraction)
    tunes = round(scores * tune_fraction)
    strata = round((pieces - scores) * strata_fraction)
    harmonic = strata // 2
    return {"grooves": pieces - scores - strata, "metrical": strata - harmonic, "harmonic": harmonic,
            "chorales": scores - tunes, "tunes": tunes}


def plan_corpus(pieces: int, seed: int, score_fraction: float = 0.5, tune_fraction: float = 0.5,
                strata_fraction: float = 2 / 3) -> list[PlannedPiece]:
    """What every piece of a corpus is (counts from `score_counts`). Generated pieces come first, grooves (with the
    ids and seeds they had before the other sources existed), then the metrical and harmonic strata, then chorales,
    then tunes; the chorales and the tunes are each drawn without replacement in a seeded order of `chorale_works()` /
    `tune_works()` (starting again, with new seeds, once all have been used). With `strata_fraction=0` the plan is
    the one made before the strata existed, and with `tune_fraction=0` too, the one made before tunes existed."""
    counts = score_counts(pieces, score_fraction, tune_fraction, strata_fraction)
    generated = counts["grooves"] + counts["metrical"] + counts["harmonic"]
    chorales = counts["chorales"]
    generated_sources = ["groove"] * counts["grooves"] + ["metrical"] * counts["metrical"] + [
        "harmonic"] * counts["harmonic"]
    chorale_list = chorale_works() if chorales else ()
    tune_list = tune_works() if counts["tunes"] else ()
    chorale_order = np.random.default_rng((seed, 1)).permutation(len(chorale_list))
    tune_order = np.random.default_rng((seed, 3)).permutation(len(tune_list))
    plan = []
    for index in range(pieces):
        piece_seed = seed * 1_000_003 + index
        if index < generated:
            source = generated_sources[index]
            plan.append(PlannedPiece(f"{source}-{seed}-{index:05d}", piece_seed, source=source))
        elif index < generated + chorales:
            work = chorale_list[chorale_order[(index - generated) % len(chorale_list)]]
            plan.append(PlannedPiece(f"chorale-{seed}-{index:05d}", piece_seed, work, "chorale"))
        else:
            work = tune_list[tune_order[(index - generated - chorales) % len(tune_list)]]
            plan.append(PlannedPiece(f"tune-{seed}-{index:05d}", piece_seed, work, "tune"))
    return plan


def split_by_work(works: list[str], seed: int) -> list[str]:
    """Split of every piece such that all pieces of a work share one; `assign_splits` over the distinct works in
    order of appearance (so a corpus of distinct works splits exactly as `assign_splits` does)."""
    distinct = list(dict.fromkeys(works))
    split_of = dict(zip(distinct, assign_splits(len(distinct), seed)))
    return [split_of[work] for work in works]


def make_piece(planned: PlannedPiece, seconds: float) -> Piece:
    if planned.source == "chorale":
        return chorale_piece(planned.work, planned.seed, seconds, piece_id=planned.piece_id)
    if planned.source == "tune":
        return tune_piece(planned.work, planned.seed, seconds, piece_id=planned.piece_id)
    generator = {"groove": generate_groove, "metrical": generate_metrical, "harmonic": generate_harmonic}
    return generator[planned.source](planned.seed, seconds, piece_id=planned.piece_id)


# Bump when the same parameters would render a different corpus, so that `ensure_corpus` refuses older folders.
# 1: grooves and chorales (parameters not recorded); 2: fiddle tunes join, parameters recorded in corpus.json;
# 3: the metrical and harmonic strata, recording realism (`realism` column), `onsets` of fast-attack parts only
# (`onsets_all` every note), rows name their `stratum`.
CORPUS_VERSION = 3


def realism_settings(realism: "bool | RealismSettings") -> RealismSettings | None:
    """`True`: the default recording realism (`vit1d.corpus.effects.RealismSettings`); `False` or None: dry renders."""
    if isinstance(realism, RealismSettings):
        return realism
    return RealismSettings() if realism else None


def render_parameters(pieces: int, seconds: float, seed: int, sampling_rate: int, score_fraction: float,
                      tune_fraction: float, fonts: list[Path], strata_fraction: float = 2 / 3,
                      realism: "bool | RealismSettings" = True) -> dict:
    """Everything a corpus depends on, as recorded in its corpus.json and compared by `ensure_corpus`; the fonts by
    name and size, since a different font set renders different audio for the same seed."""
    parameters = {"corpus_version": CORPUS_VERSION, "pieces": pieces, "seconds": float(seconds), "seed": seed,
                  "sampling_rate": sampling_rate, "score_fraction": float(score_fraction),
                  "tune_fraction": float(tune_fraction), "strata_fraction": float(strata_fraction),
                  "realism": None if realism_settings(realism) is None else asdict(realism_settings(realism)),
                  "soundfonts": [{"name": font.name, "bytes": font.stat().st_size} for font in fonts]}
    return json.loads(json.dumps(parameters))  # as read back from corpus.json


def write_corpus(out: Path, pieces: int = 40, seconds: float = 30.0, seed: int = 0, sampling_rate: int = 16000,
                 soundfont: Path | None = None, score_fraction: float = 0.5, extra_soundfonts=None,
                 tune_fraction: float = 0.5, strata_fraction: float = 2 / 3,
                 realism: "bool | RealismSettings" = True) -> dict:
    """Render `pieces` pieces of `seconds` s (grooves, the metrical and harmonic strata, chorales and tunes in the
    proportions of `score_counts`, see `plan_corpus`) into `out/<split>/<piece_id>.flac` with one `metadata.jsonl` per split (`audio_path`,
    `sampling_rate` and the labels of `Piece.labels`). Deterministic for a seed and set of SoundFonts: each piece is
    played with one of `soundfont_choices(soundfont, extra_soundfonts)`, drawn from its seed and named in the
    `soundfont` column. Each render then goes through a recording chain drawn from its seed (reverb, EQ, a noise
    floor and a level, `vit1d.corpus.effects`; `realism=False` keeps the dry render), whose drawn numbers are the
    row's `realism` column: `apply_realism(render_piece(piece), sampling_rate, row["realism"])` gives the file's audio.
    corpus.json, written last, holds a summary with timings and the `render_parameters`."""
    out = Path(out)
    start = time.perf_counter()
    plan = plan_corpus(pieces, seed, score_fraction, tune_fraction, strata_fraction)
    splits = split_by_work([planned.work_id for planned in plan], seed)
    rows = {split: [] for split in SPLITS}
    keys = Counter()
    fonts = soundfont_choices(soundfont, extra_soundfonts)
    settings = realism_settings(realism)
    for planned, split in zip(plan, splits):
        piece = make_piece(planned, seconds)
        keys[piece.key] += 1
        (out / split).mkdir(parents=True, exist_ok=True)
        audio_path = f"{split}/{piece.piece_id}.flac"
        font = fonts[int(np.random.default_rng((planned.seed, 2)).integers(len(fonts)))]
        audio = render_piece(piece, font, sampling_rate)
        drawn = None if settings is None else draw_realism((planned.seed, 4), settings, sampling_rate)
        if drawn is not None:
            audio = apply_realism(audio, sampling_rate, drawn)
        sf.write(out / audio_path, audio, sampling_rate, subtype="PCM_16")
        rows[split].append({"audio_path": audio_path, "sampling_rate": sampling_rate, "soundfont": font.name,
                            "realism": drawn, **piece.labels()})
    for split, split_rows in rows.items():
        if split_rows:
            with open(out / split / "metadata.jsonl", "w") as handle:
                handle.writelines(json.dumps(row) + "\n" for row in split_rows)
    counts = score_counts(pieces, score_fraction, tune_fraction, strata_fraction)
    _write_dataset_card(out, [split for split in SPLITS if rows[split]], counts, seconds, seed)
    elapsed = time.perf_counter() - start
    summary = {"pieces": pieces, **counts, "seconds": seconds, "seed": seed,
               "render_seconds": round(elapsed, 2), "real_time_factor": round(pieces * seconds / elapsed, 1),
               "splits": {split: len(split_rows) for split, split_rows in rows.items()},
               "keys": dict(sorted(keys.items())), "soundfonts": [font.name for font in fonts],
               "parameters": render_parameters(pieces, seconds, seed, sampling_rate, score_fraction, tune_fraction,
                                               fonts, strata_fraction, realism)}
    (out / "corpus.json").write_text(json.dumps(summary, indent=2))
    return summary


def _write_dataset_card(out: Path, splits: list[str], counts: dict[str, int], seconds: float, seed: int) -> None:
    data_files = "".join(f"  - split: {split}\n    path: {split}/metadata.jsonl\n" for split in splits)
    (out / "README.md").write_text(
        f"---\nconfigs:\n- config_name: default\n  data_files:\n{data_files}---\n\n"
        f"# vit1d built-in corpus\n\n{counts['grooves']} generated drum grooves (stratum `easy`), "
        f"{counts['metrical']} metrical pieces (no drums, onsets that do not mark the beat), {counts['harmonic']} "
        f"harmonic pieces (sevenths, inversions, non-chord tones), {counts['chorales']} Bach chorales and "
        f"{counts['tunes']} fiddle tunes (Ryan's Mammoth Collection) from the music21 corpus, {seconds:g} s each, "
        f"rendered with a General MIDI SoundFont (seed {seed}) and split by work. Labels: beats, downbeats, chords "
        "(`chord_intervals`, `chord_labels`, and their 25-class reduction `chord_labels_majmin`), global key, tempo, "
        "onsets of fast-attack parts (`onsets`; every note: `onsets_all`), instrument-family tags, the `stratum` and "
        "what the generator drew (`generator`). Everything is exact except the chorales' chords (`chord_source` "
        "\"chordify\": estimated from the notes); the generated pieces' and the tunes' chords (\"score\") are the "
        "ones their accompaniment plays. `audio_path` is relative to this folder.\n"
    )


def ensure_corpus(folder: str | Path, pieces: int = 40, seconds: float = 30.0, seed: int = 0,
                  score_fraction: float = 0.5, tune_fraction: float = 0.5, sampling_rate: int = 16000,
                  strata_fraction: float = 2 / 3, realism: "bool | RealismSettings" = True) -> str:
    """The built-in corpus in `folder` (default SoundFont only), rendered the first time. A folder already holding
    a corpus is reused only if its corpus.json records these `render_parameters`; otherwise this raises rather than
    silently training or probing on another corpus, or deleting a folder that may be in use (a run being resumed,
    probes of a trained model)."""
    folder = Path(folder)
    requested = render_parameters(pieces, seconds, seed, sampling_rate, score_fraction, tune_fraction,
                                  soundfont_choices(None, None), strata_fraction, realism)
    record = folder / "corpus.json"
    if record.is_file():
        recorded = json.loads(record.read_text()).get("parameters")
        if recorded is None:
            raise ValueError(
                f"{folder} holds a corpus rendered by an older vit1d that did not record its parameters, so it "
                f"cannot be checked against the requested ones ({requested}). Delete {folder} to render it again, "
                "or pass another corpus folder (--corpus_dir)."
            )
        differences = {name: (recorded.get(name), value) for name, value in requested.items()
                       if recorded.get(name) != value}
        if differences:
            listed = ", ".join(f"{name}: {old} there, {new} requested" for name, (old, new) in differences.items())
            raise ValueError(
                f"{folder} holds a corpus rendered with other parameters ({listed}). Pass another corpus folder "
                f"(--corpus_dir) or delete {folder} to render it again."
            )
        return str(folder)
    logger.info(f"Rendering the built-in corpus into {folder} ({pieces} pieces of {seconds:g} s).")
    summary = write_corpus(folder, pieces, seconds, seed, sampling_rate, None, score_fraction, None, tune_fraction,
                           strata_fraction, realism)
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
    score_fraction: float = field(
        default=0.5, metadata={"help": "Share of scores from the music21 corpus among the pieces (0: grooves only)."}
    )
    tune_fraction: float = field(
        default=0.5, metadata={"help": "Share of fiddle tunes among those scores; the others are Bach chorales."}
    )
    strata_fraction: float = field(
        default=2 / 3, metadata={"help": "Share of the metrical and harmonic strata among the generated pieces; the "
                                         "others are drum grooves (the easy stratum)."}
    )
    realism: bool = field(
        default=True, metadata={"help": "Pass each render through a seeded recording chain (reverb RT60 0.3-2 s, "
                                        "EQ, a noise floor at 5-30 dB SNR, a peak level of -20 to -1 dBFS), "
                                        "recorded per row; false: dry renders."}
    )
    extra_soundfonts: list[str] = field(
        default_factory=list,
        metadata={"help": "Off by default. More .sf2 files to draw each piece's font from, or 'auto' for those "
                          f"installed in {', '.join(SYSTEM_SOUNDFONT_DIRS)} (e.g. `apt install fluid-soundfont-gm`) "
                          "for more timbres. Off because the audio of a seed would then depend on what the machine "
                          "has installed; corpus.json records the fonts used."},
    )


def main(argv=None):
    from transformers import HfArgumentParser

    (args,) = HfArgumentParser(RenderArguments).parse_args_into_dataclasses(args=argv)
    summary = write_corpus(Path(args.out), args.pieces, args.seconds, args.seed, args.sampling_rate,
                           Path(args.soundfont) if args.soundfont else None, args.score_fraction,
                           "auto" if args.extra_soundfonts == ["auto"] else args.extra_soundfonts, args.tune_fraction,
                           args.strata_fraction, args.realism)
    print(json.dumps(summary))
    return summary


if __name__ == "__main__":
    main(sys.argv[1:])
