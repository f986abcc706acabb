"""`run_analysis.py`'s library side: the paper's analyses of a frozen ViT-1D on a few tracks, for a model and random
initialisations of the same config (several seeds) side by side: onsets read from attention (every layer, head and
mode, scored with `mir_eval.onset`) beside their floors, self-similarity summaries per layer, figures;
`analysis_results.json` and a Markdown report.

How a headline number is made (what `/work/shared/notes/evidence.md` asks of a result):

1. **Selection on a validation split, read first.** Every model (the trained one and each random initialisation,
   each on its own: the heads of two random inits have nothing in common) is run on up to `max_selection_tracks`
   tracks of `selection_split`, and its onset mode, layer, head and peak-picking threshold (from
   `onset_thresholds`) are chosen by the highest mean F there; each floor gets its threshold chosen the same way.
   Only then is the reported split (`split`, the test split) opened, once. Data without a separate selection split
   (an audio folder without split folders, a single manifest file, `--selection_split none`) fall back to choosing
   on the reported tracks, with a warning and `selection.split = "none: selected on the reported tracks
   (optimistic)"`.
2. **Floors on the same tracks**, peak-picked and trimmed like the attention curves: i.i.d. noise on the token grid,
   a random linear projection of each token's log-mel frame, and spectral flux (`vit1d.analysis.attention.FLOORS`;
   the random ones average `floor_draws` seeded draws per track).
3. **Intervals**: the selected configuration's test F of every arm and floor, and every difference trained - random
   and arm - floor, with paired bootstrap 95 % intervals over the test tracks (two-level over tracks x random-init
   seeds for the random arm; `vit1d.stats`) and p-values; the self-similarity measures per layer with the interval
   of each arm's mean. Per-track values are saved (`per_track`), so that claims can be recomputed from the file.

The per-layer and per-head tables on the test split stay: descriptive, every cell reported, none selected.

Memory stays bounded by the track's tokens, never their square: the self-similarity measures read only a band of
lags of each matrix (`ssm_summary_from_tokens`) and the figures show `SSM_DISPLAY_SIZE`-square block means
(`pooled_self_similarity`), the only thing kept of the first track's hidden states. Every model is held in memory
for the whole run (the trained one and one per random-init seed). The results files are written before the figures
are drawn, and a figure that fails is logged and listed under `figure_errors`, not fatal. The figures show the
trained model and the first random initialisation."""

import itertools
import json
import logging
import math
import time
import warnings
from collections.abc import Callable
from dataclasses import asdict, dataclass, field, replace
from functools import partial
from pathlib import Path

import numpy as np
import torch

from ..audio import load_audio
from ..data.sources import AUDIO_EXTENSIONS, DATA_FILE_BUILDERS, canonical_split, open_tracks
from ..loading import layer_sets, load_encoder
from ..probing.labels import parse_chords, read_beats, resolve_label_path
from ..stats import Arm, bootstrap_effect, format_metric, mean_interval
from .attention import (
    FLOORS,
    MODES,
    attention_maps,
    noise_curves,
    onset_score_grid,
    pick_onsets,
    random_projection_curves,
    track_onset_strength,
)
from .ssm import SUMMARY_KEYS, chord_changes, linear_cka, pooled_self_similarity, ssm_summary_from_tokens

logger = logging.getLogger(__name__)

# The paper's onset F-measures read from attention (best layer/head; its procedure is unpublished).
PAPER_ONSET_F = {"trained": 0.877, "random_init": 0.501}
SCORE_NAMES = ("f_measure", "precision", "recall")
# Bins per side of the self-similarity figures: a panel is about 400 pixels wide, so this is finer than any PNG shows,
# and 4 MB per layer and model whatever the track length.
SSM_DISPLAY_SIZE = 1024
# `selection["split"]` when nothing separate from the reported tracks could be selected on.
NO_SELECTION = "none: selected on the reported tracks (optimistic)"
FLOOR_NAMES = {"noise": "noise (peak-picked i.i.d. noise)",
               "random_projection": "random linear projection of the log-mel frame",
               "spectral_flux": "spectral flux of the log-mel input (classical)"}
# Per SSM layer and track: the SSM measures, and the linear CKA of the layer's tokens with the deepest SSM layer's
# (1 at that layer), whose change with depth is the other half of claim C6.
LAYER_KEYS = (*SUMMARY_KEYS, "cka_to_deepest")
SSM_CI_KEYS = LAYER_KEYS


def _numbers(text: str, kind, name: str) -> list:
    try:
        values = [kind(part) for part in str(text).split(",") if part.strip()]
    except ValueError:
        values = []
    if not values or len(set(values)) != len(values):
        raise ValueError(f"--{name} must be distinct numbers separated by commas, got {text!r}.")
    return values


