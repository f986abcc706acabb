"""Arguments of `run_pretraining.py`: three `HfArgumentParser` dataclasses, also readable from a YAML or JSON file.

Defaults follow the paper's group (see `../shared/notes/paper.md`): 4 s crops whose centres lie 5-90 s apart, up to
10 pairs per track, batch 128 pairs, AdamW betas (0.9, 0.98), weight decay 0.04 -> 0.01, cosine schedule with
warm-up, gradient clipping 3.0, NT-Xent temperature 0.1 (in the model config). The peak learning rate is not published;
1e-3 is the value of the group's key-estimation code.
"""

import json
import logging
from dataclasses import dataclass, field, fields
from pathlib import Path

logger = logging.getLogger(__name__)


@dataclass
class ModelArguments:
    model_name_or_path: str | None = field(
        default=None,
        metadata={"help": "Start from these weights (a ViT-1D folder or Hub id); none: a fresh model from the config."},
    )
    config_name: str | None = field(
        default=None, metadata={"help": "Config folder or Hub id; none: the paper's ViT-1D (ViT1DConfig defaults)."}
    )
    config_overrides: str | None = field(
        default=None,
        metadata={"help": "Comma-separated config fields, e.g. 'num_hidden_layers=4,projection_dim=128'."},
    )
    feature_extractor_name: str | None = field(
        default=None,
        metadata={"help": "Feature extractor folder or Hub id (e.g. one with corpus statistics from "
                          "run_mel_statistics.py); default: model_name_or_path's, else the paper's log-mel."},
    )
    standardize_mel_bins: bool = field(
        default=False,
        metadata={"help": "Before training, measure every mel bin's mean and SD on up to 200 training tracks and "
                          "standardise the input with them (stored in the saved feature extractor, as AST does)."},
    )
    revision: str | None = field(default=None, metadata={"help": "Hub revision of model_name_or_path / config_name."})
    trust_remote_code: bool = field(default=False, metadata={"help": "Allow a Hub folder's own code to run."})


@dataclass
class DataArguments:
    data: str | None = field(
        default=None,
        metadata={
            "help": "A folder of audio files, a dataset folder, parquet/arrow/json/csv files (globs allowed) or a Hub "
            "dataset id. Left out, with --preset demo: the built-in rendered corpus (rendered into corpus_dir on "
            "first use)."
        },
    )
    preset: str | None = field(default=None, metadata={
        "help": "Named settings for the arguments you do not give, logged when applied. demo: the built-in corpus (no "
        "--data) and a run of a few minutes on 2 CPU cores (batch 16, 60 steps, lr 5e-4, 4 pairs per track, 16 tracks "
        "mixed; `vit1d.training.arguments.PRESETS`).", "choices": ["demo"]})
    split: str = field(default="train")
    dataset_config: str | None = field(default=None, metadata={"help": "Config name of a Hub dataset."})
    audio_column: str | None = field(
        default=None, metadata={"help": "Column with paths or Audio cells; default: the Audio column, or 'audio'."}
    )
    corpus_dir: str = field(default="data/corpus", metadata={"help": "Where the built-in corpus is rendered."})
    corpus_pieces: int = field(default=40, metadata={"help": "Pieces of the built-in corpus."})
    corpus_seconds: float = field(default=30.0, metadata={"help": "Length of each built-in piece."})
    corpus_split_fractions: str = field(
        default="0.8,0.1,0.1", metadata={"help": "Train, validation and test shares of the built-in corpus (by work, "
                                                 "per source); pretraining reads its train split."}
    )
    crop_seconds: float = field(default=4.0, metadata={"help": "Length of each view (4 s = 126 frames)."})
    min_distance_seconds: float = field(default=5.0, metadata={"help": "Smallest distance between crop centres."})
    max_distance_seconds: float = field(default=90.0, metadata={"help": "Largest distance between crop centres."})
    pairs_per_track: int = field(default=10)
    silence_db: float = field(default=7.5, metadata={"help": "A crop this many dB below its track's level is silent."})
    short_tracks: str = field(
        default="skip", metadata={"help": "Tracks too short for min_distance: 'skip' (no pair: the crops would "
                                          "nearly copy each other) or 'widest' (crops as far apart as possible)."}
    )
    shuffle_buffer: int = field(default=1000, metadata={"help": "Tracks in the shuffle buffer (0: no shuffle)."})
    mix_tracks: int = field(default=64, metadata={"help": "Tracks whose pairs are interleaved before batching."})
    peak_normalize: bool = field(default=False, metadata={"help": "Scale every crop to a peak of 1."})
    # Per-view augmentation against the mean-spectrum shortcut, on by default since the 3-seed A/B of
    # docs/results.md (key +0.078 [0.029, 0.131] over no augmentation, no claim's metric worse). 0 turns each off;
    # the paper describes no augmentation.
    gain_db: float = field(default=6.0, metadata={"help": "Augmentation: random gain in +-gain_db per view (0: off)."})
    tilt_db_per_octave: float = field(
        default=3.0, metadata={"help": "Augmentation: random spectral tilt in +-this dB per octave around 1 kHz per "
                                       "view, against the mean-spectrum shortcut (0: off)."}
    )
    eq_gain_db: float = field(
        default=6.0, metadata={"help": "Augmentation: one random peaking band (100 Hz-5 kHz, Q 0.7-2) of gain in "
                                       "+-this dB per view (0: off)."}
    )
    num_workers: int = field(default=1, metadata={"help": "DataLoader workers per process (0: decode in the loop)."})

    def __post_init__(self):
        check_ranges(self, DATA_RULES)


