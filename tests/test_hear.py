import numpy as np
import pytest
import torch
from conftest import music_like, tiny_config

import vit1d
from vit1d import hear


@pytest.fixture(scope="module")
def encoder():
    torch.manual_seed(0)
    return vit1d.ViT1DModel(tiny_config(num_mel_bins=128)).eval()


@pytest.fixture(scope="module")
def extractor():
    return vit1d.ViT1DFeatureExtractor()


@pytest.fixture(scope="module")
def model(encoder, extractor):
    return hear.HearModel(encoder, extractor)


@pytest.fixture(scope="module")
def folder(encoder, extractor, tmp_path_factory):
    path = tmp_path_factory.mktemp("vit1d")
    encoder.save_pretrained(path)
    extractor.save_pretrained(path)
    return path


def _sounds(num_samples, num_sounds=3):
    """`num_sounds` different music-like sounds of `num_samples` samples, as HEAR passes them."""
    seconds = max(num_samples / 16000, 0.1)
    sounds = [music_like(seconds, seed=seed)[:num_samples] for seed in range(num_sounds)]
    return torch.from_numpy(np.stack(sounds)).float()


def test_load_model_from_a_folder_has_the_hear_attributes(folder, model):
    loaded = hear.load_model(str(folder))
    assert isinstance(loaded, torch.nn.Module) and isinstance(loaded, hear.HearModel)
    assert not loaded.training and not loaded.encoder.training
    for name, value in [("sample_rate", 16000), ("scene_embedding_size", 32), ("timestamp_embedding_size", 32)]:
        assert type(getattr(loaded, name)) is int and getattr(loaded, name) == value
    audio = _sounds(20000, num_sounds=1)
    torch.testing.assert_close(
        hear.get_timestamp_embeddings(audio, loaded)[0], hear.get_timestamp_embeddings(audio, model)[0], atol=0, rtol=0
    )


def test_load_model_without_a_path_gives_a_seeded_random_model():
    with pytest.warns(UserWarning, match="randomly initialised"):
        paper = hear.load_model(layers=(3, 6, 9, 12))  # what `hear-validator vit1d.hear` without -m runs
    assert paper.encoder.config.to_dict() == vit1d.ViT1DConfig().to_dict()
    assert (paper.sample_rate, paper.scene_embedding_size, paper.timestamp_embedding_size) == (16000, 768, 768)
    embeddings, timestamps = hear.get_timestamp_embeddings(_sounds(16000, num_sounds=2), paper)
    assert embeddings.shape == (2, 32, 768) and timestamps.shape == (2, 32)
    assert hear.get_scene_embeddings(_sounds(16000, num_sounds=2), paper).shape == (2, 768)
    last = hear.HearModel(paper.encoder, paper.feature_extractor)
    assert (last.scene_embedding_size, last.timestamp_embedding_size) == (192, 192)
    assert hear.HearModel(paper.encoder, paper.feature_extractor, layers="3,6,9,12").layers == (3, 6, 9, 12)

    # The same random model in every process (seeded), without touching the caller's RNG.
    rng_state = torch.random.get_rng_state()
    with pytest.warns(UserWarning, match="randomly initialised"):
        first = hear.load_model("", config=tiny_config(num_mel_bins=128))
    with pytest.warns(UserWarning, match="randomly initialised"):
        second = hear.load_model("", config=tiny_config(num_mel_bins=128))
    assert torch.equal(torch.random.get_rng_state(), rng_state)
    for a, b in zip(first.parameters(), second.parameters()):
        assert torch.equal(a, b)
    with pytest.raises(ValueError, match="cache_dir"):
        hear.load_model("", cache_dir="somewhere")


@pytest.mark.parametrize(
    "num_samples, hop_seconds, batch_size",
    [
        (300, None, 64),  # shorter than the STFT's reflect padding: one token
        (40000, None, 64),  # 2.5 s, shorter than a window
        (100877, None, 64),  # 6.3 s + 77 samples: not a multiple of the token hop, a short last window
        (128000, None, 64),  # exactly two windows
        (100877, 2.0, 2),  # overlapping windows, batches that mix full and short windows
    ],
)
def test_embeddings_equal_the_long_audio_embeddings(encoder, extractor, num_samples, hop_seconds, batch_size):
    model = hear.HearModel(encoder, extractor, hop_seconds=hop_seconds, batch_size=batch_size)
    audio = _sounds(num_samples)
    embeddings, timestamps = hear.get_timestamp_embeddings(audio, model)
    scene = hear.get_scene_embeddings(audio, model)

    num_timestamps = 1 + num_samples // 512
    assert embeddings.shape == (3, num_timestamps, model.timestamp_embedding_size)
    assert timestamps.shape == (3, num_timestamps)
    assert scene.shape == (3, model.scene_embedding_size)
    assert embeddings.dtype == timestamps.dtype == scene.dtype == torch.float32
    # Milliseconds, the centres of the tokens: 0, 32, 64, ... ms, never past the end of the sound.
    expected_ms = extractor.frame_times(num_timestamps) * 1000
    for row in timestamps:
        np.testing.assert_array_equal(row.numpy(), expected_ms)
    assert torch.all(torch.diff(timestamps, dim=1) == 32.0)
    assert timestamps[0, 0] == 0 and timestamps[0, -1] <= 1000 * num_samples / 16000

    for sound in range(3):
        direct = vit1d.embed_long_audio(encoder, extractor, audio[sound], sampling_rate=16000, hop_seconds=hop_seconds)
        np.testing.assert_array_equal(timestamps[sound].numpy(), (direct.token_times * 1000).astype(np.float32))
        torch.testing.assert_close(embeddings[sound], direct.sequence_tokens, atol=1e-6, rtol=0)
        torch.testing.assert_close(scene[sound], direct.pooled.mean(0), atol=1e-6, rtol=0)