@dataclass
class AnalysisArguments:
    model_name_or_path: str | None = field(
        default=None, metadata={"help": "A ViT-1D folder or Hub id; none: randomly initialised paper models alone."}
    )
    revision: str | None = field(default=None, metadata={"help": "Hub revision (commit sha)."})
    trust_remote_code: bool = field(default=False, metadata={"help": "Passed to from_pretrained."})
    data: str | None = field(
        default=None, metadata={"help": "Dataset folder, manifest (json/csv/parquet), audio folder or Hub id; none: "
                                        "the built-in corpus. Uses the `onsets`, `beats` and `chord_intervals` (or "
                                        "`chords`) columns when present."}
    )
    split: str = field(default="test", metadata={"help": "The split reported on (read once, after selection)."})
    selection_split: str = field(
        default="validation", metadata={"help": "The split on which each model's onset mode, layer, head and "
                                                "peak-picking threshold (and each floor's threshold) are chosen, "
                                                "before `split` is read; 'none' (or data without it): chosen on the "
                                                "reported tracks, an optimistic number, recorded as such."}
    )
    max_selection_tracks: int = field(default=8, metadata={"help": "Select on the first N tracks of that split."})
    audio_column: str | None = field(default=None, metadata={"help": "Column of audio paths or Audio cells."})
    corpus_dir: str = field(
        default="data/corpus", metadata={"help": "Where the built-in corpus lives or is rendered."}
    )
    corpus_pieces: int = field(default=40, metadata={"help": "Pieces of the built-in corpus, if it is rendered."})
    corpus_seconds: float = field(default=30.0, metadata={"help": "Length of its pieces, if it is rendered."})
    max_tracks: int = field(default=8, metadata={"help": "Analyse the first N tracks of the split."})
    compare_random_init: bool = field(
        default=True, metadata={"help": "Also analyse random initialisations of the model's config (one per "
                                        "--random_init_seeds), side by side (the paper's trained-vs-random "
                                        "comparison)."}
    )
    random_init_seeds: str = field(
        default="0,1,2", metadata={"help": "Seeds of the random initialisations (comma-separated; each is added to "
                                           "--seed): the random arm's scores have a seeds dimension, its means and "
                                           "intervals are over tracks x seeds. The figures show the first."}
    )
    layers: str = field(
        default="3,6,9,12", metadata={"help": "Hidden-state layers of the self-similarity matrices: '3,6,9,12', 'all' "
                                              "(0..12) or 'last'."}
    )
    onset_window: float = field(default=0.05, metadata={"help": "mir_eval.onset tolerance in seconds."})
    onset_thresholds: str = field(
        default="0.02,0.05,0.1,0.2", metadata={"help": "Peak-picking thresholds above the local mean, on curves "
                                                       "scaled to [0, 1] (see vit1d.analysis.attention.pick_onsets), "
                                                       "comma-separated: one is chosen per model and floor on the "
                                                       "selection split; a single value fixes it."}
    )
    onset_trim_seconds: float = field(
        default=0.1, metadata={"help": "Onsets this close to a track's start or end are not scored."}
    )
    floor_draws: int = field(
        default=5, metadata={"help": "Seeded draws of the noise and random-projection onset floors, averaged per "
                                     "track."}
    )
    bootstrap_resamples: int = field(default=2000, metadata={"help": "Bootstrap resamples of the intervals."})
    window_seconds: float = field(default=4.0, metadata={"help": "Model window (the training length)."})
    hop_seconds: float = field(
        default=2.0, metadata={"help": "Window hop; overlapping windows keep every token away from window edges."}
    )
    batch_size: int = field(default=8, metadata={"help": "Windows per forward pass."})
    ssm_kernel_seconds: float = field(default=1.0, metadata={"help": "Width of the Foote novelty kernel."})
    ssm_window: float = field(
        default=0.1, metadata={"help": "Tolerance in seconds when matching novelty to chord changes and beats."}
    )
    ssm_center: bool = field(
        default=False, metadata={"help": "Subtract the mean token before the cosine similarities."}
    )
    probe_results: str | None = field(
        default=None, metadata={"help": "probe_results.json files (comma-separated paths or globs) to draw per-layer "
                                        "probe curves from."}
    )
    output_dir: str = field(default="outputs/analysis", metadata={"help": "analysis_results.json/.md and figures/."})
    device: str = field(default="cuda" if torch.cuda.is_available() else "cpu", metadata={"help": "Torch device."})
    seed: int = field(
        default=0, metadata={"help": "Added to every --random_init_seeds value (so --seed N alone seeds the first "
                                     "random initialisation as before) and seeds the floors' draws."}
    )
    figures: bool = field(default=True, metadata={"help": "Draw PNG figures (needs matplotlib)."})

    def __post_init__(self):
        _numbers(self.random_init_seeds, int, "random_init_seeds")
        thresholds = _numbers(self.onset_thresholds, float, "onset_thresholds")
        if min(thresholds) < 0:
            raise ValueError(f"--onset_thresholds must not be negative, got {self.onset_thresholds!r}.")
        if self.floor_draws < 1:
            raise ValueError(f"--floor_draws must be at least 1, got {self.floor_draws}.")

    @property
    def init_seeds(self) -> list[int]:
        """The random initialisations' seeds: each of `random_init_seeds` plus `seed`."""
        return [self.seed + value for value in _numbers(self.random_init_seeds, int, "random_init_seeds")]

    @property
    def thresholds(self) -> list[float]:
        return _numbers(self.onset_thresholds, float, "onset_thresholds")


@dataclass
class AnalysedModel:
    """One model of an arm: `key` "trained" or "random_init" (one per seed, `seed` set)."""

    key: str
    model: torch.nn.Module
    extractor: object
    name: str
    seed: int | None = None

    @property
    def label(self) -> str:
        return self.key if self.seed is None else f"{self.key} (seed {self.seed})"


def load_models(args: AnalysisArguments) -> list[AnalysedModel]:
    """The models analysed: "trained" (the given model) and one "random_init" per seed of `args.init_seeds` (its
    config), or the random initialisations alone when no model is given."""
    options = dict(revision=args.revision, trust_remote_code=args.trust_remote_code)
    models = []
    if args.model_name_or_path is not None:
        model, extractor, name = load_encoder(args.model_name_or_path, **options)
        models.append(AnalysedModel("trained", model, extractor, name))
    if args.model_name_or_path is None or args.compare_random_init:
        for seed in args.init_seeds:
            model, extractor, name = load_encoder(args.model_name_or_path, random_init=True, seed=seed, **options)
            models.append(AnalysedModel("random_init", model, extractor, name, seed))
    for entry in models:
        entry.model = entry.model.to(args.device).eval()
    return models


def _arms(models: list[AnalysedModel]) -> dict[str, list[int]]:
    """`{arm: indices of its models}`, in order ("trained", then "random_init")."""
    arms: dict[str, list[int]] = {}
    for index, entry in enumerate(models):
        arms.setdefault(entry.key, []).append(index)
    return arms


def _events(row: dict, column: str, root) -> np.ndarray | None:
    value = row.get(column)
    return None if value is None else read_beats(resolve_label_path(value, root))


def _chord_changes(row: dict, root) -> np.ndarray | None:
    if row.get("chord_intervals") is not None:
        return chord_changes(row["chord_intervals"], row.get("chord_labels"))
    if row.get("chords") is not None:
        intervals, labels = parse_chords(resolve_label_path(row["chords"], root))
        return chord_changes(intervals, labels)
    return None


def _readable_audio(audio, sampling_rate: int) -> np.ndarray:
    """The whole track at `sampling_rate`, or a ValueError naming what is wrong with it (the file and the time of its
    first NaN or infinite sample), which the runner turns into a counted skip."""
    waveform = load_audio(audio, sampling_rate=sampling_rate)
    if len(waveform) == 0:
        raise ValueError("the file holds no samples")
    finite = np.isfinite(waveform)
    if not finite.all():
        raise ValueError(f"NaN or infinite samples from {np.argmin(finite) / sampling_rate:.2f} s")
    return waveform


def _nanmean(values, axis=None):
    """Mean of the finite values (NaN where there is none), without numpy's empty-slice warning."""
    values = np.asarray(values, dtype=np.float64)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        mean = np.nanmean(np.where(np.isfinite(values), values, np.nan), axis=axis)
    return float(mean) if axis is None else mean


def _rounded(array) -> list:
    return np.round(np.asarray(array, dtype=np.float64), 4).tolist()


def _require_matplotlib() -> None:
    try:
        import matplotlib  # noqa: F401
    except ImportError as err:
        raise ImportError("Figures need matplotlib: `pip install vit1d[analysis]` or `pip install matplotlib`, or "
                          "pass --figures false.") from err


