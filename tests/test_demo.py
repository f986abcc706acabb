"""The one-command demo, scaled down: corpus, pretraining, probes of the four tasks for the trained and the random
encoder, analyses, report folder and a model card ready to push."""

import json

import numpy as np
import pytest
import torch
from huggingface_hub import ModelCard

import vit1d
from vit1d.demo import DemoArguments, run_demo
from vit1d.hub import check_model_card

SMALL = dict(corpus_pieces=12, corpus_seconds=10.0, pretraining_steps=4, batch_size=4,
             config_overrides="num_hidden_layers=4,hidden_size=64,num_attention_heads=2,intermediate_size=128",
             probe_layers="2;4;2,4", probe_max_steps=40, probe_eval_every=20, analysis_tracks=2, analysis_layers="2,4",
             random_init_seeds="1,2", probe_seeds="0,1", reference_steps=40)


@pytest.fixture(scope="module")
def demo(tmp_path_factory):
    root = tmp_path_factory.mktemp("demo")
    args = DemoArguments(output_dir=str(root / "out"), corpus_dir=str(root / "corpus"),
                         cache_dir=str(root / "cache"), hub_model_id="test-org/vit1d-demo", **SMALL)
    return args, run_demo(args)


def _not_blank(path):
    import matplotlib.image

    image = matplotlib.image.imread(path)
    assert image.shape[0] >= 200 and image.shape[1] >= 200, path
    assert float(image[..., :3].std()) > 0.02, f"{path} is blank"


@pytest.mark.slow
def test_demo_writes_the_report_with_every_task_and_both_models(demo):
    args, report = demo
    readme = (report / "README.md").read_text()
    for task in ("tagging", "key", "beat", "chord"):
        assert f"**{task}** (this model / random initialisation)" in readme
    assert "| sequence | 2,4 |" in readme  # the stacked layers
    assert "### Onsets read from attention" in readme and "### Self-similarity" in readme
    results = json.loads((report / "results.json").read_text())
    assert [r["results"][0]["task"] for r in results["probes"]["trained"]] == ["tagging", "key", "beat", "chord"]
    assert all(r["random_init"] for r in results["probes"]["random"])
    assert not any(r["random_init"] for r in results["probes"]["trained"])
    assert results["training"]["steps"] == 4
    # The report leads with the claims: each with its verdict; the random arm pools both initialisations.
    assert readme.index("## Claims") < readme.index("## Probes")
    verdicts = {claim["claim"]: claim for claim in json.loads((report / "claims.json").read_text())}
    assert {"C1", "C2", "C2 (easy)", "C3", "C5", "C2 (vs step 0)", "C3 (vs step 0)"} <= set(verdicts)
    # The pretraining run's own step-0 weights are probed too (the paired baseline), without floors of their own.
    assert sorted(results["probes"]["initial"]) == ["beat", "chord", "key", "tagging"]
    assert all(r["floors"] == [] and not r["random_init"] for r in results["probes"]["initial"].values())
    # Floors per stratum, before the probe tables: every arm of the per-track tasks, with intervals.
    assert readme.index("## Claims") < readme.index("## Floors and headroom per stratum") < readme.index("## Probes")
    rows = {(row["task"], row["stratum"]): row for row in results["strata"]}
    assert {task for task, _ in rows} == {"key", "beat", "chord"}
    beat = next(row for (task, _), row in rows.items() if task == "beat" and row["num_tracks"] >= 2)
    assert {"chance (best)", "classical", "log-mel frames", "layer 0", "random init", "step 0", "trained",
            "contextual reference"} <= set(beat["arms"])
    assert all(entry["low"] <= entry["value"] <= entry["high"] for entry in beat["arms"].values())
    assert "| stratum | tracks | chance (best) |" in readme
    assert "too few to resolve differences" in readme and "`make evidence`" in readme  # a short run says so
    assert all(claim["verdict"] in ("supported", "refuted", "inconclusive") for claim in verdicts.values())
    assert results["claims"] == list(verdicts.values())
    assert {task: len(runs) for task, runs in results["probes"]["random_seeds"].items()} == {
        "tagging": 2, "key": 2, "beat": 2, "chord": 2}
    # This tiny corpus has one or two test tracks per split and no stack of layers 3, 6, 9, 12: no claim is decided,
    # each says why it cannot be tested (fewer tracks than a bootstrap needs, or no arms); claims on constructed
    # results: tests/test_claims.py.
    for claim in verdicts.values():
        assert claim["verdict"] == "inconclusive" and claim["reason"].startswith("not testable here: "), claim
    assert any("fewer than the 10 a bootstrap interval needs" in claim["reason"] for claim in verdicts.values())
    # The floors are rows of the probe tables.
    assert "| floor: log-mel frames | - |" in readme and "| chance: majority | - |" in readme
    # The stages before the report, which is writing this file.
    assert [stage["name"] for stage in results["stages"]] == [
        "render corpus", "pretraining", "probing (trained and random)", "analysis"]
    figures = sorted(path.name for path in (report / "figures").iterdir())
    assert figures == ["attention_maps.png", "onset_curves.png", "probe_curves.png", "ssm_random_init.png",
                       "ssm_trained.png"]
    for name in figures:
        _not_blank(report / "figures" / name)
        assert f"](figures/{name})" in readme


