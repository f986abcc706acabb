"""Preparing ViT-1D folders for the Hugging Face Hub (they load with `trust_remote_code=True` alone), their model
cards, uploads, and released checkpoints (`release_checkpoint`: a scored encoder as a folder to commit or share,
with the outputs on a fixed clip that any later load must reproduce)."""

import json
import shutil
from collections.abc import Sequence
from dataclasses import fields
from pathlib import Path

import torch

from .configuration_vit1d import ViT1DConfig
from .feature_extraction_vit1d import ViT1DFeatureExtractor
from .modeling_vit1d import (
    ViT1DForAudioClassification,
    ViT1DForAudioFrameClassification,
    ViT1DForContrastivePretraining,
    ViT1DModel,
    ViT1DPreTrainedModel,
)

# Every Auto class a ViT-1D folder can be opened with, whatever head was saved: a bare encoder loads into a head
# model with a freshly initialised head, as users of AutoModelForAudioClassification expect.
AUTO_CLASSES = {
    "AutoConfig": ViT1DConfig,
    "AutoModel": ViT1DModel,
    "AutoModelForPreTraining": ViT1DForContrastivePretraining,
    "AutoModelForAudioClassification": ViT1DForAudioClassification,
    "AutoModelForAudioFrameClassification": ViT1DForAudioFrameClassification,
}


def _auto_class_of(model: ViT1DPreTrainedModel) -> str:
    for auto_class, model_class in AUTO_CLASSES.items():
        if type(model) is model_class:
            return auto_class
    raise TypeError(f"{type(model).__name__} is not a ViT-1D model class.")


def auto_map() -> dict[str, str]:
    """The `auto_map` of a ViT-1D config: Auto class -> `module.Class` inside the saved folder."""
    return {name: f"{cls.__module__.split('.')[-1]}.{cls.__name__}" for name, cls in AUTO_CLASSES.items()}


def prepare_for_hub(
    model: ViT1DPreTrainedModel, feature_extractor: ViT1DFeatureExtractor | None = None
) -> ViT1DPreTrainedModel:
    """Make the next `save_pretrained` write a folder that loads without the `vit1d` package.

    Calls `register_for_auto_class` on the config, the model and the feature extractor: `save_pretrained` then copies
    `configuration_vit1d.py`, `modeling_vit1d.py` and `feature_extraction_vit1d.py` next to the weights and writes
    `auto_map` into `config.json` (every ViT-1D Auto class) and `preprocessor_config.json`. Users then load it with
    `AutoModel.from_pretrained(repo, trust_remote_code=True, revision=...)`.

    Note that `register_for_auto_class` sets a class attribute: it affects every instance of these classes.
    """
    model.config.register_for_auto_class()
    type(model).register_for_auto_class(_auto_class_of(model))
    model.config.auto_map = auto_map()
    if feature_extractor is not None:
        type(feature_extractor).register_for_auto_class("AutoFeatureExtractor")
    return model


MODEL_CARD_TEMPLATE = Path(__file__).with_name("model_card.md")


def _markdown_table(rows: dict) -> str:
    lines = ["| | |", "|---|---|"]
    lines += [f"| {key} | {value} |" for key, value in rows.items()]
    return "\n".join(lines)


def tested_versions() -> str:
    """The versions of Python and the libraries in use (for model cards and training recipes)."""
    import importlib.metadata as metadata
    import platform

    names = ("vit1d", "torch", "transformers", "huggingface_hub", "accelerate", "datasets", "safetensors", "numpy")
    found = []
    for name in names:
        try:
            found.append(f"{name} {metadata.version(name)}")
        except metadata.PackageNotFoundError:
            continue
    return f"Python {platform.python_version()}, " + ", ".join(found)


def _dataset_of(results: dict) -> str:
    return results["results"][0]["dataset"] if results["results"] else "unnamed"


def _figures_markdown(figures: dict[str, str]) -> str:
    return "\n\n".join(f"![{caption}]({path})\n\n*{caption}*" for caption, path in figures.items())