def read_split(data, split: str, audio_column: str | None, max_tracks: int):
    """`(source, rows)`: one split opened with `open_tracks` and the metadata of `max_tracks` of its rows (audio is
    read track by track, later): the first ones, or, where rows name a `stratum` (the built-in corpus, whose rows
    come source by source), the first of each stratum in turn, so that a few tracks cover every stratum. The only
    place the runner opens a split: the test split is opened once, after the selection (tests wrap `open_tracks` to
    check it)."""
    source = open_tracks(data, split, audio_column)
    rows = list(itertools.islice(source.tracks, max(100 * max_tracks, 10_000)))  # metadata only, bounded
    by_stratum: dict = {}
    for row in rows:
        by_stratum.setdefault(row.get("stratum"), []).append(row)
    if len(by_stratum) > 1:  # round-robin over the strata, each in its own order
        queues = list(by_stratum.values())
        rows = [queue[i] for i in range(max(map(len, queues))) for queue in queues if i < len(queue)]
    return source, rows[:max_tracks]


@dataclass
class SplitScores:
    """What one pass over a split's tracks gives, per track in `names` order.

    Attributes:
        onsets: per model (`load_models` order), `{mode: {score: [(thresholds, layers, heads) per track]}}`; NaN for a
            track without reference onsets.
        floors: `{floor: {score: [(thresholds,) per track]}}`, the mean over the floor's draws.
        ssm: per model, `{layer: [ssm summary per track]}` (empty when no layer was asked for).
    """

    split: str
    onsets: list[dict]
    floors: dict
    ssm: list[dict]
    names: list[str] = field(default_factory=list)
    with_onsets: list[bool] = field(default_factory=list)
    counts: dict = field(default_factory=lambda: {"analysed": 0, "with_onsets": 0, "without_onsets": 0,
                                                  "with_beats": 0, "with_chords": 0})
    skipped: dict = field(default_factory=dict)
    first: dict | None = None  # what the figures show: the first track, and the first track with onsets
    first_with_onsets: dict | None = None


def floor_curves(args: AnalysisArguments, strengths, track_name: str) -> dict[str, np.ndarray]:
    """`{floor: (draws, num_tokens)}` curves of the onset floors on a track's token grid (from the strengths of any
    model: the grid and the log-mel input are the extractor's, the same for every model)."""
    return {"noise": noise_curves(len(strengths.times), args.floor_draws, args.seed, track_name),
            "random_projection": random_projection_curves(strengths.frames, args.floor_draws, args.seed),
            "spectral_flux": np.asarray(strengths.spectral_flux)[None]}


def analyse_split(args: AnalysisArguments, source, rows: list, split: str, models: list[AnalysedModel],
                  thresholds: list[list[float]], floor_thresholds: dict[str, list[float]], ssm_layers: list[int],
                  model_seconds: dict, figure_models: tuple[int, ...] = ()) -> SplitScores:
    """Run every model on every track of `rows`: onset scores of every mode, layer and head at each of the model's
    `thresholds`, the floors' at `floor_thresholds`, self-similarity summaries of `ssm_layers`, and (for the models in
    `figure_models`) what the figures need of the first track and the first track with onsets."""
    from tqdm.auto import tqdm

    scores = SplitScores(split, onsets=[{mode: {name: [] for name in SCORE_NAMES} for mode in MODES} for _ in models],
                         floors={floor: {name: [] for name in SCORE_NAMES} for floor in FLOORS},
                         ssm=[{layer: [] for layer in ssm_layers} for _ in models])
    sampling_rate = models[0].extractor.sampling_rate  # read once per track: the extractors come from one folder
    window_samples = int(round(args.window_seconds * sampling_rate))
    pick = dict(window=args.onset_window, trim_seconds=args.onset_trim_seconds)
    for row in tqdm(rows, desc=f"analysing {split} tracks", unit="track"):
        name = source.name_of(row)
        try:
            audio = _readable_audio(source.audio_of(row), sampling_rate)
        except (ValueError, OSError) as err:  # one bad file costs only itself: counted, named, and the run goes on
            scores.skipped[name] = str(err)
            logger.warning(f"Skipping track {name!r} of the {split!r} split: {err}")
            continue
        onsets, beats = _events(row, "onsets", source.root), _events(row, "beats", source.root)
        changes = _chord_changes(row, source.root)
        reference = onsets if onsets is not None else []  # none: every score is NaN
        scores.names.append(name)
        scores.with_onsets.append(onsets is not None)
        counts = scores.counts
        counts["analysed"] += 1
        counts["with_onsets" if onsets is not None else "without_onsets"] += 1
        counts["with_beats"] += beats is not None
        counts["with_chords"] += changes is not None
        # Of the audio, the figures need only the first window (attention maps): a copy, so the track is not held.
        track = {"name": name, "window": audio[:window_samples].copy(), "onsets": onsets, "beats": beats,
                 "changes": changes, "models": {}}
        for index, entry in enumerate(models):
            model_started = time.perf_counter()
            strengths = track_onset_strength(entry.model, entry.extractor, audio, entry.extractor.sampling_rate,
                                             window_seconds=args.window_seconds, hop_seconds=args.hop_seconds,
                                             batch_size=args.batch_size, token_layers=ssm_layers)
            score_onsets(strengths, reference, thresholds[index], pick, scores.onsets[index])
            if index == 0:  # the floors read the log-mel input and the token grid, the same for every model
                for floor, curves in floor_curves(args, strengths, name).items():
                    grid = onset_score_grid(curves, strengths.times, reference, floor_thresholds[floor], **pick)
                    for score in SCORE_NAMES:  # (thresholds, draws) -> the mean over the draws
                        scores.floors[floor][score].append(grid[score].mean(axis=1))
            for layer, summary in ssm_summaries(args, strengths, ssm_layers, beats, changes).items():
                scores.ssm[index][layer].append(summary)
            model_seconds[entry.key] = model_seconds.get(entry.key, 0.0) + time.perf_counter() - model_started
            if index in figure_models and (scores.first is None or (scores.first_with_onsets is None
                                                                    and onsets is not None)):
                track["models"][entry.key] = figure_entry(args, strengths, ssm_layers, with_ssms=scores.first is None)
            del strengths  # its hidden states go before the next model's are computed
        if figure_models and scores.first is None:
            scores.first = track
        if figure_models and scores.first_with_onsets is None and onsets is not None:
            scores.first_with_onsets = track
    return scores


def score_onsets(strengths, reference, thresholds: list[float], pick: dict, into: dict) -> None:
    """Append one track's onset scores, `(thresholds, layers, heads)` per mode and score, to `into[mode][score]`."""
    for mode in MODES:
        grid = onset_score_grid(strengths.strengths[mode], strengths.times, reference, thresholds, **pick)
        for score in SCORE_NAMES:
            into[mode][score].append(grid[score])


