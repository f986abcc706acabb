"""Recipe A/B tests: pretraining arms that differ in one option, scored on the benchmark with paired intervals.

Each arm is a `run_pretraining.py` flag string (`"frame=--config_overrides frame_normalization=layer_norm"`); every
arm and pretraining seed is one demo run (`vit1d.demo`: the same corpus, steps, batch and seed, its own step-0
weights, random initialisations and floors), in `output_dir/<arm>-seed<seed>/`. `compare_arms` then sets every arm
against the baseline arm on the claims' metrics, paired over the same test tracks (pretraining seeds are a second
level of the bootstrap):

- the trained encoders' scores (arm - baseline): beat F on the strata the beat claim uses, key accuracy (class
  token), chord frame accuracy on the chord claim's strata, onset F read from attention, tagging mAP;
- the gain over each run's own step-0 weights ((arm - its step 0) - (baseline - its step 0)) for the per-track
  metrics: an option that changes the model at initialisation (a frame LayerNorm) moves both, and the gain is what
  pretraining added.

NT-Xent loss and retrieval are not criteria (evidence.md, 2: the task is solved at initialisation). Rows are
Holm-corrected together; "better" / "worse" need the corrected p < 0.05, otherwise "no difference shown".
"""

import json
import logging
import shlex
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path

import numpy as np

from .claims import (
    BEAT_EXCLUDED,
    CHORD_EXCLUDED,
    INCONCLUSIVE,
    REFUTED,
    SUPPORTED,
    Claim,
    ClaimResult,
    _map_difference,
    claim_strata,
    evaluate_claims,
    select_on_validation,
)
from .stats import Arm

logger = logging.getLogger(__name__)

WORDS = {SUPPORTED: "better", REFUTED: "worse", INCONCLUSIVE: "no difference shown"}
# Per-track metrics: task -> (representation chosen on validation, metric of per_track, excluded strata, label).
PER_TRACK = {
    "beat": ("sequence", "F-measure", BEAT_EXCLUDED, "beat F (70 ms)"),
    "key": ("class", "weighted_score", (), "key weighted score"),
    "chord": ("sequence", "frame_accuracy", CHORD_EXCLUDED, "chord frame accuracy"),
}


@dataclass
class ABArguments:
    arms: list[str] = field(
        default_factory=list,
        metadata={"help": "Arms as NAME=FLAGS, FLAGS being run_pretraining.py flags (empty for the plain recipe), "
                          "e.g. raw= 'frame=--config_overrides frame_normalization=layer_norm'."})
    baseline: str | None = field(default=None, metadata={"help": "The arm the others are compared with; default "
                                                                 "the first."})
    pretraining_seeds: str = field(default="0", metadata={"help": "Pretraining seeds of every arm, comma-separated."})
    scored: list[str] = field(
        default_factory=list,
        metadata={"help": "Compare runs scored earlier instead of running arms: NAME=FOLDER[,FOLDER...], one folder "
                          "per pretraining seed (demo run folders or learning-curve points, e.g. "
                          "raw=outputs/reference/curves-seed-0/step-00001000,...). Writes OUTPUT_DIR/ab.md."})


def parse_arms(specs: Sequence[str]) -> dict[str, str]:
    arms = {}
    for spec in specs:
        name, separator, flags = spec.partition("=")
        name = name.strip()
        if not separator or not name or not name.replace("-", "").replace("_", "").isalnum():
            raise ValueError(f"An arm is NAME=FLAGS with a plain name (letters, digits, - and _), got {spec!r}.")
        if name in arms:
            raise ValueError(f"Arm {name!r} is given twice.")
        shlex.split(flags)  # unbalanced quotes fail here, not after the first arm's run
        arms[name] = flags.strip()
    if len(arms) < 2:
        raise ValueError(f"An A/B needs at least 2 arms, got {len(arms)}.")
    return arms


