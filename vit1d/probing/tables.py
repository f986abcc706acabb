"""Probe results as tables: one Markdown table per run (`markdown_table`), several runs side by side with their
floors (`comparison_table`, the demo's report and the model card), and `huggingface_hub.EvalResult`s for a model
card's `model-index` (`eval_results`)."""

from ..stats import format_metric
from ..task_info import TASK_INFO


def format_interval(record: dict, metric: str) -> str:
    """"0.712 [0.650, 0.771]": a metric with its 95 % interval, or the value alone when it has none."""
    interval = record.get("ci95", {}).get(metric)
    value = format_metric(record["metrics"].get(metric))
    if interval is None:
        return value
    return f"{value} [{format_metric(interval['low'])}, {format_metric(interval['high'])}]"


def markdown_table(results: dict) -> str:
    """One row per probed representation: the task's main metrics."""
    records = results["results"]
    if not records:
        return ""
    task = records[0]["task"]
    seeds = records[0].get("seeds", [results.get("seed")])
    title = (f"Probe results: {task}, model {results['model']}, test split ({results['num_tracks']['test']} tracks), "
             f"mean over {len(seeds)} probe seed(s) with 95 % bootstrap intervals over tracks and seeds")
    rows = _table_lines(task, records + results.get("floors", []), format_interval)
    return "\n".join([title, "", *rows, *headroom_lines(results.get("headroom"))]) + "\n"


def headroom_lines(checks: dict | None) -> list[str]:
    """The headroom check per stratum as Markdown (`vit1d.probing.headroom`), or nothing when it did not run."""
    if not checks:
        return []
    minimum = next(iter(checks.values()))["minimum"]
    lines = ["", f"Headroom per stratum: a stratum counts for a claim where the contextual reference beats the probe "
                 f"on raw log-mel frames by at least {minimum:g}.", "",
             "| stratum | tracks | contextual reference | frame-level floor | gap | counts |",
             "|---|---|---|---|---|---|"]
    for stratum, check in checks.items():
        lines.append(f"| {stratum} | {check['num_tracks']} | {format_metric(check['contextual'])} | "
                     f"{format_metric(check['frame_floor'])} | {format_metric(check['gap'])} | "
                     f"{'yes' if check['qualifies'] else 'no'} |")
    return lines


def _table_lines(task: str, records: list[dict], cell) -> list[str]:
    """The header and one row per record of a task's table; `cell(record, metric_key)` writes each value."""
    columns = TASK_INFO[task].metrics
    lines = ["| representation | layers | " + " | ".join(header for header, _ in columns) + " |",
             "|---|---|" + "---|" * len(columns)]
    for record in records:
        cells = " | ".join(cell(record, key) for _, key in columns)
        layers = ",".join(map(str, record["layers"])) or "-"  # floors have no layer
        lines.append(f"| {record['representation']} | {layers} | {cells} |")
    return lines


def _record_key(record: dict) -> tuple:
    return record["task"], record["representation"], tuple(record["layers"])


def comparison_table(results: list[dict], baselines: list[dict] = ()) -> str:
    """One Markdown table per task over several `probe_results.json` contents: every probed representation with the
    task's main metrics with their 95 % intervals, and, where `baselines` (e.g. the random-init runs) probed the same
    representation, the baseline's after a slash ("0.758 [0.70, 0.81] / 0.732 [0.68, 0.79]")."""
    baseline = {_record_key(record): record for results_ in baselines for record in results_["results"]}
    by_task: dict[str, list[dict]] = {}
    for results_ in results:
        for record in results_["results"]:
            by_task.setdefault(record["task"], []).append(record)

    def cell(record: dict, key: str) -> str:
        value, other = format_interval(record, key), baseline.get(_record_key(record))
        return value if other is None else f"{value} / {format_interval(other, key)}"

    # The floors (chance, classical) are scored on the same test tracks for every model: shown once per task.
    floors = {}
    for results_ in results:
        for record in results_.get("floors", []):
            floors.setdefault(record["task"], {}).setdefault(record["representation"], record)

    def floor_cell(record: dict, key: str) -> str:
        return format_interval(record, key)

    tables = []
    for task, records in by_task.items():
        title = f"**{task}**" + (" (this model / random initialisation)" if baseline else "")
        lines = _table_lines(task, records, cell)
        lines += _table_lines(task, list(floors.get(task, {}).values()), floor_cell)[2:]
        tables.append("\n".join([title, "", *lines]))
    return "\n\n".join(tables) + "\n"


def eval_results(results: dict, dataset_name: str, dataset_type: str | None = None) -> list:
    """`huggingface_hub.EvalResult`s of a results file, for a model card's `model-index`; the task's name is also the
    dataset config, so that every task stays apart when the card is read back."""
    from huggingface_hub import EvalResult

    out = []
    for record in results["results"]:
        for metric, value in record["metrics"].items():
            if metric.startswith("num_") or metric == "duration" or value is None or value != value:
                continue
            out.append(EvalResult(
                task_type=TASK_INFO[record["task"]].hub_task_type, task_name=record["task"], dataset_type=dataset_type or
                dataset_name, dataset_name=dataset_name, dataset_split=record["split"],
                # The task's labels as the dataset config: the Hub groups results by task type and dataset, which
                # would merge key with tagging (and beat with chord) under one task name otherwise.
                dataset_config=record["task"],
                metric_type=metric, metric_name=f"{metric} ({record['representation']}, layers "
                                                f"{','.join(map(str, record['layers']))})", metric_value=float(value),
            ))
    return out


__all__ = ["comparison_table", "eval_results", "format_interval", "headroom_lines", "markdown_table"]