def ssm_summaries(args: AnalysisArguments, strengths, ssm_layers: list[int], beats, changes) -> dict[int, dict]:
    """Per SSM layer, the track's self-similarity summary (from the band of lags the measures read: no T x T
    matrix) and the linear CKA of the layer's tokens with the deepest SSM layer's."""
    deepest = strengths.tokens[max(ssm_layers)] if ssm_layers else None
    summaries = {}
    for layer in ssm_layers:
        summary = ssm_summary_from_tokens(strengths.tokens[layer], strengths.times, beats, changes,
                                          kernel_seconds=args.ssm_kernel_seconds, window=args.ssm_window,
                                          center=args.ssm_center)
        summary["cka_to_deepest"] = linear_cka(strengths.tokens[layer], deepest)
        summaries[layer] = summary
    return summaries


def figure_entry(args: AnalysisArguments, strengths, ssm_layers: list[int], with_ssms: bool) -> dict:
    """What the figures draw of a model on a track: the onset curves and (`with_ssms`, the first track) block-mean
    SSMs of bounded size; the hidden states themselves (T x hidden per layer) are dropped."""
    entry = {"strengths": replace(strengths, tokens={}, frames=None)}
    if with_ssms:
        pooled = {layer: pooled_self_similarity(strengths.tokens[layer], strengths.times, SSM_DISPLAY_SIZE,
                                                center=args.ssm_center)
                  for layer in ssm_layers}
        entry["ssms"] = {layer: matrix for layer, (matrix, _) in pooled.items()}
        entry["ssm_times"] = next(iter(pooled.values()))[1]
    return entry


# -- selection ------------------------------------------------------------------------------------------------------


def select_configuration(grids: dict[str, np.ndarray], thresholds: list[float]) -> dict | None:
    """The (mode, layer, head, threshold) of the highest mean F-measure: `grids[mode]` holds the mean F over the
    selection tracks, `(thresholds, layers, heads)`. Ties go to the first in (mode, threshold, layer, head) order.
    None when no score is finite."""
    modes = list(grids)
    stacked = np.stack([np.asarray(grids[mode], dtype=np.float64) for mode in modes])
    if not np.isfinite(stacked).any():
        return None
    mode, threshold, layer, head = np.unravel_index(np.nanargmax(stacked), stacked.shape)
    return {"mode": modes[mode], "layer": int(layer) + 1, "head": int(head), "threshold": float(thresholds[threshold]),
            "threshold_index": int(threshold), "selection_f_measure": float(stacked[mode, threshold, layer, head])}


def select_threshold(grid, thresholds: list[float]) -> dict | None:
    """The threshold of the highest mean F-measure (`grid`: `(thresholds,)`), for a floor; None when none is finite."""
    grid = np.asarray(grid, dtype=np.float64)
    if not np.isfinite(grid).any():
        return None
    index = int(np.nanargmax(grid))
    return {"threshold": float(thresholds[index]), "threshold_index": index, "selection_f_measure": float(grid[index])}


def choose_configurations(scores: SplitScores, thresholds: list[float]) -> dict:
    """Every model's configuration and every floor's threshold, chosen on `scores` (every score at every threshold of
    `thresholds`): `{"models": [config or None per model], "floors": {floor: choice or None}, "grids": [{mode: mean
    F (thresholds, layers, heads)} per model]}`."""
    grids = [{mode: _nanmean(np.stack(modes[mode]["f_measure"]), axis=0) for mode in MODES} for modes in scores.onsets]
    return {"models": [select_configuration(grid, thresholds) for grid in grids],
            "floors": {floor: select_threshold(_nanmean(np.stack(values["f_measure"]), axis=0), thresholds)
                       for floor, values in scores.floors.items()},
            "grids": grids}


def _selection_source(args: AnalysisArguments, data) -> tuple[object | None, list, str]:
    """`(source, rows, reason)` of the selection split; `source` None, with the reason, when there is none apart from
    the reported split."""
    requested = str(args.selection_split or "").strip()
    if requested.lower() in ("", "none"):
        return None, [], "--selection_split none"
    if canonical_split(requested) == canonical_split(args.split):
        return None, [], f"the selection split {requested!r} is the reported split"
    path = Path(str(data))
    if not path.is_dir() and path.suffix.lower() in (*AUDIO_EXTENSIONS, *DATA_FILE_BUILDERS):
        # What open_tracks reads as one audio file or manifest files: the same rows for any split asked for.
        return None, [], f"{data} is a file (or a pattern of files) without splits"
    if args.max_selection_tracks < 1:
        return None, [], "--max_selection_tracks 0"
    try:
        source, rows = read_split(data, requested, args.audio_column, args.max_selection_tracks)
    except (ValueError, KeyError, FileNotFoundError) as err:
        return None, [], f"no {requested!r} split: {err}"
    if not rows:
        return None, [], f"the {requested!r} split has no tracks"
    return source, rows, ""


def run_analysis(args: AnalysisArguments) -> dict:
    """Run every analysis (see the module docstring): select on `args.selection_split`, then read `args.split` once
    and report on it; write `analysis_results.json` and `analysis_results.md`, then `figures/*.png` under
    `args.output_dir` (the results files are rewritten with the list of figures), and return the results (with
    `"figures"`, `"markdown"` and `"timings"`; `"figure_errors"`: `{figure: "Error: message"}` of any figure that
    could not be drawn)."""
    started = time.perf_counter()
    if args.figures:
        _require_matplotlib()
    models = load_models(args)
    arms = _arms(models)
    num_layers = models[0].model.config.num_hidden_layers
    ssm_layers = sorted({layer for group in layer_sets(args.layers, num_layers) for layer in group})
    if args.data is None:
        from ..corpus.render import ensure_corpus

        data = ensure_corpus(args.corpus_dir, args.corpus_pieces, args.corpus_seconds)
    else:
        data = args.data
    model_seconds = {key: 0.0 for key in arms}

    # 1. Selection, before the reported split is opened: every model and floor at every threshold of the grid.
    selection_started = time.perf_counter()
    chosen, selected_on, reason = select_on_validation(args, data, models, model_seconds)
    selection_seconds = time.perf_counter() - selection_started

    # 2. The reported split, read once: each model at its chosen threshold (every threshold when nothing was chosen).
    figure_models = tuple(indices[0] for indices in arms.values()) if args.figures else ()
    test = analyse_reported_split(args, data, models, chosen, ssm_layers, model_seconds, figure_models)
    fallback = chosen is None
    if fallback and any(test.with_onsets):
        chosen = choose_configurations(test, args.thresholds)
    selection = _selection_record(args, selected_on, chosen, models, fallback, reason, test)

    # 3. The results: onsets at the chosen configurations with floors and intervals, SSM summaries per layer.
    results = {
        "models": {key: models[indices[0]].name for key, indices in arms.items()},
        "random_init_seeds": [models[index].seed for index in arms.get("random_init", [])],
        "revision": args.revision,
        "dataset": data,
        "split": args.split,
        "tracks": test.names,
        "num_tracks": {**test.counts, "skipped": len(test.skipped)},
        "skipped_tracks": test.skipped,
        "layers": list(range(1, num_layers + 1)),
        "heads": list(range(models[0].model.config.num_attention_heads)),
        "modes": list(MODES),
        "ssm_layers": ssm_layers,
        "settings": {k: v for k, v in asdict(args).items() if k not in ("output_dir", "probe_results")},
        "paper": {"onset_f_measure": PAPER_ONSET_F},
        "selection": selection,
        "onsets": {}, "best_onsets": {}, "onset_floors": {}, "onsets_ci": {},
        "per_track": {"tracks": test.names, "onsets": {}, "onset_f_measure_by_layer": {}, "ssm": {}},
    }
    if chosen is not None and any(test.with_onsets):
        results.update(_onset_results(args, test, models, arms, chosen, fallback, selection["split"],
                                      results["per_track"]))
    results["ssm"], results["ssm_ci"], results["per_track"]["ssm"] = _ssm_results(args, test, arms, ssm_layers)
    results["figures"] = {}
    results["timings"] = {
        "model_seconds": {key: round(seconds, 2) for key, seconds in model_seconds.items()},
        "selection_seconds": round(selection_seconds, 2),
        "figure_seconds": 0.0,
        "total_seconds": round(time.perf_counter() - started, 2),
    }
    results["markdown"] = markdown_tables(results)
    # 4. The numbers are on disk before any figure is drawn: a figure that fails (or runs out of memory) loses none.
    write_results(Path(args.output_dir), results)
    if args.figures:
        add_figures(args, results, [models[index] for index in figure_models], test, started)
    return results


