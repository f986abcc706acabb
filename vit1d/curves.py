"""Learning curves of a pretraining run: the claims table at every encoder written by `--encoder_every_steps` and
at the end, each effect with its 95 % interval, beside the loss and retrieval of
`logs.jsonl`, plotted against steps.

Each point is scored as the demo scores its encoder (`vit1d.demo`: the same corpus, probes with their floors,
attention onsets, self-similarity, claims), in `output_dir/step-N/`. The run's step-0 weights are every point's paired
baseline, and the random initialisations depend on the config alone: both are probed once, for the first point, and
shared by the others.

    python run_curves.py --run_dir outputs/pretraining --output_dir outputs/curves --corpus_dir data/demo_corpus
"""

import json
import logging
import os
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path

import numpy as np

logger = logging.getLogger(__name__)


@dataclass
class CurveArguments:
    run_dir: str = field(default="outputs/pretraining", metadata={
        "help": "A run_pretraining.py output folder with initial_encoder/ and encoders/step-N/ (--encoder_every_steps)."})
    steps: str | None = field(default=None, metadata={
        "help": "Score only these points, comma-separated steps (e.g. '1000': the final encoder alone); default every "
                "kept encoder and the final one."})
    baselines_from: str | None = field(default=None, metadata={
        "help": "The run_curves.py output folder of another run of the same config, scored on the same corpus with "
                "the same demo arguments (e.g. another pretraining seed): its first point's random-initialisation "
                "probes and model-independent floors serve this curve too instead of being recomputed."})
    across_runs: list[str] = field(default_factory=list, metadata={
        "help": "Instead of scoring a run: the run_curves.py output folders of runs that differ only in their "
                "pretraining seed; at every step they share, their trained encoders (seeds as a level of the "
                "bootstrap) are compared with the random initialisations and with their own step-0 weights "
                "(`compare_seeds`: OUTPUT_DIR/seeds.md and seeds.json)."})


def curve_points(run_dir: str | os.PathLike) -> list[tuple[int, Path]]:
    """`(step, encoder folder)` of every scored point after step 0: `encoders/step-N/` and the final encoder."""
    from .training.pretraining import ENCODERS

    run_dir = Path(run_dir)
    if not (run_dir / "model.safetensors").is_file() or not (run_dir / "initial_encoder").is_dir():
        raise ValueError(f"{run_dir} is not a finished pretraining run with its step-0 weights (model.safetensors and "
                         "initial_encoder/): run run_pretraining.py with --encoder_every_steps N (and the default "
                         "--save_initial_encoder) first.")
    points = [(int(folder.name.split("-")[1]), folder) for folder in sorted((run_dir / ENCODERS).glob("step-*"))
              if (folder / "model.safetensors").is_file()]
    final = json.loads((run_dir / "training_recipe.json").read_text())["steps"]
    return points + [(final, run_dir)]


def _point_folder(root: Path, step: int, encoder: Path, run_dir: Path) -> Path:
    """`root/step-N/model/`: links to the encoder's files, the run's step-0 weights and its log, so the demo scores
    this encoder without copying or pretraining anything."""
    model = root / f"step-{step:08d}" / "model"
    model.mkdir(parents=True, exist_ok=True)
    links = {path.name: path for path in encoder.iterdir() if path.is_file()}
    links.update({"initial_encoder": run_dir / "initial_encoder", "logs.jsonl": run_dir / "logs.jsonl"})
    for name, target in links.items():
        if not (model / name).exists():
            (model / name).symlink_to(target.resolve())
    return model.parent


def _link_probes(demo, source: Path, target: Path, models: list[str]) -> None:
    """Link the probe results of `models` (e.g. "random-101") of the scored folder `source` into `target`, where the
    demo then reuses them instead of probing again."""
    from .demo import DemoRun, task_list

    for task in task_list(demo):
        for model in models:
            probe = DemoRun(replace(demo, output_dir=str(source))).probe_results(model, task).parent
            link = target / "probe" / probe.name
            if probe.is_dir() and not link.exists():
                link.parent.mkdir(parents=True, exist_ok=True)
                link.symlink_to(probe.resolve())


