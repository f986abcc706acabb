"""`run_analysis.py`'s library side: the paper's analyses of a frozen ViT-1D on a few tracks, for a model and a random
initialisation of the same config side by side: onsets read from attention (every layer, head and mode, scored with
`mir_eval.onset`), self-similarity summaries per layer, figures; `analysis_results.json` and a Markdown report.

Memory stays bounded by the track's tokens, never their square: the self-similarity measures read only a band of
lags of each matrix (`ssm_summary_from_tokens`) and the figures show `SSM_DISPLAY_SIZE`-square block means
(`pooled_self_similarity`), the only thing kept of the first track's hidden states. The results files are written
before the figures are drawn, and a figure that fails is logged and listed under `figure_errors`, not fatal."""

import json
import logging
import math
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field, replace
from functools import partial
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import torch

from ..audio import load_audio
from ..data.sources import open_tracks
from ..probing import labels as L
from ..probing.runner import format_metric, load_encoder, parse_layers, resolve_label_path
from .attention import MODES, attention_maps, onset_scores, pick_onsets, track_onset_strength
from .ssm import SUMMARY_KEYS, chord_changes, pooled_self_similarity, ssm_summary_from_tokens

logger = logging.getLogger(__name__)

# The paper's onset F-measures read from attention (best layer/head; its procedure is unpublished).
PAPER_ONSET_F = {"trained": 0.877, "random_init": 0.501}
SCORE_NAMES = ("f_measure", "precision", "recall")
# Bins per side of the self-similarity figures: a panel is about 400 pixels wide, so this is finer than any PNG shows,
# and 4 MB per layer and model whatever the track length.
SSM_DISPLAY_SIZE = 1024


@dataclass
class AnalysisArguments:
    model_name_or_path: str | None = field(
        default=None, metadata={"help": "A ViT-1D folder or Hub id; none: a randomly initialised paper model (alone)."}
    )
    revision: str | None = field(default=None, metadata={"help": "Hub revision (commit sha)."})
    trust_remote_code: bool = field(default=False, metadata={"help": "Passed to from_pretrained."})
    data: str | None = field(
        default=None, metadata={"help": "Dataset folder, manifest (json/csv/parquet), audio folder or Hub id; none: "
                                        "the built-in corpus. Uses the `onsets`, `beats` and `chord_intervals` (or "
                                        "`chords`) columns when present."}
    )
    split: str = field(default="test", metadata={"help": "The split analysed."})
    audio_column: str | None = field(default=None, metadata={"help": "Column of audio paths or Audio cells."})
    corpus_dir: str = field(
        default="data/corpus", metadata={"help": "Where the built-in corpus lives or is rendered."}
    )
    corpus_pieces: int = field(default=40, metadata={"help": "Pieces of the built-in corpus, if it is rendered."})
    corpus_seconds: float = field(default=30.0, metadata={"help": "Length of its pieces, if it is rendered."})
    max_tracks: int = field(default=8, metadata={"help": "Analyse the first N tracks of the split."})
    compare_random_init: bool = field(
        default=True, metadata={"help": "Also analyse a random initialisation of the model's config (seeded), side by "
                                        "side (the paper's trained-vs-random comparison)."}
    )
    layers: str = field(
        default="3,6,9,12", metadata={"help": "Hidden-state layers of the self-similarity matrices: '3,6,9,12', 'all' "
                                              "(0..12) or 'last'."}
    )
    onset_window: float = field(default=0.05, metadata={"help": "mir_eval.onset tolerance in seconds."})
    onset_threshold: float = field(
        default=0.05, metadata={"help": "Peak-picking threshold above the local mean, on curves scaled to [0, 1] "
                                        "(see vit1d.analysis.attention.pick_onsets)."}
    )
    onset_trim_seconds: float = field(
        default=0.1, metadata={"help": "Onsets this close to a track's start or end are not scored."}
    )
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
    seed: int = field(default=0, metadata={"help": "Seed of the random initialisation."})
    figures: bool = field(default=True, metadata={"help": "Draw PNG figures (needs matplotlib)."})


