"""ONNX export of the whole path (vit1d.export): the graph front end equals the extractor, the exported graph equals the
torch path on several lengths and padded batches, the CLI exports the released checkpoint, and a missing onnxruntime
names the extra."""

import json
import logging
import sys

import numpy as np
import pytest
import torch
from conftest import music_like, tiny_config

from vit1d import ViT1DFeatureExtractor, ViT1DModel, embed_long_audio
from vit1d.embedding import EmbeddingArguments, run_embedding
from vit1d.export import (
    MAX_INT8_FEATURE_ERROR_DB,
    ExportArguments,
    LogMelFrontEnd,
    OnnxEncoder,
    batch_waveforms,
    check_parity,
    export_onnx,
    flat_layers,
    masked_attention,
    onnx_session,
    parity,
    quantize_onnx,
    require_onnx,
    run_export,
)
from vit1d.loading import load_encoder

RATE = 16000
RELEASED = "pretrained/vit1d-tiny-gamemusic-1000"


def clips_of(rng, samples):
    """Music-like clips of these lengths (in samples), each from its own seed."""
    return [music_like(n / RATE + 0.01, seed=int(rng.integers(1 << 30)))[:n] for n in samples]


@pytest.mark.parametrize("options", [{}, {"do_peak_normalize": True, "top_db": None},
                                     {"mel_mean": list(np.linspace(-60, -20, 16)), "mel_std": [12.0] * 16},
                                     {"n_fft": 512, "hop_length": 160}])
def test_graph_front_end_equals_the_extractor_on_padded_batches(rng, options):
    extractor = ViT1DFeatureExtractor(feature_size=16, **options)
    front_end = LogMelFrontEnd(extractor)
    clips = clips_of(rng, [513, RATE + 7, 3 * RATE, 1200])
    features = extractor(clips, sampling_rate=RATE, return_tensors="pt", padding=True)
    waveform = torch.zeros(len(clips), max(map(len, clips)))
    for row, clip in zip(waveform, clips):
        row[: len(clip)] = torch.from_numpy(clip)
    waveform[1, len(clips[1]):] = 0.7  # whatever lies past a clip's length must not be read
    log_mel, frame_mask = front_end(waveform, torch.tensor([len(c) for c in clips]))
    assert torch.equal(frame_mask, features["attention_mask"].bool())
    assert (log_mel - features["input_values"]).abs().max() < 1e-4  # padded frames: padding_value in both


def test_graph_front_end_in_float32_stays_within_the_int8_bound(rng):
    """The int8 graph's front end takes its DFT in float32: close to the extractor, not as close as float64."""
    extractor = ViT1DFeatureExtractor()
    clips = clips_of(rng, [4 * RATE, 3 * RATE + 5, RATE])
    features = extractor(clips, sampling_rate=RATE, return_tensors="pt", padding=True)
    inputs = torch.from_numpy(batch_waveforms(clips)["waveform"]), torch.tensor([len(c) for c in clips])
    errors = {}
    for dtype in (torch.float32, torch.float64):
        log_mel, frame_mask = LogMelFrontEnd(extractor, dtype)(*inputs)
        errors[dtype] = (log_mel - features["input_values"])[frame_mask].abs().max().item()
    assert errors[torch.float64] < 1e-4 and errors[torch.float32] < MAX_INT8_FEATURE_ERROR_DB


def test_masked_attention_equals_sdpa_and_export_restores_the_model(rng, tmp_path, caplog):
    """The attention the export traces (an additive padding bias, no NaN guards) gives SDPA's values, and exporting
    leaves the model's own attention implementation in place; the exporter's own notes stay out of the log."""
    torch.manual_seed(2)
    query, key, value = torch.randn(3, 2, 2, 7, 8).unbind(0)  # (B, heads, L, head_dim)
    mask = torch.ones(2, 1, 1, 7, dtype=torch.bool)
    mask[1, ..., 4:] = False  # the second clip has 4 real tokens
    ours, weights = masked_attention(None, query, key, value, mask, scaling=8**-0.5)
    sdpa = torch.nn.functional.scaled_dot_product_attention(query, key, value, attn_mask=mask)
    assert weights is None and torch.allclose(ours, sdpa.transpose(1, 2), atol=1e-6)
    model = ViT1DModel(tiny_config()).eval()
    with caplog.at_level(logging.INFO):
        export_onnx(model, ViT1DFeatureExtractor(feature_size=16), tmp_path / "m.onnx")
    assert model.config._attn_implementation == "sdpa"
    assert not [record.name for record in caplog.records if record.name.startswith(("onnxscript", "onnx_ir"))]
    assert logging.getLogger("onnxscript").level == logging.NOTSET  # restored