@pytest.mark.slow
def test_demo_model_folder_is_ready_to_push(demo, restore_auto_classes):
    args, report = demo
    folder = report.parent / "model"
    card = ModelCard.load(folder / "README.md")
    trained = json.loads((report / "results.json").read_text())["probes"]["trained"]
    check_model_card(card, trained)  # model-index == the probe results, Hub metadata present
    assert 'AutoModel.from_pretrained("test-org/vit1d-demo", trust_remote_code=True' in card.text
    for name in ("probe_curves.png", "attention_maps.png", "ssm_trained.png"):
        assert (folder / "figures" / name).is_file() and f"](figures/{name})" in card.text
    assert "### Onsets read from attention" in card.text and "| steps | 4 |" in card.text
    assert json.loads((folder / "config.json").read_text())["auto_map"]["AutoModel"] == "modeling_vit1d.ViT1DModel"
    model = vit1d.ViT1DModel.from_pretrained(folder)
    assert model.config.num_hidden_layers == 4


@pytest.mark.slow
def test_demo_rerun_reuses_every_finished_stage(demo):
    args, report = demo
    before = json.loads((report / "results.json").read_text())
    run_demo(args)
    after = json.loads((report / "results.json").read_text())
    assert [stage["reused"] for stage in after["stages"]] == [True, True, True, True]
    assert after["probes"] == before["probes"]
    np.testing.assert_equal(after["analysis"]["best_onsets"], before["analysis"]["best_onsets"])


@pytest.mark.slow
def test_demo_push_to_hub_uploads_the_model_folder_with_its_card(demo, tmp_path):
    """`run_demo.py --push_to_hub` on a finished demo: every stage reused, then the encoder folder, its card and
    figures uploaded (to the loopback test Hub), and the uploaded card's model-index equals the probe results."""
    import subprocess
    import sys
    from pathlib import Path

    from hub_test_server import HubTestServer
    from test_hub import REPO_ROOT, hub_env, load_card

    args, report = demo
    argv = [f"--{name}={value}" for name, value in {**SMALL, "output_dir": args.output_dir,
                                                    "corpus_dir": args.corpus_dir, "cache_dir": args.cache_dir}.items()]
    with HubTestServer() as hub:
        env = {**hub_env(hub, tmp_path), "PYTHONPATH": str(REPO_ROOT)}
        done = subprocess.run([sys.executable, str(REPO_ROOT / "run_demo.py"), *argv, "--push_to_hub",
                               "--hub_model_id", "test-org/vit1d-demo"], env=env, cwd=tmp_path, capture_output=True,
                              text=True, timeout=600)
        assert done.returncode == 0, done.stderr[-4000:]
        remote = hub.files("test-org/vit1d-demo")
        card = load_card(hub, "test-org/vit1d-demo", tmp_path)
        assert hub.unhandled == []
    local = Path(args.output_dir) / "model"
    for name in ("model.safetensors", "config.json", "preprocessor_config.json", "modeling_vit1d.py", "README.md",
                 "training_recipe.json", "figures/probe_curves.png", "figures/ssm_trained.png"):
        assert remote[name] == (local / name).read_bytes(), name
    assert not [name for name in remote if name.startswith(("checkpoints/", "runs/"))]
    results = json.loads((report / "results.json").read_text())
    assert [stage["reused"] for stage in results["stages"]] == [True, True, True, True]
    check_model_card(card["content"], results["probes"]["trained"])