def load_models(args: AnalysisArguments) -> list[tuple[str, torch.nn.Module, object, str]]:
    """`(key, model, feature_extractor, name)` of the models analysed: "trained" (the given model) and "random_init"
    (its config, seeded), or "random_init" alone when no model is given."""
    options = dict(model_name_or_path=args.model_name_or_path, revision=args.revision,
                   trust_remote_code=args.trust_remote_code, seed=args.seed)
    models = []
    if args.model_name_or_path is not None:
        model, extractor, name = load_encoder(SimpleNamespace(**options, random_init=False))
        models.append(("trained", model, extractor, name))
    if args.model_name_or_path is None or args.compare_random_init:
        model, extractor, name = load_encoder(SimpleNamespace(**options, random_init=True))
        models.append(("random_init", model, extractor, name))
    return [(key, model.to(args.device).eval(), extractor, name) for key, model, extractor, name in models]


def _events(row: dict, column: str, root) -> np.ndarray | None:
    value = row.get(column)
    return None if value is None else L.read_beats(resolve_label_path(value, root))


def _chord_changes(row: dict, root) -> np.ndarray | None:
    if row.get("chord_intervals") is not None:
        return chord_changes(row["chord_intervals"], row.get("chord_labels"))
    if row.get("chords") is not None:
        intervals, labels = L.parse_chords(resolve_label_path(row["chords"], root))
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


def _nanmean(values) -> float:
    values = np.asarray(values, dtype=np.float64)
    values = values[np.isfinite(values)]
    return float(values.mean()) if len(values) else float("nan")


def _rounded(array) -> list:
    return np.round(np.asarray(array, dtype=np.float64), 4).tolist()


def _require_matplotlib() -> None:
    try:
        import matplotlib  # noqa: F401
    except ImportError as err:
        raise ImportError("Figures need matplotlib: `pip install vit1d[analysis]` or `pip install matplotlib`, or "
                          "pass --figures false.") from err