@pytest.fixture(scope="module")
def tiny_export(tmp_path_factory):
    """A tiny encoder with two frames per token and standardised bins, exported with layers 1 and 3."""
    torch.manual_seed(0)
    model = ViT1DModel(tiny_config(frames_per_patch=2)).eval()
    extractor = ViT1DFeatureExtractor(feature_size=16, mel_mean=list(np.linspace(-60, -20, 16)),
                                      mel_std=[12.0] * 16)
    path = export_onnx(model, extractor, tmp_path_factory.mktemp("onnx") / "tiny.onnx", layers=[1, 3])
    return model, extractor, onnx_session(path), path


@pytest.mark.parametrize("samples", [[513], [2 * RATE + 5, 700, RATE], [9 * RATE], [4 * RATE + 511, 4 * RATE + 512]])
def test_exported_graph_equals_the_torch_path_on_any_length_and_batch(rng, tiny_export, samples):
    model, extractor, session, path = tiny_export
    result = parity(session, model, extractor, [1, 3], clips_of(rng, samples))
    check_parity(result)  # features within 1e-3 dB, every cosine >= 0.9999, the same token mask
    assert result["feature_error_db"] < 1e-4 and set(result) >= {"layer_1_cosine", "layer_3_cosine"}


def test_graph_outputs_have_the_documented_shapes(rng, tiny_export):
    model, extractor, session, path = tiny_export
    clips = clips_of(rng, [3 * RATE, RATE])
    outputs = session.run(None, {"waveform": np.stack([clips[0], np.pad(clips[1], (0, 2 * RATE))]),
                                 "lengths": np.array([3 * RATE, RATE])})
    class_token, sequence_tokens, token_mask, hidden_states, log_mel, pooler_output = outputs
    frames = 1 + 3 * RATE // 512
    tokens = -(-frames // 2)
    assert class_token.shape == (2, 32) and sequence_tokens.shape == (2, tokens, 32) and pooler_output.shape == (2, 32)
    assert hidden_states.shape == (2, 2, 1 + tokens, 32) and log_mel.shape == (2, frames, 16)
    assert token_mask.dtype == bool and token_mask[0].all() and token_mask[1].sum() == -(-(1 + RATE // 512) // 2)


def test_check_parity_refuses_what_misses_the_bar():
    good = {"feature_error_db": 1e-5, "masks_equal": True, "class_token_cosine": 0.99999}
    check_parity(good)
    for bad, message in (({"feature_error_db": 0.01}, "feature error"), ({"class_token_cosine": 0.999}, "class_token"),
                         ({"masks_equal": False}, "masks differ")):
        with pytest.raises(ValueError, match=message):
            check_parity({**good, **bad})


def test_layers_follow_the_layer_set_syntax():
    assert flat_layers("3,6,9,12", 12) == [3, 6, 9, 12]
    assert flat_layers("3;6;9;12;3,6,9,12", 12) == [3, 6, 9, 12]
    assert flat_layers("last", 4) == [4] and flat_layers("all", 2) == [0, 1, 2]
    with pytest.raises(ValueError):
        flat_layers("13", 12)


@pytest.fixture(scope="module")
def released_export(tmp_path_factory):
    """The released checkpoint exported with one command, fp32 and int8."""
    from run_export import main

    folder = tmp_path_factory.mktemp("released-onnx")
    path = main(["--model_name_or_path", RELEASED, "--output_dir", str(folder), "--quantize", "int8",
                 "--check_seconds", "1,4.3"])
    return folder, path


def test_the_released_checkpoint_exports_with_one_command(released_export):
    folder, path = released_export
    record = json.loads((folder / "export.json").read_text())
    assert path == folder / "model.onnx" and record["layers"] == [3, 6, 9, 12]
    assert record["graphs"] == {"fp32": "model.onnx", "int8": "model.int8.onnx"}
    assert record["outputs"] == ["class_token", "sequence_tokens", "token_mask", "hidden_states", "log_mel",
                                 "pooler_output"]
    fp32, int8 = record["parity"]["fp32"], record["parity"]["int8"]
    assert fp32["feature_error_db"] < 1e-3 and fp32["sequence_token_cosine"] >= 0.9999
    # int8 moves the tokens a little and the features hardly (the front end stays in float; its DFT in float32).
    assert 0.99 <= int8["sequence_token_cosine"] < 1.0 and int8["feature_error_db"] < MAX_INT8_FEATURE_ERROR_DB
    assert (folder / "model.int8.onnx").stat().st_size < 0.4 * path.stat().st_size


@pytest.mark.parametrize("int8", [False, True])
def test_embed_long_audio_runs_an_exported_graph(tmp_path, released_export, int8):
    folder, _ = released_export
    model, extractor, _ = load_encoder(RELEASED)
    track = music_like(9.3, seed=4)  # two 4 s windows and a short last one, batched together
    reference = embed_long_audio(model, extractor, track, sampling_rate=RATE, layers=(3, 12))
    encoder = OnnxEncoder(folder, int8=int8)
    ours = embed_long_audio(encoder, encoder.feature_extractor, track, sampling_rate=RATE, layers=(3, 12))
    bar = 0.99 if int8 else 0.9999
    for name in ("sequence_tokens", "class_tokens", "pooled"):
        a, b = getattr(ours, name), getattr(reference, name)
        assert a.shape == b.shape and torch.nn.functional.cosine_similarity(a, b, dim=-1).min() >= bar, name
    assert np.array_equal(ours.token_times, reference.token_times)
    with pytest.raises(ValueError, match="layers"):
        embed_long_audio(encoder, encoder.feature_extractor, track, sampling_rate=RATE, layers=(5,))


def test_run_embedding_takes_an_export_folder(tmp_path, released_export):
    folder, _ = released_export
    summary = run_embedding(EmbeddingArguments(output_dir=str(tmp_path / "out"), onnx_dir=str(folder), int8=True,
                                               demo_seconds=6.0))
    assert summary["num_embedded"] == 1 and "ONNX, int8" in summary["model"]
    with pytest.raises(ValueError, match="--onnx_dir"):
        run_embedding(EmbeddingArguments(output_dir=str(tmp_path / "x"), int8=True))
    with pytest.raises(ValueError, match="--dtype bfloat16"):
        run_embedding(EmbeddingArguments(output_dir=str(tmp_path / "y"), onnx_dir=str(folder), dtype="bfloat16"))
    with pytest.raises(FileNotFoundError, match="--quantize int8"):
        OnnxEncoder(tmp_path, int8=True)


def test_int8_quantisation_keeps_the_front_end_in_float(tmp_path, rng, tiny_export):
    model, extractor, session, path = tiny_export
    int8 = quantize_onnx(path, tmp_path / "tiny.int8.onnx")
    result = parity(onnx_session(int8), model, extractor, [1, 3], clips_of(rng, [3 * RATE, RATE]))
    assert result["feature_error_db"] < 1e-4
    check_parity(result, min_cosine=0.99)


def test_missing_onnxruntime_names_the_extra(monkeypatch):
    monkeypatch.setitem(sys.modules, "onnxruntime", None)  # `import onnxruntime` now raises ImportError
    with pytest.raises(ImportError, match=r"vit1d\[export\]"):
        require_onnx()
    with pytest.raises(ImportError, match=r"vit1d\[export\]"):
        run_export(ExportArguments(model_name_or_path=RELEASED))


def test_other_configurations_export_too(tmp_path, rng):
    """The group's frame normalisation, learned positions, a plain class token and mean pooling."""
    torch.manual_seed(1)
    model = ViT1DModel(tiny_config(frame_normalization="layer_norm", patch_activation="gelu",
                                   position_embedding_type="learned", max_frames=400, class_token_type="learnable",
                                   pooling="mean")).eval()
    extractor = ViT1DFeatureExtractor(feature_size=16)
    path = export_onnx(model, extractor, tmp_path / "other.onnx", layers=[0, 2])
    check_parity(parity(onnx_session(path), model, extractor, [0, 2], clips_of(rng, [5 * RATE, 2 * RATE + 3])))
