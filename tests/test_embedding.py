import copy

import numpy as np
import pytest
import soundfile as sf
import torch
from conftest import music_like, tiny_config

import vit1d
from vit1d.embedding import plan_windows, windows_from_array, windows_from_stream


@pytest.fixture(scope="module")
def model():
    torch.manual_seed(0)
    return vit1d.ViT1DModel(tiny_config(num_mel_bins=128)).eval()


@pytest.fixture(scope="module")
def extractor():
    return vit1d.ViT1DFeatureExtractor()


def _direct(model, extractor, chunk, layers=None):
    with torch.no_grad():
        inputs = extractor(chunk, sampling_rate=16000, return_tensors="pt")
        out = model(**inputs, output_hidden_states=layers is not None)
    if layers is None:
        return out.last_hidden_state[0], out.pooler_output[0]
    return torch.stack([out.hidden_states[layer][0] for layer in layers], dim=1), out.pooler_output[0]


@pytest.mark.parametrize("batch_size", [2, 3])  # 3: the short last window is padded inside a batch of full ones
def test_windows_timestamps_and_tokens_match_direct_calls(model, extractor, batch_size):
    waveform = music_like(10.3, seed=1)
    result = vit1d.embed_long_audio(model, extractor, waveform, sampling_rate=16000, batch_size=batch_size)
    np.testing.assert_allclose(result.window_times, [[0, 4], [4, 8], [8, len(waveform) / 16000]])
    num_tokens = 1 + len(waveform) // 512
    assert result.sequence_tokens.shape == (num_tokens, 32)
    np.testing.assert_allclose(result.token_times, np.arange(num_tokens) * 512 / 16000)
    assert result.class_tokens.shape == (3, 32) and result.pooled.shape == (3, 32)
    for w, start in enumerate([0, 64000, 128000]):
        tokens, pooled = _direct(model, extractor, waveform[start : start + 64000])
        torch.testing.assert_close(result.class_tokens[w], tokens[0], atol=1e-5, rtol=0)
        torch.testing.assert_close(result.pooled[w], pooled, atol=1e-5, rtol=0)
        # Without overlap, the token at a window boundary is the last of one window and the first of the next,
        # both at an edge: the earlier window keeps it.
        first = start // 512 + (w > 0)
        owned = tokens[1 + (w > 0) :]
        torch.testing.assert_close(result.sequence_tokens[first : first + len(owned)], owned, atol=1e-5, rtol=0)


