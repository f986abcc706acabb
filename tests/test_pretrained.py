"""The released checkpoint committed in `pretrained/`: its files, its card, and its outputs on a fixed clip through
`AutoModel`, through remote code alone, through `embed_long_audio` and through the loader of `run_probe.py` and
`run_analysis.py` (the demo probes it whole: tests/test_demo.py releases and probes a checkpoint the same way)."""

import json
from pathlib import Path

import pytest
import torch
from safetensors import safe_open
from test_demo import load_through_remote_code

import vit1d
from vit1d.hub import REFERENCE_OUTPUTS, check_reference_outputs
from vit1d.synthetic import synthetic_music

RELEASES = sorted(path.parent for path in (Path(__file__).parents[1] / "pretrained").glob("*/config.json"))


@pytest.fixture(scope="module")
def released() -> Path:
    assert len(RELEASES) == 1, f"pretrained/ should hold one released checkpoint, found {RELEASES}"
    return RELEASES[0]


def test_the_release_is_complete_and_safe(released):
    names = {path.name for path in released.iterdir()}
    assert {"model.safetensors", "config.json", "preprocessor_config.json", "configuration_vit1d.py",
            "modeling_vit1d.py", "feature_extraction_vit1d.py", "training_recipe.json", "training_arguments.json",
            "claims.json", "curves.json", "selection.json", REFERENCE_OUTPUTS, "README.md", "figures"} <= names
    assert not list(released.rglob("*.bin")) and not list(released.rglob("*.pt")) and not list(released.rglob("*.pkl"))
    with safe_open(released / "model.safetensors", "pt") as weights:  # under 25 MB in float32: kept float32
        assert {weights.get_tensor(key).dtype for key in weights.keys()} == {torch.float32}
    assert (released / "model.safetensors").stat().st_size < 25 * 2**20
    # The card says what it is and is not, how it was chosen, and carries the claims and the curves.
    card = (released / "README.md").read_text()
    assert "**What this checkpoint is:**" in card and "the paper's model" in card
    assert "validation" in card and "selection.json" in card
    assert "](figures/curves.png)" in card and (released / "figures" / "curves.png").is_file()
    claims = json.loads((released / "claims.json").read_text())
    assert {"C2", "C3", "C4"} <= {claim["claim"] for claim in claims}
    for claim in claims:
        assert claim["verdict"] in ("supported", "refuted", "inconclusive")
    recipe = json.loads((released / "training_recipe.json").read_text())
    arguments = json.loads((released / "training_arguments.json").read_text())
    assert recipe["steps"] == arguments["max_steps"]


def test_the_release_loads_through_automodel_and_reproduces_its_outputs(released):
    from transformers import AutoFeatureExtractor, AutoModel

    model = AutoModel.from_pretrained(released)
    assert type(model) is vit1d.ViT1DModel and not model.training
    assert check_reference_outputs(released, model) < 1e-4
    extractor = AutoFeatureExtractor.from_pretrained(released)
    # A whole track with timestamps and layers 3, 6, 9, 12 (the README quick start's calls).
    embedding = vit1d.embed_long_audio(model, extractor, synthetic_music(10.0, 16000, seed=1), sampling_rate=16000,
                                       layers=(3, 6, 9, 12))
    assert embedding.sequence_tokens.shape == (len(embedding.token_times), 4, model.config.hidden_size)
    assert embedding.class_tokens.shape == (3, 4, model.config.hidden_size)
    assert torch.isfinite(embedding.sequence_tokens).all()
    # The probes' and analyses' loader takes the folder as it takes a Hub id.
    from vit1d.loading import load_encoder

    loaded, loaded_extractor, name = load_encoder(str(released))
    assert check_reference_outputs(released, loaded) < 1e-4 and name == str(released)
    assert loaded_extractor.to_dict() == extractor.to_dict()


def test_the_release_loads_through_remote_code_alone(released, tmp_path):
    remote = load_through_remote_code(released, tmp_path)
    assert not remote["class"].startswith("vit1d") and remote["difference"] < 1e-4


def test_the_readme_quick_start_runs_on_the_release(released, tmp_path, monkeypatch):
    """The README's quick start, as a newcomer would paste it, with a generated track.flac."""
    import soundfile

    root = Path(__file__).parents[1]
    readme = (root / "README.md").read_text()
    code = readme[readme.index("## Quick start"):].split("```python\n", 1)[1].split("```", 1)[0]
    assert f'AutoModel.from_pretrained("pretrained/{released.name}")' in code
    track = tmp_path / "track.flac"
    soundfile.write(track, synthetic_music(40.0, 16000, seed=2), 16000)
    monkeypatch.chdir(root)
    namespace = {}
    exec(compile(code.replace('"track.flac"', repr(str(track))), "README quick start", "exec"), namespace)
    assert namespace["track"].sequence_tokens.shape[1:] == (4, 192)
    assert namespace["out"].last_hidden_state.shape == (1, 127, 192)