def select_on_validation(args: AnalysisArguments, data, models: list[AnalysedModel],
                         model_seconds: dict) -> tuple[dict | None, "SplitScores | None", str]:
    """`(chosen, scores, reason)`: every model's onset configuration and every floor's threshold, chosen on the
    selection split before the reported split is opened; `chosen` None, with the reason, where that split is
    missing or has no scorable onsets (the reported split then chooses, and the number is marked optimistic)."""
    thresholds = args.thresholds
    source, rows, reason = _selection_source(args, data)
    chosen, selected_on = None, None
    if source is not None:
        selected_on = analyse_split(args, source, rows, args.selection_split, models, [thresholds] * len(models),
                                    dict.fromkeys(FLOORS, thresholds), [], model_seconds)
        if any(selected_on.with_onsets):
            chosen = choose_configurations(selected_on, thresholds)
        if chosen is None or None in chosen["models"] or None in chosen["floors"].values():
            chosen = None
            reason = f"no readable track of the {args.selection_split!r} split has scorable reference onsets"
    if chosen is None:
        logger.warning(f"No selection split ({reason}): each model's onset mode, layer, head and threshold are "
                       f"chosen on the reported tracks of {args.split!r}, an optimistic number.")
    return chosen, selected_on, reason


def analyse_reported_split(args: AnalysisArguments, data, models: list[AnalysedModel], chosen: dict | None,
                           ssm_layers: list[int], model_seconds: dict, figure_models: tuple[int, ...]) -> "SplitScores":
    """The reported split, read once: each model and floor at its chosen threshold (at every threshold when nothing
    was chosen), the SSM layers, and what the figures need."""
    source, rows = read_split(data, args.split, args.audio_column, args.max_tracks)
    if not rows:
        raise ValueError(f"The {args.split!r} split of {data} has no tracks.")
    if chosen is None:
        model_thresholds = [args.thresholds] * len(models)
        floor_thresholds = dict.fromkeys(FLOORS, args.thresholds)
    else:
        model_thresholds = [[choice["threshold"]] for choice in chosen["models"]]
        floor_thresholds = {floor: [choice["threshold"]] for floor, choice in chosen["floors"].items()}
    test = analyse_split(args, source, rows, args.split, models, model_thresholds, floor_thresholds, ssm_layers,
                         model_seconds, figure_models)
    if not test.names:
        raise ValueError(f"No track of the {args.split!r} split of {data} could be read: "
                         + "; ".join(f"{name}: {why}" for name, why in test.skipped.items()))
    return test


def add_figures(args: AnalysisArguments, results: dict, figure_entries: list[AnalysedModel], test: "SplitScores",
                started: float) -> None:
    """Draw the figures, record them (and any that failed) and the time taken in `results`, and rewrite the
    results files with them."""
    figures_started = time.perf_counter()
    output_dir = Path(args.output_dir)
    results["figures"], errors = _draw_figures(args, results, figure_entries, test.first, test.first_with_onsets,
                                               output_dir)
    if errors:
        results["figure_errors"] = errors
    results["timings"]["figure_seconds"] = round(time.perf_counter() - figures_started, 2)
    results["timings"]["total_seconds"] = round(time.perf_counter() - started, 2)
    write_results(output_dir, results)


def _selection_record(args, selected_on: SplitScores | None, chosen: dict | None, models: list[AnalysedModel],
                      fallback: bool, reason: str, test: SplitScores) -> dict:
    """`results["selection"]`: where and how the onset configurations were chosen, and what was chosen."""
    split = NO_SELECTION if fallback else args.selection_split
    record = {"split": split, "requested": args.selection_split, "reason": reason if fallback else "",
              "thresholds": args.thresholds,
              "method": "per model (each random initialisation on its own): the onset mode, layer, head and "
                        "peak-picking threshold of the highest mean F-measure over the selection tracks; per floor: "
                        "the threshold",
              "tracks": [], "num_tracks": {}, "skipped_tracks": {}, "models": [], "floors": {}}
    if selected_on is not None:
        record.update(tracks=selected_on.names, num_tracks={**selected_on.counts, "skipped": len(selected_on.skipped)},
                      skipped_tracks=selected_on.skipped)
        overlap = sorted(set(selected_on.names) & set(test.names)) if not fallback else []
        if overlap:
            logger.warning(f"{len(overlap)} track(s) of the selection split are also reported tracks (e.g. "
                           f"{overlap[0]!r}): their selection is optimistic.")
            record["overlapping_tracks"] = overlap
    if chosen is not None:
        for entry, choice, grid in zip(models, chosen["models"], chosen["grids"]):
            record["models"].append({"arm": entry.key, "seed": entry.seed, **(choice or {}),
                                     "f_measure_grid": {mode: np.asarray(values).tolist()
                                                        for mode, values in grid.items()}})
        record["floors"] = chosen["floors"]
    return record


