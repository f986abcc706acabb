"""Probing: the embedding cache, the linear probe, representations, and run_probe end to end on a rendered corpus."""

import json
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
import torch
from huggingface_hub import ModelCard, ModelCardData

import vit1d
from vit1d.corpus.render import write_corpus
from vit1d.loading import layer_sets
from vit1d.probing.extraction import EmbeddingCache, ExtractionSettings, TrackEmbeddings
from vit1d.probing.probe import ProbeConfig, train_probe
from vit1d.probing.runner import ProbeArguments, run_probe
from vit1d.probing.tables import eval_results
from vit1d.probing.tasks import Representation, token_features, window_features

TINY = dict(num_hidden_layers=2, hidden_size=32, intermediate_size=64, num_attention_heads=2)


@pytest.fixture(scope="module")
def corpus(tmp_path_factory):
    folder = tmp_path_factory.mktemp("probe_corpus")
    write_corpus(folder, pieces=20, seconds=12, seed=5)
    return folder


@pytest.fixture(scope="module")
def tiny_encoder(tmp_path_factory):
    folder = tmp_path_factory.mktemp("tiny_encoder")
    torch.manual_seed(0)
    vit1d.ViT1DModel(vit1d.ViT1DConfig(**TINY)).save_pretrained(folder)
    vit1d.ViT1DFeatureExtractor().save_pretrained(folder)
    return folder


def tone(seconds=9.0, frequency=440.0):
    t = np.arange(int(seconds * 16000)) / 16000
    return (0.3 * np.sin(2 * np.pi * frequency * t)).astype(np.float32)


# -- cache ----------------------------------------------------------------------------------------------------------


def test_cache_returns_identical_embeddings_and_is_keyed_by_settings_weights_and_audio(tmp_path):
    import soundfile as sf

    sf.write(tmp_path / "a.wav", tone(), 16000)
    model, extractor = vit1d.ViT1DModel(vit1d.ViT1DConfig(**TINY)).eval(), vit1d.ViT1DFeatureExtractor()
    settings = ExtractionSettings(sequence_tokens=True)
    cache = EmbeddingCache(tmp_path / "cache", model, extractor, settings, "tiny")
    first = cache.get(str(tmp_path / "a.wav"))
    second = EmbeddingCache(tmp_path / "cache", model, extractor, settings, "tiny").get(str(tmp_path / "a.wav"))
    for name, tensor in first.to_tensors().items():
        assert torch.equal(tensor, second.to_tensors()[name]), name
    assert cache.misses == 1 and first.class_tokens.shape == (3, 3, 32) and first.sequence_tokens.shape[1:] == (3, 32)

    other_settings = EmbeddingCache(tmp_path / "cache", model, extractor, ExtractionSettings(hop_seconds=2.0), "tiny")
    assert other_settings.folder != cache.folder and other_settings.get(str(tmp_path / "a.wav")).class_tokens.shape[0] == 4
    with torch.no_grad():
        next(model.parameters()).add_(0.1)  # the same folder retrained: new weights, new key
    assert EmbeddingCache(tmp_path / "cache", model, extractor, settings, "tiny").folder != cache.folder
    sf.write(tmp_path / "a.wav", tone(frequency=220.0), 16000)  # the file changed: a new audio key
    assert cache.path_of(str(tmp_path / "a.wav")).name != next(cache.folder.glob("*.safetensors")).name
    assert not list(cache.folder.glob("*.tmp"))


