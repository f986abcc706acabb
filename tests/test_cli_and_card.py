import json

import torch
import yaml
from conftest import tiny_config
from huggingface_hub import ModelCard, ModelCardData
from safetensors.torch import load_file

import run_embedding
import vit1d


def test_run_embedding_writes_tokens_for_a_saved_model(tmp_path):
    import soundfile as sf
    from conftest import music_like

    model_dir = tmp_path / "model"
    vit1d.ViT1DModel(tiny_config(num_mel_bins=128)).save_pretrained(model_dir)
    vit1d.ViT1DFeatureExtractor().save_pretrained(model_dir)
    audio = tmp_path / "song.wav"
    sf.write(audio, music_like(9.0, 22050), 22050)
    summary = run_embedding.main([
        "--model_name_or_path", str(model_dir), "--audio", str(audio), "--output_dir", str(tmp_path / "out"),
        "--hop_seconds", "2.0", "--layers", "1", "3",
    ])
    assert summary["song"]["windows"] == 4 and summary["song"]["seconds"] == 9.0
    tensors = load_file(tmp_path / "out" / "song.safetensors")
    assert tensors["sequence_tokens"].shape == (1 + 9 * 16000 // 512, 2, 32)
    assert tensors["class_tokens"].shape == (4, 2, 32)
    assert torch.all(tensors["token_times"][1:] > tensors["token_times"][:-1])
    assert json.loads((tmp_path / "out" / "summary.json").read_text()) == summary


def test_model_card_template_renders_with_defaults_and_values():
    data = ModelCardData(library_name="transformers", pipeline_tag="feature-extraction", license="apache-2.0",
                         tags=["audio", "music", "vit1d", "custom_code"])
    card = ModelCard.from_template(data, template_path="model_card.md", repo_id="org/vit1d-test",
                                   training_recipe="NT-Xent, batch 128, 10 steps.")
    text = str(card)
    metadata = yaml.safe_load(text.split("---")[1])
    assert metadata["library_name"] == "transformers" and "custom_code" in metadata["tags"]
    assert 'AutoModel.from_pretrained("org/vit1d-test", trust_remote_code=True' in text
    assert "NT-Xent, batch 128, 10 steps." in text
    assert "16000 Hz" in text and "31.25 frames per second" in text
    assert "{{" not in text
    assert ModelCard(text).data.library_name == "transformers"
