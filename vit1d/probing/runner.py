"""`run_probe.py`'s library side: load a frozen encoder and a dataset, extract (or reuse) embeddings, probe one or
every layer, write `probe_results.json` and a Markdown table."""

import json
import logging
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np
import torch

from ..data.sources import open_tracks
from ..loading import layer_sets, load_encoder
from ..task_info import TASK_INFO
from .extraction import EmbeddingCache, ExtractionSettings, extract_all, log_mel_embeddings
from .headroom import HEADLINE as HEADROOM_TASKS
from .headroom import ReferenceConfig, headroom, train_reference
from .labels import read_beats, read_chords, resolve_label_path
from .metrics import resampled_tagging_metrics
from .probe import ProbeConfig
from .tables import format_interval, markdown_table
from .tasks import LOCAL_TASKS, TASKS, VALIDATION_METRIC, Representation, TaskData, probe_task

logger = logging.getLogger(__name__)

CONTEXTUAL_REFERENCE = "reference: contextual (dilated convolutions over 8 s of log-mel, supervised)"


@dataclass
class ProbeArguments:
    task: str = field(metadata={"help": "tagging, key, beat or chord."})
    output_dir: str = field(default="outputs/probe", metadata={"help": "probe_results.json and probe_results.md."})
    model_name_or_path: str | None = field(
        default=None, metadata={"help": "A ViT-1D folder or Hub id; none: a randomly initialised paper model."}
    )
    revision: str | None = field(default=None, metadata={"help": "Hub revision (commit sha)."})
    trust_remote_code: bool = field(default=False)
    random_init: bool = field(
        default=False, metadata={"help": "Probe a randomly initialised encoder with the model's config (the paper's "
                                         "trained-vs-random comparison)."}
    )
    data: str | None = field(
        default=None, metadata={"help": "Dataset folder, manifest (json/csv/parquet) or Hub id with train, validation "
                                        "and test splits; none: the built-in corpus."}
    )
    train_split: str = field(default="train")
    validation_split: str = field(default="validation")
    test_split: str = field(default="test")
    audio_column: str | None = field(default=None)
    corpus_dir: str = field(default="data/corpus", metadata={"help": "Where the built-in corpus lives or is rendered."})
    corpus_pieces: int = field(default=40)
    corpus_seconds: float = field(default=30.0)
    representation: str = field(
        default="class",
        metadata={"help": "class, sequence_mean or average, or several separated by commas ('class,average': the "
                          "paper's comparison, claim C1), for global tasks; local tasks always use sequence tokens. "
                          "The floors probe the first."},
    )
    layers: str = field(
        default="last", metadata={"help": "'last', one layer (0..12), stacked layers '3,6,9,12', 'all' (a sweep: one "
                                          "probe per layer), or several sets separated by ';' ('last;3,6,9,12'); "
                                          "one table."}
    )
    window_seconds: float = field(default=4.0)
    hop_seconds: float | None = field(default=None, metadata={"help": "Window hop; default: the window length."})
    batch_size: int = field(default=16, metadata={"help": "Windows per forward pass during extraction."})
    cache_dir: str = field(default="~/.cache/vit1d/embeddings")
    device: str = field(default="cuda" if torch.cuda.is_available() else "cpu")
    onnx_dir: str | None = field(
        default=None, metadata={"help": "Probe an exported graph (`python -m vit1d.export ... --layers all`) run by "
                                        "onnxruntime instead of a torch model, e.g. to check what int8 costs."}
    )
    int8: bool = field(default=False, metadata={"help": "With --onnx_dir: its int8 graph (model.int8.onnx)."})
    learning_rate: float = field(default=1e-3)
    probe_batch_size: int = field(default=128)
    max_steps: int = field(default=2000)
    eval_every: int = field(default=100)
    patience: int = field(default=5)
    weight_decay: float = field(default=0.0)
    seed: int = field(default=0, metadata={"help": "Seed of the random initialisation (--random_init or no model)."})
    probe_seeds: str = field(
        default="0,1,2", metadata={"help": "Seeds of the probe (its initialisation and batch order), comma-separated: "
                                           "each layer set is probed once per seed; metrics are means over the seeds "
                                           "and their 95 % intervals resample test tracks and seeds."}
    )
    bootstrap_resamples: int = field(default=2000, metadata={"help": "Bootstrap resamples of the intervals."})
    reference_steps: int = field(
        default=2000, metadata={"help": "Training steps of the contextual reference of the headroom check (beat, "
                                        "chord; validation every 200 steps). On the demo corpus its chord accuracy "
                                        "still rose at 600 steps and levelled off by 2000."}
    )
    floors: bool = field(
        default=True, metadata={"help": "Score the task's floors on the same test tracks, with their intervals: "
                                        "chance predictors, the classical method (vit1d.probing.baselines), and "
                                        "the same probe on raw log-mel frames and on layer 0 (the embeddings)."}
    )
    reuse_floors: str | None = field(
        default=None, metadata={"help": "A probe_results.json of this task on the same data and probe settings (e.g. "
                                        "an earlier point of a learning curve): its floors that do not depend on "
                                        "the model (chance, classical, log-mel frames, contextual reference) are "
                                        "reused and only the layer-0 floor is probed. Refused when its task, test "
                                        "tracks, probe settings or seeds differ."}
    )
    include_no_key: bool = field(default=False, metadata={"help": "Key: a 25th class for tracks without a key."})
    beat_trim_first_seconds: float = field(
        default=0.0, metadata={"help": "Beat: ignore the first N s when scoring (0: MARBLE's convention; 5: mir_eval's "
                                       "default and MIREX)."}
    )

    def __post_init__(self):
        if self.task not in TASKS:
            raise ValueError(f"--task must be one of {TASKS}, got {self.task!r}.")
        self.representation = "sequence" if self.task in LOCAL_TASKS else self.representation
        for kind in self.representations:
            Representation(kind, (0,))  # an unknown kind is refused here, before any extraction
        try:
            seeds = [int(seed) for seed in str(self.probe_seeds).split(",") if seed.strip()]
        except ValueError:
            seeds = []
        if not seeds or len(set(seeds)) != len(seeds):
            raise ValueError(f"--probe_seeds must be distinct integers separated by commas, got {self.probe_seeds!r}.")

    @property
    def representations(self) -> list[str]:
        return [kind.strip() for kind in self.representation.split(",") if kind.strip()]

    @property
    def seeds(self) -> list[int]:
        return [int(seed) for seed in str(self.probe_seeds).split(",") if seed.strip()]