def parse_scored(specs: Sequence[str]) -> dict[str, list[Path]]:
    """`NAME=FOLDER[,FOLDER...]` -> {name: folders}, every folder a scored run (its `probe/` results exist)."""
    folders = {name: [Path(f.strip()) for f in value.split(",") if f.strip()]
               for name, value in parse_arms(specs).items()}
    for name, paths in folders.items():
        if not paths:
            raise ValueError(f"--scored {name}= names no folder: give NAME=FOLDER[,FOLDER...].")
        for path in paths:
            if not (path / "probe").is_dir():
                raise ValueError(f"--scored {name}: {path} holds no probe/ results; give folders of scored runs "
                                 "(a demo run's output_dir or a learning curve's step-NNNNNNNN).")
    return folders


def compare_scored(ab: ABArguments, output_dir: str | Path) -> Path:
    """Compare runs scored earlier (`ab.scored`) with the arm named first (or `ab.baseline`), as `run_ab` does for
    the runs it makes, and write `output_dir/ab.md` and `ab.json`."""
    runs = parse_scored(ab.scored)
    baseline = ab.baseline or next(iter(runs))
    if baseline not in runs:
        raise ValueError(f"--baseline {baseline!r} is not one of the arms {list(runs)}.")
    results = compare_arms({name: [load_run(f) for f in folders] for name, folders in runs.items()}, baseline)
    return _write(Path(output_dir), {name: ", ".join(map(str, folders)) for name, folders in runs.items()},
                  baseline, None, runs, results)


def _write(root: Path, arms: Mapping[str, str], baseline: str, seeds: Sequence[int] | None,
           runs: Mapping[str, Sequence[Path]], results: Sequence[ClaimResult]) -> Path:
    root.mkdir(parents=True, exist_ok=True)
    record = {"arms": arms, "baseline": baseline, "pretraining_seeds": seeds,
              "runs": {name: [str(f) for f in folders] for name, folders in runs.items()},
              "comparisons": [result.to_dict() for result in results]}
    (root / "ab.json").write_text(json.dumps(record, indent=1, default=float) + "\n")
    (root / "ab.md").write_text(ab_markdown(arms, baseline, seeds, results))
    return root / "ab.md"


def run_ab(ab: ABArguments, demo) -> Path:
    """Run every arm and seed (reusing finished runs) and write `output_dir/ab.md` and `ab.json`; with
    `ab.scored`, compare those runs instead (`compare_scored`)."""
    from .demo import run_demo

    if ab.scored:
        if ab.arms:
            raise ValueError("Give --arms (runs to make) or --scored (runs made earlier), not both.")
        return compare_scored(ab, demo.output_dir)
    arms = parse_arms(ab.arms)
    baseline = ab.baseline or next(iter(arms))
    if baseline not in arms:
        raise ValueError(f"--baseline {baseline!r} is not one of the arms {list(arms)}.")
    seeds = [int(seed) for seed in ab.pretraining_seeds.split(",") if seed.strip()]
    root = Path(demo.output_dir)
    root.mkdir(parents=True, exist_ok=True)
    runs = {name: [] for name in arms}
    for seed in seeds:
        for name, flags in arms.items():
            folder = root / f"{name}-seed{seed}"
            extra = " ".join(filter(None, [demo.pretraining_args, flags]))
            logger.info(f"A/B arm {name}, pretraining seed {seed}: run_pretraining.py flags {extra!r} -> {folder}")
            run_demo(replace(demo, output_dir=str(folder), seed=seed, pretraining_args=extra))
            runs[name].append(folder)
    results = compare_arms({name: [load_run(folder) for folder in folders] for name, folders in runs.items()},
                           baseline)
    return _write(root, arms, baseline, seeds, runs, results)


def load_run(folder: str | Path) -> dict:
    """The probe results (trained and step-0, by task) and analysis results of one demo run folder."""
    folder = Path(folder)
    run = {"trained": {}, "initial": {}, "analysis": {}}
    for model, key in (("trained", "trained"), ("step-0", "initial")):
        for path in sorted((folder / "probe").glob(f"{model}-*/probe_results.json")):
            run[key][path.parent.name[len(model) + 1:]] = json.loads(path.read_text())
    analysis = folder / "analysis" / "analysis_results.json"
    if analysis.is_file():
        run["analysis"] = json.loads(analysis.read_text())
    return run