def model_card(
    model: ViT1DPreTrainedModel,
    feature_extractor: ViT1DFeatureExtractor,
    repo_id: str | None = None,
    training_recipe: dict | None = None,
    datasets: list[str] | None = None,
    probe_results: Sequence[dict] = (),
    baseline_probe_results: Sequence[dict] = (),
    dataset_name: str | None = None,
    figures: dict[str, str] | None = None,
    analysis: str | None = None,
    **template_values,
):
    """A `huggingface_hub.ModelCard` from the package's template (`vit1d/model_card.md`).

    Args:
        model, feature_extractor: the card's config and input contract are read from them.
        repo_id: the Hub id the loading snippets name.
        training_recipe: the recipe actually used (`training_recipe.json` of a `run_pretraining.py` run), rendered as
            a table; none: the card says the weights are a random initialisation.
        probe_results: contents of `probe_results.json` files (`run_probe.py`) of this model. Rendered as tables and
            as the card's `model-index` (`EvalResult`s), so the Hub shows them; the numbers are the files'.
        baseline_probe_results: the same probes on a baseline (the random initialisation): shown next to this
            model's numbers in the tables, never in `model-index`.
        dataset_name: the evaluation dataset's name in `model-index` (default: the results' `dataset`).
        figures: caption -> path relative to the card (e.g. `figures/attention.png`), embedded as images.
        analysis: Markdown of the emergent-property analysis (`vit1d.analysis`).
        template_values: any other variable of the template (e.g. `model_name`, `license`, `revision`).
    """
    from huggingface_hub import ModelCard, ModelCardData

    config = model.config
    model_name = template_values.get("model_name") or (repo_id.split("/")[-1] if repo_id else "vit1d")
    evaluations = []
    if probe_results:
        from .probing.tables import comparison_table, eval_results

        for results in probe_results:
            evaluations += eval_results(results, dataset_name or _dataset_of(results))
        if "results_table" not in template_values:  # built only when the caller has not
            template_values["results_table"] = comparison_table(list(probe_results), list(baseline_probe_results))
    card_data = ModelCardData(
        model_name=model_name if evaluations else None,
        library_name="transformers",
        pipeline_tag="feature-extraction",
        license=template_values.pop("license", "apache-2.0"),
        tags=["audio", "music", "vit1d", "contrastive-learning", "custom_code"],
        datasets=datasets,
        eval_results=evaluations or None,
    )
    values = {
        "num_hidden_layers": config.num_hidden_layers,
        "hidden_size": config.hidden_size,
        "num_attention_heads": config.num_attention_heads,
        "intermediate_size": config.intermediate_size,
        "frames_per_patch": config.frames_per_patch,
        "position_embedding_type": config.position_embedding_type,
        "num_parameters": f"{model.num_parameters():,}",
        "pooling": config.pooling,
        "sampling_rate": feature_extractor.sampling_rate,
        "n_fft": feature_extractor.n_fft,
        "hop_length": feature_extractor.hop_length,
        "frames_per_second": feature_extractor.frames_per_second,
        "num_mel_bins": feature_extractor.feature_size,
        "f_min": feature_extractor.f_min,
        "f_max": feature_extractor.f_max,
        "top_db": feature_extractor.top_db,
        "input_normalisation": input_normalisation_text(config, feature_extractor),
        "repo_id": repo_id,
        "tested_versions": tested_versions(),
    }
    if training_recipe:
        values["training_recipe"] = _markdown_table(training_recipe)
    if figures:
        values["figures"] = _figures_markdown(figures)
    if analysis:
        values["analysis"] = analysis
    values.update(template_values)
    return ModelCard.from_template(card_data, template_path=str(MODEL_CARD_TEMPLATE), **values)


def write_model_card(folder: str | Path, repo_id: str | None = None, probe_results: Sequence[str | Path | dict] = (),
                     baseline_probe_results: Sequence[str | Path | dict] = (), figures: dict[str, str | Path] | None
                     = None, **card_values):
    """Fill the card of a saved ViT-1D folder: read its config, feature extractor and `training_recipe.json`, copy
    the `figures` (caption -> PNG path) into `folder/figures/`, and write `folder/README.md`. Probe results may be
    given as `probe_results.json` paths or their loaded contents. Returns the `ModelCard`."""
    folder = Path(folder)
    model = ViT1DModel.from_pretrained(folder)
    extractor = ViT1DFeatureExtractor.from_pretrained(folder)
    recipe_path = folder / "training_recipe.json"
    recipe = json.loads(recipe_path.read_text()) if recipe_path.is_file() else None
    card_figures = {}
    for caption, path in (figures or {}).items():
        path = Path(path)
        (folder / "figures").mkdir(exist_ok=True)
        if path.resolve() != (folder / "figures" / path.name).resolve():
            shutil.copyfile(path, folder / "figures" / path.name)
        card_figures[caption] = f"figures/{path.name}"
    card = model_card(model, extractor, repo_id=repo_id, training_recipe=recipe,
                      probe_results=_load_results(probe_results),
                      baseline_probe_results=_load_results(baseline_probe_results),
                      figures=card_figures, **card_values)
    card.save(folder / "README.md")
    return card