def test_a_random_seed_equal_to_the_pretraining_seed_is_warned_about(caplog, tmp_path):
    """The random initialisation of the pretraining seed is the run's own step-0 weights, not an independent draw."""
    import logging

    from transformers import set_seed

    from vit1d.demo import check_seeds

    set_seed(0)
    pretraining_start = vit1d.ViT1DModel(vit1d.ViT1DConfig(num_hidden_layers=1))
    torch.manual_seed(0)  # what run_probe does for --random_init --seed 0
    random_zero = vit1d.ViT1DModel(vit1d.ViT1DConfig(num_hidden_layers=1))
    assert all(torch.equal(a, b) for a, b in zip(pretraining_start.state_dict().values(),
                                                 random_zero.state_dict().values()))
    with caplog.at_level(logging.WARNING, logger="vit1d.demo"):
        check_seeds(DemoArguments(seed=0, random_init_seeds="1,2,3"))
        assert not caplog.records
        check_seeds(DemoArguments(seed=0, random_init_seeds="0,1,2"))
    assert "own step-0 weights" in caplog.text


RELEASED_REMOTE_SCRIPT = """
import importlib.abc, json, sys

class RefuseVit1d(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path=None, target=None):
        if name == "vit1d" or name.startswith("vit1d."):
            raise ImportError("vit1d must not be imported by the remote-code test")

sys.meta_path.insert(0, RefuseVit1d())
import numpy as np, torch
from safetensors.torch import load_file
from transformers import AutoFeatureExtractor, AutoModel

folder, clip = sys.argv[1], np.load(sys.argv[2])
model = AutoModel.from_pretrained(folder, trust_remote_code=True).float().eval()
extractor = AutoFeatureExtractor.from_pretrained(folder, trust_remote_code=True)
with torch.no_grad():
    outputs = model(**extractor(clip, sampling_rate=16000, return_tensors="pt"))
stored = load_file(f"{folder}/reference_outputs.safetensors")
print(json.dumps({"class": type(model).__module__, "difference": max(
    float((outputs.last_hidden_state[0] - stored["last_hidden_state"]).abs().max()),
    float((outputs.pooler_output[0] - stored["pooler_output"]).abs().max()))}))
"""


