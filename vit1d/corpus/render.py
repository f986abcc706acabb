"""Render the built-in corpus: generated grooves (`scores.generate_groove`, exact labels), Bach chorales
(`chorales.chorale_piece`) and fiddle tunes over a generated accompaniment (`tunes.tune_piece`) from the music21
corpus, played by General MIDI SoundFonts (TimGM6mb, and FluidR3_GM where installed), written as a folder that `datasets.load_dataset(folder)` loads: one
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
import os
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
# The General MIDI fonts a default corpus also plays with when they are installed (`apt install fluid-soundfont-gm`):
# the usual GM reference, with other timbres than TimGM6mb's. corpus.json and every row record the fonts used.
GM_SOUNDFONTS = ("FluidR3_GM.sf2",)


def soundfont_dirs() -> tuple[str, ...]:
    """Where installed fonts are looked for: `$VIT1D_SOUNDFONT_DIRS` (folders separated by the path separator; set
    and empty: nowhere, e.g. to render as on a machine without them) or `SYSTEM_SOUNDFONT_DIRS`."""
    value = os.environ.get("VIT1D_SOUNDFONT_DIRS")
    return SYSTEM_SOUNDFONT_DIRS if value is None else tuple(part for part in value.split(os.pathsep) if part)


def system_soundfonts(names=None) -> list[Path]:
    """`.sf2` files installed on this machine (in `soundfont_dirs()`), only those called `names` when given
    (tinysoundfont plays `.sf3` fonts almost silently: they are left out)."""
    found = {path.resolve() for folder in soundfont_dirs() if Path(folder).is_dir()
             for path in Path(folder).glob("*.sf2") if names is None or path.name in names}
    return sorted(found)


def soundfont_choices(soundfont: Path | None, extra_soundfonts="gm") -> list[Path]:
    """The fonts pieces are played with: the main one (default: TimGM6mb) plus `extra_soundfonts`: "gm" (the
    default) for those of `GM_SOUNDFONTS` installed on this machine, "auto" for every `.sf2` of `system_soundfonts()`,
    or a list of paths (empty or None: the main font alone). Extra fonts give more timbres, so the corpus depends on
    what is installed: `ensure_corpus` compares the fonts recorded in corpus.json, and refuses a folder rendered with
    others."""
    if extra_soundfonts in ("gm", "auto"):
        extras = system_soundfonts(GM_SOUNDFONTS if extra_soundfonts == "gm" else None)
    else:
        extras = [Path(p) for p in (extra_soundfonts or ())]
    fonts = [Path(soundfont or default_soundfont()), *extras]
    missing = [str(font) for font in fonts if not font.is_file()]
    if missing:
        raise FileNotFoundError(f"No SoundFont file at {missing}.")
    return list(dict.fromkeys(font.resolve() for font in fonts))


class SoundFontPlayer:
    """A SoundFont synthesiser loaded once and reused for many pieces (loading FluidR3_GM takes 0.3 s, rendering 30 s
    of a piece a few ms): `render` silences every voice first, so a piece sounds the same whatever was played
    before."""

    def __init__(self, soundfont: Path | None = None, sampling_rate: int = 16000):
        tinysoundfont = require("tinysoundfont", "Rendering the corpus (the SoundFont synthesiser)")
        self.sampling_rate = sampling_rate
        self.synth = tinysoundfont.Synth(samplerate=sampling_rate)
        self.font = self.synth.sfload(str(soundfont or default_soundfont()))

    def render(self, piece: Piece) -> np.ndarray:
        """Mono float32 audio of exactly `piece.duration` seconds, peak-normalised to 0.9 (silence stays silent)."""
        synth, sampling_rate = self.synth, self.sampling_rate
        # The previous piece's voices: sounds_off() gives them a quick release (about 12 ms), played out and dropped
        # here so that none of it sounds at the start of this piece.
        synth.sounds_off()
        synth.generate(sampling_rate // 10)
        for channel, program in piece.programs.items():
            synth.program_select(channel, self.font, 128 if channel == DRUM_CHANNEL else 0, program)
        events = [(n.start, 1, n.channel, n.pitch, n.velocity) for n in piece.notes]
        events += [(n.end, 0, n.channel, n.pitch, 0) for n in piece.notes]
        events.sort()  # note-offs (kind 0) before note-ons at the same instant
        total = int(round(piece.duration * sampling_rate))
        audio = np.zeros((total, 2), dtype=np.float32)
        position = 0
        for time_s, kind, channel, pitch, velocity in events:
            sample = min(int(round(time_s * sampling_rate)), total)
            if sample > position:
                audio[position:sample] = np.frombuffer(synth.generate(sample - position),
                                                       dtype=np.float32).reshape(-1, 2)
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


def render_piece(piece: Piece, soundfont: Path | None = None, sampling_rate: int = 16000) -> np.ndarray:
    """Play a piece with a SoundFont synthesiser (`SoundFontPlayer`; keep one to render many pieces)."""
    return SoundFontPlayer(soundfont, sampling_rate).render(piece)


DEFAULT_SPLIT_FRACTIONS = (0.8, 0.1, 0.1)


def split_sizes(num_pieces: int, fractions=DEFAULT_SPLIT_FRACTIONS) -> list[int]:
    """How many pieces each split gets: the rounded cumulative shares; then, when there are at least as many pieces
    as splits with a share, every such split gets one, taken from the largest (20 pieces at 0.8/0.1/0.1 give 16/2/2,
    3 pieces give 1/1/1 rather than 3/0/0)."""
    bounds = [min(num_pieces, round(total * num_pieces)) for total in np.cumsum(fractions[:-1])]
    sizes = np.diff([0, *bounds, num_pieces]).tolist()
    if num_pieces >= sum(share > 0 for share in fractions):
        for split, share in enumerate(fractions):
            if share > 0 and sizes[split] == 0:
                sizes[int(np.argmax(sizes))] -= 1
                sizes[split] = 1
    return sizes


def assign_splits(num_pieces: int, seed, fractions=DEFAULT_SPLIT_FRACTIONS) -> list[str]:
    """Split of every piece (`split_sizes` of them per split): whole pieces go to one split, deterministically for a
    seed."""
    order = np.random.default_rng(seed).permutation(num_pieces)
    bounds = np.cumsum(split_sizes(num_pieces, fractions)[:-1])
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


def split_by_work(works: list[str], seed: int, fractions=DEFAULT_SPLIT_FRACTIONS, groups: list[str] | None = None
                  ) -> list[str]:
    """Split of every piece such that all pieces of a work share one: `assign_splits` over the distinct works in
    order of appearance (so a corpus of distinct works splits exactly as `assign_splits` does). With `groups` (each
    piece's source), the works of each group are split apart, so that every source, not just the corpus, has the
    `fractions` (stratified by source: a small corpus still has test tracks of every stratum)."""
    if groups is None:
        distinct = list(dict.fromkeys(works))
        split_of = dict(zip(distinct, assign_splits(len(distinct), seed, fractions)))
        return [split_of[work] for work in works]
    split_of = {}
    for index, group in enumerate(sorted(set(groups))):
        distinct = list(dict.fromkeys(work for work, g in zip(works, groups) if g == group))
        split_of.update(zip(distinct, assign_splits(len(distinct), (seed, index), fractions)))
    return [split_of[work] for work in works]


def check_split_fractions(fractions) -> tuple[float, float, float]:
    """Three shares (train, validation, test), each in [0, 1], summing to 1."""
    fractions = tuple(float(f) for f in fractions)
    if len(fractions) != 3 or min(fractions) < 0 or abs(sum(fractions) - 1.0) > 1e-6:
        raise ValueError(f"split fractions must be three shares (train, validation, test) summing to 1, got "
                         f"{fractions}.")
    return fractions


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
# (`onsets_all` every note), rows name their `stratum`; 4: splits stratified by source (`split_fractions` recorded),
# FluidR3_GM joins TimGM6mb when installed; 5: the harmonic stratum's chords are detached broken figures (no block
# chords), its bass sounds one beat, more inversions: no frame holds a whole chord (chord headroom).
CORPUS_VERSION = 5


def realism_settings(realism: "bool | RealismSettings") -> RealismSettings | None:
    """`True`: the default recording realism (`vit1d.corpus.effects.RealismSettings`); `False` or None: dry renders."""
    if isinstance(realism, RealismSettings):
        return realism
    return RealismSettings() if realism else None


def render_parameters(pieces: int, seconds: float, seed: int, sampling_rate: int, score_fraction: float,
                      tune_fraction: float, fonts: list[Path], strata_fraction: float = 2 / 3,
                      realism: "bool | RealismSettings" = True, split_fractions=DEFAULT_SPLIT_FRACTIONS) -> dict:
    """Everything a corpus depends on, as recorded in its corpus.json and compared by `ensure_corpus`; the fonts by
    name and size, since a different font set renders different audio for the same seed."""
    parameters = {"corpus_version": CORPUS_VERSION, "pieces": pieces, "seconds": float(seconds), "seed": seed,
                  "sampling_rate": sampling_rate, "score_fraction": float(score_fraction),
                  "tune_fraction": float(tune_fraction), "strata_fraction": float(strata_fraction),
                  "split_fractions": list(check_split_fractions(split_fractions)),
                  "realism": None if realism_settings(realism) is None else asdict(realism_settings(realism)),
                  "soundfonts": [{"name": font.name, "bytes": font.stat().st_size} for font in fonts]}
    return json.loads(json.dumps(parameters))  # as read back from corpus.json


def write_corpus(out: Path, pieces: int = 40, seconds: float = 30.0, seed: int = 0, sampling_rate: int = 16000,
                 soundfont: Path | None = None, score_fraction: float = 0.5, extra_soundfonts="gm",
                 tune_fraction: float = 0.5, strata_fraction: float = 2 / 3,
                 realism: "bool | RealismSettings" = True, split_fractions=DEFAULT_SPLIT_FRACTIONS) -> dict:
    """Render `pieces` pieces of `seconds` s (grooves, the metrical and harmonic strata, chorales and tunes in the
    proportions of `score_counts`, see `plan_corpus`) into `out/<split>/<piece_id>.flac` with one `metadata.jsonl`
    per split (`audio_path`, `sampling_rate` and the labels of `Piece.labels`). The splits keep every work in one
    split and give each source the `split_fractions` (`split_by_work`). Deterministic for a seed and set of SoundFonts: each piece is
    played with one of `soundfont_choices(soundfont, extra_soundfonts)`, drawn from its seed and named in the
    `soundfont` column. Each render then goes through a recording chain drawn from its seed (reverb, EQ, a noise
    floor and a level, `vit1d.corpus.effects`; `realism=False` keeps the dry render), whose drawn numbers are the
    row's `realism` column: `apply_realism(render_piece(piece), sampling_rate, row["realism"])` gives the file's audio.
    corpus.json, written last, holds a summary with timings and the `render_parameters`."""
    out = Path(out)
    start = time.perf_counter()
    plan = plan_corpus(pieces, seed, score_fraction, tune_fraction, strata_fraction)
    split_fractions = check_split_fractions(split_fractions)
    splits = split_by_work([planned.work_id for planned in plan], seed, split_fractions,
                           groups=[planned.source for planned in plan])
    rows = {split: [] for split in SPLITS}
    keys = Counter()
    fonts = soundfont_choices(soundfont, extra_soundfonts)
    players = {}  # one loaded synthesiser per font
    settings = realism_settings(realism)
    for planned, split in zip(plan, splits):
        piece = make_piece(planned, seconds)
        keys[piece.key] += 1
        (out / split).mkdir(parents=True, exist_ok=True)
        audio_path = f"{split}/{piece.piece_id}.flac"
        font = fonts[int(np.random.default_rng((planned.seed, 2)).integers(len(fonts)))]
        if font not in players:
            players[font] = SoundFontPlayer(font, sampling_rate)
        audio = players[font].render(piece)
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
                                               fonts, strata_fraction, realism, split_fractions)}
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
                  strata_fraction: float = 2 / 3, realism: "bool | RealismSettings" = True,
                  split_fractions=DEFAULT_SPLIT_FRACTIONS) -> str:
    """The built-in corpus in `folder` (default SoundFonts: TimGM6mb, and FluidR3_GM where installed), rendered the
    first time. A folder already holding
    a corpus is reused only if its corpus.json records these `render_parameters`; otherwise this raises rather than
    silently training or probing on another corpus, or deleting a folder that may be in use (a run being resumed,
    probes of a trained model)."""
    folder = Path(folder)
    requested = render_parameters(pieces, seconds, seed, sampling_rate, score_fraction, tune_fraction,
                                  soundfont_choices(None), strata_fraction, realism, split_fractions)
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
    summary = write_corpus(folder, pieces, seconds, seed, sampling_rate, None, score_fraction, "gm", tune_fraction,
                           strata_fraction, realism, split_fractions)
    logger.info(f"Rendered in {summary['render_seconds']} s ({summary['real_time_factor']}x real time).")
    return str(folder)


def parse_split_fractions(value: str) -> tuple[float, float, float]:
    """'0.4,0.15,0.45' -> (0.4, 0.15, 0.45), checked."""
    try:
        return check_split_fractions(float(part) for part in str(value).split(","))
    except ValueError as error:
        raise ValueError(f"--split_fractions takes three shares summing to 1 ('0.8,0.1,0.1'), got {value!r}: {error}")


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
        default_factory=lambda: ["gm"],
        metadata={"help": "More .sf2 files to draw each piece's font from: 'gm' (default) for FluidR3_GM where "
                          "installed (`apt install fluid-soundfont-gm`), 'auto' for every .sf2 in "
                          f"{', '.join(SYSTEM_SOUNDFONT_DIRS)}, 'none' for the main font alone, or paths. The audio "
                          "of a seed depends on the fonts: corpus.json and each row record them."},
    )
    split_fractions: str = field(
        default="0.8,0.1,0.1", metadata={"help": "Shares of train, validation and test, applied to the works of "
                                                 "every source apart."}
    )


def main(argv=None):
    from transformers import HfArgumentParser

    (args,) = HfArgumentParser(RenderArguments).parse_args_into_dataclasses(args=argv)
    extras = args.extra_soundfonts
    extras = extras[0] if extras in (["gm"], ["auto"]) else [] if extras == ["none"] else extras
    summary = write_corpus(Path(args.out), args.pieces, args.seconds, args.seed, args.sampling_rate,
                           Path(args.soundfont) if args.soundfont else None, args.score_fraction, extras,
                           args.tune_fraction, args.strata_fraction, args.realism,
                           parse_split_fractions(args.split_fractions))
    print(json.dumps(summary))
    return summary


if __name__ == "__main__":
    main(sys.argv[1:])