def score_curve(curve: CurveArguments, demo) -> Path:
    """Score every point (reusing finished ones), then write `output_dir/curves.json` and `curves.png`. The first
    point's step-0 and random arms and its model-independent floors serve every later point; with
    `curve.baselines_from`, another curve's first point lends this curve its random arms and floors."""
    from .demo import random_seeds, run_demo

    run_dir, root = Path(curve.run_dir), Path(demo.output_dir)
    points = curve_points(run_dir)
    if curve.steps:
        wanted = {int(step) for step in curve.steps.split(",") if step.strip()}
        if not wanted <= {step for step, _ in points}:
            raise ValueError(f"--steps {curve.steps}: {run_dir} kept encoders at steps {[s for s, _ in points]} only.")
        points = [(step, encoder) for step, encoder in points if step in wanted]
    randoms = [f"random-{seed}" for seed in random_seeds(demo)]
    lender = None
    if curve.baselines_from:
        scored = sorted(folder for folder in Path(curve.baselines_from).glob("step-*")
                        if (folder / "report" / "results.json").is_file())
        if not scored:
            raise ValueError(f"--baselines_from {curve.baselines_from} holds no scored point: score that curve first.")
        lender = scored[0]
    first = None
    for step, encoder in points:
        folder = _point_folder(root, step, encoder, run_dir)
        if first is not None:  # the step-0 and random arms of the first point serve every point
            _link_probes(demo, first, folder, ["step-0", *randoms])
        elif lender is not None:  # another run's random arms (its step 0 is its own)
            _link_probes(demo, lender, folder, randoms)
        logger.info(f"Learning curve: scoring step {step} ({encoder}) in {folder}")
        floors = first or lender
        run_demo(replace(demo, output_dir=str(folder), push_to_hub=False,
                         floors_from=str(floors) if floors is not None else demo.floors_from))
        first = first or folder
    record = curve_record(run_dir, root, points)
    (root / "curves.json").write_text(json.dumps(record, indent=1, default=float) + "\n")
    plot_curves(record, root / "curves.png")
    return root / "curves.png"


def curve_record(run_dir: Path, root: Path, points: list[tuple[int, Path]]) -> dict:
    """Loss and retrieval per logged step, and every testable claim row's effect, interval and verdict per point."""
    logs = [json.loads(line) for line in (run_dir / "logs.jsonl").read_text().splitlines() if line.strip()]
    training = {"step": [r["step"] for r in logs if "loss" in r], "loss": [r["loss"] for r in logs if "loss" in r],
                "retrieval_top1": [r.get("retrieval_top1") for r in logs if "loss" in r]}
    claims = {}
    for step, _ in points:
        # Rows as `vit1d.claims.ClaimResult.to_dict` writes them (the demo's report/claims.json).
        for row in json.loads((root / f"step-{step:08d}" / "report" / "claims.json").read_text()):
            interval = row.get("interval")
            if interval is None:
                continue
            series = claims.setdefault(row["claim"], {"label": row["effect"], "metric": row["metric"],
                                                         "step": [], "value": [], "low": [], "high": [],
                                                         "verdict": []})
            series["step"].append(step)
            for key in ("value", "low", "high"):
                series[key].append(interval[key])
            series["verdict"].append(row["verdict"])
    return {"run_dir": str(run_dir), "points": [step for step, _ in points], "training": training, "claims": claims}