def _rows(runs: Sequence[dict], key: str, task: str, representation: str, metric: str, tracks: np.ndarray
          ) -> np.ndarray | None:
    """`(seeds, tracks)` scores of the record chosen on validation in every run, or None when one is missing."""
    rows = []
    for run in runs:
        results = run[key].get(task)
        chosen = results and select_on_validation(results, representation)
        if not chosen:
            return None
        rows.append(np.atleast_2d(np.asarray(chosen["per_track"][metric], dtype=np.float64))[:, tracks])
    return np.concatenate(rows)


def random_init_runs(folder: str | Path) -> list[dict]:
    """The random initialisations a demo run folder was scored against, one `load_run`-shaped run per init seed
    (its probes as "trained", its attention onsets): an arm for `compare_arms`, e.g. trained encoders of several
    pretraining seeds against random initialisations of their config."""
    folder = Path(folder)
    runs = {}
    for path in sorted((folder / "probe").glob("random-*-*/probe_results.json")):
        seed, task = path.parent.name.split("-")[1:3]
        runs.setdefault(int(seed), {"trained": {}, "initial": {}, "analysis": {}})["trained"][task] = json.loads(
            path.read_text())
    analysis = folder / "analysis" / "analysis_results.json"
    if analysis.is_file():
        results = json.loads(analysis.read_text())
        onsets = results.get("per_track", {}).get("onsets", {}).get("random_init", {}).get("f_measure")
        seeds = results.get("random_init_seeds") or []
        if onsets is not None and sorted(seeds) == sorted(runs):
            for seed, row in zip(seeds, np.atleast_2d(np.asarray(onsets, dtype=np.float64))):
                runs[seed]["analysis"] = {"per_track": {"onsets": {"trained": {"f_measure": [row.tolist()]}}}}
    if not runs:
        raise ValueError(f"{folder} holds no random-initialisation probes (probe/random-SEED-TASK/): score it with "
                         "the demo's pipeline first.")
    return [runs[seed] for seed in sorted(runs)]


def compare_arms(runs: Mapping[str, Sequence[dict]], baseline: str, n_resamples: int = 2000) -> list[ClaimResult]:
    """Every arm against `baseline` (see the module docstring); `runs[arm]` holds one `load_run` per pretraining
    seed. The arms must have been scored on the same test tracks."""
    return evaluate_claims(arm_claims(runs, baseline, n_resamples), n_resamples=n_resamples)


