"""Loading saved folders: through `import vit1d`, through `trust_remote_code` alone, and through `pipeline`."""

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest
import torch
from conftest import music_like, tiny_config
from safetensors.numpy import load_file
from transformers import AutoFeatureExtractor, AutoModel, pipeline

import vit1d

PACKAGE_DIR = Path(vit1d.__file__).parent
REMOTE_FILES = ("configuration_vit1d.py", "modeling_vit1d.py", "feature_extraction_vit1d.py")


@pytest.fixture
def hub_folder(tmp_path, restore_auto_classes):
    config = tiny_config(num_mel_bins=128, num_labels=3, id2label={0: "rock", 1: "jazz", 2: "folk"})
    model = vit1d.ViT1DForAudioClassification(config).eval()
    feature_extractor = vit1d.ViT1DFeatureExtractor()
    vit1d.prepare_for_hub(model, feature_extractor)
    model.save_pretrained(tmp_path)
    feature_extractor.save_pretrained(tmp_path)
    return tmp_path, model, feature_extractor


def test_prepared_folder_has_code_and_auto_map(hub_folder):
    folder, _, _ = hub_folder
    for name in REMOTE_FILES:
        assert (folder / name).read_text() == (PACKAGE_DIR / name).read_text(), name
    config = json.loads((folder / "config.json").read_text())
    assert config["model_type"] == "vit1d"
    assert config["auto_map"] == {
        "AutoConfig": "configuration_vit1d.ViT1DConfig",
        "AutoModel": "modeling_vit1d.ViT1DModel",
        "AutoModelForPreTraining": "modeling_vit1d.ViT1DForContrastivePretraining",
        "AutoModelForAudioClassification": "modeling_vit1d.ViT1DForAudioClassification",
        "AutoModelForAudioFrameClassification": "modeling_vit1d.ViT1DForAudioFrameClassification",
    }
    preprocessor = json.loads((folder / "preprocessor_config.json").read_text())
    assert preprocessor["auto_map"] == {"AutoFeatureExtractor": "feature_extraction_vit1d.ViT1DFeatureExtractor"}
    assert "mel_filters" not in preprocessor and "window" not in preprocessor
    # Weights are safetensors, readable without torch's unpickler.
    assert not list(folder.glob("*.bin"))
    assert len(load_file(folder / "model.safetensors")) > 0


def test_remote_files_import_nothing_but_torch_numpy_transformers():
    allowed = {"torch", "numpy", "transformers", "math", "dataclasses", "collections", "typing", "warnings"}
    for name in REMOTE_FILES:
        for line in (PACKAGE_DIR / name).read_text().splitlines():
            stripped = line.strip()
            if line.startswith(("import ", "from ")) and not stripped.startswith("from ."):
                top = stripped.split()[1].split(".")[0]
                assert top in allowed, f"{name}: top-level import {stripped!r} would break trust_remote_code"


REMOTE_SCRIPT = textwrap.dedent(
    """
    import importlib.abc, json, sys

    class RefuseVit1d(importlib.abc.MetaPathFinder):
        def find_spec(self, name, path=None, target=None):
            if name == "vit1d" or name.startswith("vit1d."):
                raise ImportError("vit1d must not be imported by the remote-code test")

    sys.meta_path.insert(0, RefuseVit1d())
    import numpy as np, torch
    from transformers import AutoFeatureExtractor, AutoModel, AutoModelForAudioClassification

    folder, waveform_path, mode = sys.argv[1], sys.argv[2], sys.argv[3]
    if mode == "untrusted":
        try:
            AutoModel.from_pretrained(folder, trust_remote_code=False)
        except Exception as error:  # transformers raises ValueError naming trust_remote_code
            print(json.dumps({"refused": "trust_remote_code" in str(error)}))
        else:
            print(json.dumps({"refused": False}))
        sys.exit(0)
    waveform = np.load(waveform_path)
    extractor = AutoFeatureExtractor.from_pretrained(folder, trust_remote_code=True)
    model = AutoModelForAudioClassification.from_pretrained(folder, trust_remote_code=True).eval()
    encoder = AutoModel.from_pretrained(folder, trust_remote_code=True).eval()
    inputs = extractor(waveform, sampling_rate=16000, return_tensors="pt")
    with torch.no_grad():
        logits = model(**inputs).logits
        encoded = encoder(**inputs)
    print(json.dumps({
        "model_class": type(model).__name__, "module": type(model).__module__,
        "extractor_class": type(extractor).__name__,
        "vit1d_imported": any(m == "vit1d" or m.startswith("vit1d.") for m in sys.modules),
        "input_values": inputs["input_values"].numpy().tolist(), "logits": logits.numpy().tolist(),
        "hidden": encoded.last_hidden_state.numpy().tolist(), "pooled": encoded.pooler_output.numpy().tolist(),
    }))
    """
)