@dataclass
class PretrainingArguments:
    output_dir: str = field(default="outputs/pretraining", metadata={"help": "Encoder, logs and checkpoints."})
    seed: int = field(default=0)
    per_device_train_batch_size: int = field(default=128, metadata={"help": "Pairs per process per micro-batch."})
    gradient_accumulation_steps: int = field(
        default=1,
        metadata={"help": "Micro-batches per optimizer step. It does not add negatives: NT-Xent sees one micro-batch."},
    )
    max_steps: int = field(default=25600, metadata={"help": "Optimizer steps (50 of the paper's 512-step epochs)."})
    learning_rate: float = field(default=1e-3, metadata={"help": "Peak learning rate."})
    warmup_steps: int = field(default=2560, metadata={"help": "Linear warm-up steps before the cosine decay."})
    min_learning_rate_ratio: float = field(default=0.0, metadata={"help": "Final lr as a fraction of the peak."})
    weight_decay: float = field(default=0.04, metadata={"help": "Weight decay at the start (cosine to the end value)."})
    weight_decay_end: float = field(default=0.01)
    adam_beta1: float = field(default=0.9)
    adam_beta2: float = field(default=0.98)
    adam_epsilon: float = field(default=1e-8)
    max_grad_norm: float = field(default=3.0, metadata={"help": "Gradient clipping; 0 disables it."})
    mixed_precision: str | None = field(
        default=None,
        metadata={"help": "'no', 'bf16' or 'fp16' (fp16 needs a GPU). Default: what `accelerate launch "
                          "--mixed_precision` or `accelerate config` chose, else 'no'."},
    )
    same_track_negatives: bool = field(
        default=False, metadata={"help": "Keep the crops of an anchor's own track among its negatives (an ablation: "
                                         "by default NT-Xent masks them, since they contradict the positive pair)."}
    )
    gradient_checkpointing: bool = field(default=False)
    logging_steps: int = field(default=10)
    save_steps: int = field(
        default=500,
        metadata={"help": "Write a checkpoint (to resume from) every N steps before the last; 0: no checkpoints. The "
                          "end of a run writes the final encoder folder in output_dir, never a checkpoint."},
    )
    save_total_limit: int = field(default=3, metadata={"help": "Checkpoints kept (the newest; 0 keeps 1)."})
    save_encoder_at_checkpoints: bool = field(
        default=False, metadata={"help": "Also write a loadable encoder folder inside every checkpoint."}
    )
    encoder_every_steps: int = field(
        default=0, metadata={"help": "Also write a loadable encoder folder every N steps into output_dir/encoders/"
                                     "step-N (kept, unlike checkpoints; about 21 MB each): the points of a learning "
                                     "curve (vit1d.curves). 0: never."}
    )
    save_initial_encoder: bool = field(
        default=True, metadata={"help": "Write the step-0 weights as an encoder folder (output_dir/initial_encoder): "
                                        "this run's own random initialisation, the paired baseline of its probes."}
    )
    resume_from_checkpoint: str | None = field(
        default=None, metadata={"help": "'latest' (in output_dir/checkpoints) or a checkpoint folder."}
    )
    report_to: str = field(
        default="auto",
        metadata={"help": "Accelerate trackers, comma-separated ('tensorboard', 'wandb', ...), 'none', or 'auto' "
                          "(TensorBoard when installed). logs.jsonl is always written."},
    )
    push_to_hub: bool = field(default=False, metadata={"help": "Upload the final encoder folder (main process)."})
    hub_model_id: str | None = field(default=None, metadata={"help": "'org/name' for --push_to_hub."})
    hub_private_repo: bool = field(default=False)
    hub_token: str | None = field(default=None, metadata={"help": "Default: the logged-in token or HF_TOKEN."})

    def __post_init__(self):
        if self.mixed_precision not in (None, "no", "bf16", "fp16"):
            raise ValueError(f"mixed_precision must be 'no', 'bf16' or 'fp16', got {self.mixed_precision!r}.")
        if self.push_to_hub and not self.hub_model_id:
            raise ValueError("--push_to_hub needs --hub_model_id org/name.")
        check_ranges(self, TRAINING_RULES)