def _load_results(results: Sequence[str | Path | dict]) -> list[dict]:
    """`probe_results.json` contents, from paths or already loaded."""
    return [item if isinstance(item, dict) else json.loads(Path(item).read_text()) for item in results]


def check_model_card(card, probe_results: Sequence[str | Path | dict] = ()) -> None:
    """The offline part of the Hub's checks, plus ours: the card (a `ModelCard`, its text, or a README path) parses,
    its metadata names `library_name`, `pipeline_tag` and the `custom_code` tag the remote-code folder needs, and its
    `model-index` holds exactly the numbers of `probe_results` (`probe_results.json` paths or contents). Raises a
    ValueError listing every problem."""
    from huggingface_hub import ModelCard

    if isinstance(card, Path) or (isinstance(card, str) and not card.lstrip().startswith("---")):
        card = ModelCard.load(card)
    elif isinstance(card, str):
        card = ModelCard(card)
    data = card.data
    problems = []
    if data.library_name != "transformers":
        problems.append(f"library_name is {data.library_name!r}, expected 'transformers'")
    if not data.pipeline_tag:
        problems.append("pipeline_tag is missing")
    if "custom_code" not in (data.tags or []):
        problems.append("the 'custom_code' tag is missing (the Hub then hides the trust_remote_code snippet)")
    if probe_results:
        from .probing.tables import eval_results

        expected = {}
        for results in _load_results(probe_results):
            expected.update({(r.task_name, r.metric_name): r.metric_value
                             for r in eval_results(results, _dataset_of(results))})
        found = {(r.task_name, r.metric_name): r.metric_value for r in data.eval_results or []}
        for key in expected.keys() - found.keys():
            problems.append(f"model-index lacks {key[1]} ({key[0]})")
        for key in found.keys() - expected.keys():
            problems.append(f"model-index has {key[1]} ({key[0]}), which the probe results do not")
        for key in expected.keys() & found.keys():
            if float(found[key]) != float(expected[key]):
                problems.append(f"model-index {key[1]} is {found[key]}, the probe results say {expected[key]}")
    if problems:
        raise ValueError("The model card does not pass the checks:\n- " + "\n- ".join(problems))


def input_normalisation_text(config, feature_extractor) -> str:
    """The model card's words for what happens to the dB values before the transformer (nothing, by default)."""
    steps = []
    if getattr(feature_extractor, "mel_mean", None) is not None:
        steps.append("every real frame is standardised per mel bin with the training corpus's mean and SD "
                     "(`mel_mean`, `mel_std` in preprocessor_config.json)")
    if getattr(config, "frame_normalization", "none") == "layer_norm":
        steps.append("the model normalises each frame over its mel bins (LayerNorm) before the projection")
    if getattr(config, "patch_activation", "none") != "none":
        steps.append(f"the projected tokens pass a {config.patch_activation} activation")
    text = "; ".join(steps)
    return text[0].upper() + text[1:] + "." if steps else "The dB values go to the projection as they are."


def push_folder_to_hub(folder: str | Path, repo_id: str, private: bool = False, token: str | None = None,
                       commit_message: str = "Upload ViT-1D encoder",
                       ignore_patterns=("checkpoints/*", "runs/*", "initial_encoder/*", "encoders/*")):
    """Create the model repo if needed and upload a saved encoder folder (not its checkpoints, tracker logs, step-0
    weights or learning-curve encoders)."""
    from huggingface_hub import HfApi

    api = HfApi(token=token)
    api.create_repo(repo_id, private=private, exist_ok=True, repo_type="model")
    return api.upload_folder(repo_id=repo_id, folder_path=str(folder), commit_message=commit_message,
                             ignore_patterns=list(ignore_patterns))


# -- released checkpoints ---------------------------------------------------------------------------------------------