def test_representations_follow_the_paper():
    torch.manual_seed(0)
    track = TrackEmbeddings(class_tokens=torch.randn(2, 4, 3), sequence_means=torch.randn(2, 4, 3),
                            tokens_per_window=torch.tensor([126, 63]),
                            sequence_tokens=torch.randn(10, 4, 3).half(), token_times=torch.arange(10) / 31.25)
    assert torch.equal(window_features(track, Representation("class", (3,))), track.class_tokens[:, 3])
    stacked = window_features(track, Representation("sequence_mean", (1, 3)))
    assert torch.equal(stacked, torch.cat([track.sequence_means[:, 1], track.sequence_means[:, 3]], dim=1))
    average = window_features(track, Representation("average", (2,)))
    expected = (track.class_tokens[1, 2] + 63 * track.sequence_means[1, 2]) / 64
    torch.testing.assert_close(average[1], expected)
    assert token_features(track, Representation("sequence", (0, 2))).shape == (10, 6)
    with pytest.raises(ValueError, match="Unknown representation"):
        Representation("pooled", (1,))
    assert layer_sets("all", 12) == [(i,) for i in range(13)] and layer_sets("3,6,9,12", 12) == [(3, 6, 9, 12)]
    assert layer_sets("last", 12) == [(12,)]
    assert layer_sets("last;3,6,9,12", 12) == [(12,), (3, 6, 9, 12)]
    with pytest.raises(ValueError, match="0..12"):
        layer_sets("13", 12)


# -- the probe ------------------------------------------------------------------------------------------------------


def test_probe_reaches_a_linearly_separable_answer_and_is_reproducible():
    rng = np.random.default_rng(0)
    classes = rng.integers(0, 24, size=2000)
    centres = rng.standard_normal((24, 16)) * 3
    features = torch.from_numpy(centres[classes] + rng.standard_normal((2000, 16)) * 0.3).float()
    targets = torch.from_numpy(classes)
    config = ProbeConfig(max_steps=400, eval_every=50, seed=1)

    def accuracy(probe, rows=slice(1500, 2000)):
        return float((probe.predict(features[rows]).argmax(1) == targets[rows]).float().mean())

    probe, history = train_probe(features[:1500], targets[:1500], 24, config, validation_score=accuracy)
    assert accuracy(probe) > 0.99 and history.best_score == pytest.approx(accuracy(probe))
    again, _ = train_probe(features[:1500], targets[:1500], 24, config, validation_score=accuracy)
    assert torch.equal(probe.linear.weight, again.linear.weight)


def test_probe_stops_early_when_validation_stops_improving():
    features, targets = torch.randn(256, 4), torch.randint(0, 2, (256,))
    probe, history = train_probe(features, targets, 2, ProbeConfig(max_steps=1000, eval_every=10, patience=3),
                                 validation_score=lambda p: 0.5)  # never improves after the first check
    assert history.best_step == 10 and history.steps_run == 40


def test_multilabel_probe_learns_soft_targets():
    features = torch.randn(512, 8)
    targets = (features[:, :3] > 0).float()
    probe, _ = train_probe(features, targets, 3, ProbeConfig(objective="multilabel", max_steps=500, learning_rate=1e-2))
    assert ((probe.predict(features) > 0).float() == targets).float().mean() > 0.97