def _selected_scores(per_track_modes: dict, config: dict, index: int) -> dict[str, np.ndarray]:
    """`{score: (tracks,)}` of one model's chosen (mode, layer, head) at threshold `index` of its stored scores."""
    mode, layer, head = config["mode"], config["layer"] - 1, config["head"]
    return {score: np.array([values[index, layer, head] for values in per_track_modes[mode][score]])
            for score in SCORE_NAMES}


def _onset_results(args, test: SplitScores, models: list[AnalysedModel], arms: dict, chosen: dict, fallback: bool,
                   selected_on: str, per_track: dict) -> dict:
    """`onsets` (every layer and head on the test tracks, descriptive), `best_onsets` (each arm's chosen
    configuration and its test scores), `onset_floors`, `onsets_ci`; fills `per_track["onsets"]` and
    `per_track["onset_f_measure_by_layer"]`."""

    def index_of(choice):  # where the chosen threshold sits among the test split's scored thresholds
        return choice["threshold_index"] if fallback else 0

    mask = np.array(test.with_onsets)
    scores: dict[str, dict[str, np.ndarray]] = {}  # arm or floor: {score: (seeds, tracks)}
    table, best, floors = {}, {}, {}
    for arm, indices in arms.items():
        configs = [chosen["models"][index] for index in indices]
        if any(config is None for config in configs):
            continue
        selected = [_selected_scores(test.onsets[index], config, index_of(config))
                    for index, config in zip(indices, configs)]
        scores[arm] = {score: np.stack([values[score] for values in selected]) for score in SCORE_NAMES}
        table[arm] = {}
        by_layer = {}
        for mode in MODES:
            # (seeds, tracks, layers, heads) at each model's chosen threshold
            cells = {score: np.stack([np.stack(test.onsets[index][mode][score])[:, index_of(config)]
                                      for index, config in zip(indices, configs)]) for score in SCORE_NAMES}
            table[arm][mode] = {score: _rounded(_nanmean(values, axis=(0, 1))) for score, values in cells.items()}
            table[arm][mode]["num_tracks"] = int(mask.sum())
            by_layer[mode] = _nanmean(cells["f_measure"], axis=3).tolist()  # head-averaged: (seeds, tracks, layers)
        per_track["onset_f_measure_by_layer"][arm] = by_layer
        described = [{"seed": models[index].seed, **{k: v for k, v in config.items() if k != "threshold_index"}}
                     for index, config in zip(indices, configs)]
        best[arm] = {"selected_on": selected_on, "configs": described,
                     **{score: _nanmean(values) for score, values in scores[arm].items()}}
        if len(described) == 1:  # one model: its configuration at the top level too
            best[arm].update({key: described[0][key] for key in ("mode", "layer", "head", "threshold")})
    for floor in FLOORS:
        choice = chosen["floors"].get(floor)
        if choice is None:
            continue
        scores[floor] = {score: np.stack(test.floors[floor][score])[:, index_of(choice)][None]
                         for score in SCORE_NAMES}
        floors[floor] = {"description": FLOOR_NAMES[floor], "selected_on": selected_on,
                         "threshold": choice["threshold"], "selection_f_measure": choice["selection_f_measure"],
                         "draws": 1 if floor == "spectral_flux" else args.floor_draws,
                         **{score: _nanmean(values) for score, values in scores[floor].items()},
                         "per_track": {score: values[0].tolist() for score, values in scores[floor].items()}}
    for name, values in scores.items():
        per_track["onsets"][name] = {score: matrix.tolist() for score, matrix in values.items()}

    intervals = {"metric": "f_measure", "confidence": 0.95, "resamples": args.bootstrap_resamples,
                 "num_tracks": int(mask.sum()), "selected_on": selected_on, "selected": {}, "differences": {}}
    if mask.sum() >= 2:
        options = dict(n_resamples=args.bootstrap_resamples, seed=0)
        f = {name: values["f_measure"][:, mask] for name, values in scores.items()}
        for name, matrix in f.items():
            intervals["selected"][name] = mean_interval(matrix, **options).entry()
        pairs = [(arm, other) for position, arm in enumerate(arms) if arm in f for other in list(arms)[position + 1:]
                 if other in f]
        pairs += [(arm, floor) for arm in arms if arm in f for floor in FLOORS if floor in f]
        for first, second in pairs:
            interval = bootstrap_effect({first: Arm(f[first]), second: Arm(f[second])},
                                        lambda means, a=first, b=second: means[a] - means[b], **options)
            intervals["differences"][f"{first} - {second}"] = interval.entry(p_value=True)
        for name, entry in intervals["selected"].items():
            (best if name in best else floors)[name]["ci95"] = {"f_measure": entry}
    else:
        intervals["note"] = "an interval needs at least 2 test tracks with onsets"
    return {"onsets": table, "best_onsets": best, "onset_floors": floors, "onsets_ci": intervals}


def _ssm_results(args, test: SplitScores, arms: dict, ssm_layers: list[int]) -> tuple[dict, dict, dict]:
    """`(ssm, ssm_ci, per_track)`: per arm and layer, each measure's mean over tracks (and seeds), the interval of that
    mean (tracks with the annotation, at least 2), and the per-track values `(seeds, tracks)`."""
    means, intervals, per_track = {}, {}, {}
    for arm, indices in arms.items():
        means[arm], intervals[arm], per_track[arm] = {}, {}, {}
        for layer in ssm_layers:
            values = {name: np.array([[summary[name] for summary in test.ssm[index][layer]] for index in indices],
                                     dtype=np.float64).reshape(len(indices), -1) for name in LAYER_KEYS}
            entry = {name: _nanmean(matrix) for name, matrix in values.items()}
            entry["num_tracks"] = {name: int(np.isfinite(matrix).any(axis=0).sum()) for name, matrix in values.items()}
            first = test.ssm[indices[0]][layer]  # the events are the tracks', the same for every seed
            entry["num_events"] = {name: int(sum(summary[name] for summary in first))
                                   for name in ("num_chord_changes", "num_beats", "num_beats_without_changes")}
            entry["num_seeds"] = len(indices)
            means[arm][str(layer)] = entry
            per_track[arm][str(layer)] = {name: matrix.tolist() for name, matrix in values.items()}
            intervals[arm][str(layer)] = {}
            for name in SSM_CI_KEYS:
                columns = np.isfinite(values[name]).any(axis=0)
                if columns.sum() >= 2:
                    intervals[arm][str(layer)][name] = mean_interval(
                        values[name][:, columns], n_resamples=args.bootstrap_resamples, seed=0).entry()
    return means, intervals, per_track