# The rule for a checkpoint committed to the repository: fp32 weights when they stay under about 25 MB
# (ViT-Tiny's 5.4 M parameters: 21.5 MB), bf16 above.
MAX_FP32_BYTES = 25 * 1000**2
REFERENCE_OUTPUTS = "reference_outputs.safetensors"
REFERENCE_CLIP_SECONDS, REFERENCE_CLIP_SEED = 4.0, 0  # `vit1d.synthetic.synthetic_music(4.0, rate, seed=0)`


def reference_outputs(model: ViT1DModel, feature_extractor: ViT1DFeatureExtractor) -> dict[str, torch.Tensor]:
    """The encoder's float32 outputs on the fixed reference clip (`synthetic_music(4 s, seed 0)`, deterministic on
    every machine): `last_hidden_state` `(1 + tokens, hidden)` and `pooler_output` `(hidden,)`, computed in eval mode
    on the CPU. A released folder stores them (`REFERENCE_OUTPUTS`); a load that reproduces them is the same model."""
    from .synthetic import synthetic_music

    rate = feature_extractor.sampling_rate
    clip = synthetic_music(REFERENCE_CLIP_SECONDS, rate, seed=REFERENCE_CLIP_SEED)
    inputs = feature_extractor(clip, sampling_rate=rate, return_tensors="pt")
    model = model.float().eval()
    with torch.no_grad():
        outputs = model(**{key: value.to(model.device) for key, value in inputs.items()})
    # Copies: the class-token pooler output is a view of the hidden states, and safetensors refuses shared memory.
    return {"last_hidden_state": outputs.last_hidden_state[0].cpu().clone(),
            "pooler_output": outputs.pooler_output[0].cpu().clone()}


def check_reference_outputs(folder: str | Path, model: ViT1DModel | None = None, atol: float = 1e-4) -> float:
    """Load `folder` (or take `model`, loaded from it some other way: Auto classes, remote code), recompute
    `reference_outputs` and compare them with the stored ones. Returns the largest absolute difference; raises a
    ValueError naming the output that differs by more than `atol`."""
    from safetensors.torch import load_file

    folder = Path(folder)
    stored = load_file(folder / REFERENCE_OUTPUTS)
    model = model if model is not None else ViT1DModel.from_pretrained(folder)
    fresh = reference_outputs(model, ViT1DFeatureExtractor.from_pretrained(folder))
    worst = 0.0
    for name, expected in stored.items():
        if fresh[name].shape != expected.shape:
            raise ValueError(f"{folder}: {name} has shape {tuple(fresh[name].shape)}, the stored reference "
                             f"{tuple(expected.shape)}.")
        difference = float((fresh[name] - expected).abs().max())
        if not difference <= atol:
            raise ValueError(f"{folder}: {name} differs from the stored reference by {difference:.3g} (> {atol}): "
                             "the weights, config or feature extractor are not the released ones.")
        worst = max(worst, difference)
    return worst


def default_release_summary(recipe: dict) -> str:
    """The card's plain statement of what a released checkpoint is and is not, from its `training_recipe.json`."""
    seconds = recipe.get("wall_clock_seconds")
    took = f", {seconds / 3600:.1f} h" if seconds else ""
    return (f"**What this checkpoint is:** a small reference run of this package: {recipe.get('steps')} steps of "
            f"{recipe.get('global_batch_pairs')} pairs of NT-Xent pretraining on {recipe.get('data')}"
            f" ({recipe.get('hardware', 'unrecorded hardware')}{took}). **What it is not:** the paper's model, "
            "which was pretrained far longer, at batch 128, on far more music; its numbers below are this "
            "checkpoint's own, on the package's synthetic benchmark, with their floors and intervals.")