def check_ranges(arguments, rules: dict[str, tuple[str, object]]) -> None:
    """Refuse out-of-range values before anything starts (a --logging_steps 0 would otherwise only fail after the
    first step). `rules`: name -> (the allowed range in words, a predicate of the value)."""
    for name, (allowed, holds) in rules.items():
        value = getattr(arguments, name)
        if not holds(value):
            raise ValueError(f"--{name} must be {allowed}, got {value}: pass a value in that range.")


def at_least(low):
    return f">= {low}", lambda value: value >= low


POSITIVE = ("> 0", lambda value: value > 0)
UNIT_INTERVAL = ("in [0, 1]", lambda value: 0 <= value <= 1)
BETA = ("in [0, 1)", lambda value: 0 <= value < 1)

DATA_RULES = {
    "crop_seconds": POSITIVE, "pairs_per_track": at_least(1), "shuffle_buffer": at_least(0),
    "mix_tracks": at_least(1), "gain_db": at_least(0), "tilt_db_per_octave": at_least(0), "eq_gain_db": at_least(0),
    "num_workers": at_least(0),
}
TRAINING_RULES = {
    "max_steps": at_least(1), "per_device_train_batch_size": at_least(1), "gradient_accumulation_steps": at_least(1),
    "learning_rate": POSITIVE, "warmup_steps": at_least(0), "min_learning_rate_ratio": UNIT_INTERVAL,
    "weight_decay": at_least(0), "weight_decay_end": at_least(0), "adam_beta1": BETA, "adam_beta2": BETA,
    "adam_epsilon": at_least(0), "max_grad_norm": at_least(0), "logging_steps": at_least(1),
    "save_steps": at_least(0), "save_total_limit": at_least(0), "encoder_every_steps": at_least(0),
}


ARGUMENT_CLASSES = (ModelArguments, DataArguments, PretrainingArguments)

# What a resume must not change. A resume continues one run: the optimizer and scheduler states are restored whatever
# the arguments say, the data stream continues from saved positions that only mean something under the same data,
# rules and order, and the recipe and model card would describe a run that never happened. So the model's origin, the
# data, its pair rules and order, the batch, the optimisation, the schedule and the precision are fixed.
RESUME_FIXED = (
    "model_name_or_path", "config_name", "config_overrides", "revision", "feature_extractor_name",
    "standardize_mel_bins",
    "data", "split", "dataset_config", "audio_column", "corpus_dir", "corpus_pieces", "corpus_seconds",
    "corpus_split_fractions",
    "crop_seconds", "min_distance_seconds", "max_distance_seconds", "pairs_per_track", "silence_db", "short_tracks",
    "shuffle_buffer", "mix_tracks", "peak_normalize", "gain_db", "tilt_db_per_octave", "eq_gain_db",
    "same_track_negatives",
    "seed", "per_device_train_batch_size", "gradient_accumulation_steps", "max_steps", "learning_rate",
    "warmup_steps", "min_learning_rate_ratio", "weight_decay", "weight_decay_end", "adam_beta1", "adam_beta2",
    "adam_epsilon", "max_grad_norm", "mixed_precision",
)
# What may change between the segments of a run: where and how often it logs and saves, trackers, the Hub, trust in
# remote code, and memory savers that leave the numbers alone. (num_workers is part of the reader layout, which
# `check_same_layout` compares with its own message.)
RESUME_MAY_CHANGE = (
    "trust_remote_code", "num_workers", "output_dir", "gradient_checkpointing", "logging_steps", "save_steps",
    "save_total_limit", "save_encoder_at_checkpoints", "encoder_every_steps", "save_initial_encoder",
    "resume_from_checkpoint", "report_to", "push_to_hub", "hub_model_id", "hub_private_repo", "hub_token", "preset",
)

# `--preset NAME`: settings that replace the defaults the user did not give. "demo" is the built-in corpus (no --data)
# and a run of a few minutes on 2 CPU cores (`make pretrain`, the pretraining stage of `make demo`).
PRESETS = {"demo": {
    "per_device_train_batch_size": 16,
    "max_steps": 60,
    "warmup_steps": 6,
    "learning_rate": 5e-4,
    "logging_steps": 10,
    "save_steps": 30,
    "pairs_per_track": 4,
    "mix_tracks": 16,
    "shuffle_buffer": 64,
}}
DEMO_OVERRIDES = PRESETS["demo"]