# -- end to end -----------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("task", ["tagging", "key", "beat", "chord"])
def test_run_probe_writes_a_complete_results_file(task, corpus, tiny_encoder, tmp_path):
    args = ProbeArguments(task=task, data=str(corpus), model_name_or_path=str(tiny_encoder),
                          output_dir=str(tmp_path / "out"), cache_dir=str(tmp_path / "cache"), layers="all",
                          representation="average", max_steps=60, eval_every=20, seed=0, probe_seeds="0,1",
                          bootstrap_resamples=400, reference_steps=40)
    results = run_probe(args)
    saved = json.loads((tmp_path / "out" / "probe_results.json").read_text())
    assert saved["model"] == str(tiny_encoder) and saved["seed"] == 0 and not saved["random_init"]
    assert [r["layers"] for r in saved["results"]] == [[0], [1], [2]]
    main_metric = {"tagging": "mAP", "key": "weighted_score", "beat": "F-measure", "chord": "frame_accuracy"}[task]
    num_test = saved["num_tracks"]["test"]
    assert len(saved["test_tracks"]) == num_test
    for record in saved["results"]:
        assert record["task"] == task and record["split"] == "test" and 0.0 <= record["metrics"][main_metric] <= 1.0
        assert record["representation"] == ("sequence" if task in ("beat", "chord") else "average")
        # Two probe seeds: the metric is their mean, with an interval over test tracks and seeds.
        assert record["seeds"] == [0, 1] and len(record["metrics_by_seed"]) == 2
        by_seed = [metrics[main_metric] for metrics in record["metrics_by_seed"]]
        assert record["metrics"][main_metric] == pytest.approx(np.mean(by_seed))
        interval = record["ci95"][main_metric]
        assert interval["low"] <= interval["value"] <= interval["high"]
        assert interval["value"] == pytest.approx(record["metrics"][main_metric], abs=1e-9)
        assert (interval["num_tracks"], interval["num_seeds"]) == (num_test, 2)
        if task != "tagging":  # a mean over tracks: the per-track scores behind it are saved
            per_track = np.array(record["per_track"][main_metric])
            assert per_track.shape == (2, num_test)
        if task == "beat":  # the activations are also decoded by the tempo-regular decoder, with intervals
            for name in ("F-measure", "Correct Metric Level Total", "Any Metric Level Total"):
                assert 0.0 <= record["metrics"][f"tempo_regular:{name}"] <= 1.0
                assert np.array(record["per_track"][f"tempo_regular:{name}"]).shape == (2, num_test)
                assert f"tempo_regular:{name}" in record["ci95"]
    assert saved["timings"]["cache_misses"] == sum(saved["num_tracks"].values())
    # The floors, scored on the same test tracks: chance predictors and (but for tagging) the classical method.
    floors = {record["representation"]: record for record in saved["floors"]}
    expected = {"tagging": ["chance: random"], "key": ["chance: majority", "chance: uniform", "classical"],
                "beat": ["chance: metronome", "classical"], "chord": ["chance: majority", "classical"]}[task]
    expected += ["floor: log-mel frames", "floor: layer 0"]  # the same probe on the input and on the embeddings
    if task in ("beat", "chord"):  # the headroom check's contextual reference, and the check per stratum
        expected.append("reference: contextual")
        strata = {row_stratum for row_stratum in saved["test_strata"]}
        assert set(saved["headroom"]) == strata and all(
            check["gap"] == pytest.approx(check["contextual"] - check["frame_floor"])
            for check in saved["headroom"].values())
    else:
        assert saved["headroom"] == {}
    assert sorted(name.split(" (")[0].split(": spectral")[0].split(": chroma")[0].split(": Krumhansl")[0]
                  for name in floors) == sorted(expected)
    for name in ("floor: log-mel frames", "floor: layer 0 (embeddings)"):
        assert floors[name]["seeds"] == [0, 1] and main_metric in floors[name]["ci95"]
    layer_zero = next(record for record in saved["results"] if record["layers"] == [0])
    assert floors["floor: layer 0 (embeddings)"]["metrics"] == layer_zero["metrics"]  # the same probe, same seeds
    for name, floor in floors.items():
        assert 0.0 <= floor["metrics"][main_metric] <= 1.0, name
        if task != "tagging":
            assert np.atleast_2d(floor["per_track"][main_metric]).shape[1] == num_test  # (seeds, tracks) or (tracks,)
            assert floor["ci95"][main_metric]["low"] <= floor["metrics"][main_metric] <= floor["ci95"][main_metric][
                "high"] + 1e-12
    table = (tmp_path / "out" / "probe_results.md").read_text()
    assert table.count("\n| ") == 4 + len(floors) + (1 + len(saved["headroom"]) if saved["headroom"] else 0)
    assert all(f"| {name} | {'0' if 'layer 0' in name else '-'} |" in table for name in floors)
    low = saved["results"][0]["ci95"][main_metric]["low"]
    assert f"[{low:.3f}, " in table and "mean over 2 probe seed(s)" in table
    # A second run reuses every embedding and repeats the numbers exactly.
    again = run_probe(args)
    assert again["timings"]["cache_misses"] == 0
    assert [r["metrics"] for r in again["results"]] == [r["metrics"] for r in results["results"]]
    # Another model on the same data and settings reuses the floors that do not depend on the model and probes its
    # own layer 0 (a random initialisation: other embeddings, so another layer-0 floor).
    other = run_probe(replace(args, output_dir=str(tmp_path / "other"), random_init=True, seed=5,
                              reuse_floors=str(tmp_path / "out" / "probe_results.json")))
    reused = {record["representation"]: record for record in other["floors"]}
    assert list(reused) == list(floors)  # same floors, same order
    own_layer_zero = next(record for record in other["results"] if record["layers"] == [0])
    assert reused["floor: layer 0 (embeddings)"]["metrics"] == own_layer_zero["metrics"]
    assert own_layer_zero["metrics"] != layer_zero["metrics"]
    for name in floors:
        if name != "floor: layer 0 (embeddings)":
            assert reused[name] == floors[name], name
    assert other["headroom"] == saved["headroom"]
    with pytest.raises(ValueError, match="probe settings"):
        run_probe(replace(args, output_dir=str(tmp_path / "bad"), max_steps=40,
                          reuse_floors=str(tmp_path / "out" / "probe_results.json")))