def test_overlapping_windows_take_each_token_from_its_most_central_window(model, extractor):
    waveform = music_like(9.0, seed=2)
    result = vit1d.embed_long_audio(model, extractor, waveform, sampling_rate=16000, hop_seconds=2.0)
    hop = 62 * 512  # 2 s rounded to whole tokens
    starts = np.arange(len(result.window_times)) * hop
    np.testing.assert_allclose(result.window_times[:, 0], starts / 16000)
    assert result.window_times[-1, 1] == pytest.approx(9.0)
    direct = [_direct(model, extractor, waveform[s : s + 64000])[0][1:] for s in starts]
    for k in range(len(result.sequence_tokens)):
        candidates = [(min(k - s // 512, len(d) - 1 - (k - s // 512)), w)
                      for w, (s, d) in enumerate(zip(starts, direct)) if 0 <= k - s // 512 < len(d)]
        _, owner = max(candidates, key=lambda c: (c[0], -c[1]))
        expected = direct[owner][k - starts[owner] // 512]
        torch.testing.assert_close(result.sequence_tokens[k], expected, atol=1e-5, rtol=0)


def test_chosen_layers(model, extractor):
    waveform = music_like(5.0, seed=3)
    result = vit1d.embed_long_audio(model, extractor, waveform, sampling_rate=16000, layers=(0, 2, 3))
    assert result.layers == (0, 2, 3)
    assert result.sequence_tokens.shape == (1 + len(waveform) // 512, 3, 32)
    assert result.class_tokens.shape == (2, 3, 32)
    tokens, _ = _direct(model, extractor, waveform[:64000], layers=(0, 2, 3))
    torch.testing.assert_close(result.class_tokens[0], tokens[0], atol=1e-5, rtol=0)
    torch.testing.assert_close(result.sequence_tokens[:125], tokens[1:126], atol=1e-5, rtol=0)
    with pytest.raises(ValueError, match="layers"):
        vit1d.embed_long_audio(model, extractor, waveform, sampling_rate=16000, layers=(13,))


@pytest.mark.parametrize("extra_samples", [1, 300, 512, 600])
def test_short_tails_are_still_covered(model, extractor, extra_samples):
    waveform = music_like(4.0 + extra_samples / 16000, seed=4)[: 64000 + extra_samples]
    result = vit1d.embed_long_audio(model, extractor, waveform, sampling_rate=16000)
    assert len(result.sequence_tokens) == 1 + len(waveform) // 512
    assert torch.isfinite(result.sequence_tokens).all()


def test_file_input_is_streamed_and_equals_array_input(model, extractor, tmp_path):
    waveform = music_like(11.0, seed=5)
    path = tmp_path / "track.flac"
    sf.write(path, waveform, 16000, subtype="PCM_24")
    from_file = vit1d.embed_long_audio(model, extractor, str(path), block_seconds=1.7, hop_seconds=3.0)
    from_array = vit1d.embed_long_audio(
        model, extractor, vit1d.load_audio(path), sampling_rate=16000, hop_seconds=3.0
    )
    np.testing.assert_allclose(from_file.window_times, from_array.window_times)
    torch.testing.assert_close(from_file.sequence_tokens, from_array.sequence_tokens, atol=1e-5, rtol=0)
    torch.testing.assert_close(from_file.class_tokens, from_array.class_tokens, atol=1e-5, rtol=0)


@pytest.mark.parametrize("block", [1000, 64000, 70001])
@pytest.mark.parametrize("hop_seconds", [1.0, 4.0])
def test_stream_windows_equal_array_windows_and_hold_little(extractor, block, hop_seconds):
    waveform = np.arange(300_000, dtype=np.float32)
    plan = plan_windows(extractor, 1, 4.0, hop_seconds)
    consumed = []

    def blocks():
        for start in range(0, len(waveform), block):
            consumed.append(start + block)
            yield waveform[start : start + block]

    from_array = list(windows_from_array(waveform, plan))
    from_stream = []
    for start, chunk in windows_from_stream(blocks(), plan):
        from_stream.append((start, chunk.copy()))
        # Never more than one block read beyond the sample after the current window.
        assert consumed[-1] <= start + plan.window_samples + 1 + block
    assert [s for s, _ in from_stream] == [s for s, _ in from_array]
    for (_, a), (_, b) in zip(from_stream, from_array):
        np.testing.assert_array_equal(a, b)


def test_half_precision_model(model, extractor):
    waveform = music_like(6.0, seed=3)
    reference = vit1d.embed_long_audio(model, extractor, waveform, sampling_rate=16000)
    half = vit1d.embed_long_audio(
        copy.deepcopy(model).to(torch.bfloat16), extractor, waveform, sampling_rate=16000
    )
    assert half.sequence_tokens.dtype == torch.float32 and half.sequence_tokens.shape == reference.sequence_tokens.shape
    similarity = torch.nn.functional.cosine_similarity(half.sequence_tokens, reference.sequence_tokens, dim=-1)
    assert similarity.min() > 0.98


@pytest.mark.parametrize("hop_seconds", [None, 1.5])
def test_the_progress_bar_counts_every_window(model, extractor, capsys, hop_seconds):
    plan = plan_windows(extractor, 1, 4.0, hop_seconds)
    for samples in (1, 64000, 64001, 100000, 9 * 16000 + 3):
        assert plan.num_windows(samples) == len(list(windows_from_array(np.zeros(samples), plan))), samples
    waveform = music_like(9.3, seed=5)
    windows = plan.num_windows(len(waveform))
    vit1d.embed_long_audio(model, extractor, waveform, sampling_rate=16000, hop_seconds=hop_seconds, batch_size=2,
                           progress_bar=True)
    assert f"{windows}/{windows} [" in capsys.readouterr().err
    vit1d.embed_long_audio(model, extractor, waveform, sampling_rate=16000, hop_seconds=hop_seconds)
    assert "window" not in capsys.readouterr().err  # off by default


def test_bad_inputs(model, extractor):
    with pytest.raises(ValueError, match="sampling_rate=16000"):
        vit1d.embed_long_audio(model, extractor, np.zeros(32000, dtype=np.float32), sampling_rate=44100)
    with pytest.raises(ValueError, match="mono"):
        vit1d.embed_long_audio(model, extractor, np.zeros((2, 32000), dtype=np.float32), sampling_rate=16000)
    with pytest.raises(ValueError, match="hop_seconds"):
        vit1d.embed_long_audio(model, extractor, np.zeros(32000, dtype=np.float32), sampling_rate=16000,
                               hop_seconds=5.0)


def test_window_means_and_the_papers_average():
    config = vit1d.ViT1DConfig(num_hidden_layers=2, hidden_size=32, intermediate_size=64, num_attention_heads=2)
    model, extractor = vit1d.ViT1DModel(config).eval(), vit1d.ViT1DFeatureExtractor()
    waveform = np.random.default_rng(0).standard_normal(int(9.5 * 16000)).astype(np.float32) * 0.1
    result = vit1d.embed_long_audio(model, extractor, waveform, sampling_rate=16000, layers=(1, 2))
    assert result.tokens_per_window.tolist() == [126, 126, 1 + 24000 // 512]
    for w, (start, end) in enumerate(result.window_times):
        clip = waveform[int(start * 16000): int(end * 16000)]
        hidden = model(**extractor(clip, sampling_rate=16000, return_tensors="pt"), output_hidden_states=True)
        for i, layer in enumerate((1, 2)):
            tokens = hidden.hidden_states[layer][0]
            torch.testing.assert_close(result.sequence_means[w, i], tokens[1:].mean(0), atol=1e-5, rtol=0)
            torch.testing.assert_close(result.class_and_sequence_means()[w, i], tokens.mean(0), atol=1e-5, rtol=0)


def test_nan_samples_are_named_with_the_file_and_the_time_in_it(model, extractor, tmp_path):
    waveform = music_like(30.0, seed=2)
    waveform[20 * 16000 + 800 : 21 * 16000] = np.nan  # from 20.05 s, in the 6th 4 s window
    path = tmp_path / "song with nan.wav"
    sf.write(path, waveform, 16000, subtype="FLOAT")
    with pytest.raises(ValueError, match=r"song with nan\.wav has NaN or infinite samples from 20\.05 s"):
        vit1d.embed_long_audio(model, extractor, path, batch_size=4)
    with pytest.raises(ValueError, match=r"the waveform has NaN or infinite samples from 20\.05 s"):
        vit1d.embed_long_audio(model, extractor, waveform, sampling_rate=16000, hop_seconds=2.0)