def run_analysis(args: AnalysisArguments) -> dict:
    """Run every analysis (see the module docstring), write `analysis_results.json` and `analysis_results.md`, then
    `figures/*.png` under `args.output_dir` (the results files are rewritten with the list of figures), and return
    the results (with `"figures"`, `"markdown"` and `"timings"`; `"figure_errors"`: `{figure: "Error: message"}` of
    any figure that could not be drawn)."""
    from tqdm.auto import tqdm

    started = time.perf_counter()
    if args.figures:
        _require_matplotlib()
    models = load_models(args)
    num_layers = models[0][1].config.num_hidden_layers
    ssm_layers = sorted({layer for group in parse_layers(args.layers, num_layers) for layer in group})
    if args.data is None:
        from ..corpus.render import ensure_corpus

        data = ensure_corpus(args.corpus_dir, args.corpus_pieces, args.corpus_seconds)
    else:
        data = args.data
    source = open_tracks(data, args.split, args.audio_column)
    rows = [row for _, row in zip(range(args.max_tracks), source.tracks)]  # metadata only: audio is read below
    if not rows:
        raise ValueError(f"The {args.split!r} split of {data} has no tracks.")

    onset_records = {key: {mode: {name: [] for name in SCORE_NAMES} for mode in MODES} for key, *_ in models}
    flux_records = {name: [] for name in SCORE_NAMES}
    ssm_records = {key: {layer: [] for layer in ssm_layers} for key, *_ in models}
    model_seconds = {key: 0.0 for key, *_ in models}
    names, counts = [], {"analysed": 0, "with_onsets": 0, "without_onsets": 0, "with_beats": 0, "with_chords": 0}
    first = None  # what the figures show: the first track, and the first track with onsets
    first_with_onsets = None
    sampling_rate = models[0][2].sampling_rate  # read once per track: all models load their extractor from one folder
    window_samples = int(round(args.window_seconds * sampling_rate))
    pick = dict(window=args.onset_window, trim_seconds=args.onset_trim_seconds, threshold=args.onset_threshold)

    skipped = {}  # name: reason, of tracks that could not be read
    for row in tqdm(rows, desc="analysing tracks", unit="track"):
        name = source.name_of(row)
        try:
            audio = _readable_audio(source.audio_of(row), sampling_rate)
        except (ValueError, OSError) as err:  # one bad file costs only itself: counted, named, and the run goes on
            skipped[name] = str(err)
            logger.warning(f"Skipping track {name!r}: {err}")
            continue
        onsets, beats = _events(row, "onsets", source.root), _events(row, "beats", source.root)
        changes = _chord_changes(row, source.root)
        names.append(name)
        counts["analysed"] += 1
        counts["with_onsets" if onsets is not None else "without_onsets"] += 1
        counts["with_beats"] += beats is not None
        counts["with_chords"] += changes is not None
        # Of the audio, the figures need only the first window (attention maps): a copy, so the track is not held.
        track = {"name": name, "window": audio[:window_samples].copy(), "onsets": onsets, "beats": beats,
                 "changes": changes, "models": {}}
        for key, model, extractor, _ in models:
            model_started = time.perf_counter()
            strengths = track_onset_strength(model, extractor, audio, extractor.sampling_rate,
                                             window_seconds=args.window_seconds, hop_seconds=args.hop_seconds,
                                             batch_size=args.batch_size, token_layers=ssm_layers)
            if onsets is not None:
                for mode in MODES:
                    scores = onset_scores(strengths.strengths[mode], strengths.times, onsets, **pick)
                    for score in SCORE_NAMES:
                        onset_records[key][mode][score].append(scores[score])
                if key == models[0][0]:
                    flux = onset_scores(strengths.spectral_flux[None], strengths.times, onsets, **pick)
                    for score in SCORE_NAMES:
                        flux_records[score].append(float(flux[score][0]))
            for layer in ssm_layers:  # from the band of lags the measures read: no T x T matrix
                ssm_records[key][layer].append(ssm_summary_from_tokens(
                    strengths.tokens[layer], strengths.times, beats, changes, kernel_seconds=args.ssm_kernel_seconds,
                    window=args.ssm_window, center=args.ssm_center))
            model_seconds[key] += time.perf_counter() - model_started
            if args.figures and (first is None or (first_with_onsets is None and onsets is not None)):
                # What the figures draw: the onset curves and, of the first track, block-mean SSMs of bounded size;
                # the hidden states themselves (T x hidden per layer) are dropped.
                entry = {"strengths": replace(strengths, tokens={})}
                if first is None:
                    pooled = {layer: pooled_self_similarity(strengths.tokens[layer], strengths.times,
                                                            SSM_DISPLAY_SIZE, center=args.ssm_center)
                              for layer in ssm_layers}
                    entry["ssms"] = {layer: matrix for layer, (matrix, _) in pooled.items()}
                    entry["ssm_times"] = next(iter(pooled.values()))[1]
                track["models"][key] = entry
            del strengths  # its hidden states go before the next model's are computed
        if first is None:
            first = track
        if first_with_onsets is None and onsets is not None:
            first_with_onsets = track

    if not names:
        raise ValueError(f"No track of the {args.split!r} split of {data} could be read: "
                         + "; ".join(f"{name}: {reason}" for name, reason in skipped.items()))
    results = {
        "models": {key: name for key, _, _, name in models},
        "revision": args.revision,
        "dataset": data,
        "split": args.split,
        "tracks": names,
        "num_tracks": {**counts, "skipped": len(skipped)},
        "skipped_tracks": skipped,
        "layers": list(range(1, num_layers + 1)),
        "heads": list(range(models[0][1].config.num_attention_heads)),
        "modes": list(MODES),
        "ssm_layers": ssm_layers,
        "settings": {k: v for k, v in asdict(args).items() if k not in ("output_dir", "probe_results")},
        "paper": {"onset_f_measure": PAPER_ONSET_F},
        "onsets": _aggregate_onsets(onset_records),
        "best_onsets": {},
        "onset_baseline": {"spectral_flux": {score: _nanmean(values) for score, values in flux_records.items()}},
        "ssm": _aggregate_ssm(ssm_records),
    }
    for key in results["onsets"]:
        results["best_onsets"][key] = _best(results["onsets"][key])
    output_dir = Path(args.output_dir)
    results["figures"] = {}
    results["timings"] = {
        "model_seconds": {key: round(seconds, 2) for key, seconds in model_seconds.items()},
        "figure_seconds": 0.0,
        "total_seconds": round(time.perf_counter() - started, 2),
    }
    results["markdown"] = markdown_tables(results)
    # The numbers are on disk before any figure is drawn: a figure that fails (or runs out of memory) loses none.
    write_results(output_dir, results)
    if args.figures:
        figures_started = time.perf_counter()
        results["figures"], errors = _draw_figures(args, results, models, first, first_with_onsets, output_dir)
        if errors:
            results["figure_errors"] = errors
        results["timings"]["figure_seconds"] = round(time.perf_counter() - figures_started, 2)
        results["timings"]["total_seconds"] = round(time.perf_counter() - started, 2)
        write_results(output_dir, results)
    return results