def reference_of(task: str, row: dict, root: Path | None):
    if task == "tagging":
        return row["tags"]
    if task == "key":
        return row["key"]
    if task == "beat":
        return read_beats(resolve_label_path(row["beats"], root))
    if "chords" in row and row.get("chord_intervals") is None:
        row = {**row, "chords": resolve_label_path(row["chords"], root)}
    return read_chords(row)


def load_split(args: ProbeArguments, data: str, split: str, cache: EmbeddingCache) -> TaskData:
    """Rows of a split with the task's labels, and their embeddings. Rows without the labels are skipped (counted)."""
    source = open_tracks(data, split, args.audio_column)
    audios, references, names, strata, missing = [], [], [], [], 0
    columns = TASK_INFO[args.task].label_columns
    for row in source.tracks:
        if not any(row.get(column) is not None for column in columns):
            missing += 1
            continue
        audios.append(source.audio_of(row))
        references.append(reference_of(args.task, row, source.root))
        names.append(source.name_of(row))
        strata.append(row.get("stratum"))  # the built-in corpus's strata; None for other data
    if missing:
        logger.warning(f"{split}: {missing} row(s) without {' or '.join(columns)} were skipped.")
    if not audios:
        raise ValueError(f"The {split!r} split of {data} has no row with {columns} labels.")
    embeddings = extract_all(cache, audios, description=f"embedding {split}")
    return TaskData(embeddings, references, names, audios, strata)


def probe_settings(args: ProbeArguments) -> dict:
    """The linear probe's training settings as results files record them (`probe`), without the seed."""
    config = ProbeConfig(learning_rate=args.learning_rate, batch_size=args.probe_batch_size, max_steps=args.max_steps,
                         eval_every=args.eval_every, patience=args.patience, weight_decay=args.weight_decay)
    return {key: value for key, value in asdict(config).items() if key != "seed"}


def floor_settings(args: ProbeArguments) -> dict:
    """What else the floors depend on (`reuse_floors` requires them equal)."""
    return {"reference_steps": args.reference_steps, "beat_trim_first_seconds": args.beat_trim_first_seconds,
            "include_no_key": args.include_no_key, "window_seconds": args.window_seconds,
            "hop_seconds": args.hop_seconds, "representation": args.representations[0]}


