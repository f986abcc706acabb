"""PNG figures of the analyses: attention maps, onset curves, self-similarity grids and per-layer probe curves.

matplotlib is optional (`pip install vit1d[analysis]` or `pip install matplotlib`) and imported only when a figure is
drawn. Figures are built on `matplotlib.figure.Figure`, not pyplot: no backend or display is involved, nothing is
left open, and drawing from a script, a test or a thread behaves the same. Every function returns the path written.
"""

import math
import os
from collections.abc import Mapping, Sequence
from pathlib import Path

import numpy as np

from ..task_info import HEADLINE

# The metric drawn per probing task: the one `vit1d.probing` selects probes on.
PROBE_METRICS = dict(HEADLINE)
PROBE_METRIC_NAMES = {"mAP": "mAP", "weighted_score": "MIREX weighted accuracy", "F-measure": "F-measure",
                      "frame_accuracy": "frame accuracy"}


def _figure(width: float, height: float, layout: str | None = "constrained"):
    """A pyplot-free figure. Grids of many panels pass `layout=None` and place panels themselves: constrained layout
    measures every tick label of every panel and takes seconds on a 36-panel grid."""
    try:
        from matplotlib.figure import Figure
    except ImportError as err:
        raise ImportError(
            "vit1d's analysis figures need matplotlib: `pip install vit1d[analysis]` or `pip install matplotlib`."
        ) from err
    return Figure(figsize=(width, height), layout=layout)


def _save(figure, path) -> str:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(path, dpi=100)
    return os.fspath(path)


def _extent(times: np.ndarray) -> tuple[float, float]:
    half = 0.5 * (times[1] - times[0]) if len(times) > 1 else 0.5
    return float(times[0] - half), float(times[-1] + half)


def plot_attention_maps(attentions, times, path, layers: Sequence[int] | None = None,
                        heads: Sequence[int] | None = None, title: str | None = None) -> str:
    """Sequence-to-sequence attention `A[l, h, 1:, 1:]` of one window (`attentions` `(layers, heads, 1 + T, 1 + T)`
    from `attention_maps`), one panel per layer (column) and head (row); `layers` are 1-based block numbers.

    The class token's row and column are left out: it is attended by every token and would dominate the colours.
    Each panel is divided by its own maximum (the shared colour bar reads "fraction of the panel's maximum"): the
    range of attention differs by an order of magnitude between layers, and the pattern is what matters here.
    """
    attentions = np.asarray(attentions)
    times = np.asarray(times, dtype=np.float64)
    layers = list(layers) if layers is not None else list(range(1, attentions.shape[0] + 1))
    heads = list(heads) if heads is not None else list(range(attentions.shape[1]))
    width, height = 1.6 * len(layers) + 1.6, 1.6 * len(heads) + 1.2
    figure = _figure(width, height, layout=None)
    figure.subplots_adjust(left=1.0 / width, right=1 - 0.9 / width, bottom=0.6 / height, top=1 - 0.6 / height,
                           wspace=0.08, hspace=0.08)
    axes = figure.subplots(len(heads), len(layers), squeeze=False, sharex=True, sharey=True)
    low, high = _extent(times)
    image = None
    for column, layer in enumerate(layers):
        for row, head in enumerate(heads):
            panel = attentions[layer - 1, head, 1:, 1:].astype(np.float64)
            panel = panel / max(panel.max(), 1e-12)
            axis = axes[row, column]
            image = axis.imshow(panel, origin="lower", extent=(low, high, low, high), aspect="auto", cmap="magma",
                                vmin=0.0, vmax=1.0, interpolation="nearest")
            if row == 0:
                axis.set_title(f"layer {layer}", fontsize=9)
            if column == 0:
                axis.set_ylabel(f"head {head}\nquery (s)", fontsize=8)
            if row == len(heads) - 1:
                axis.set_xlabel("key (s)", fontsize=8)
            axis.tick_params(labelsize=7, labelleft=column == 0, labelbottom=row == len(heads) - 1)
    colorbar_axis = figure.add_axes((1 - 0.75 / width, 0.6 / height, 0.15 / width, 1 - 1.2 / height))
    figure.colorbar(image, cax=colorbar_axis, label="attention / panel max")
    figure.suptitle(title or "Attention maps (sequence tokens; class token omitted)", wrap=True)
    return _save(figure, path)


