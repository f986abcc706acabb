"""The one-command demo (`make demo`, `run_demo.py`): render the built-in corpus, pretrain ViT-1D briefly, probe
tagging, key, beat and chord for the trained and a randomly initialised encoder, run the emergent-property analyses,
and write a report folder plus an encoder folder whose model card is filled and ready to push.

Every stage reuses what an earlier run of the same output folder finished (the pretraining resumes from its last
checkpoint), so an interrupted demo continues where it stopped.
"""

import json
import logging
import shlex
import shutil
import time
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path

from tqdm.auto import tqdm

from .task_info import TASKS

logger = logging.getLogger(__name__)

# The paper's probes: tagging on the mean of the class and sequence tokens and on the class token alone (claim C1:
# the mean is better), key on the class token, beat and chord on every sequence token.
REPRESENTATIONS = {"tagging": "average,class", "key": "class", "beat": "sequence", "chord": "sequence"}
CORPUS_NAME = "vit1d built-in corpus"
FIGURE_CAPTIONS = {
    "probe_curves": "Probe results per layer, trained encoder vs random initialisation",
    "attention_maps": "Attention maps of the trained encoder, every layer and head, on the first window of a test track",
    "onset_curves": "Onset strength read from attention (best layer and head) against the reference onsets",
    "ssm_trained": "Self-similarity of sequence tokens per layer, trained encoder (beats and chord changes marked)",
    "ssm_random_init": "Self-similarity of sequence tokens per layer, random initialisation",
}


@dataclass
class DemoArguments:
    output_dir: str = field(
        default="outputs/demo", metadata={"help": "model/ (encoder folder with its filled card), probe/, analysis/, "
                                                  "report/ (results table, figures, results.json)."}
    )
    corpus_dir: str = field(default="data/demo_corpus", metadata={"help": "Where the built-in corpus is rendered."})
    corpus_pieces: int = field(default=120, metadata={"help": "Pieces of the corpus."})
    corpus_seconds: float = field(default=30.0, metadata={"help": "Length of every piece."})
    corpus_split_fractions: str = field(
        default="0.8,0.1,0.1", metadata={"help": "Train, validation and test shares, by work within each source "
                                                 "(`make evidence`: 0.4,0.15,0.45, for more test tracks)."}
    )
    pretraining_steps: int = field(default=200, metadata={"help": "Optimizer steps of the short pretraining run."})
    batch_size: int = field(default=16, metadata={"help": "Pairs per step (the paper: 128)."})
    learning_rate: float = field(default=5e-4)
    config_overrides: str | None = field(
        default=None, metadata={"help": "Changes to the paper's config, e.g. 'num_hidden_layers=4' (a smaller demo)."}
    )
    pretraining_data: str | None = field(
        default=None, metadata={"help": "Pretrain on this data (run_pretraining.py --data, e.g. data/real_music from "
                                        "`make real-music`) instead of the corpus's train split; probes and analyses "
                                        "stay on the corpus."}
    )
    pretraining_args: str = field(
        default="", metadata={"help": "More run_pretraining.py flags for the pretraining run, e.g. "
                                      "'--standardize_mel_bins --tilt_db_per_octave 3' (later flags win)."}
    )
    tasks: str = field(default=",".join(TASKS), metadata={"help": "Probe tasks, comma-separated."})
    probe_layers: str = field(
        default="3;6;9;12;3,6,9,12",
        metadata={"help": "Layer sets probed for each task (`run_probe.py --layers`): by default layers 3, 6, 9, 12 "
                          "one by one (the per-layer curves) and stacked (the paper's layer stacking)."},
    )
    probe_max_steps: int = field(default=2000, metadata={"help": "Most steps of each linear probe (early stopping)."})
    probe_eval_every: int = field(default=100, metadata={"help": "Probe steps between validation checks."})
    analysis_tracks: int = field(default=8, metadata={"help": "Test tracks of the attention and SSM analyses."})
    analysis_layers: str = field(default="3,6,9,12", metadata={"help": "Layers of the self-similarity matrices."})
    hub_model_id: str | None = field(
        default=None, metadata={"help": "The Hub id the model card's snippets name (and the upload goes to)."}
    )
    push_to_hub: bool = field(default=False, metadata={"help": "Upload the encoder folder at the end."})
    cache_dir: str = field(default="~/.cache/vit1d/embeddings", metadata={"help": "Embedding cache of the probes."})
    seed: int = field(default=0)
    random_init_seeds: str = field(
        default="1,2,3", metadata={"help": "Seeds of the random initialisations the trained encoder is compared with "
                                           "(one probe run each; the claims pool them). Keep them apart from --seed: "
                                           "the initialisation of the pretraining seed is the run's own step-0 "
                                           "weights, probed as their own arm."}
    )
    probe_seeds: str = field(default="0,1,2", metadata={"help": "Probe seeds of every probe run."})
    reference_steps: int = field(
        default=2000, metadata={"help": "Training steps of the headroom check's contextual reference (beat, chord)."}
    )
    released_model: str | None = field(
        default=None, metadata={"help": "A released checkpoint (e.g. pretrained/NAME, or a Hub id) probed like this "
                                        "run's encoder and reported beside it and the random initialisations."}
    )
    floors_from: str | None = field(
        default=None, metadata={"help": "An earlier demo run folder on the same corpus and probe settings whose "
                                        "floors that do not depend on the model are reused (`run_probe.py "
                                        "--reuse_floors`; learning curves set it for every point after the first)."}
    )