def run_probe(args: ProbeArguments) -> dict:
    started = time.perf_counter()
    if args.onnx_dir is not None:
        if args.model_name_or_path is not None or args.random_init:
            raise ValueError("--onnx_dir probes an exported graph: leave --model_name_or_path and --random_init out.")
        from ..export import OnnxEncoder

        model = OnnxEncoder(args.onnx_dir, int8=args.int8)
        extractor, model_name = model.feature_extractor, model.name
    else:
        if args.int8:
            raise ValueError("--int8 probes an exported int8 graph: pass its folder as --onnx_dir.")
        model, extractor, model_name = load_encoder(args.model_name_or_path, random_init=args.random_init,
                                                    seed=args.seed, revision=args.revision,
                                                    trust_remote_code=args.trust_remote_code)
        model.to(args.device).eval()
    if args.data is None:
        from ..corpus.render import ensure_corpus

        data = ensure_corpus(args.corpus_dir, args.corpus_pieces, args.corpus_seconds)
    else:
        data = args.data
    settings = ExtractionSettings(args.window_seconds, args.hop_seconds, args.task in LOCAL_TASKS, args.batch_size)
    cache = EmbeddingCache(Path(args.cache_dir).expanduser(), model, extractor, settings, model_name, args.revision)
    splits = {name: load_split(args, data, split, cache) for name, split in
              (("train", args.train_split), ("validation", args.validation_split), ("test", args.test_split))}
    extraction_seconds = time.perf_counter() - started

    records = []
    sets = layer_sets(args.layers, model.config.num_hidden_layers)
    for kind, layers in [(kind, layers) for kind in args.representations for layers in sets]:
        representation = Representation(kind, layers)
        probe_started = time.perf_counter()
        outcomes = probe_over_seeds(args, representation, splits)
        records.append({"task": args.task, "dataset": data, "split": args.test_split,
                        "representation": representation.kind, "layers": list(layers),
                        **seeds_record(args, outcomes),
                        "probe_seconds": round(time.perf_counter() - probe_started, 2)})
        logger.info(f"{args.task} {representation.name}: "
                    f"{format_interval(records[-1], VALIDATION_METRIC[args.task])}")
    results = {
        "model": model_name,
        "revision": args.revision,
        "random_init": args.random_init or args.model_name_or_path is None,
        "seed": args.seed,
        "test_tracks": splits["test"].names,
        "test_strata": splits["test"].strata,
        "track_weights": outcomes[0].track_weights,
        "floors": (reused_floors(args, splits, extractor, settings) if args.floors and args.reuse_floors
                   else floor_records(args, splits, extractor, settings) if args.floors else []),
        "headroom": {},
        "num_tracks": {name: len(split.embeddings) for name, split in splits.items()},
        "probe": probe_settings(args),
        "floor_settings": floor_settings(args),
        "timings": {"extraction_seconds": round(extraction_seconds, 2), "cache_hits": cache.hits,
                    "cache_misses": cache.misses, "total_seconds": round(time.perf_counter() - started, 2)},
        "results": records,
    }
    floors = {record["representation"]: record for record in results["floors"]}
    if CONTEXTUAL_REFERENCE in floors and "floor: log-mel frames" in floors:
        results["headroom"] = headroom(args.task, floors[CONTEXTUAL_REFERENCE], floors["floor: log-mel frames"],
                                       splits["test"].strata or [None] * len(splits["test"].names))
    write_results(Path(args.output_dir), results)
    return results


def mean_over_seeds(metrics: list[dict]) -> dict:
    """Each numeric metric's mean over the seeds' runs (NaN where a seed has none); other entries of the first."""
    out = dict(metrics[0])
    for name, value in metrics[0].items():
        if isinstance(value, (int, float)) and not isinstance(value, bool) and not name.startswith("num_"):
            values = np.array([float(m.get(name, np.nan)) for m in metrics])
            out[name] = float(values[np.isfinite(values)].mean()) if np.isfinite(values).any() else float("nan")
    return out


def per_track_intervals(per_track: dict[str, list], weights=None, n_resamples: int = 2000,
                        names=None) -> dict[str, dict]:
    """95 % intervals of means over tracks (and seeds): `per_track[metric]` is `(seeds, tracks)` or `(tracks,)`;
    `weights` per track make it a weighted mean (chord durations, MIREX's convention)."""
    from ..stats import mean_interval

    intervals = {}
    for name, values in per_track.items():
        scores = np.atleast_2d(np.asarray(values, dtype=np.float64))
        if (names is None or name in names) and scores.shape[1] >= 2 and np.isfinite(scores).any():
            intervals[name] = mean_interval(scores, weights=weights, n_resamples=n_resamples).entry()
    return intervals