def plot_onset_curves(strength, times, reference_onsets, path, estimated_onsets=None, title: str | None = None,
                      max_seconds: float | None = 10.0) -> str:
    """Onset-strength curves with reference onsets (red lines) and picked onsets (crosses), one panel per curve.

    Args:
        strength: a curve `(T,)`, or `{label: (T,)}` for several (e.g. the best head of each model).
        estimated_onsets: times in seconds, or `{label: times}` matching `strength`'s labels.
        max_seconds: the span shown from the first token (onsets are too dense to see on a whole track); None shows
            everything.
    """
    times = np.asarray(times, dtype=np.float64)
    curves = dict(strength) if isinstance(strength, Mapping) else {"onset strength": strength}
    if estimated_onsets is not None and not isinstance(estimated_onsets, Mapping):
        estimated_onsets = {label: estimated_onsets for label in curves}
    end = times[-1] if max_seconds is None else min(times[-1], times[0] + max_seconds)
    shown = times <= end
    reference = np.asarray(reference_onsets, dtype=np.float64).reshape(-1)
    reference = reference[(reference >= times[0]) & (reference <= end)]
    figure = _figure(12.0, 1.0 + 2.0 * len(curves))
    axes = figure.subplots(len(curves), 1, squeeze=False, sharex=True)[:, 0]
    for axis, (label, curve) in zip(axes, curves.items()):
        curve = np.asarray(curve, dtype=np.float64).reshape(-1)
        for onset in reference:
            axis.axvline(onset, color="tab:red", alpha=0.45, linewidth=0.9)
        axis.plot(times[shown], curve[shown], color="tab:blue", linewidth=1.0, label="strength")
        if estimated_onsets is not None and label in estimated_onsets:
            picked = np.asarray(estimated_onsets[label], dtype=np.float64).reshape(-1)
            picked = picked[(picked >= times[0]) & (picked <= end)]
            axis.plot(picked, np.interp(picked, times, curve), "x", color="black", markersize=6, label="picked")
        axis.plot([], [], color="tab:red", alpha=0.45, label="reference onsets")
        axis.set_title(label, fontsize=10)
        axis.set_ylabel("strength")
        axis.legend(loc="upper right", fontsize=7)
    axes[-1].set_xlabel("time (s)")
    axes[-1].set_xlim(times[0], end)
    figure.suptitle(title or "Onset strength read from attention", wrap=True)
    return _save(figure, path)


def plot_ssm_grid(ssms: Mapping[int, np.ndarray], times, path, beats=None, chord_changes=None,
                  title: str | None = None) -> str:
    """Self-similarity matrices of several layers side by side (`{layer: (N, N)}`), axes in seconds, with chord
    changes drawn as thin white lines across each matrix and beats as ticks along its top edge. `times` `(N,)`: the
    time of each row, token times for `self_similarity`'s matrices, bin times for
    `vit1d.analysis.ssm.pooled_self_similarity`'s, which is what to draw for a whole track (a `T x T` matrix of a
    10-minute track is 1.4 GB, and a panel shows a few hundred pixels of it).

    The colour range of each panel runs from its 2nd percentile to 1 (each has a colour bar): cosines of raw hidden
    states are all high, and a shared range would leave the deeper layers a single colour.
    """
    times = np.asarray(times, dtype=np.float64)
    layers = list(ssms)
    columns = min(len(layers), 4)
    rows = math.ceil(len(layers) / columns)
    figure = _figure(4.2 * columns, 3.8 * rows + 0.6)
    axes = figure.subplots(rows, columns, squeeze=False)
    low, high = _extent(times)
    beats = None if beats is None else np.asarray(beats, dtype=np.float64).reshape(-1)
    changes = None if chord_changes is None else np.asarray(chord_changes, dtype=np.float64).reshape(-1)
    for axis in axes.flat[len(layers):]:
        axis.set_visible(False)
    for axis, layer in zip(axes.flat, layers):
        matrix = np.asarray(ssms[layer], dtype=np.float32)  # float32: half the memory of matplotlib's resampling
        vmin = float(np.percentile(matrix, 2)) if matrix.size else 0.0
        image = axis.imshow(matrix, origin="lower", extent=(low, high, low, high), cmap="viridis",
                            vmin=min(vmin, 0.999), vmax=1.0, interpolation="nearest")
        if changes is not None:
            shown = changes[(changes >= low) & (changes <= high)]
            axis.vlines(shown, low, high, colors="white", linewidth=0.5, alpha=0.6)
            axis.hlines(shown, low, high, colors="white", linewidth=0.5, alpha=0.6)
        if beats is not None:
            shown = beats[(beats >= low) & (beats <= high)]
            axis.plot(shown, np.full(len(shown), high), "|", color="tab:red", markersize=7, clip_on=False)
        axis.set_title(f"layer {layer}", fontsize=10)
        axis.set_xlabel("time (s)")
        axis.set_ylabel("time (s)")
        figure.colorbar(image, ax=axis, shrink=0.85, label="cosine similarity")
    legend = []
    if changes is not None:
        legend.append("white lines: chord changes")
    if beats is not None:
        legend.append("red ticks: beats")
    legend = f" ({'; '.join(legend)})" if legend else ""
    figure.suptitle((title or "Self-similarity of sequence tokens") + legend, wrap=True)
    return _save(figure, path)