@dataclass
class Stage:
    name: str
    seconds: float
    reused: bool = False


class DemoRun:
    """The folders of one demo run and the stages it has done."""

    def __init__(self, args: DemoArguments):
        self.args = args
        self.root = Path(args.output_dir)
        self.model_dir = self.root / "model"
        self.probe_dir = self.root / "probe"
        self.analysis_dir = self.root / "analysis"
        self.report_dir = self.root / "report"
        # The files whose presence means an earlier run finished a stage.
        self.encoder_weights = self.model_dir / "model.safetensors"
        self.initial_encoder = self.model_dir / "initial_encoder"  # the run's step-0 weights (vit1d.training)
        self.analysis_results = self.analysis_dir / "analysis_results.json"
        self.stages: list[Stage] = []

    def probe_results(self, model: str, task: str) -> Path:
        """`model`: "trained", "step-0" (the run's initial weights) or "random-<seed>"."""
        return self.probe_dir / f"{model}-{task}" / "probe_results.json"

    @property
    def claims_file(self) -> Path:
        return self.report_dir / "claims.json"

    def timed(self, name: str, function, *arguments, done: Path | None = None):
        """Run a stage; `done` is the file whose presence means an earlier run finished it (and it is reused)."""
        reused = done is not None and done.is_file()
        started = time.perf_counter()
        value = function(*arguments)
        self.stages.append(Stage(name, round(time.perf_counter() - started, 1), reused))
        return value


def render_corpus(args: DemoArguments) -> str:
    from .corpus.render import ensure_corpus, parse_split_fractions

    return ensure_corpus(args.corpus_dir, args.corpus_pieces, args.corpus_seconds,
                         split_fractions=parse_split_fractions(args.corpus_split_fractions))


