"""Render the built-in corpus: scores with exact labels played by a General MIDI SoundFont, written as a folder that
`datasets.load_dataset(folder)` loads: one subfolder per split with FLAC files and a `metadata.jsonl`, and a dataset
card whose `configs` map the splits. The audio is referenced by the `audio_path` column (relative to the folder)
rather than an `Audio` feature, because datasets 5 encodes `Audio` through torchcodec, which has no CPU build here;
decode it with `vit1d.load_audio(folder / row["audio_path"], ...)`.

    python -m vit1d.data.render --out data/corpus --pieces 40 --seconds 30 --seed 0

Needs `tinysoundfont` (install it with `pip install --no-deps tinysoundfont`: its pyaudio dependency is only for live
playback and does not build everywhere) and, for the default SoundFont, `pretty_midi`, whose wheel ships
`TimGM6mb.sf2`. First slice: generated grooves; music21 chorales come next.
"""

import importlib.util
import json
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import soundfile as sf

from .scores import DRUM_CHANNEL, Piece, generate_groove

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


def write_corpus(out: Path, pieces: int = 40, seconds: float = 30.0, seed: int = 0, sampling_rate: int = 16000,
                 soundfont: Path | None = None) -> dict:
    """Render `pieces` grooves of `seconds` s into `out/<split>/<piece_id>.flac` with one `metadata.jsonl` per split
    (`file_name` plus the labels of `Piece.labels`). Deterministic for a seed. Returns a summary with timings."""
    out = Path(out)
    start = time.perf_counter()
    splits = assign_splits(pieces, seed)
    rows = {split: [] for split in SPLITS}
    for index in range(pieces):
        piece = generate_groove(seed * 1_000_003 + index, seconds, piece_id=f"groove-{seed}-{index:05d}")
        folder = out / splits[index]
        folder.mkdir(parents=True, exist_ok=True)
        audio_path = f"{splits[index]}/{piece.piece_id}.flac"
        sf.write(out / audio_path, render_piece(piece, soundfont, sampling_rate), sampling_rate, subtype="PCM_16")
        rows[splits[index]].append({"audio_path": audio_path, "sampling_rate": sampling_rate, **piece.labels()})
    for split, split_rows in rows.items():
        if split_rows:
            with open(out / split / "metadata.jsonl", "w") as handle:
                handle.writelines(json.dumps(row) + "\n" for row in split_rows)
    _write_dataset_card(out, [split for split in SPLITS if rows[split]], pieces, seconds, seed)
    elapsed = time.perf_counter() - start
    summary = {"pieces": pieces, "seconds": seconds, "seed": seed, "render_seconds": round(elapsed, 2),
               "real_time_factor": round(pieces * seconds / elapsed, 1),
               "splits": {split: len(split_rows) for split, split_rows in rows.items()}}
    (out / "corpus.json").write_text(json.dumps(summary, indent=2))
    return summary


def _write_dataset_card(out: Path, splits: list[str], pieces: int, seconds: float, seed: int) -> None:
    data_files = "".join(f"  - split: {split}\n    path: {split}/metadata.jsonl\n" for split in splits)
    (out / "README.md").write_text(
        f"---\nconfigs:\n- config_name: default\n  data_files:\n{data_files}---\n\n"
        f"# vit1d built-in corpus\n\n{pieces} generated grooves of {seconds:g} s rendered with a General MIDI "
        f"SoundFont (seed {seed}), split by piece. Labels are exact: beats, downbeats, chords (`chord_intervals`, "
        "`chord_labels`), global key, tempo, note onsets and instrument-family tags. `audio_path` is relative to "
        "this folder.\n"
    )


@dataclass
class RenderArguments:
    out: str = field(metadata={"help": "Output folder."})
    pieces: int = field(default=40, metadata={"help": "Number of pieces."})
    seconds: float = field(default=30.0, metadata={"help": "Length of every piece."})
    seed: int = field(default=0)
    sampling_rate: int = field(default=16000)
    soundfont: str | None = field(default=None, metadata={"help": "A .sf2 file; default: pretty_midi's TimGM6mb."})


def main(argv=None):
    from transformers import HfArgumentParser

    (args,) = HfArgumentParser(RenderArguments).parse_args_into_dataclasses(args=argv)
    summary = write_corpus(Path(args.out), args.pieces, args.seconds, args.seed, args.sampling_rate,
                           Path(args.soundfont) if args.soundfont else None)
    print(json.dumps(summary))
    return summary


if __name__ == "__main__":
    main(sys.argv[1:])