def release_checkpoint(scored_run: str | Path, output_dir: str | Path, curves: str | Path | None = None,
                       summary: str | None = None, repo_id: str | None = None, dtype: str = "auto",
                       selection: list[dict] | None = None) -> Path:
    """Write a released checkpoint: the encoder of a scored demo-pipeline run (`run_demo.py`, or one point of
    `run_curves.py`: a folder with `model/` and `report/results.json`) as a folder that loads with `AutoModel` (after
    `import vit1d`) and with `trust_remote_code=True` alone.

    `output_dir` receives safetensors weights (`dtype` "auto": float32 under `MAX_FP32_BYTES`, else bfloat16; or
    "float32" / "bfloat16"), the config with its `auto_map`, the feature extractor's config, the code files,
    `training_recipe.json` and `training_arguments.json` (`run_pretraining.py --config` on it repeats the run),
    `claims.json`, the learning curves (`curves`: a `run_curves.py` `curves.png`, with its
    `curves.json` beside it when present), `REFERENCE_OUTPUTS` (the outputs on a fixed clip, computed from the
    written folder) and a model card filled by `write_model_card` with the run's claims, floors, probe tables and
    analysis (the demo's own texts, `vit1d.demo.report_texts`) and `summary` (default: `default_release_summary`).
    `selection`: the candidates this point was chosen among (`vit1d.curves.select_point`'s rows), written to
    `selection.json` and summed up on the card."""
    from .demo import DemoArguments, card_arguments, figure_paths, report_texts

    scored_run, output_dir = Path(scored_run), Path(output_dir)
    results_file = scored_run / "report" / "results.json"
    if not results_file.is_file() or not (scored_run / "model" / "model.safetensors").is_file():
        raise ValueError(f"{scored_run} is not a scored run: it needs model/model.safetensors and "
                         "report/results.json (run run_demo.py, or run_curves.py, on the encoder first).")
    if dtype not in ("auto", "float32", "bfloat16"):
        raise ValueError(f"dtype must be 'auto', 'float32' or 'bfloat16', got {dtype!r}.")
    results = json.loads(results_file.read_text())
    source = scored_run / "model"
    model = ViT1DModel.from_pretrained(source)
    extractor = ViT1DFeatureExtractor.from_pretrained(source)
    fp32_bytes = 4 * sum(parameter.numel() for parameter in model.parameters())
    if dtype == "auto":
        dtype = "float32" if fp32_bytes <= MAX_FP32_BYTES else "bfloat16"
    output_dir.mkdir(parents=True, exist_ok=True)
    prepare_for_hub(model, extractor)
    model.to(getattr(torch, dtype)).save_pretrained(output_dir)
    extractor.save_pretrained(output_dir)
    recipe = json.loads((source / "training_recipe.json").read_text())
    for name in ("training_recipe.json", "training_arguments.json"):  # the recipe, and the run's exact arguments
        if (source / name).is_file():
            shutil.copyfile(source / name, output_dir / name)
    (output_dir / "claims.json").write_text(json.dumps(results["claims"], indent=1) + "\n")
    from .files import save_safetensors, share_safetensors

    share_safetensors(output_dir)  # save_pretrained's weights come out 0600 (safetensors 0.8): readable like the rest
    written = ViT1DModel.from_pretrained(output_dir)  # the outputs of what a user will load, not of what was in memory
    save_safetensors(reference_outputs(written, ViT1DFeatureExtractor.from_pretrained(output_dir)),
                     output_dir / REFERENCE_OUTPUTS,
                     metadata={"clip": f"vit1d.synthetic.synthetic_music({REFERENCE_CLIP_SECONDS}, "
                                       f"{extractor.sampling_rate}, seed={REFERENCE_CLIP_SEED})",
                               "weights_dtype": dtype})
    known = {field.name for field in fields(DemoArguments)}
    args = DemoArguments(**{key: value for key, value in results["arguments"].items() if key in known})
    if repo_id:
        args.hub_model_id = repo_id
    probes, analysis = results["probes"], results["analysis"]
    figures = figure_paths(analysis, scored_run / "report" / "figures")
    if curves is not None:
        curves = Path(curves)
        figures = {"Learning curves: loss, retrieval and every claim's effect with its 95 % band": curves, **figures}
        if curves.with_suffix(".json").is_file():
            shutil.copyfile(curves.with_suffix(".json"), output_dir / "curves.json")
    summary = summary or default_release_summary(recipe)
    if selection:
        (output_dir / "selection.json").write_text(json.dumps(selection, indent=1) + "\n")
        runs = len({row["curve"] for row in selection})
        summary += (f" It is the best of {len(selection)} scored points of {runs} seeded runs by the mean, over the "
                    "four probe tasks, of its validation score minus random initialisation's (`selection.json`); "
                    "the test split, which every number below comes from, played no part in the choice.")
    arguments = card_arguments(args, probes, analysis, report_texts(args, probes, analysis), figures)
    card = write_model_card(output_dir, model_summary="\n" + summary, **arguments)
    check_model_card(card, probes["trained"])
    return output_dir
