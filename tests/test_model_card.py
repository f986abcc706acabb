"""The model card filled from a run: config, feature extractor, training recipe, probe results (tables and
`model-index`), figures and analysis; and the offline Hub-style check of a card."""

import json

import numpy as np
import pytest
from conftest import tiny_config
from huggingface_hub import ModelCard

import vit1d
from vit1d.hub import check_model_card, model_card, write_model_card
from vit1d.probing.tables import comparison_table


def probe_results(task, representation, values_per_layer, model="outputs/demo/model", random_init=False):
    """The shape `run_probe` writes: one record per probed layer set."""
    return {
        "model": model, "revision": None, "random_init": random_init, "seed": 0,
        "num_tracks": {"train": 8, "validation": 2, "test": 2},
        "results": [{"task": task, "dataset": "data/demo_corpus", "split": "test", "representation": representation,
                     "layers": list(layers), "metrics": metrics, "validation": {}, "best_step": 100,
                     "steps_run": 200, "probe_seconds": 1.0} for layers, metrics in values_per_layer.items()],
    }


@pytest.fixture
def trained_and_random():
    trained = [
        probe_results("tagging", "average", {(3,): {"mAP": 0.41, "ROC-AUC": 0.8, "num_tags_scored": 12},
                                             (12,): {"mAP": 0.4375, "ROC-AUC": 0.875}}),
        probe_results("key", "class", {(12,): {"accuracy": 0.5, "weighted_score": 0.61, "fifth": 0.1}}),
        probe_results("beat", "sequence", {(3, 6, 9, 12): {"F-measure": 0.7123456789, "Cemgil": 0.6}}),
        probe_results("chord", "sequence", {(3,): {"frame_accuracy": 0.25, "majmin": 0.3, "root": 0.4}}),
    ]
    random = [probe_results(r["results"][0]["task"], r["results"][0]["representation"],
                            {tuple(rec["layers"]): {k: v / 2 for k, v in rec["metrics"].items()}
                             for rec in r["results"]}, model="random-init", random_init=True) for r in trained]
    return trained, random


def test_comparison_table_puts_the_baseline_next_to_each_number(trained_and_random):
    trained, random = trained_and_random
    table = comparison_table(trained, random)
    assert "**tagging** (this model / random initialisation)" in table
    assert "| average | 3 | 0.410 / 0.205 | 0.800 / 0.400 |" in table
    assert "| sequence | 3,6,9,12 | 0.712 / 0.356 | n/a / n/a | n/a / n/a | n/a / n/a | n/a / n/a | n/a / n/a |" in table
    alone = comparison_table(trained)
    assert "/" not in alone.replace("n/a", "") and "| class | 12 | 0.500 | 0.610 |" in alone


def test_card_model_index_equals_the_probe_results_after_a_round_trip(trained_and_random):
    trained, random = trained_and_random
    model = vit1d.ViT1DModel(tiny_config())
    card = model_card(model, vit1d.ViT1DFeatureExtractor(feature_size=16), repo_id="org/vit1d-tiny",
                      probe_results=trained, baseline_probe_results=random, dataset_name="vit1d built-in corpus",
                      training_recipe={"steps": 10}, analysis="Layer 3 attends to onsets.",
                      figures={"Attention maps": "figures/attention.png"})
    loaded = ModelCard(str(card))
    check_model_card(loaded, trained)  # raises on any difference
    results = loaded.data.eval_results
    by_task = {}
    for result in results:
        by_task.setdefault(result.task_name, {})[result.metric_name] = result.metric_value
    # Key and tagging share a task type, beat and chord too: they must stay apart when the Hub groups results.
    assert set(by_task) == {"tagging", "key", "beat", "chord"}
    assert by_task["beat"]["F-measure (sequence, layers 3,6,9,12)"] == 0.7123456789
    assert by_task["tagging"]["mAP (average, layers 12)"] == 0.4375
    assert not any("num_tags_scored" in name for metrics in by_task.values() for name in metrics)
    # Random-init numbers are shown in the table, never claimed in model-index.
    assert 0.21875 not in [result.metric_value for result in results]
    text = str(card)
    assert "0.438 / 0.219" in text and "![Attention maps](figures/attention.png)" in text
    assert "Layer 3 attends to onsets." in text and "| steps | 10 |" in text
    assert f"transformers {__import__('transformers').__version__}" in text
    assert "{{" not in text


def test_check_model_card_names_every_problem(trained_and_random):
    trained, _ = trained_and_random
    card = model_card(vit1d.ViT1DModel(tiny_config()), vit1d.ViT1DFeatureExtractor(feature_size=16),
                      probe_results=trained)
    tampered = str(card).replace("value: 0.7123456789", "value: 0.75").replace("- custom_code\n", "")
    with pytest.raises(ValueError) as error:
        check_model_card(tampered, trained)
    message = str(error.value)
    assert "custom_code" in message
    assert "F-measure (sequence, layers 3,6,9,12) is 0.75, the probe results say 0.7123456789" in message
    extra = [*trained, probe_results("key", "class", {(6,): {"accuracy": 0.2}})]
    with pytest.raises(ValueError, match=r"model-index lacks accuracy \(class, layers 6\) \(key\)"):
        check_model_card(card, extra)


def test_write_model_card_fills_a_saved_folder(trained_and_random, tmp_path, restore_auto_classes):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    trained, random = trained_and_random
    folder = tmp_path / "model"
    model, extractor = vit1d.ViT1DModel(tiny_config()), vit1d.ViT1DFeatureExtractor(feature_size=16)
    vit1d.prepare_for_hub(model, extractor)
    model.save_pretrained(folder)
    extractor.save_pretrained(folder)
    (folder / "training_recipe.json").write_text(json.dumps({"objective": "NT-Xent", "steps": 3}))
    figure = tmp_path / "elsewhere" / "ssm.png"
    figure.parent.mkdir()
    plt.imsave(figure, np.random.default_rng(0).random((8, 8)))
    paths = []
    for index, results in enumerate(trained):
        paths.append(tmp_path / f"probe{index}.json")
        paths[-1].write_text(json.dumps(results))
    write_model_card(folder, repo_id="org/vit1d-tiny", probe_results=paths, baseline_probe_results=random,
                     figures={"Self-similarity": figure})
    assert (folder / "figures" / "ssm.png").read_bytes() == figure.read_bytes()
    card = ModelCard.load(folder / "README.md")
    check_model_card(card, paths)  # paths or loaded contents
    assert card.data.model_name == "vit1d-tiny"
    assert "| objective | NT-Xent |" in card.text and "![Self-similarity](figures/ssm.png)" in card.text
    assert 'AutoModel.from_pretrained("org/vit1d-tiny", trust_remote_code=True' in card.text
    # Its pipeline_tag names what the encoder does; the card says that transformers' pipeline cannot serve it and how
    # to embed instead.
    assert card.data.pipeline_tag == "feature-extraction" and "cannot serve this folder" in card.text
    assert "vit1d.embed_long_audio(model, extractor" in card.text
    assert "num_parameters" not in card.text and f"{model.num_parameters():,}" in card.text