def load_through_remote_code(folder, tmp_path) -> dict:
    """Load a released folder with trust_remote_code in a process that refuses `import vit1d` and compare its outputs
    on `synthetic_music(4 s, seed 0)` with the stored reference: `{"class": module, "difference": max abs}`."""
    import os
    import subprocess
    import sys

    from vit1d.synthetic import synthetic_music

    clip = tmp_path / "clip.npy"
    np.save(clip, synthetic_music(4.0, 16000, seed=0))
    (tmp_path / "remote.py").write_text(RELEASED_REMOTE_SCRIPT)
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    env.update(HF_MODULES_CACHE=str(tmp_path / "modules"), HF_HUB_OFFLINE="1", TRANSFORMERS_VERBOSITY="error")
    done = subprocess.run([sys.executable, str(tmp_path / "remote.py"), str(folder), str(clip)], cwd=tmp_path,
                          env=env, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    return json.loads(done.stdout.strip().splitlines()[-1])


@pytest.mark.slow
def test_a_released_checkpoint_loads_every_way_and_reproduces_its_stored_outputs(demo, tmp_path,
                                                                                  restore_auto_classes):

    import matplotlib.pyplot as plt
    from safetensors import safe_open
    from safetensors.torch import load_file, save_file
    from transformers import AutoModel

    from vit1d.hub import REFERENCE_OUTPUTS, check_reference_outputs, release_checkpoint

    args, report = demo
    curves = tmp_path / "curves.png"
    plt.figure(figsize=(3, 3)).gca().plot([0, 1], [1, 0])
    plt.savefig(curves)
    plt.close("all")
    curves.with_suffix(".json").write_text('{"points": [4]}')
    folder = release_checkpoint(report.parent, tmp_path / "release", curves=curves, repo_id="test-org/vit1d-tiny")

    names = {path.name for path in folder.iterdir()}
    assert {"model.safetensors", "config.json", "preprocessor_config.json", "configuration_vit1d.py",
            "modeling_vit1d.py", "feature_extraction_vit1d.py", "training_recipe.json", "claims.json",
            "curves.json", REFERENCE_OUTPUTS, "README.md", "figures"} <= names
    assert not names & {"initial_encoder", "checkpoints", "encoders", "logs.jsonl"}
    assert not list(folder.glob("*.bin")) and not list(folder.glob("*.pt"))  # nothing a load would unpickle
    from vit1d.files import default_file_mode  # weights readable like every other file (not safetensors' 0600)

    assert {path.stat().st_mode & 0o777 for path in folder.glob("*.safetensors")} == {default_file_mode()}
    with safe_open(folder / "model.safetensors", "pt") as weights:  # small: float32 (the 25 MB rule)
        assert {weights.get_tensor(key).dtype for key in weights.keys()} == {torch.float32}
    assert json.loads((folder / "claims.json").read_text()) == json.loads((report / "results.json").read_text())[
        "claims"]

    # Through the Auto classes (vit1d imported) and through remote code alone, the stored outputs come back.
    model = AutoModel.from_pretrained(folder)
    assert type(model) is vit1d.ViT1DModel and check_reference_outputs(folder, model) < 1e-5
    remote = load_through_remote_code(folder, tmp_path)
    assert not remote["class"].startswith("vit1d") and remote["difference"] < 1e-5

    # The card says what the checkpoint is and is not, carries the run's claims and the learning curves.
    card = ModelCard.load(folder / "README.md")
    assert "**What this checkpoint is:**" in card.text and "the paper's model" in card.text
    assert "**Claims**" in card.text and "| steps | 4 |" in card.text
    assert "](figures/curves.png)" in card.text and (folder / "figures" / "curves.png").is_file()
    assert 'AutoModel.from_pretrained("test-org/vit1d-tiny", trust_remote_code=True' in card.text

    # The demo probes the released checkpoint beside its own encoder (every other stage reused) and reports it.
    from dataclasses import replace

    rerun = run_demo(replace(args, released_model=str(folder)))
    released = json.loads((rerun / "results.json").read_text())["probes"]["released"]
    assert [r["results"][0]["task"] for r in released] == ["tagging", "key", "beat", "chord"]
    assert {r["model"] for r in released} == {str(folder)}
    assert "## The released checkpoint" in (rerun / "README.md").read_text()

    # A tampered reference (or other weights) is caught, naming what differs.
    stored = load_file(folder / REFERENCE_OUTPUTS)
    save_file({**stored, "pooler_output": stored["pooler_output"] + 1e-2}, str(folder / REFERENCE_OUTPUTS))
    with pytest.raises(ValueError, match="pooler_output differs from the stored reference"):
        check_reference_outputs(folder)

    # Forced bf16 weights, through the CLI choosing on validation among learning-curve points (here one: the demo's
    # run as step 4 of a curve): the stored reference is the bf16 model's, so a load reproduces it too.
    import run_release

    (tmp_path / "curve").mkdir()
    (tmp_path / "curve" / "step-00000004").symlink_to(report.parent.resolve())
    half = run_release.main(["--select_from", str(tmp_path / "curve"), "--output_dir", str(tmp_path / "bf16"),
                             "--dtype", "bfloat16"])
    with safe_open(half / "model.safetensors", "pt") as weights:
        assert {weights.get_tensor(key).dtype for key in weights.keys()} == {torch.bfloat16}
    assert check_reference_outputs(half) < 1e-5
    selection = json.loads((half / "selection.json").read_text())
    assert [row["step"] for row in selection] == [4] and set(selection[0]["validation"]) == {
        "tagging", "key", "beat", "chord"}
    assert "best of 1 scored points of 1 seeded runs" in (half / "README.md").read_text()
    with pytest.raises(ValueError, match="either --scored_run"):
        run_release.main(["--output_dir", str(tmp_path / "neither")])
    with pytest.raises(ValueError, match="not a scored run"):
        release_checkpoint(tmp_path, tmp_path / "nothing")