def arm_claims(runs: Mapping[str, Sequence[dict]], baseline: str, n_resamples: int = 2000) -> list[Claim]:
    """The comparisons of `compare_arms`, before their verdicts (several sets can share one Holm family)."""
    claims = []
    base = runs[baseline]
    for name, arm_runs in runs.items():
        if name == baseline:
            continue
        for task, (representation, metric, excluded, label) in PER_TRACK.items():
            reference = base[0]["trained"].get(task)
            if reference is None:
                continue
            for run in [*base, *arm_runs]:
                if run["trained"].get(task) and run["trained"][task]["test_tracks"] != reference["test_tracks"]:
                    raise ValueError(f"The {task} probes of the arms scored different test tracks: an A/B needs "
                                     "one corpus for every arm.")
            tracks, caveat, why_not = claim_strata(reference, excluded)
            scores = {(arm, key): _rows(arm_set, key, task, representation, metric, tracks)
                      for arm, arm_set in ((name, arm_runs), (baseline, base)) for key in ("trained", "initial")}
            if why_not or scores[(name, "trained")] is None or scores[(baseline, "trained")] is None:
                continue
            metric_text = f"{label}, {len(tracks)} test tracks"
            # Chord accuracy is duration-weighted over tracks (MIREX), as the claims weight it.
            weights = reference.get("track_weights")
            weights = None if weights is None else np.asarray(weights, dtype=np.float64)[tracks]
            claims.append(Claim(f"{name} vs {baseline}", f"{task}: trained encoders", metric_text,
                                {name: Arm(scores[(name, "trained")], weights=weights),
                                 baseline: Arm(scores[(baseline, "trained")], weights=weights)},
                                lambda m, a=name, b=baseline: m[a] - m[b], f"{name} - {baseline}", caveat=caveat))
            if scores[(name, "initial")] is not None and scores[(baseline, "initial")] is not None:
                arms = {arm: Arm(scores[key], weights=weights) for arm, key in (
                    ("arm", (name, "trained")), ("arm_step0", (name, "initial")), ("base", (baseline, "trained")),
                    ("base_step0", (baseline, "initial")))}
                claims.append(Claim(f"{name} vs {baseline}", f"{task}: gain over own step 0", metric_text, arms,
                                    lambda m: (m["arm"] - m["arm_step0"]) - (m["base"] - m["base_step0"]),
                                    f"({name} - step 0) - ({baseline} - step 0)", caveat=caveat))
        onsets = [run["analysis"].get("per_track", {}).get("onsets", {}).get("trained", {}).get("f_measure")
                  for run in [*arm_runs, *base]]
        if all(o is not None for o in onsets):
            a = np.concatenate([np.atleast_2d(np.asarray(o, dtype=np.float64)) for o in onsets[:len(arm_runs)]])
            b = np.concatenate([np.atleast_2d(np.asarray(o, dtype=np.float64)) for o in onsets[len(arm_runs):]])
            if a.shape[1] == b.shape[1]:
                claims.append(Claim(f"{name} vs {baseline}", "onsets from attention: trained encoders",
                                    f"onset F (50 ms), {a.shape[1]} test tracks", {name: Arm(a), baseline: Arm(b)},
                                    lambda m, x=name, y=baseline: m[x] - m[y], f"{name} - {baseline}"))
        tagging = [run["trained"].get("tagging") for run in [*arm_runs, *base]]
        if all(tagging):
            chosen = [select_on_validation(results, "average") for results in tagging]
            if all(c and "track_scores" in c for c in chosen):
                claims.append(Claim(f"{name} vs {baseline}", "tagging: trained encoders", "tagging macro mAP", {},
                                    lambda m: 0.0, f"{name} - {baseline}",
                                    interval=_map_difference(chosen[:len(arm_runs)], chosen[len(arm_runs):],
                                                             n_resamples)))
    return claims


def ab_markdown(arms: Mapping[str, str], baseline: str, seeds: Sequence[int] | None,
                results: Sequence[ClaimResult]) -> str:
    """The comparison table; `seeds` None means the arms are runs scored earlier (`arms` then names folders)."""
    if seeds is None:
        header = ["Arms (runs scored earlier, one folder per pretraining seed):", "",
                  *[f"- `{name}`: {folders}" for name, folders in arms.items()]]
    else:
        header = [f"Pretraining seeds: {', '.join(map(str, seeds))}. Arms (run_pretraining.py flags):", "",
                  *[f"- `{name}`: `{flags or '(the plain recipe)'}`" for name, flags in arms.items()]]
    lines = [f"# Recipe A/B against `{baseline}`", "", *header, "",
             "| comparison | what | metric | effect | value [95 % CI] | p (Holm) | verdict |",
             "|---|---|---|---|---|---|---|"]
    for result in results:
        interval = result.interval
        value = "-" if interval is None else f"{interval.value:+.3f} [{interval.low:+.3f}, {interval.high:+.3f}]"
        p = "-" if result.p_holm is None else f"{result.p_holm:.3f}"
        lines.append(f"| {result.claim_id} | {result.statement} | {result.metric} | {result.effect_label} | {value} | "
                     f"{p} | {WORDS[result.verdict]} |")
    caveats = sorted({result.caveat for result in results if result.caveat})
    if caveats:
        lines += ["", "Strata used:", "", *[f"- {caveat}" for caveat in caveats]]
    return "\n".join(lines) + "\n"


__all__ = ["ABArguments", "ab_markdown", "arm_claims", "compare_arms", "compare_scored", "load_run", "parse_arms",
           "parse_scored", "random_init_runs", "run_ab"]