def _aggregate_onsets(records: dict) -> dict:
    """Mean over tracks of every score, `(layers, heads)` nested lists per model and mode; empty without onsets."""
    out = {}
    for key, modes in records.items():
        if not modes[MODES[0]]["f_measure"]:
            continue
        out[key] = {}
        for mode, scores in modes.items():
            stacked = {score: np.stack(values) for score, values in scores.items()}
            out[key][mode] = {score: _rounded(np.nanmean(values, axis=0)) for score, values in stacked.items()}
            out[key][mode]["num_tracks"] = int(np.isfinite(stacked["f_measure"][:, 0, 0]).sum())
    return out


def _best(modes: dict) -> dict:
    """The (mode, layer, head) of the highest mean F-measure. Chosen on the tracks it is reported on, as the paper's
    best layer/head must have been: an optimistic number, comparable between models selected the same way."""
    best = None
    for mode, scores in modes.items():
        f = np.asarray(scores["f_measure"], dtype=np.float64)
        if not np.isfinite(f).any():
            continue
        layer, head = np.unravel_index(np.nanargmax(f), f.shape)
        if best is None or f[layer, head] > best["f_measure"]:
            best = {"mode": mode, "layer": int(layer) + 1, "head": int(head), "f_measure": float(f[layer, head]),
                    "precision": float(scores["precision"][layer][head]),
                    "recall": float(scores["recall"][layer][head])}
    return best or {}


def _aggregate_ssm(records: dict) -> dict:
    out = {}
    for key, layers in records.items():
        out[key] = {}
        for layer, summaries in layers.items():
            entry = {name: _nanmean([s[name] for s in summaries]) for name in SUMMARY_KEYS}
            entry["num_tracks"] = {name: int(np.isfinite([s[name] for s in summaries]).sum()) for name in SUMMARY_KEYS}
            entry["num_events"] = {name: int(sum(s[name] for s in summaries))
                                   for name in ("num_chord_changes", "num_beats", "num_beats_without_changes")}
            out[key][str(layer)] = entry
    return out


def _draw_figures(args, results, models, first, first_with_onsets,
                  output_dir: Path) -> tuple[dict[str, str], dict[str, str]]:
    """Draw every figure, each on its own: one that fails is logged and recorded, and the others are still drawn.

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


def _figure_jobs(args, results, models, first, first_with_onsets) -> dict[str, Callable[[Path], object]]:
    """`{figure name: draw(path)}`; the work of each figure (a forward pass, peak picking, reading files) happens in
    its call, so that its failures are that figure's."""
    from . import figures as F

    jobs = {}
    _, model, extractor, model_name = models[0]

    def attention(path):
        maps, times = attention_maps(model, extractor, first["window"], extractor.sampling_rate)
        F.plot_attention_maps(maps, times, path, title=f"Attention maps of {model_name}: first "
                                                       f"{args.window_seconds:g} s of {first['name']}")

    jobs["attention_maps"] = attention
    if first_with_onsets is not None and results["best_onsets"]:
        jobs["onset_curves"] = partial(_draw_onset_curves, args, results, models, first_with_onsets)
    for key, _, _, name in models:
        entry = first["models"][key]
        jobs[f"ssm_{key}"] = partial(F.plot_ssm_grid, entry["ssms"], entry["ssm_times"], beats=first["beats"],
                                     chord_changes=first["changes"], title=f"Self-similarity, {name}: {first['name']}")
    if args.probe_results:
        probe_paths = _expand(args.probe_results)
        if probe_paths:
            jobs["probe_curves"] = lambda path: F.plot_probe_curves(
                [json.loads(Path(file).read_text()) for file in probe_paths], path)
        else:
            logger.warning(f"No probe_results.json matched {args.probe_results!r}: no probe curves drawn.")
    return jobs


def _draw_onset_curves(args, results, models, first_with_onsets, path) -> None:
    from . import figures as F

    curves, picked = {}, {}
    for key, best in results["best_onsets"].items():
        if not best:
            continue
        strengths = first_with_onsets["models"][key]["strengths"]
        label = (f"{results['models'][key]}: {best['mode']}, layer {best['layer']}, head {best['head']} "
                 f"(mean F {best['f_measure']:.3f})")
        curves[label] = strengths.strengths[best["mode"]][best["layer"] - 1, best["head"]]
        picked[label] = pick_onsets(curves[label], strengths.times, threshold=args.onset_threshold)
    strengths = first_with_onsets["models"][models[0][0]]["strengths"]
    flux_f = results["onset_baseline"]["spectral_flux"]["f_measure"]
    flux_label = f"spectral flux of the log-mel input (mean F {flux_f:.3f})"
    curves[flux_label] = strengths.spectral_flux
    picked[flux_label] = pick_onsets(strengths.spectral_flux, strengths.times, threshold=args.onset_threshold)
    F.plot_onset_curves(curves, strengths.times, first_with_onsets["onsets"], path, estimated_onsets=picked,
                        title=f"Onset strength, best layer/head: {first_with_onsets['name']}")