def plot_log_mel(log_mel, frame_times, path, title: str | None = None) -> str:
    """The log-mel input `(frames, mel)` in dB as an image, time in seconds across, mel bin up. At most about 2000
    columns are drawn (frames averaged in groups), which is more than a page shows."""
    log_mel = np.asarray(log_mel, dtype=np.float32)
    times = np.asarray(frame_times, dtype=np.float64)
    group = max(1, math.ceil(len(log_mel) / 2000))
    if group > 1:  # (frames, mel) -> (frames / group, mel): block means of consecutive frames
        usable = len(log_mel) // group * group
        log_mel = log_mel[:usable].reshape(-1, group, log_mel.shape[1]).mean(axis=1)
        times = times[:usable].reshape(-1, group).mean(axis=1)
    figure = _figure(12.0, 3.2)
    axis = figure.subplots()
    low, high = _extent(times)
    image = axis.imshow(log_mel.T, origin="lower", aspect="auto", extent=(low, high, 0, log_mel.shape[1]),
                        cmap="magma", interpolation="nearest")
    axis.set_xlabel("time (s)")
    axis.set_ylabel("mel bin")
    figure.colorbar(image, ax=axis, label="dB")
    figure.suptitle(title or "Log-mel spectrogram (the model's input)")
    return _save(figure, path)


def plot_window_similarity(similarity, window_times, path, title: str | None = None) -> str:
    """Cosine similarity `(W, W)` between the class tokens of a track's windows, axes at each window's start time
    (`window_times` `(W, 2)`: start and end in seconds)."""
    similarity = np.asarray(similarity, dtype=np.float32)
    window_times = np.asarray(window_times, dtype=np.float64).reshape(-1, 2)
    low, high = float(window_times[0, 0]), float(window_times[-1, 1])
    figure = _figure(5.2, 4.4)
    axis = figure.subplots()
    image = axis.imshow(similarity, origin="lower", extent=(low, high, low, high), cmap="viridis",
                        interpolation="nearest")
    axis.set_xlabel("window (s)")
    axis.set_ylabel("window (s)")
    figure.colorbar(image, ax=axis, shrink=0.85, label="cosine similarity")
    figure.suptitle(title or "Class-token similarity between windows", wrap=True)
    return _save(figure, path)


def plot_probe_curves(probe_results: Sequence[Mapping], path, metrics: Mapping[str, str] | None = None,
                      title: str | None = None) -> str:
    """Per-layer probe scores, one panel per task, one line per model (and representation), from the contents of
    `probe_results.json` files (`run_probe.py`). Single-layer records make the curve (x = layer); a stacked set
    (`--layers 3,6,9,12`) is drawn as a dotted horizontal line; random-initialisation runs are dashed.

    Args:
        metrics: `{task: metric key}`; default `PROBE_METRICS`, the metric probes are selected on.
    """
    metrics = {**PROBE_METRICS, **(metrics or {})}
    series: dict[str, dict[tuple, dict]] = {}
    for results in probe_results:
        model = str(results.get("model", "model"))
        dashed = bool(results.get("random_init", False))
        for record in results.get("results", []):
            task = record["task"]
            value = record.get("metrics", {}).get(metrics.get(task, ""))
            if value is None or value != value:
                continue
            representations = {r.get("representation") for r in results["results"] if r["task"] == task}
            label = model if len(representations) == 1 else f"{model} ({record['representation']})"
            line = series.setdefault(task, {}).setdefault((label, dashed), {"points": {}, "stacked": []})
            layers = tuple(record["layers"])
            if len(layers) == 1:
                line["points"][layers[0]] = float(value)
            else:
                line["stacked"].append((layers, float(value)))
    if not series:
        raise ValueError("No probe result with a per-task metric to plot (expected probe_results.json contents).")
    tasks = sorted(series)
    figure = _figure(4.6 * len(tasks), 3.8)
    axes = figure.subplots(1, len(tasks), squeeze=False)[0]
    for axis, task in zip(axes, tasks):
        for index, ((label, dashed), line) in enumerate(series[task].items()):
            color = f"C{index % 10}"
            style = "--" if dashed else "-"
            if line["points"]:
                layers = sorted(line["points"])
                axis.plot(layers, [line["points"][layer] for layer in layers], style, marker="o", color=color,
                          label=label)
            for layers, value in line["stacked"]:
                axis.axhline(value, linestyle=":", color=color, label=f"{label}, layers {','.join(map(str, layers))}")
        layers = sorted({layer for line in series[task].values() for layer in line["points"]})
        if layers:
            axis.set_xticks(layers if len(layers) <= 13 else layers[:: math.ceil(len(layers) / 13)])
            axis.set_xlim(min(layers) - 0.5, max(layers) + 0.5)
        axis.set_title(task)
        axis.set_xlabel("layer")
        axis.set_ylabel(PROBE_METRIC_NAMES.get(metrics[task], metrics[task]))
        axis.grid(alpha=0.3)
        axis.legend(fontsize=7)
    figure.suptitle(title or "Linear probes per layer", wrap=True)
    return _save(figure, path)


__all__ = ["PROBE_METRICS", "plot_attention_maps", "plot_log_mel", "plot_onset_curves", "plot_probe_curves",
           "plot_ssm_grid", "plot_window_similarity"]