def plot_curves(record: dict, path: Path) -> Path:
    """One panel for the loss, one for retrieval, one per claim row: its effect with the 95 % band against steps,
    the zero line marked (an effect whose band leaves it is a finding at that point, before Holm)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    rows = list(record["claims"].items())
    panels = 2 + len(rows)
    columns = 3
    figure, axes = plt.subplots((panels + columns - 1) // columns, columns, figsize=(4.2 * columns,
                                3.0 * ((panels + columns - 1) // columns)), squeeze=False)
    axes = axes.ravel()
    training = record["training"]
    axes[0].plot(training["step"], training["loss"])
    axes[0].set_title("NT-Xent loss")
    axes[1].plot(training["step"], training["retrieval_top1"])
    axes[1].set_title("in-batch retrieval top-1")
    for axis, (claim_id, series) in zip(axes[2:], rows):
        axis.fill_between(series["step"], series["low"], series["high"], alpha=0.3)
        values, low, high = (np.asarray(series[key], dtype=float) for key in ("value", "low", "high"))
        axis.errorbar(series["step"], values, yerr=[values - low, high - values], marker="o", capsize=3)
        axis.axhline(0.0, color="grey", linewidth=0.8)
        axis.set_title(f"{claim_id}: {series['label']}"[:60], fontsize=9)
    for axis in axes[:panels]:
        axis.set_xlabel("step")
    for axis in axes[panels:]:
        axis.axis("off")
    figure.tight_layout()
    figure.savefig(path, dpi=110)
    plt.close(figure)
    return path


def compare_seeds(curve_dirs: Sequence[str | os.PathLike], output_dir: str | os.PathLike) -> Path:
    """The claims with the pretraining seed as an arm's level: at every step scored in all of `curve_dirs` (runs of
    one recipe with different seeds), the trained encoders of every seed against the random initialisations (C2 on
    beat, key, chord, C3 on tagging, C4 on attention onsets: `vit1d.ab.arm_claims`) and against each run's own step-0
    weights, all rows of a step Holm-corrected together. Writes `output_dir/seeds.md` and `seeds.json`."""
    from .ab import arm_claims, load_run, random_init_runs
    from .claims import claims_table, evaluate_claims

    curves = [Path(curve) for curve in curve_dirs]
    if len(curves) < 2:
        raise ValueError(f"--across_runs needs the curves of at least 2 pretraining seeds, got {len(curves)}.")
    scored = [{int(folder.name.split("-")[1]) for folder in curve.glob("step-*")
               if (folder / "report" / "results.json").is_file()} for curve in curves]
    steps = sorted(set.intersection(*scored))
    if not steps:
        raise ValueError(f"No step is scored in every one of {[str(c) for c in curves]}: run run_curves.py on each.")
    output_dir = Path(output_dir)
    output_dir.mkdir(parents=True, exist_ok=True)
    lines = ["# Claims across pretraining seeds", "",
             f"Runs: {', '.join(f'`{curve}`' for curve in curves)}. Each row pools the trained encoders of every "
             "seed (tracks x seeds counts pretraining x probe seeds), against the random initialisations or against "
             "each run's own step-0 weights; layers are chosen on validation, per run.", ""]
    record = {"runs": [str(curve) for curve in curves], "steps": {}}
    for step in steps:
        points = [curve / f"step-{step:08d}" for curve in curves]
        runs = [load_run(point) for point in points]
        step0 = [{"trained": run["initial"], "initial": {}, "analysis": {}} for run in runs]
        claims = (arm_claims({"trained": runs, "random": random_init_runs(points[0])}, "random")
                  + arm_claims({"trained": runs, "step 0": step0}, "step 0"))
        results = evaluate_claims(claims)
        record["steps"][step] = [result.to_dict() for result in results]
        lines += [f"## Step {step}", "", claims_table(results)]
    (output_dir / "seeds.json").write_text(json.dumps(record, indent=1, default=float) + "\n")
    (output_dir / "seeds.md").write_text("\n".join(lines))
    return output_dir / "seeds.md"


def validation_scores(scored_run: str | os.PathLike) -> dict[str, dict[str, float]]:
    """Per probe task of a scored run (`run_demo.py`, or a point of `run_curves.py`): the validation score (the task's
    headline, averaged over probe seeds) of the trained encoder's single layer chosen on validation, the same for each
    random initialisation (its own layer), and their difference, the `gap`: what pretraining added, on a scale that
    does not favour one task's metric. The test split is not read."""
    from .claims import _mean_validation, select_on_validation
    from .demo import REPRESENTATIONS

    results = json.loads((Path(scored_run) / "report" / "results.json").read_text())
    probes, scores = results["probes"], {}
    for trained in probes["trained"]:
        task = trained["results"][0]["task"]
        kind = REPRESENTATIONS[task].split(",")[0]  # the representation the claims read (tagging: the average)
        chosen = select_on_validation(trained, kind)
        randoms = [select_on_validation(runs, kind) for runs in probes["random_seeds"].get(task, [])]
        if chosen is None or not randoms or any(record is None for record in randoms):
            raise ValueError(f"{scored_run}: no {kind} single-layer probe of {task} for the trained encoder and every "
                             "random initialisation; score it with the demo's probes first.")
        random = float(np.mean([_mean_validation(record) for record in randoms]))
        scores[task] = {"trained": _mean_validation(chosen), "random": random,
                        "gap": _mean_validation(chosen) - random, "layers": chosen["layers"]}
    return scores


def select_point(curve_dirs: Sequence[str | os.PathLike]) -> tuple[Path, list[dict]]:
    """The scored point to release among the learning curves of several runs (`run_curves.py` output folders): the
    one with the highest mean over tasks of its validation gap over random initialisation (`validation_scores`).
    Returns its folder and one row per candidate (curve, step, per-task gaps, mean), best first; the test split plays
    no part in the choice."""
    rows = []
    for curve in map(Path, curve_dirs):
        points = sorted(folder for folder in curve.glob("step-*") if (folder / "report" / "results.json").is_file())
        if not points:
            raise ValueError(f"{curve} holds no scored point (step-N/report/results.json): run run_curves.py first.")
        for folder in points:
            scores = validation_scores(folder)
            rows.append({"point": str(folder), "curve": str(curve), "step": int(folder.name.split("-")[1]),
                         "validation": scores, "mean_gap": float(np.mean([s["gap"] for s in scores.values()]))})
    rows.sort(key=lambda row: -row["mean_gap"])
    return Path(rows[0]["point"]), rows


__all__ = ["CurveArguments", "compare_seeds", "curve_points", "curve_record", "plot_curves", "score_curve", "select_point",
           "validation_scores"]