def _expand(patterns: str) -> list[str]:
    import glob

    paths = []
    for pattern in (part.strip() for part in patterns.split(",")):
        if pattern:
            paths.extend(sorted(glob.glob(pattern)) or ([pattern] if Path(pattern).is_file() else []))
    return paths


def _pair(values: list) -> str:
    return " / ".join(format_metric(value) for value in values)


def markdown_tables(results: dict) -> str:
    """The report: onset F-measure per layer and head (each model side by side in one cell, `trained / random`),
    the best layer/head per model, the spectral-flux baseline, and the self-similarity summary per layer. Headings
    start at level 3, so that the text can sit under a section of a model card or report;
    `analysis_results.md` adds a title and the list of figures."""
    keys = list(results["models"])
    models = " / ".join(results["models"][key] for key in keys)
    counts = results["num_tracks"]
    unread = (f" ({counts['skipped']} could not be read and were skipped: see `skipped_tracks`)"
              if counts.get("skipped") else "")
    lines = [f"Models: {models}. {counts['analysed']} track(s) of the `{results['split']}` split of "
             f"{results['dataset']}{unread}; cells read `{' / '.join(keys)}`.", ""]
    lines += ["### Onsets read from attention", ""]
    if not results["onsets"]:
        lines += ["No track has reference onsets (an `onsets` column): nothing scored.", ""]
    else:
        settings = results["settings"]
        lines += [f"mir_eval.onset F-measure ({settings['onset_window'] * 1000:g} ms window), mean over "
                  f"{counts['with_onsets']} track(s) with onsets ({counts['without_onsets']} without, skipped). "
                  f"The paper reports {PAPER_ONSET_F['trained']} (trained) vs {PAPER_ONSET_F['random_init']} "
                  "(random) with an unpublished procedure. Best layer/head (chosen on these tracks):", ""]
        lines += ["| model | mode | layer | head | F | P | R |", "|---|---|---|---|---|---|---|"]
        for key in keys:
            best = results["best_onsets"].get(key) or {}
            if best:
                lines.append(f"| {results['models'][key]} | {best['mode']} | {best['layer']} | {best['head']} | "
                             f"{format_metric(best['f_measure'])} | {format_metric(best['precision'])} | "
                             f"{format_metric(best['recall'])} |")
        flux = results["onset_baseline"]["spectral_flux"]
        lines.append(f"| spectral flux of the input (baseline) | - | - | - | {format_metric(flux['f_measure'])} | "
                     f"{format_metric(flux['precision'])} | {format_metric(flux['recall'])} |")
        lines.append("")
        heads = results["heads"]
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
              "are easier to hit: compare layers, not columns). Means over tracks with the annotation.", "",
              "| layer | chord-change lift | beat lift | beat-lag contrast | chord-change F | beat F |",
              "|---|---|---|---|---|---|"]
    columns = ("chord_change_lift", "beat_lift", "beat_lag_contrast", "chord_change_f_measure", "beat_f_measure")
    for layer in results["ssm_layers"]:
        cells = [_pair([results["ssm"][key][str(layer)][column] for key in keys]) for column in columns]
        lines.append(f"| {layer} | " + " | ".join(cells) + " |")
    lines.append("")
    return "\n".join(lines)


def _json_ready(value):
    """NaN (a score without references) as null, so that the file is strict JSON for any reader."""
    if isinstance(value, dict):
        return {key: _json_ready(item) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return [_json_ready(item) for item in value]
    if isinstance(value, (float, np.floating)):
        return None if math.isnan(value) else float(value)
    if isinstance(value, np.integer):
        return int(value)
    return value


def write_results(output_dir: Path, results: dict) -> None:
    output_dir.mkdir(parents=True, exist_ok=True)
    (output_dir / "analysis_results.json").write_text(json.dumps(_json_ready(results), indent=1, allow_nan=False))
    figures = [f"- {name}: [{path}]({path})" for name, path in results.get("figures", {}).items()]
    text = ["# ViT-1D analysis", "", results["markdown"]] + (["### Figures", "", *figures, ""] if figures else [])
    (output_dir / "analysis_results.md").write_text("\n".join(text))


__all__ = ["AnalysisArguments", "load_models", "markdown_tables", "run_analysis", "write_results"]