def test_random_init_flag_and_model_index(corpus, tiny_encoder, tmp_path):
    args = ProbeArguments(task="key", data=str(corpus), model_name_or_path=str(tiny_encoder), random_init=True,
                          output_dir=str(tmp_path / "out"), cache_dir=str(tmp_path / "cache"), layers="2",
                          max_steps=40, eval_every=20)
    results = run_probe(args)
    assert results["random_init"] and results["model"].startswith("random-init")
    card_data = ModelCardData(model_name="vit1d-test", eval_results=eval_results(results, "vit1d built-in corpus"))
    card = ModelCard.from_template(card_data, template_path=str(Path(vit1d.__file__).with_name("model_card.md")))
    index = ModelCard(str(card)).data.to_dict()["model-index"][0]["results"]
    values = {m["type"]: m["value"] for r in index for m in r["metrics"]}
    assert values["weighted_score"] == pytest.approx(results["results"][0]["metrics"]["weighted_score"])


def test_a_folder_of_csv_manifests_with_lab_and_beat_files(corpus, tiny_encoder, tmp_path):
    """The user schema: one manifest per split, audio paths and annotation files relative to the folder."""
    import csv
    import shutil

    from vit1d.probing.labels import write_lab

    folder = tmp_path / "mine"
    for split in ("train", "validation", "test"):
        rows = [json.loads(line) for line in (corpus / split / "metadata.jsonl").read_text().splitlines()]
        (folder / split).mkdir(parents=True)
        with open(folder / f"{split}.csv", "w", newline="") as handle:
            writer = csv.DictWriter(handle, fieldnames=["audio", "key", "beats", "chords"])
            writer.writeheader()
            for index, row in enumerate(rows):
                shutil.copy(corpus / row["audio_path"], folder / split / f"{index}.flac")
                write_lab(folder / split / f"{index}.lab", np.asarray(row["chord_intervals"]), row["chord_labels"])
                (folder / split / f"{index}.beats").write_text("".join(f"{t:.4f}\t1\n" for t in row["beats"]))
                writer.writerow({"audio": f"{split}/{index}.flac", "key": row["key"].lower(),
                                 "beats": f"{split}/{index}.beats", "chords": f"{split}/{index}.lab"})
    for task in ("key", "chord"):
        args = ProbeArguments(task=task, data=str(folder), model_name_or_path=str(tiny_encoder),
                              output_dir=str(tmp_path / task), cache_dir=str(tmp_path / "cache"), max_steps=40,
                              eval_every=20, probe_seeds="0", reference_steps=40)
        results = run_probe(args)
        assert results["num_tracks"]["test"] == len((corpus / "test" / "metadata.jsonl").read_text().splitlines())
        assert 0.0 <= results["results"][0]["metrics"][{"key": "accuracy", "chord": "majmin"}[task]] <= 1.0