def confidence_intervals(task: str, outcomes: list, n_resamples: int = 2000) -> dict[str, dict]:
    """95 % intervals of the task's headline metrics over test tracks and probe seeds (`vit1d.stats`): per-track
    means (weighted by duration for chords, MIREX's convention) for beat, key and chord; tagging's macro mAP and
    ROC-AUC, computed over a set of tracks, are recomputed on each resample (`resampled_tagging_metrics`)."""
    from ..stats import set_metric_interval

    if task != "tagging":
        return per_track_intervals({name: [outcome.per_track[name] for outcome in outcomes]
                                    for name in outcomes[0].per_track}, outcomes[0].track_weights, n_resamples)
    intervals = {}
    targets = outcomes[0].track_scores["targets"]
    for name in ("mAP", "ROC-AUC"):
        def metric(seed, weights, name=name):
            return resampled_tagging_metrics(outcomes[seed].track_scores["scores"], targets, weights)[name]

        if len(targets) >= 2:
            intervals[name] = set_metric_interval(metric, len(targets), len(outcomes), n_resamples).entry()
    return intervals


def probe_over_seeds(args: "ProbeArguments", representation: Representation, splits: dict) -> list:
    """One probe per seed of `args.seeds` (a single seed's number hides the variance of the probe's own training)."""
    options = {"include_none": args.include_no_key, "trim_first_seconds": args.beat_trim_first_seconds}
    outcomes = []
    for seed in args.seeds:
        config = ProbeConfig(learning_rate=args.learning_rate, batch_size=args.probe_batch_size,
                             max_steps=args.max_steps, eval_every=args.eval_every, patience=args.patience,
                             weight_decay=args.weight_decay, seed=seed)
        outcomes.append(probe_task(args.task, representation, splits["train"], splits["validation"], splits["test"],
                                   config, **options))
    return outcomes


def seeds_record(args: "ProbeArguments", outcomes: list) -> dict:
    """What a results record holds of the probes of all seeds: the mean metrics, their intervals, the per-seed and
    per-track scores, and how each probe trained."""
    return {
        "metrics": mean_over_seeds([outcome.metrics for outcome in outcomes]),
        "ci95": confidence_intervals(args.task, outcomes, args.bootstrap_resamples),
        "seeds": args.seeds,
        "metrics_by_seed": [outcome.metrics for outcome in outcomes],
        "validation": [outcome.validation for outcome in outcomes],
        "best_step": [outcome.best_step for outcome in outcomes],
        "steps_run": [outcome.steps_run for outcome in outcomes],
        "per_track": {name: [outcome.per_track[name] for outcome in outcomes] for name in outcomes[0].per_track},
        # Tagging's macro mAP is not a mean over tracks: its scores and targets, to recompute it on resampled tracks.
        **({"track_scores": {"scores": [outcome.track_scores["scores"].tolist() for outcome in outcomes],
                             "targets": outcomes[0].track_scores["targets"].tolist()}}
           if outcomes[0].track_scores else {}),
        **({"details": [outcome.extra for outcome in outcomes]} if outcomes[0].extra else {}),
    }


LAYER_0_FLOOR = "floor: layer 0 (embeddings)"


def reused_floors(args: "ProbeArguments", splits: dict, extractor, settings) -> list[dict]:
    """The floors of `args.reuse_floors` with the layer-0 floor, the only one that depends on the model, probed
    anew (see `floor_records`), in the same order."""
    source = json.loads(Path(args.reuse_floors).read_text())
    floors = source.get("floors") or []
    differs = [name for name, same in (
        ("task", all(record["task"] == args.task for record in floors)),
        ("test tracks", source.get("test_tracks") == splits["test"].names),
        ("probe settings", source.get("probe") == probe_settings(args)),
        ("floor settings", source.get("floor_settings") == floor_settings(args)),
        ("probe seeds", all(record.get("seeds", args.seeds) == args.seeds for record in floors)),
        ("floors", any(record["representation"] == LAYER_0_FLOOR for record in floors))) if not same]
    if differs:
        raise ValueError(f"--reuse_floors {args.reuse_floors} cannot serve this probe: its {', '.join(differs)} "
                         "differ (or are missing). Drop --reuse_floors to compute the floors.")
    (layer_0,) = floor_records(args, splits, extractor, settings, model_independent=False)
    return [layer_0 if record["representation"] == LAYER_0_FLOOR else record for record in floors]


