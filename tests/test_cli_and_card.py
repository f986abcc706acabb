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
    (track,) = summary["tracks"]
    assert track["windows"] == 4 and track["seconds"] == 9.0 and track["output"] == "song.wav.safetensors"
    assert summary["failed"] == [] and summary["layers"] == [1, 3]
    tensors = load_file(tmp_path / "out" / "song.wav.safetensors")
    assert tensors["sequence_tokens"].shape == (1 + 9 * 16000 // 512, 2, 32)
    assert tensors["class_tokens"].shape == (4, 2, 32)
    assert torch.all(tensors["token_times"][1:] > tensors["token_times"][:-1])
    assert json.loads((tmp_path / "out" / "summary.json").read_text()) == summary
    # bfloat16 weights (fast on CPUs with AMX): the same tokens, stored in float32, the dtype named in the summary.
    half = run_embedding.main([
        "--model_name_or_path", str(model_dir), "--audio", str(audio), "--output_dir", str(tmp_path / "bf16"),
        "--hop_seconds", "2.0", "--layers", "1", "3", "--dtype", "bfloat16",
    ])
    assert half["model"].endswith("(bfloat16)")
    tokens = load_file(tmp_path / "bf16" / "song.wav.safetensors")["sequence_tokens"]
    assert tokens.dtype == torch.float32
    cosine = torch.nn.functional.cosine_similarity(tokens, tensors["sequence_tokens"], dim=-1)
    assert cosine.min() > 0.98


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


def test_run_embedding_keeps_every_input_and_records_failures(tmp_path):
    """Inputs that share a file name get outputs of their own, a bad file costs only itself, the summary lists
    every input, and outputs are readable by the other users of a shared folder."""
    import os
    import stat
    import subprocess
    import sys
    from pathlib import Path

    import soundfile as sf
    from conftest import music_like

    from vit1d.files import default_file_mode

    model_dir = tmp_path / "model"
    vit1d.ViT1DModel(tiny_config(num_mel_bins=128)).save_pretrained(model_dir)
    vit1d.ViT1DFeatureExtractor().save_pretrained(model_dir)
    music = tmp_path / "music"
    for folder, seconds in (("a", 5.0), ("b", 9.0)):
        (music / folder).mkdir(parents=True)
        sf.write(music / folder / "intro.wav", music_like(seconds, 16000, seed=len(folder)), 16000)
    sf.write(music / "b" / "intro.flac", music_like(3.0, 16000), 16000)  # same stem, same folder
    (music / "a" / "broken.wav").write_bytes(b"RIFF\x00\x00\x00\x00WAVEjunk" + bytes(100))
    output = tmp_path / "out"
    inputs = [music / "a" / "intro.wav", music / "a" / "broken.wav", music / "b", music / "a" / "intro.wav"]
    command = [sys.executable, str(Path(run_embedding.__file__)), "--model_name_or_path", str(model_dir),
               "--output_dir", str(output), "--audio", *map(str, inputs)]
    done = subprocess.run(command, capture_output=True, text=True, cwd=tmp_path)
    assert done.returncode == 1, done.stderr[-2000:]  # one input failed: the run says so by its status
    summary = json.loads((output / "summary.json").read_text())
    embedded = {track["output"]: track for track in summary["tracks"]}
    assert sorted(embedded) == ["a/intro.wav.safetensors", "b/intro.flac.safetensors", "b/intro.wav.safetensors"]
    assert [embedded[name]["seconds"] for name in sorted(embedded)] == [5.0, 3.0, 9.0]
    (failure,) = summary["failed"]
    assert failure["input"] == str(music / "a" / "broken.wav") and "could not decode" in failure["error"]
    assert summary["num_embedded"] == 3 and summary["num_failed"] == 1  # the repeated input is embedded once
    for name, track in embedded.items():
        tensors = load_file(output / name)
        assert len(tensors["window_times"]) == track["windows"] and tensors["class_tokens"].shape[-1] == 32
        assert stat.S_IMODE(os.stat(output / name).st_mode) == default_file_mode()
    assert "broken.wav" in done.stderr and "embedding" in done.stderr  # a warning, and the progress bar