def _draw_figures(args, results, models: list[AnalysedModel], first, first_with_onsets,
                  output_dir: Path) -> tuple[dict[str, str], dict[str, str]]:
    """Draw every figure, each on its own: one that fails is logged and recorded, and the others are still drawn.
    `models`: one per arm (the trained model, the first random initialisation).

    Returns:
        `({figure: path relative to output_dir}, {figure: "ErrorType: message"})`.
    """
    written, errors = {}, {}
    for name, draw in _figure_jobs(args, results, models, first, first_with_onsets).items():
        relative = f"figures/{name}.png"
        try:
            draw(output_dir / relative)
        except Exception as err:  # any failure of one figure; the results are already written
            errors[name] = f"{type(err).__name__}: {err}"
            logger.warning(f"Figure {name} was not drawn: {errors[name]}")
        else:
            written[name] = relative
    return written, errors


def _figure_jobs(args, results, models: list[AnalysedModel], first,
                 first_with_onsets) -> dict[str, Callable[[Path], object]]:
    """`{figure name: draw(path)}`; the work of each figure (a forward pass, peak picking, reading files) happens in
    its call, so that its failures are that figure's."""
    from . import figures

    jobs = {}
    shown = models[0]

    def attention(path):
        maps, times = attention_maps(shown.model, shown.extractor, first["window"], shown.extractor.sampling_rate)
        figures.plot_attention_maps(maps, times, path, title=f"Attention maps of {_model_title(shown)}: first "
                                                       f"{args.window_seconds:g} s of {first['name']}")

    jobs["attention_maps"] = attention
    if first_with_onsets is not None and results["best_onsets"]:
        jobs["onset_curves"] = partial(_draw_onset_curves, results, models, first_with_onsets)
    for entry in models:
        drawn = first["models"][entry.key]
        jobs[f"ssm_{entry.key}"] = partial(figures.plot_ssm_grid, drawn["ssms"], drawn["ssm_times"], beats=first["beats"],
                                           chord_changes=first["changes"],
                                           title=f"Self-similarity, {_model_title(entry)}: {first['name']}")
    if args.probe_results:
        probe_paths = _expand(args.probe_results)
        if probe_paths:
            jobs["probe_curves"] = lambda path: figures.plot_probe_curves(
                [json.loads(Path(file).read_text()) for file in probe_paths], path)
        else:
            logger.warning(f"No probe_results.json matched {args.probe_results!r}: no probe curves drawn.")
    return jobs


def _model_title(entry: AnalysedModel) -> str:
    return entry.name if entry.seed is None else f"{entry.name}, seed {entry.seed}"


def _draw_onset_curves(results, models: list[AnalysedModel], first_with_onsets, path) -> None:
    from . import figures

    curves, picked = {}, {}
    for entry in models:
        best = results["best_onsets"].get(entry.key)
        if not best:
            continue
        config = best["configs"][0]  # the figure's model: the first random initialisation
        strengths = first_with_onsets["models"][entry.key]["strengths"]
        label = (f"{_model_title(entry)}: {config['mode']}, layer {config['layer']}, head {config['head']} "
                 f"(test F {best['f_measure']:.3f})")
        curves[label] = strengths.strengths[config["mode"]][config["layer"] - 1, config["head"]]
        picked[label] = pick_onsets(curves[label], strengths.times, threshold=config["threshold"])
    strengths = first_with_onsets["models"][models[0].key]["strengths"]
    flux = results["onset_floors"].get("spectral_flux")
    if flux:
        flux_label = f"spectral flux of the log-mel input (test F {flux['f_measure']:.3f})"
        curves[flux_label] = strengths.spectral_flux
        picked[flux_label] = pick_onsets(strengths.spectral_flux, strengths.times, threshold=flux["threshold"])
    figures.plot_onset_curves(curves, strengths.times, first_with_onsets["onsets"], path, estimated_onsets=picked,
                        title=f"Onset strength, layer/head chosen on validation: {first_with_onsets['name']}")


def _expand(patterns: str) -> list[str]:
    import glob

    paths = []
    for pattern in (part.strip() for part in patterns.split(",")):
        if pattern:
            paths.extend(sorted(glob.glob(pattern)) or ([pattern] if Path(pattern).is_file() else []))
    return paths


def _pair(values: list) -> str:
    return " / ".join(format_metric(value) for value in values)


def _with_interval(value, entry: dict | None) -> str:
    """"0.712 [0.650, 0.771]", or the value alone without an interval."""
    if not entry:
        return format_metric(value)
    return f"{format_metric(value)} [{format_metric(entry['low'])}, {format_metric(entry['high'])}]"


def _config_text(config: dict) -> str:
    seed = "" if config.get("seed") is None else f"seed {config['seed']}: "
    return f"{seed}{config['mode']}, layer {config['layer']}, head {config['head']}, threshold {config['threshold']:g}"


def _p_text(p_value) -> str:
    return "n/a" if p_value is None or p_value != p_value else ("< 0.001" if p_value < 0.001 else f"{p_value:.3f}")


def _onset_headline(results: dict) -> list[str]:
    """The first onset table (each arm's and floor's selected configuration, its selection F and its test F with the
    95 % interval) and the table of differences."""
    selection, counts, ci = results["selection"], results["num_tracks"], results["onsets_ci"]
    window = results["settings"]["onset_window"] * 1000
    if selection["split"] == NO_SELECTION:
        how = (f"**No selection split** ({selection['reason']}): each model's mode, layer, head and threshold were "
               "chosen on the reported tracks themselves, so these numbers are optimistic.")
    else:
        with_onsets = selection["num_tracks"].get("with_onsets", 0)
        how = (f"Selection on the `{selection['split']}` split ({with_onsets} track(s) with onsets), before the "
               f"`{results['split']}` split was read: for each model (each random initialisation on its own) the "
               f"mode, layer, head and peak-picking threshold (of {', '.join(f'{t:g}' for t in selection['thresholds'])}) "
               "of the highest mean F; for each floor, its threshold.")
        if selection.get("overlapping_tracks"):
            how += (f" {len(selection['overlapping_tracks'])} selection track(s) are also reported tracks: "
                    "optimistic.")
    seeds = results.get("random_init_seeds") or []
    lines = [how, "",
             f"Test: mir_eval.onset F-measure ({window:g} ms window) of the selected configuration, mean over "
             f"{counts['with_onsets']} test track(s) with onsets ({counts['without_onsets']} without, not scored)"
             + (f" and {len(seeds)} random initialisations (seeds {', '.join(map(str, seeds))})" if seeds else "")
             + ", with its 95 % paired bootstrap interval over tracks" + (" x seeds." if seeds else ".")
             + f" The paper reports {PAPER_ONSET_F['trained']} (trained) vs {PAPER_ONSET_F['random_init']} (random) "
             "with an unpublished procedure.", "",
             "| model or floor | selected (on the selection tracks) | selection F | test F [95 % CI] | tracks x seeds |",
             "|---|---|---|---|---|"]
    for arm, best in results["best_onsets"].items():
        entry = ci["selected"].get(arm)
        sizes = f"{entry['num_tracks']} x {entry['num_seeds']}" if entry else "-"
        configs = "; ".join(_config_text(config) for config in best["configs"])
        selection_f = "; ".join(format_metric(config["selection_f_measure"]) for config in best["configs"])
        lines.append(f"| {results['models'][arm]} | {configs} | {selection_f} | "
                     f"{_with_interval(best['f_measure'], entry)} | {sizes} |")
    for floor, record in results["onset_floors"].items():
        entry = ci["selected"].get(floor)
        sizes = f"{entry['num_tracks']} x {record['draws']} draw(s)" if entry else "-"
        lines.append(f"| floor: {record['description']} | threshold {record['threshold']:g} | "
                     f"{format_metric(record['selection_f_measure'])} | "
                     f"{_with_interval(record['f_measure'], entry)} | {sizes} |")
    lines.append("")
    if ci.get("differences"):
        lines += ["Differences of test F (paired over the same tracks; two-sided bootstrap p-values, uncorrected):",
                  "", "| difference | estimate [95 % CI] | p |", "|---|---|---|"]
        for name, entry in ci["differences"].items():
            lines.append(f"| {name} | {_with_interval(entry['value'], entry)} | {_p_text(entry['p_value'])} |")
        lines.append("")
    elif ci.get("note"):
        lines += [f"No intervals: {ci['note']}.", ""]
    return lines