def floor_records(args: "ProbeArguments", splits: dict, extractor=None, settings=None,
                  model_independent: bool = True) -> list[dict]:
    """The floors of the task on the test split, as table records, all scored per track with the probes' metrics and
    the same intervals: chance predictors that never hear the audio, the task's classical method
    (`vit1d.probing.baselines`), and the same probe (same seeds, same early stopping on validation) on the raw
    log-mel frames (`log_mel_embeddings`) and on layer 0, the encoder's embeddings before any block. A number above
    these floors says the encoder's layers found something the input itself does not show a linear probe.
    `model_independent=False`: the layer-0 floor alone (the others do not depend on the model: `reused_floors`)."""
    from .baselines import CLASSICAL_METHODS, chance_levels, evaluate_classical

    trained = []
    if extractor is not None:
        kind = args.representations[0]
        log_mel = {name: TaskData([log_mel_embeddings(extractor, audio, settings) for audio in split.audios],
                                  split.references, split.names, split.audios)
                   for name, split in splits.items()} if model_independent else None
        floors = (("floor: log-mel frames", [], log_mel), (LAYER_0_FLOOR, [0], splits))
        for name, layers, data in floors[0 if model_independent else 1:]:
            outcomes = probe_over_seeds(args, Representation(kind, (0,)), data)
            trained.append({"task": args.task, "split": args.test_split, "representation": name, "layers": layers,
                            **seeds_record(args, outcomes)})
        if not model_independent:
            return trained
        if args.task in HEADROOM_TASKS:  # the yardstick of the headroom check (vit1d.probing.headroom)
            outcomes = [train_reference(args.task, log_mel["train"], log_mel["validation"], log_mel["test"],
                                        ReferenceConfig(steps=args.reference_steps, seed=seed,
                                                        eval_every=min(200, args.reference_steps)))
                        for seed in args.seeds]
            per_track = {name: [outcome.per_track[name] for outcome in outcomes] for name in outcomes[0].per_track}
            trained.append({
                "task": args.task, "split": args.test_split, "representation": CONTEXTUAL_REFERENCE, "layers": [],
                "metrics": mean_over_seeds([outcome.metrics for outcome in outcomes]), "per_track": per_track,
                "track_weights": outcomes[0].track_weights, "seeds": args.seeds,
                "validation": [{HEADROOM_TASKS[args.task]: outcome.validation} for outcome in outcomes],
                "best_step": [outcome.best_step for outcome in outcomes],
                "ci95": per_track_intervals(per_track, outcomes[0].track_weights, args.bootstrap_resamples)})

    train, test = splits["train"], splits["test"]
    options = {}
    if args.task in LOCAL_TASKS:  # the probes' token grid of every test track (stitched sequence tokens)
        grids = [embedding.token_times.numpy() for embedding in test.embeddings]
        options = {"token_times": grids}
    if args.task == "beat":
        options = {"durations": [float(grid[-1]) for grid in grids],
                   "trim_first_seconds": args.beat_trim_first_seconds}
    results = {f"chance: {name}": result for name, result in
               chance_levels(args.task, train.references, test.references, **options).items()}
    if args.task in CLASSICAL_METHODS:
        results[f"classical: {CLASSICAL_METHODS[args.task]}"] = evaluate_classical(
            args.task, test.audios, test.references,
            **({"trim_first_seconds": args.beat_trim_first_seconds} if args.task == "beat" else {}))
    headline = {key for _, key in TASK_INFO[args.task].metrics}
    return trained + [
        {"task": args.task, "split": args.test_split, "representation": name, "layers": [],
         "metrics": result.metrics, "per_track": {k: v for k, v in result.per_track.items() if k in headline},
         "ci95": per_track_intervals(result.per_track, result.track_weights, args.bootstrap_resamples, headline)}
        for name, result in results.items()]


def write_results(output_dir: Path, results: dict) -> None:
    output_dir.mkdir(parents=True, exist_ok=True)
    (output_dir / "probe_results.json").write_text(json.dumps(results, indent=1, default=float))
    (output_dir / "probe_results.md").write_text(markdown_table(results))


__all__ = ["ProbeArguments", "load_split", "run_probe"]