def pretraining_arguments(args: DemoArguments, corpus: str, model_dir: Path) -> tuple:
    """`run_pretraining.py`'s `(model_args, data_args, training_args)` for the demo run: the demo preset on the
    built-in corpus (or `--pretraining_data`), with the demo's length, batch, learning rate and seed. Only
    `--pretraining_args`, flags given as text (an A/B arm's), are parsed, on top of these values."""
    from .training.arguments import parse_arguments

    steps = args.pretraining_steps
    data = ({"data": args.pretraining_data} if args.pretraining_data else
            {"preset": "demo", "corpus_dir": corpus, "corpus_pieces": args.corpus_pieces,
             "corpus_seconds": args.corpus_seconds, "corpus_split_fractions": args.corpus_split_fractions})
    values = {**data, "output_dir": str(model_dir), "max_steps": steps, "warmup_steps": max(1, steps // 10),
              "save_steps": max(1, steps // 4), "per_device_train_batch_size": args.batch_size,
              "learning_rate": args.learning_rate, "seed": args.seed, "resume_from_checkpoint": "latest"}
    if args.config_overrides:
        values["config_overrides"] = args.config_overrides
    return parse_arguments(shlex.split(args.pretraining_args), values=values)


def pretrain_encoder(args: DemoArguments, corpus: str, run: DemoRun) -> dict:
    """Pretrain (or resume, or reuse a finished run) and return the training summary from `logs.jsonl`."""
    from .training.pretraining import pretrain

    if not run.encoder_weights.is_file():
        pretrain(*pretraining_arguments(args, corpus, run.model_dir))
    return training_summary(run.model_dir)


def training_summary(model_dir: Path) -> dict:
    records = [json.loads(line) for line in (model_dir / "logs.jsonl").read_text().splitlines() if line.strip()]
    steps = [record for record in records if "loss" in record]
    recipe = json.loads((model_dir / "training_recipe.json").read_text())
    first, last = steps[0], steps[-1]
    return {
        "steps": recipe["steps"],
        "global_batch_pairs": recipe["global_batch_pairs"],
        "wall_clock_seconds": recipe.get("wall_clock_seconds"),
        "loss": [first["loss"], last["loss"]],
        "retrieval_top1": [first.get("retrieval_top1"), last.get("retrieval_top1")],
        "logged_steps": [first["step"], last["step"]],
    }


def task_list(args: DemoArguments) -> list[str]:
    tasks = [task.strip() for task in args.tasks.split(",") if task.strip()]
    unknown = sorted(set(tasks) - set(TASKS))
    if unknown or not tasks:
        raise ValueError(f"--tasks takes a comma-separated subset of {','.join(TASKS)}, got {args.tasks!r}.")
    return tasks


def check_seeds(args: DemoArguments) -> None:
    """Warn when a random initialisation repeats the pretraining run's own: `torch.manual_seed(seed)` then the config
    gives exactly the step-0 weights of a run pretrained with that seed."""
    if args.seed in random_seeds(args):
        logger.warning(f"--random_init_seeds holds the pretraining seed {args.seed}: that initialisation is the run's "
                       "own step-0 weights (the step-0 arm), not an independent draw. Use other seeds.")


def random_seeds(args: DemoArguments) -> list[int]:
    return [int(seed) for seed in args.random_init_seeds.split(",") if seed.strip()]


def probe_all(args: DemoArguments, corpus: str, run: DemoRun) -> dict[str, list[dict]]:
    """Probe every task for the trained encoder (with the floors: chance, classical, log-mel frames, layer 0), for
    the pretraining run's step-0 weights where it saved them (the paired baseline), and for random initialisations
    of its config, one run per seed, and for `--released_model` when given; results are reused when an earlier run
    wrote them. Returns `{"trained": [per task], "random": [per task, first seed], "random_seeds": {task: [per
    seed]}, "initial": {task: results}, "released": [per task]}`."""
    from .probing.runner import ProbeArguments, run_probe

    initial = (run.initial_encoder / "model.safetensors").is_file()
    models = (["trained"] + (["step-0"] if initial else []) + [f"random-{seed}" for seed in random_seeds(args)]
              + (["released"] if args.released_model else []))
    sources = {"trained": run.model_dir, "step-0": run.initial_encoder, "released": args.released_model}
    results = {"trained": [], "random": [], "random_seeds": {}, "initial": {}, "released": []}
    for task in tqdm(task_list(args), desc="probing", unit="task"):
        for model in models:
            results_file = run.probe_results(model, task)
            if not results_file.is_file():
                run_probe(ProbeArguments(
                    task=task, output_dir=str(results_file.parent),
                    model_name_or_path=str(sources.get(model, run.model_dir)),
                    random_init=model.startswith("random"), data=corpus, representation=REPRESENTATIONS[task],
                    layers=args.probe_layers, cache_dir=args.cache_dir, max_steps=args.probe_max_steps,
                    eval_every=args.probe_eval_every, probe_seeds=args.probe_seeds,
                    seed=int(model.split("-")[1]) if model.startswith("random") else args.seed,
                    floors=model == "trained",  # the floors do not depend on the model but for layer 0
                    reuse_floors=(str(DemoRun(replace(args, output_dir=args.floors_from)).probe_results(model, task))
                                  if args.floors_from and model == "trained" else None),
                    reference_steps=args.reference_steps,
                ))
            loaded = json.loads(results_file.read_text())
            if model == "trained":
                results["trained"].append(loaded)
            elif model == "step-0":
                results["initial"][task] = loaded
            elif model == "released":
                results["released"].append(loaded)
            else:
                results["random_seeds"].setdefault(task, []).append(loaded)
        results["random"].append(results["random_seeds"][task][0])
    return results


def claims(args: DemoArguments, probes: dict, analysis: dict):
    """The verdict of every claim the demo's runs can test (`vit1d.claims`)."""
    from .claims import analysis_claims, evaluate_claims, probe_claims

    trained = {results["results"][0]["task"]: results for results in probes["trained"]}
    return evaluate_claims(probe_claims(trained, probes["random_seeds"], initial=probes.get("initial"))
                           + analysis_claims(analysis))


def strata(probes: dict) -> list[dict]:
    """The per-stratum floors of the tasks scored per track (`vit1d.claims.strata_report`)."""
    from .claims import STRATA_TASKS, strata_report

    rows = []
    for trained in probes["trained"]:
        task = trained["results"][0]["task"]
        if task in STRATA_TASKS:
            rows += strata_report(trained, probes["random_seeds"].get(task, []), probes.get("initial", {}).get(task))
    return rows


def analyse(args: DemoArguments, corpus: str, run: DemoRun) -> dict:
    from .analysis import AnalysisArguments, run_analysis

    if run.analysis_results.is_file():
        return json.loads(run.analysis_results.read_text())
    return run_analysis(AnalysisArguments(
        model_name_or_path=str(run.model_dir), data=corpus, max_tracks=args.analysis_tracks, layers=args.analysis_layers,
        compare_random_init=True, output_dir=str(run.analysis_dir), seed=0, random_init_seeds=args.random_init_seeds,
        probe_results=str(run.probe_dir / "*" / "probe_results.json"),
    ))


def figure_paths(analysis: dict, folder: Path) -> dict[str, Path]:
    """Caption -> PNG in `folder` of every figure of the analysis results (the report's copies)."""
    return {FIGURE_CAPTIONS.get(name, name.replace("_", " ")): Path(folder) / Path(relative).name
            for name, relative in analysis.get("figures", {}).items()}


def report_texts(args: DemoArguments, probes: dict, analysis: dict) -> dict:
    """What the report and the model card say of a demo run's results: the claims (`verdicts` and `claims_text`),
    the floors and headroom per stratum (`strata_rows`, `strata_text`), the probes' `evaluation_notes` and their
    comparison `table`. Computed from the results alone, so a released checkpoint's card says the same
    (`vit1d.hub.release_checkpoint`)."""
    from .claims import claims_table, strata_markdown
    from .probing.tables import comparison_table

    verdicts = claims(args, probes, analysis)
    strata_rows = strata(probes)
    probe_seeds = len(args.probe_seeds.split(","))
    claims_text = (
        "Each claim of the paper this run can test, with the effect, its 95 % bootstrap interval over test tracks "
        f"and seeds ({len(random_seeds(args))} random initialisations, {probe_seeds} probe seeds "
        "each), a Holm-corrected p-value and a verdict (`vit1d.claims`). Layers are chosen on the validation split; "
        "beat and chord claims use the strata whose headroom check qualifies them. Inconclusive means this run "
        f"cannot tell.{short_run_note(probes)}\n\n" + claims_table(verdicts)
    )
    strata_text = (
        "Per stratum of the test split: every floor beside the encoder, with 95 % intervals; whether the stratum has "
        "headroom (the contextual reference beats the log-mel frame probe by at least 0.15) and so counts for the "
        "beat and chord claims; and the minimum detectable difference (MDD) of trained - random that its tracks "
        "resolve (80 % power, level 0.05). A claim about a stratum needs an effect above its MDD.\n\n"
        + strata_markdown(strata_rows)
    )
    evaluation_notes = (
        f"Linear probes on the frozen encoder (`run_probe.py`), trained on the train split of the {CORPUS_NAME} "
        f"({args.corpus_pieces} rendered pieces of {args.corpus_seconds:g} s, split by work) and scored on its test "
        "split; each cell is this model / a random initialisation of the same config, probed the same way, as the "
        f"mean over {probe_seeds} probe seeds with its 95 % bootstrap interval over test tracks "
        "and seeds; the rows below the models are the floors (the same probe on raw log-mel frames and on layer 0, "
        "chance predictors, the classical method of the task). The corpus is small and synthetic: these numbers "
        "show the pipeline works, not the paper's values."
    )
    return {"verdicts": verdicts, "claims_text": claims_text, "strata_rows": strata_rows, "strata_text": strata_text,
            "evaluation_notes": evaluation_notes,
            "table": comparison_table(probes["trained"], probes["random"])}


def card_arguments(args: DemoArguments, probes: dict, analysis: dict, texts: dict, figures: dict) -> dict:
    """The arguments of `vit1d.hub.write_model_card` that fill an encoder's card with a demo run's results."""
    return dict(
        repo_id=args.hub_model_id, probe_results=probes["trained"], baseline_probe_results=probes["random"],
        dataset_name=CORPUS_NAME, figures=figures, analysis=analysis.get("markdown"),
        evaluation_notes=texts["evaluation_notes"],
        results_table="**Claims**\n\n" + texts["claims_text"] + "\n**Floors and headroom per stratum**\n\n"
        + texts["strata_text"] + "\n" + texts["table"],
    )


def write_report(args: DemoArguments, run: DemoRun, training: dict, probes: dict, analysis: dict) -> Path:
    """`report/`: README.md (tables and figures), results.json (every number), figures/ (PNG); and the encoder
    folder's model card, filled with the same numbers and figures."""
    from .hub import check_model_card, write_model_card

    figures_dir = run.report_dir / "figures"
    figures_dir.mkdir(parents=True, exist_ok=True)
    for relative in analysis.get("figures", {}).values():
        shutil.copyfile(run.analysis_dir / relative, figures_dir / Path(relative).name)
    figures = figure_paths(analysis, figures_dir)
    texts = report_texts(args, probes, analysis)
    verdicts = texts["verdicts"]
    run.claims_file.write_text(json.dumps([verdict.to_dict() for verdict in verdicts], indent=1, default=float))
    card = write_model_card(run.model_dir, **card_arguments(args, probes, analysis, texts, figures))
    check_model_card(card, probes["trained"])
    lines = [
        "# vit1d demo report", "",
        "## Claims", "", texts["claims_text"],
        "## Floors and headroom per stratum", "", texts["strata_text"],
        f"Pretraining: {training['steps']} steps of {training['global_batch_pairs']} pairs, NT-Xent loss "
        f"{training['loss'][0]:.3f} -> {training['loss'][1]:.3f}, in-batch retrieval top-1 "
        f"{_number(training['retrieval_top1'][0])} -> {_number(training['retrieval_top1'][1])}.", "",
        "## Probes", "", texts["evaluation_notes"], "", texts["table"],
        *released_section(args, probes),
        "## Emergent properties", "", analysis.get("markdown", ""), "",
        "## Figures", "",
        *[f"![{caption}](figures/{Path(path).name})\n\n*{caption}*\n" for caption, path in figures.items()],
        "## Stages", "", "| stage | seconds |", "|---|---|",
        *[f"| {stage.name} | {stage.seconds}{' (reused)' if stage.reused else ''} |" for stage in run.stages], "",
        f"The encoder folder `{run.model_dir}` holds the weights, the code files and a filled model card: upload it "
        "with `python run_demo.py --push_to_hub --hub_model_id ORG/NAME` (reuses every finished stage) or "
        "`vit1d.hub.push_folder_to_hub`.",
    ]
    (run.report_dir / "README.md").write_text("\n".join(lines) + "\n")
    results = {"arguments": asdict(args), "claims": [verdict.to_dict() for verdict in verdicts],
               "strata": texts["strata_rows"],
               "training": training, "probes": probes, "analysis": analysis,
               "stages": [asdict(stage) for stage in run.stages]}
    (run.report_dir / "results.json").write_text(json.dumps(results, indent=1, default=str))
    return run.report_dir


def released_section(args: DemoArguments, probes: dict) -> list[str]:
    """The report's lines on the released checkpoint (`--released_model`), probed like this run's encoder."""
    if not probes.get("released"):
        return []
    from .probing.tables import comparison_table

    return ["## The released checkpoint", "",
            f"`{args.released_model}`, probed exactly as this run's encoder (same corpus, layers, probe seeds); each "
            "cell is the released checkpoint / a random initialisation of this run's config, with 95 % bootstrap "
            "intervals. Its own claims table, from the longer run that scored it, is in its model card.", "",
            comparison_table(probes["released"], probes["random"])]


# The test tracks a claim needs to resolve differences of a few points (the issue "Results that can tell").
ENOUGH_TEST_TRACKS = 100


def short_run_note(probes: dict) -> str:
    """What a report on a small test split must say: its verdicts are a short run's; the longer command's are the
    ones to quote."""
    tracks = max((len(results["test_tracks"]) for results in probes["trained"]), default=0)
    if tracks >= ENOUGH_TEST_TRACKS:
        return ""
    return (f" This run's test split has {tracks} tracks, too few to resolve differences of a few points: its "
            "verdicts are a short run's. `make evidence` runs the same pipeline on 1000 pieces (450 test tracks); "
            "docs/results.md quotes its verdicts with their intervals.")


def _number(value) -> str:
    return "n/a" if value is None else f"{value:.3f}"


def run_demo(args: DemoArguments) -> Path:
    """Run every stage (reusing finished ones) and return the report folder."""
    # Mistakes in the arguments fail now, not after the pretraining.
    tasks = task_list(args)
    if args.push_to_hub and not args.hub_model_id:
        raise ValueError("--push_to_hub needs --hub_model_id ORG/NAME.")
    check_seeds(args)
    run = DemoRun(args)
    run.root.mkdir(parents=True, exist_ok=True)
    with tqdm(total=5, desc="demo", unit="stage") as stages:
        def advance(description: str):
            stages.set_postfix_str(description)
            stages.update(1)

        stages.set_postfix_str("rendering the corpus")
        corpus = run.timed("render corpus", render_corpus, args, done=Path(args.corpus_dir) / "corpus.json")
        advance("pretraining")
        training = run.timed("pretraining", pretrain_encoder, args, corpus, run, done=run.encoder_weights)
        advance("probing")
        probes = run.timed("probing (trained and random)", probe_all, args, corpus, run,
                           done=run.probe_results("released" if args.released_model else
                                                  f"random-{random_seeds(args)[-1]}", tasks[-1]))
        advance("analysing")
        analysis = run.timed("analysis", analyse, args, corpus, run, done=run.analysis_results)
        advance("writing the report")
        report = write_report(args, run, training, probes, analysis)
        stages.update(1)
    if args.push_to_hub:
        from .hub import push_folder_to_hub

        push_folder_to_hub(run.model_dir, args.hub_model_id)
    logger.info(f"Report: {report / 'README.md'}; encoder folder with its model card: {run.model_dir}.")
    return report


__all__ = ["DemoArguments", "run_demo"]