def read_config_file(path: str | Path) -> dict:
    """Arguments from a YAML (.yaml/.yml) or JSON file, as one flat mapping of field names."""
    path = Path(path)
    text = path.read_text()
    if path.suffix.lower() in (".yaml", ".yml"):
        import yaml

        values = yaml.safe_load(text) or {}
    elif path.suffix.lower() == ".json":
        values = json.loads(text)
    else:
        raise ValueError(f"Config files are .yaml, .yml or .json, got {path}.")
    if not isinstance(values, dict):
        raise ValueError(f"{path} must hold a mapping of argument names to values.")
    known = {f.name for cls in ARGUMENT_CLASSES for f in fields(cls)}
    unknown = sorted(set(values) - known)
    if unknown:
        raise ValueError(f"Unknown arguments in {path}: {unknown}. Known: {sorted(known)}.")
    return values


# Every argument of a run as it was resolved (defaults, config file, command line and demo settings together), in
# its output folder: `run_pretraining.py --config OUTPUT/training_arguments.json` repeats the run.
ARGUMENTS_FILE = "training_arguments.json"


def write_arguments(path: str | Path, arguments) -> Path:
    """Write the run's `(model_args, data_args, training_args)` as one flat JSON mapping that `--config` reads."""
    values = {f.name: getattr(group, f.name) for group in arguments for f in fields(group) if f.init}
    path = Path(path)
    path.write_text(json.dumps(values, indent=1, default=str) + "\n")
    return path


def parse_arguments(argv: list[str] | None = None, values: dict | None = None):
    """`(model_args, data_args, training_args)` from `--config FILE` (YAML/JSON) and the command line, which wins.

    `--preset demo` (the built-in corpus, a short run) replaces the defaults the user did not set with
    `PRESETS["demo"]` and logs what it set; without `--data` a preset is required, so defaults never change silently.
    Flags must be spelled in full: a preset knows what was given by the flags' names, so an abbreviation such as
    `--max_step 5` would be overwritten; it is refused instead. `values` (field name -> value, as a library caller
    such as the demo has them) act as a config file that wins over `--config`; the command line wins over both.
    """
    import argparse
    import sys

    from transformers import HfArgumentParser

    argv = list(sys.argv[1:] if argv is None else argv)
    pre = argparse.ArgumentParser(add_help=False, allow_abbrev=False)
    pre.add_argument("--config", default=None)
    known, rest = pre.parse_known_args(argv)
    parser = HfArgumentParser(ARGUMENT_CLASSES, allow_abbrev=False)
    parser.add_argument("--config", default=None, help="A YAML or JSON file of arguments; the command line wins.")
    file_values = read_config_file(known.config) if known.config else {}
    if values:
        fields_known = {f.name for cls in ARGUMENT_CLASSES for f in fields(cls)}
        if set(values) - fields_known:
            raise ValueError(f"Unknown arguments {sorted(set(values) - fields_known)}.")
        file_values = {**file_values, **values}
    parser.set_defaults(**file_values)
    namespace, unknown = parser.parse_known_args(rest)
    if unknown:
        parser.error(unknown_arguments_message(unknown, parser))
    flags = {token[2:].split("=")[0].replace("-", "_") for token in rest if token.startswith("--")}
    given = set(file_values) | flags
    if namespace.data is None and namespace.preset is None:
        parser.error("No --data: pass --data with your audio (a folder of audio files, a dataset folder, parquet / "
                     "arrow / json / csv files or a Hub dataset id), or --preset demo to pretrain briefly on the "
                     "built-in rendered corpus.")
    if namespace.preset is not None:
        if namespace.preset not in PRESETS:
            parser.error(f"--preset {namespace.preset}: the presets are {sorted(PRESETS)}.")
        applied = {name: value for name, value in PRESETS[namespace.preset].items() if name not in given}
        for name, value in applied.items():
            setattr(namespace, name, value)
        kept = sorted(given & set(PRESETS[namespace.preset]))
        logger.info(f"--preset {namespace.preset} set {applied}" + (f"; kept your {kept}" if kept else ""))
    values = vars(namespace)
    values.pop("config", None)
    return tuple(cls(**{f.name: values[f.name] for f in fields(cls) if f.init}) for cls in ARGUMENT_CLASSES)


def unknown_arguments_message(unknown: list[str], parser) -> str:
    """Name the unknown flags and the full flags they may abbreviate or misspell."""
    import difflib

    known = [option for action in parser._actions for option in action.option_strings if option.startswith("--")]
    lines = [f"unrecognized arguments: {' '.join(unknown)}."]
    for token in unknown:
        flag = token.split("=")[0]
        if not flag.startswith("--"):
            continue
        candidates = [option for option in known if option.startswith(flag)]
        candidates = candidates or difflib.get_close_matches(flag, known, n=3)
        if candidates:
            lines.append(f"{flag}: did you mean {' or '.join(candidates)}?")
    lines.append("Flags must be spelled in full (abbreviations are refused, see --help).")
    return " ".join(lines)