def test_log_mel_embeddings_lay_the_frames_out_as_one_layer():
    from vit1d.probing.extraction import log_mel_embeddings

    extractor = vit1d.ViT1DFeatureExtractor()
    waveform = tone(9.0)
    frames = extractor(waveform, sampling_rate=16000, return_tensors="pt")["input_values"][0]
    track = log_mel_embeddings(extractor, waveform, ExtractionSettings(sequence_tokens=True))
    assert track.sequence_tokens.shape == (len(frames), 1, 128) and len(track.token_times) == len(frames)
    torch.testing.assert_close(track.sequence_tokens[:, 0].float(), frames.half().float())
    # Windows of 4 s (125 tokens apart, 126 frames long): each summary is the mean of its frames.
    assert track.class_tokens.shape == (3, 1, 128) and track.tokens_per_window.tolist()[:2] == [126, 126]
    torch.testing.assert_close(track.class_tokens[1, 0], frames[125:251].mean(0))
    global_only = log_mel_embeddings(extractor, waveform, ExtractionSettings())
    assert global_only.sequence_tokens is None and torch.equal(global_only.sequence_means, track.sequence_means)


def test_several_representations_in_one_run_and_the_test_strata(corpus, tiny_encoder, tmp_path):
    args = ProbeArguments(task="tagging", data=str(corpus), model_name_or_path=str(tiny_encoder),
                          output_dir=str(tmp_path / "out"), cache_dir=str(tmp_path / "cache"), layers="1;2",
                          representation="class,average", max_steps=20, eval_every=10, probe_seeds="0,1",
                          bootstrap_resamples=200, floors=False)
    results = run_probe(args)
    assert [(r["representation"], r["layers"]) for r in results["results"]] == [
        ("class", [1]), ("class", [2]), ("average", [1]), ("average", [2])]
    saved = json.loads((tmp_path / "out" / "probe_results.json").read_text())
    rows = [json.loads(line) for line in (corpus / "test" / "metadata.jsonl").read_text().splitlines()]
    assert saved["test_strata"] == [row["stratum"] for row in rows] and saved["floors"] == []
    # Tagging keeps what its mAP is computed from: per seed, the (tracks, tags) scores, and the targets.
    scores = np.array(saved["results"][0]["track_scores"]["scores"])
    assert scores.shape[:2] == (2, len(rows)) and np.array(saved["results"][0]["track_scores"]["targets"]).shape == \
        scores.shape[1:]
    with pytest.raises(ValueError, match="Unknown representation"):
        ProbeArguments(task="key", representation="class,cls")


def test_run_probe_probes_an_exported_graph(corpus, tiny_encoder, tmp_path):
    from vit1d.export import export_folder, flat_layers
    from vit1d.loading import load_encoder

    model, extractor, name = load_encoder(str(tiny_encoder))
    export_folder(model, extractor, tmp_path / "onnx", name, flat_layers("all", model.config.num_hidden_layers),
                  quantize="int8")
    args = ProbeArguments(task="key", data=str(corpus), model_name_or_path=str(tiny_encoder),
                          output_dir=str(tmp_path / "torch"), cache_dir=str(tmp_path / "cache"), layers="last",
                          max_steps=60, eval_every=20, probe_seeds="0", bootstrap_resamples=200, floors=False)
    torch_run = run_probe(args)
    onnx_args = replace(args, model_name_or_path=None, onnx_dir=str(tmp_path / "onnx"))
    for int8 in (False, True):
        run = run_probe(replace(onnx_args, int8=int8, output_dir=str(tmp_path / f"onnx-{int8}")))
        assert "ONNX" in run["model"] and run["timings"]["cache_misses"] > 0  # its own cache entries
        difference = run["results"][0]["metrics"]["weighted_score"] - torch_run["results"][0]["metrics"][
            "weighted_score"]
        assert abs(difference) < (0.1 if int8 else 1e-3)
    with pytest.raises(ValueError, match="--onnx_dir"):
        run_probe(replace(args, int8=True))