def markdown_tables(results: dict) -> str:
    """The report: the onset headline (each model's configuration chosen on the selection split, its test F with a
    95 % interval, the floors beside it, the differences), the onset F-measure per layer and head (each model side by
    side in one cell, `trained / random`), and the self-similarity summary per layer with intervals. Headings start
    at level 3, so that the text can sit under a section of a model card or report; `analysis_results.md` adds a
    title and the list of figures."""
    keys = list(results["models"])
    models = " / ".join(results["models"][key] for key in keys)
    seeds = results.get("random_init_seeds") or []
    counts = results["num_tracks"]
    unread = (f" ({counts['skipped']} could not be read and were skipped: see `skipped_tracks`)"
              if counts.get("skipped") else "")
    random_seeds = f" Random initialisation: seeds {', '.join(map(str, seeds))}." if seeds else ""
    lines = [f"Models: {models}.{random_seeds} {counts['analysed']} track(s) of the `{results['split']}` split of "
             f"{results['dataset']}{unread}; cells read `{' / '.join(keys)}`.", ""]
    lines += ["### Onsets read from attention", ""]
    if not results["onsets"]:
        lines += ["No track has reference onsets (an `onsets` column): nothing scored.", ""]
    else:
        lines += _onset_headline(results)
        heads = results["heads"]
        lines += ["Every layer and head on the test tracks (descriptive: nothing is chosen from these tables), each "
                  "model at its selected threshold; random initialisation: mean over its seeds.", ""]
        for mode in results["modes"]:
            lines += [f"#### {mode}: F-measure per layer and head", "",
                      "| layer | " + " | ".join(f"head {head}" for head in heads) + " | mean over heads |",
                      "|---|" + "---|" * (len(heads) + 1)]
            present = [key for key in keys if key in results["onsets"]]
            for index, layer in enumerate(results["layers"]):
                cells = [_pair([results["onsets"][key][mode]["f_measure"][index][head] for key in present])
                         for head in heads]
                means = [_nanmean(results["onsets"][key][mode]["f_measure"][index]) for key in present]
                lines.append(f"| {layer} | " + " | ".join(cells) + f" | {_pair(means)} |")
            lines.append("")
    lines += ["### Self-similarity of sequence tokens", "",
              "Novelty lift: Foote novelty (z-scored) near chord changes / near beats that are not chord changes, "
              "minus its mean; 0 = no alignment, in standard deviations. Beat-lag contrast: mean cosine one to four "
              "beats apart minus half a beat off. F: novelty peaks vs chord changes / all beats (the denser beats "
              "are easier to hit: compare layers, not columns). CKA: linear CKA of the layer's tokens with those of "
              f"layer {max(results['ssm_layers'])} (1: alike up to rotation and scale). Means over tracks with the "
              "annotation" + (" and over the random initialisations' seeds." if seeds else "."), "",
              "| layer | chord-change lift | beat lift | beat-lag contrast | CKA | chord-change F | beat F |",
              "|---|---|---|---|---|---|---|"]
    columns = ("chord_change_lift", "beat_lift", "beat_lag_contrast", "cka_to_deepest", "chord_change_f_measure",
               "beat_f_measure")
    for layer in results["ssm_layers"]:
        cells = [_pair([results["ssm"][key][str(layer)][column] for key in keys]) for column in columns]
        lines.append(f"| {layer} | " + " | ".join(cells) + " |")
    lines.append("")
    intervals = results.get("ssm_ci", {})
    if any(intervals.get(key, {}).get(str(layer)) for key in keys for layer in results["ssm_layers"]):
        lines += ["The same means with 95 % bootstrap intervals over tracks (x seeds):", "",
                  "| layer | model | chord-change lift | beat lift | beat-lag contrast | CKA |",
                  "|---|---|---|---|---|---|"]
        for layer in results["ssm_layers"]:
            for key in keys:
                entry, ci = results["ssm"][key][str(layer)], intervals.get(key, {}).get(str(layer), {})
                cells = [_with_interval(entry[column], ci.get(column)) for column in columns[:4]]
                lines.append(f"| {layer} | {results['models'][key]} | " + " | ".join(cells) + " |")
        lines.append("")
    return "\n".join(lines)


def _json_ready(value):
    """NaN (a score without references) as null, so that the file is strict JSON for any reader."""
    if isinstance(value, dict):
        return {key: _json_ready(item) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return [_json_ready(item) for item in value]
    if isinstance(value, np.ndarray):
        return _json_ready(value.tolist())
    if isinstance(value, (float, np.floating)):
        return None if math.isnan(value) or math.isinf(value) else float(value)
    if isinstance(value, np.integer):
        return int(value)
    return value


def write_results(output_dir: Path, results: dict) -> None:
    output_dir.mkdir(parents=True, exist_ok=True)
    (output_dir / "analysis_results.json").write_text(json.dumps(_json_ready(results), indent=1, allow_nan=False))
    figures = [f"- {name}: [{path}]({path})" for name, path in results.get("figures", {}).items()]
    text = ["# ViT-1D analysis", "", results["markdown"]] + (["### Figures", "", *figures, ""] if figures else [])
    (output_dir / "analysis_results.md").write_text("\n".join(text))


__all__ = ["AnalysedModel", "AnalysisArguments", "NO_SELECTION", "SplitScores", "analyse_split",
           "choose_configurations", "floor_curves", "load_models", "markdown_tables", "read_split", "run_analysis",
           "select_configuration", "select_threshold", "write_results"]