@pytest.mark.parametrize("pooling", ["cls", "mean", "cls_and_mean"])
def test_layers_are_concatenated_and_pooled_per_layer(extractor, pooling):
    torch.manual_seed(0)
    encoder = vit1d.ViT1DModel(tiny_config(num_mel_bins=128, pooling=pooling)).eval()
    model = hear.HearModel(encoder, extractor, layers=(1, 2), batch_size=2)
    assert model.scene_embedding_size == model.timestamp_embedding_size == 64
    audio = _sounds(150000, num_sounds=2)
    embeddings, _ = hear.get_timestamp_embeddings(audio, model)
    scene = hear.get_scene_embeddings(audio, model)
    assert embeddings.shape == (2, 1 + 150000 // 512, 64) and scene.shape == (2, 64)
    for sound in range(2):
        direct = vit1d.embed_long_audio(encoder, extractor, audio[sound], sampling_rate=16000, layers=(1, 2))
        # Hidden states before the final LayerNorm reach ~20: float32 rounding of the different batches is relative.
        torch.testing.assert_close(embeddings[sound], direct.sequence_tokens.flatten(1), atol=1e-6, rtol=1e-6)
        # Layer 1's values first, then layer 2's.
        torch.testing.assert_close(embeddings[sound, :, 32:], direct.sequence_tokens[:, 1], atol=1e-6, rtol=1e-6)
        per_window = {
            "cls": direct.class_tokens,
            "mean": direct.sequence_means,
            "cls_and_mean": direct.class_and_sequence_means(),
        }[pooling]
        torch.testing.assert_close(scene[sound], per_window.mean(0).flatten(), atol=1e-6, rtol=1e-6)


def test_embeddings_are_deterministic_and_independent_of_the_batch(model):
    audio = _sounds(70000)
    embeddings, _ = hear.get_timestamp_embeddings(audio, model)
    again, _ = hear.get_timestamp_embeddings(audio, model)
    assert torch.equal(embeddings, again)
    alone, _ = hear.get_timestamp_embeddings(audio[1:2], model)
    torch.testing.assert_close(alone[0], embeddings[1], atol=1e-5, rtol=0)
    scene_alone = hear.get_scene_embeddings(audio[1:2], model)
    torch.testing.assert_close(scene_alone[0], hear.get_scene_embeddings(audio, model)[1], atol=1e-5, rtol=0)
    # numpy input and the module's forward give the same; a model left in training mode is run in eval mode.
    from_numpy, _ = hear.get_timestamp_embeddings(audio.numpy(), model)
    torch.testing.assert_close(from_numpy, embeddings, atol=0, rtol=0)
    model.train()
    try:
        torch.testing.assert_close(model(audio)[0], embeddings, atol=0, rtol=0)
        assert model.training
    finally:
        model.eval()
    assert not embeddings.requires_grad


def test_bad_inputs(model, encoder, extractor):
    good = _sounds(8000, num_sounds=1)
    cases = [
        (good[0], r"audio\[None\]"),
        (good[:, None].expand(1, 2, 8000), r"audio.mean\(dim=1\)"),
        (good.T.expand(8000, 2).contiguous(), "multichannel"),
        ((good * 32767).to(torch.int16), r"float.*32768"),
        (torch.full((2, 8000), float("nan")), "NaN"),
        (torch.zeros(2, 0), "at least one sound"),
        ([0.0] * 8000, "torch.Tensor"),
    ]
    for audio, message in cases:
        for function in (hear.get_timestamp_embeddings, hear.get_scene_embeddings):
            with pytest.raises(ValueError, match=message):
                function(audio, model)
    with pytest.raises(TypeError, match="HearModel"):
        hear.get_scene_embeddings(good, encoder)
    with pytest.raises(ValueError, match="layers"):
        hear.HearModel(encoder, extractor, layers=(4,))
    with pytest.raises(ValueError, match="hop_seconds"):
        hear.HearModel(encoder, extractor, hop_seconds=5.0)
    with pytest.raises(ValueError, match="mel bins"):
        hear.HearModel(vit1d.ViT1DModel(tiny_config()), extractor)


def test_hub_options_without_a_model_are_refused():
    with pytest.raises(ValueError, match="no model_name_or_path"):
        hear.load_model("", local_files_only=True)
    with pytest.raises(ValueError, match="no model_name_or_path"):
        hear.load_model("", revision="main")