def _run_without_vit1d(tmp_path, folder, mode, waveform=None):
    script = tmp_path / "remote.py"
    script.write_text(REMOTE_SCRIPT)
    waveform_path = tmp_path / "waveform.npy"
    np.save(waveform_path, waveform if waveform is not None else np.zeros(1, dtype=np.float32))
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    env.update(HF_MODULES_CACHE=str(tmp_path / "modules"), HF_HUB_OFFLINE="1", TRANSFORMERS_VERBOSITY="error")
    done = subprocess.run(
        [sys.executable, str(script), str(folder), str(waveform_path), mode],
        cwd=tmp_path, env=env, capture_output=True, text=True, timeout=300,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    return json.loads(done.stdout.strip().splitlines()[-1])


def test_remote_code_loads_in_a_process_without_vit1d(hub_folder, tmp_path_factory):
    folder, model, feature_extractor = hub_folder
    waveform = music_like(3.0)
    result = _run_without_vit1d(tmp_path_factory.mktemp("remote"), folder, "trusted", waveform)
    assert result["model_class"] == "ViT1DForAudioClassification"
    assert result["module"].startswith("transformers_modules.")
    assert result["extractor_class"] == "ViT1DFeatureExtractor"
    assert result["vit1d_imported"] is False
    inputs = feature_extractor(waveform, sampling_rate=16000, return_tensors="pt")
    np.testing.assert_array_equal(np.array(result["input_values"], dtype=np.float32), inputs["input_values"].numpy())
    with torch.no_grad():
        logits = model(**inputs).logits.numpy()
        encoded = model.vit1d(**inputs)
    np.testing.assert_array_equal(np.array(result["logits"], dtype=np.float32), logits)
    # The whole output, every token and channel, not a corner of it.
    np.testing.assert_array_equal(np.array(result["hidden"], dtype=np.float32), encoded.last_hidden_state.numpy())
    np.testing.assert_array_equal(np.array(result["pooled"], dtype=np.float32), encoded.pooler_output.numpy())


def test_remote_code_round_trips_the_input_normalisation(tmp_path, restore_auto_classes):
    """The front-end options travel: the frame LayerNorm and activation in the config, the corpus statistics in the
    feature extractor; the remote copy computes the same features and tokens."""
    config = tiny_config(num_mel_bins=128, frame_normalization="layer_norm", patch_activation="gelu")
    model = vit1d.ViT1DModel(config).eval()
    with torch.no_grad():  # a trained-looking LayerNorm, so that its weights must travel too
        model.embeddings.patch_embeddings.frame_norm.weight.uniform_(0.5, 1.5)
    rng = np.random.default_rng(1)
    extractor = vit1d.ViT1DFeatureExtractor(mel_mean=list(rng.uniform(-60, -20, 128)),
                                            mel_std=list(rng.uniform(5, 15, 128)))
    folder = tmp_path / "model"
    vit1d.prepare_for_hub(model, extractor)
    model.save_pretrained(folder)
    extractor.save_pretrained(folder)
    waveform = music_like(2.0)
    result = _run_without_vit1d(tmp_path, folder, "trusted", waveform)
    assert result["vit1d_imported"] is False
    inputs = extractor(waveform, sampling_rate=16000, return_tensors="pt")
    np.testing.assert_array_equal(np.array(result["input_values"], dtype=np.float32), inputs["input_values"].numpy())
    with torch.no_grad():
        encoded = model(**inputs)
    np.testing.assert_array_equal(np.array(result["hidden"], dtype=np.float32), encoded.last_hidden_state.numpy())


def test_remote_code_refused_without_trust(hub_folder, tmp_path_factory):
    folder, _, _ = hub_folder
    result = _run_without_vit1d(tmp_path_factory.mktemp("untrusted"), folder, "untrusted")
    assert result["refused"] is True


def test_installed_package_loads_the_folder_without_remote_code(hub_folder):
    folder, model, _ = hub_folder
    loaded = AutoModel.from_pretrained(folder)  # registered by `import vit1d`: no trust_remote_code needed
    assert type(loaded) is vit1d.ViT1DModel
    assert isinstance(AutoFeatureExtractor.from_pretrained(folder), vit1d.ViT1DFeatureExtractor)
    for key, value in model.vit1d.state_dict().items():
        assert torch.equal(loaded.state_dict()[key], value)


def test_audio_classification_pipeline_end_to_end(hub_folder):
    folder, model, feature_extractor = hub_folder
    classifier = pipeline("audio-classification", model=str(folder), device="cpu")
    waveform = music_like(5.0, seed=3)
    predictions = classifier(waveform, top_k=3)
    assert {p["label"] for p in predictions} == {"rock", "jazz", "folk"}
    assert sum(p["score"] for p in predictions) == pytest.approx(1.0, abs=1e-5)
    with torch.no_grad():
        inputs = feature_extractor(waveform, sampling_rate=16000, return_tensors="pt")
        probabilities = model(**inputs).logits.softmax(-1)
    expected = {model.config.id2label[i]: p.item() for i, p in enumerate(probabilities[0])}
    for prediction in predictions:
        assert prediction["score"] == pytest.approx(expected[prediction["label"]], abs=1e-5)
    # The pipeline resamples only through torchaudio, which has no build here: clips at other rates are resampled
    # with soxr first, which is what the README tells users to do.
    resampled = vit1d.audio.resample(music_like(2.0, 22050), 22050, 16000)
    assert len(classifier({"raw": resampled, "sampling_rate": 16000}, top_k=1)) == 1
