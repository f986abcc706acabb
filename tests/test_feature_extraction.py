"""Tests of ViT1DFeatureExtractor: shapes, padding, parity of the torch and numpy backends with librosa, input checks,
resampling, serialization and token times. Every test makes its own audio."""

import json

import librosa
import numpy as np
import pytest
import soxr
import torch
from transformers.testing_utils import CaptureLogger

import vit1d.feature_extraction_vit1d as fe_module
from vit1d.feature_extraction_vit1d import ViT1DFeatureExtractor

SR = 16000


def music(seconds, seed=0, silence=None, sampling_rate=SR):
    """Harmonic notes with decaying envelopes, noise bursts and optionally a silent section (start, stop) in s."""
    rng = np.random.default_rng(seed)
    n = int(round(seconds * sampling_rate))
    t = np.arange(n) / sampling_rate
    x = np.zeros(n)
    note = int(0.3 * sampling_rate)
    for start in range(0, n, note):
        seg = slice(start, min(n, start + note))
        f0 = rng.uniform(55, 1200)
        env = np.exp(-np.arange(seg.stop - seg.start) / (rng.uniform(0.05, 0.3) * sampling_rate))
        for h in range(1, 9):
            if f0 * h < 0.48 * sampling_rate:
                x[seg] += env * np.sin(2 * np.pi * f0 * h * t[seg] + rng.uniform(0, 2 * np.pi)) / h
        burst = min(300, seg.stop - seg.start)
        x[start : start + burst] += 0.5 * rng.standard_normal(burst) * np.hanning(burst)
    if silence is not None:
        x[int(silence[0] * sampling_rate) : int(silence[1] * sampling_rate)] = 0.0
    return (0.8 * x / np.abs(x).max()).astype(np.float32)


def white_noise(seconds, seed=0):
    return (0.3 * np.random.default_rng(seed).standard_normal(int(seconds * SR))).astype(np.float32)


def librosa_log_mel(y):
    mel = librosa.feature.melspectrogram(
        y=y, sr=SR, n_fft=1024, hop_length=512, n_mels=128, fmin=0, fmax=8000, htk=False, norm="slaney",
        center=True, pad_mode="reflect", power=2.0,
    )
    return librosa.power_to_db(mel, ref=1.0, amin=1e-10, top_db=80).T


@pytest.fixture(scope="module")
def fe():
    return ViT1DFeatureExtractor()


def features(fe, x, **kwargs):
    kwargs.setdefault("sampling_rate", SR)
    return fe(x, **kwargs)["input_values"]


# ---------------------------------------------------------------------------------------------------------------------
# shapes, padding, batching


@pytest.mark.parametrize("backend", ["torch", "numpy"])
@pytest.mark.parametrize("num_samples", [513, 4000, 64000, 64511, 64512, 80001])
def test_shape_and_frame_count(fe, backend, num_samples):
    out = fe(music(num_samples / SR), sampling_rate=SR, backend=backend)
    frames = 1 + num_samples // 512
    assert fe.num_frames(num_samples) == frames
    assert out["input_values"].shape == (1, frames, 128)
    assert out["input_values"].dtype == np.float32
    assert out["attention_mask"].shape == (1, frames) and out["attention_mask"].all()


@pytest.mark.parametrize("backend", ["torch", "numpy"])
def test_batch_padding_mask_and_items_alone(fe, backend):
    clips = [music(4.0, 0), music(1.9, 1), white_noise(0.5), music(3.21, 2, silence=(1, 2))]
    out = fe(clips, sampling_rate=SR, backend=backend)
    values, mask = out["input_values"], out["attention_mask"]
    frames = [1 + len(c) // 512 for c in clips]
    assert values.shape == (4, max(frames), 128)
    assert mask.dtype == np.int32
    assert mask.sum(axis=1).tolist() == frames
    for i, (clip, n) in enumerate(zip(clips, frames)):
        assert (mask[i, :n] == 1).all() and (mask[i, n:] == 0).all()
        assert (values[i, n:] == fe.padding_value).all()
        alone = features(fe, clip, backend=backend)[0]
        np.testing.assert_allclose(values[i, :n], alone, rtol=0, atol=1e-4)


def test_padding_value_is_the_log_floor(fe):
    assert fe.padding_value == pytest.approx(10 * np.log10(1e-10))


def test_padding_strategies(fe):
    clips = [music(1.0), music(2.0, 1)]  # 32 and 63 frames
    out = fe(clips, sampling_rate=SR, padding="max_length", max_length=100)
    assert out["input_values"].shape == (2, 100, 128) and out["attention_mask"].sum(1).tolist() == [32, 63]
    out = fe(clips, sampling_rate=SR, padding="max_length", max_length=40, truncation=True)
    assert out["input_values"].shape == (2, 40, 128) and out["attention_mask"].sum(1).tolist() == [32, 40]
    full = features(fe, clips[1])[0]
    np.testing.assert_array_equal(out["input_values"][1], full[:40])  # truncation keeps the first frames
    out = fe(clips, sampling_rate=SR, pad_to_multiple_of=16)
    assert out["input_values"].shape == (2, 64, 128)
    out = fe(clips, sampling_rate=SR, padding=False)
    assert [v.shape for v in out["input_values"]] == [(32, 128), (63, 128)]
    with pytest.raises(ValueError, match="padding='longest'"):
        fe(clips, sampling_rate=SR, padding=False, return_tensors="pt")
    with pytest.raises(ValueError, match="truncation=True"):
        fe(clips, sampling_rate=SR, padding="max_length", max_length=40)
    with pytest.raises(ValueError, match="max_length"):
        fe(clips, sampling_rate=SR, truncation=True)
    with pytest.raises(ValueError, match="needs `max_length`"):
        fe(clips, sampling_rate=SR, padding="max_length")
    with pytest.raises(ValueError, match="not a valid PaddingStrategy"):
        fe(clips, sampling_rate=SR, padding="shortest")


def test_return_tensors_and_attention_mask_flag(fe):
    out = fe([music(1.0), music(2.0)], sampling_rate=SR, return_tensors="pt")
    assert isinstance(out["input_values"], torch.Tensor) and out["input_values"].dtype == torch.float32
    assert out["input_values"].shape == (2, 63, 128) and out["attention_mask"].shape == (2, 63)
    out = fe(music(1.0), sampling_rate=SR, return_attention_mask=False)
    assert "attention_mask" not in out


RAGGED_PADDING_CASES = [
    {},  # padding="longest"
    {"padding": True},
    {"padding": "max_length", "max_length": 100},
    {"padding": "max_length", "max_length": 40, "truncation": True},
    {"padding": "longest", "max_length": 40, "truncation": True},
    {"padding": "max_length", "max_length": 40, "truncation": True, "pad_to_multiple_of": 16},
    {"pad_to_multiple_of": 16},
    {"pad_to_multiple_of": 7, "return_attention_mask": False},
    {"padding": False, "max_length": 15, "truncation": True},  # every clip cut to 15 frames: no padding needed
]


@pytest.mark.parametrize("kwargs", RAGGED_PADDING_CASES)
def test_torch_side_padding_equals_numpy_side_padding(fe, kwargs):
    # return_tensors="pt" pads and masks in torch, on the device of the features; "np" pads with numpy on the CPU.
    clips = [music(1.0), music(2.0, 1), white_noise(0.5), music(1.31, 2)]  # 32, 63, 16 and 41 frames
    torch_side = fe(clips, sampling_rate=SR, return_tensors="pt", **kwargs)
    numpy_side = fe(clips, sampling_rate=SR, return_tensors="np", **kwargs)
    assert set(torch_side) == set(numpy_side)
    for key in numpy_side:
        assert isinstance(torch_side[key], torch.Tensor) and torch_side[key].device.type == "cpu"
        assert torch_side[key].is_contiguous()
        assert torch_side[key].numpy().dtype == numpy_side[key].dtype
        np.testing.assert_array_equal(torch_side[key].numpy(), numpy_side[key])
    reference = fe(clips, sampling_rate=SR, return_tensors="np", backend="numpy", **kwargs)
    np.testing.assert_allclose(torch_side["input_values"].numpy(), reference["input_values"], rtol=0, atol=1e-4)
    if "attention_mask" in reference:
        np.testing.assert_array_equal(torch_side["attention_mask"].numpy(), reference["attention_mask"])


def test_torch_tensor_inputs_give_torch_outputs_equal_to_the_numpy_path(fe):
    clips = [music(2.0, 0), music(1.5, 1, silence=(0.5, 1.0)), white_noise(0.7)]
    expected = fe(clips, sampling_rate=SR, return_tensors="np")
    for inputs in ([torch.from_numpy(clip) for clip in clips], [torch.from_numpy(clip).double() for clip in clips]):
        out = fe(inputs, sampling_rate=SR, return_tensors="pt")
        assert out["input_values"].device.type == "cpu" and out["input_values"].dtype == torch.float32
        assert out["attention_mask"].dtype == torch.int32
        np.testing.assert_array_equal(out["input_values"].numpy(), expected["input_values"])
        np.testing.assert_array_equal(out["attention_mask"].numpy(), expected["attention_mask"])
    batch = torch.from_numpy(np.stack([music(1.0, 0), music(1.0, 1)]))
    out = fe(batch, sampling_rate=SR, return_tensors="pt")
    np.testing.assert_array_equal(out["input_values"].numpy(), features(fe, batch.numpy(), return_tensors="np"))
    numpy_backend = fe(inputs, sampling_rate=SR, return_tensors="pt", backend="numpy")["input_values"]
    torch_backend = fe(inputs, sampling_rate=SR, return_tensors="pt")["input_values"]
    torch.testing.assert_close(torch_backend, numpy_backend, rtol=0, atol=1e-4)


def test_accelerator_plan_matches_cpu_plan(fe, monkeypatch):
    # Accelerators take another route (the whole batch padded on the host and moved at once, one large chunk): run it
    # on the CPU to check its values.
    clips = [music(4.0, 0), music(1.9, 1), white_noise(0.5), music(12.0, 2, silence=(3, 5))]
    cpu_plan = fe(clips, sampling_rate=SR, return_tensors="pt")
    monkeypatch.setattr(fe_module, "_uses_cpu_plan", lambda device: False)
    accelerator_plan = fe(clips, sampling_rate=SR, return_tensors="pt")
    torch.testing.assert_close(accelerator_plan["input_values"], cpu_plan["input_values"], rtol=0, atol=1e-5)
    torch.testing.assert_close(accelerator_plan["attention_mask"], cpu_plan["attention_mask"], rtol=0, atol=0)


def test_long_clips_in_cpu_chunks_match_numpy(fe):
    # A clip longer than a CPU chunk is framed in pieces, each reflect-padded from the clip on its own.
    clips = [music(30.0, 8), music(9.0, 9)]
    out = features(fe, clips)
    for row, clip in zip(out, clips):
        expected = features(fe, clip, backend="numpy")[0]
        np.testing.assert_allclose(row[: len(expected)], expected, rtol=0, atol=1e-4)


@pytest.mark.parametrize("kwargs", [{}, {"padding": "max_length", "max_length": 200, "pad_to_multiple_of": 16}])
def test_features_stay_on_the_device_they_were_computed_on(fe, kwargs):
    # The meta device has no data: any copy to the CPU on the way would raise, so this checks that padding and masking
    # run on the device and that the outputs are returned there, on any machine. Values are checked on the CPU above.
    clips = [music(2.0, 0), music(1.0, 1), white_noise(0.3)]
    out = fe(clips, sampling_rate=SR, device="meta", return_tensors="pt", **kwargs)
    cpu = fe(clips, sampling_rate=SR, return_tensors="pt", **kwargs)
    for key in ("input_values", "attention_mask"):
        assert out[key].device.type == "meta"
        assert out[key].shape == cpu[key].shape and out[key].dtype == cpu[key].dtype


# ---------------------------------------------------------------------------------------------------------------------
# numerical parity: torch vs numpy vs librosa

PARITY_SIGNALS = {
    "music_4s": lambda: music(4.0, 0),
    "music_4s_seed1": lambda: music(4.0, 1),
    "music_10s": lambda: music(10.0, 2),
    "music_odd_length": lambda: music(4.37, 3),
    "music_with_silence": lambda: music(6.0, 4, silence=(0.0, 1.5)),
    "white_noise_4s": lambda: white_noise(4.0),
    "quiet_music": lambda: 1e-3 * music(4.0, 5),
}


@pytest.mark.parametrize("name", list(PARITY_SIGNALS))
def test_backends_match_each_other_and_librosa(fe, name):
    y = PARITY_SIGNALS[name]()
    reference = librosa_log_mel(y)
    torch_out = features(fe, y, backend="torch")[0]
    numpy_out = features(fe, y, backend="numpy")[0]
    assert torch_out.shape == numpy_out.shape == reference.shape
    assert np.abs(torch_out - numpy_out).max() < 1e-4  # float64 FFTs: ~4e-6 dB apart; a float32 FFT errs ~1e-3 dB
    assert np.abs(torch_out - reference).max() < 1e-2
    assert np.abs(numpy_out - reference).max() < 1e-2


def test_parity_in_a_padded_batch(fe):
    clips = [music(10.0, 6), music(4.0, 7, silence=(1, 2)), white_noise(2.5, 1)]
    out = features(fe, clips, backend="torch")
    for i, y in enumerate(clips):
        reference = librosa_log_mel(y)
        assert np.abs(out[i, : len(reference)] - reference).max() < 1e-2


def test_top_db_clamp_is_per_clip(fe):
    loud, quiet = music(3.0, 0, silence=(1, 2)), 1e-2 * music(3.0, 1, silence=(1, 2))
    out = features(fe, [loud, quiet])
    for row in out:
        assert row.max() - row.min() == pytest.approx(80.0, abs=1e-3)
    assert out[1].max() < out[0].max() - 30  # the quiet clip is clamped against its own peak, not the batch's
    unclamped = ViT1DFeatureExtractor(top_db=None)
    for backend in ("torch", "numpy"):
        assert features(unclamped, loud, backend=backend).min() == pytest.approx(-100.0)


def test_silent_clip(fe):
    out = features(fe, np.zeros(8000, np.float32))
    np.testing.assert_array_equal(out, np.full_like(out, -100.0))


# ---------------------------------------------------------------------------------------------------------------------
# input types and dtypes


def test_input_containers_agree(fe):
    a, b = music(1.0, 0), music(1.0, 1)
    expected = features(fe, [a, b])
    np.testing.assert_array_equal(features(fe, np.stack([a, b])), expected)
    np.testing.assert_array_equal(features(fe, torch.from_numpy(np.stack([a, b]))), expected)
    np.testing.assert_array_equal(features(fe, [torch.from_numpy(a), torch.from_numpy(b)]), expected)
    np.testing.assert_array_equal(features(fe, [a.tolist(), b.tolist()]), expected)
    np.testing.assert_array_equal(features(fe, a.tolist()), expected[:1])
    np.testing.assert_array_equal(features(fe, a.astype(np.float64)), expected[:1])
    np.testing.assert_array_equal(features(fe, a.astype(np.float16)), features(fe, a.astype(np.float16).astype(np.float32)))
    single = fe(a, sampling_rate=SR)
    assert single["input_values"].shape[0] == 1


def test_pcm_integer_dtypes(fe):
    rng = np.random.default_rng(0)
    pcm16 = (music(1.0) * 2**15).astype(np.int16)
    np.testing.assert_allclose(features(fe, pcm16), features(fe, pcm16.astype(np.float32) / 2**15), atol=1e-4)
    np.testing.assert_array_equal(features(fe, pcm16.astype(">i2")), features(fe, pcm16))  # big-endian PCM
    pcm32 = rng.integers(-(2**30), 2**30, 16000, dtype=np.int32)
    np.testing.assert_allclose(features(fe, pcm32), features(fe, pcm32 / 2**31), atol=1e-4)
    pcm8 = rng.integers(0, 256, 16000).astype(np.uint8)
    np.testing.assert_allclose(features(fe, pcm8), features(fe, (pcm8.astype(np.float32) - 128) / 128), atol=1e-4)


@pytest.mark.parametrize(
    "dtype", [np.int8, np.int64, np.uint16, np.uint32, np.uint64, np.bool_, np.complex64, object, "<U1"]
)
def test_rejected_dtypes(fe, dtype):
    x = np.zeros(4000).astype(dtype)
    with pytest.raises(ValueError, match="Accepted dtypes: float16, float32 or float64"):
        fe(x, sampling_rate=SR)


def test_python_integer_lists(fe):
    clip = (music(1.0) * 2**15).astype(np.int16)
    with pytest.raises(ValueError, match=r"list of integers up to \d+.*PCM.*dtype=np.int16"):
        fe(clip.tolist(), sampling_rate=SR)
    # Integers within [-1, 1] are sample values like any other number.
    np.testing.assert_array_equal(features(fe, [0, 1, -1] * 400), features(fe, np.array([0, 1, -1] * 400, np.float32)))


def test_float_audio_far_outside_unit_range_warns(fe):
    quiet = music(1.0)
    fe_module.logger.warning_once.cache_clear()
    with CaptureLogger(fe_module.logger) as captured:
        fe(quiet, sampling_rate=SR)
        fe(quiet / np.abs(quiet).max() * 10 ** (25 / 20), sampling_rate=SR)  # a pretraining view boosted 25 dB
    assert "far outside" not in captured.out
    fe_module.logger.warning_once.cache_clear()  # warning_once would hide a repeat of an earlier test's warning
    with CaptureLogger(fe_module.logger) as captured:
        fe(quiet * 2**15, sampling_rate=SR)
    assert "far outside the [-1, 1] range" in captured.out and "2**15" in captured.out


def test_list_of_strings_is_rejected(fe):
    with pytest.raises(ValueError, match="not a flat list of numbers"):
        fe([["a"] * 1000], sampling_rate=SR)


@pytest.mark.parametrize(
    "make",
    [
        lambda: np.zeros((16000, 2), np.float32),  # soundfile's (samples, channels)
        lambda: torch.zeros(16000, 8),
        lambda: np.zeros((2, 2, 16000), np.float32),
        lambda: [np.zeros(16000, np.float32), np.zeros((16000, 2), np.float32)],
    ],
)
def test_multichannel_is_rejected(fe, make):
    with pytest.raises(ValueError, match=r"multichannel.*mix it down.*mean\(axis=-1\).*load_audio"):
        fe(make(), sampling_rate=SR)


def test_two_dimensional_batch_of_few_long_clips_is_accepted(fe):
    assert features(fe, np.zeros((2, 16000), np.float32)).shape == (2, 32, 128)


# ---------------------------------------------------------------------------------------------------------------------
# bad inputs


def test_sampling_rate_mismatch(fe):
    with pytest.raises(ValueError, match=r"44100 Hz.*expects 16000 Hz.*resample=True.*load_audio"):
        fe(music(1.0), sampling_rate=44100)
    with pytest.raises(ValueError, match="needs the `sampling_rate`"):
        fe(music(1.0), resample=True)


def test_missing_sampling_rate_warns(fe):
    with CaptureLogger(fe_module.logger) as captured:
        fe(music(1.0))
    assert "sampling_rate" in captured.out


def test_empty_and_short_clips(fe):
    with pytest.raises(ValueError, match="Clip 1 is empty"):
        fe([music(1.0), np.zeros(0, np.float32)], sampling_rate=SR)
    with pytest.raises(ValueError, match="Clip 0 has 512 samples.*minimum of 513.*Zero-pad"):
        fe(np.ones(512, np.float32), sampling_rate=SR)
    with pytest.raises(ValueError, match="empty list"):
        fe([], sampling_rate=SR)
    with pytest.raises(ValueError, match=r"empty batch of shape \(0, 16000\)"):
        fe(np.zeros((0, 16000), np.float32), sampling_rate=SR)
    with pytest.raises(ValueError, match="empty batch"):
        fe(torch.zeros(0, 16000), sampling_rate=SR)
    assert features(fe, music(513 / SR)).shape == (1, 2, 128)


@pytest.mark.parametrize("bad", [np.nan, np.inf, -np.inf])
def test_non_finite_values(fe, bad):
    clip = music(1.0)
    clip[100] = bad
    with pytest.raises(ValueError, match="Clip 2 contains NaN or infinite"):
        fe([music(1.0), music(1.0), clip], sampling_rate=SR)


def test_bad_backend_and_device(fe):
    with pytest.raises(ValueError, match="'torch' or 'numpy'"):
        fe(music(1.0), sampling_rate=SR, backend="jax")
    with pytest.raises(ValueError, match="CPU only"):
        fe(music(1.0), sampling_rate=SR, backend="numpy", device="cuda")


# ---------------------------------------------------------------------------------------------------------------------
# resampling and normalization


def test_resample_equals_resampling_first(fe):
    x44 = music(3.0, 0, sampling_rate=44100)
    expected = features(fe, soxr.resample(x44, 44100, SR, quality="HQ"))
    np.testing.assert_array_equal(features(fe, x44, sampling_rate=44100, resample=True), expected)
    np.testing.assert_array_equal(features(fe, x44, sampling_rate=44100, resample=True, backend="numpy").shape,
                                  expected.shape)


def test_short_clip_after_resampling(fe):
    with pytest.raises(ValueError, match="after resampling to 16000 Hz"):
        fe(np.ones(1000, np.float32), sampling_rate=44100, resample=True)


def test_peak_normalization(fe):
    x = music(2.0)
    scaled = 0.05 * x
    normalized = x / np.abs(x).max()
    np.testing.assert_allclose(features(fe, scaled, do_peak_normalize=True), features(fe, normalized), atol=1e-3)
    assert not np.allclose(features(fe, scaled), features(fe, normalized), atol=1)
    on = ViT1DFeatureExtractor(do_peak_normalize=True)
    np.testing.assert_allclose(features(on, scaled), features(fe, normalized), atol=1e-3)
    silent = np.zeros(4000, np.float32)
    np.testing.assert_array_equal(features(on, silent), features(fe, silent))


# ---------------------------------------------------------------------------------------------------------------------
# serialization and token times


def test_save_and_load_round_trip(tmp_path):
    extractor = ViT1DFeatureExtractor(top_db=None, feature_size=64, f_max=7000.0, do_peak_normalize=True)
    extractor.save_pretrained(tmp_path)
    saved = json.loads((tmp_path / "preprocessor_config.json").read_text())
    assert "mel_filters" not in saved and "window" not in saved
    assert saved["feature_size"] == 64 and saved["top_db"] is None and saved["f_max"] == 7000.0
    loaded = ViT1DFeatureExtractor.from_pretrained(tmp_path)
    assert loaded.to_dict() == extractor.to_dict()
    np.testing.assert_array_equal(loaded.mel_filters, extractor.mel_filters)
    x = music(2.0)
    np.testing.assert_array_equal(features(loaded, x), features(extractor, x))
    assert features(loaded, x).shape == (1, 63, 64)


def test_corpus_statistics_standardise_each_real_frame_in_both_backends(fe, tmp_path):
    rng = np.random.default_rng(3)
    mean, std = rng.uniform(-60, -10, 128), rng.uniform(3, 20, 128)
    standardised = ViT1DFeatureExtractor(mel_mean=list(mean), mel_std=list(std))
    clips = [music(2.0), music(1.0)]
    plain = fe(clips, sampling_rate=16000, return_tensors="np")
    for backend in ("torch", "numpy"):
        got = standardised(clips, sampling_rate=16000, return_tensors="np", backend=backend)
        real = plain["attention_mask"].astype(bool)
        np.testing.assert_allclose(got["input_values"][real], ((plain["input_values"] - mean) / std)[real],
                                   atol=2e-4, rtol=0)
        assert (got["input_values"][~real] == fe.padding_value).all()  # padding stays the padding value
    standardised.save_pretrained(tmp_path)
    loaded = ViT1DFeatureExtractor.from_pretrained(tmp_path)
    assert loaded.mel_mean == standardised.mel_mean and loaded.mel_std == standardised.mel_std
    for bad, message in ((dict(mel_mean=[0.0] * 128), "go together"),
                         (dict(mel_mean=[0.0] * 64, mel_std=[1.0] * 64), "one value per mel bin"),
                         (dict(mel_mean=[0.0] * 128, mel_std=[0.0] * 128), "positive")):
        with pytest.raises(ValueError, match=message):
            ViT1DFeatureExtractor(**bad)


def test_invalid_config():
    with pytest.raises(ValueError, match="top_db"):
        ViT1DFeatureExtractor(top_db=0)


def test_frame_times(fe):
    np.testing.assert_allclose(fe.frame_times(4), [0.0, 0.032, 0.064, 0.096])
    np.testing.assert_allclose(fe.frame_times(5, frames_per_patch=2), [0.016, 0.080, 0.144])
    assert fe.frame_times(4).dtype == np.float64
    assert fe.frames_per_second == 31.25
    for n in (513, 64000, 64511, 64512):
        assert len(fe.frame_times(fe.num_frames(n))) == fe.num_frames(n)
    assert len(fe.frame_times(126, frames_per_patch=4)) == 32
    with pytest.raises(ValueError, match="frames_per_patch"):
        fe.frame_times(10, frames_per_patch=0)


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")
def test_cuda_matches_cpu(fe):
    clips = [music(4.0, 0), music(2.5, 1, silence=(1, 2)), white_noise(3.0)]
    cpu = features(fe, clips)
    np.testing.assert_allclose(features(fe, clips, device="cuda"), cpu, atol=1e-3)
    np.testing.assert_allclose(features(fe, [torch.from_numpy(c).cuda() for c in clips]), cpu, atol=1e-3)
    cpu_pt = fe(clips, sampling_rate=SR, return_tensors="pt", padding="max_length", max_length=150)
    for out in (
        fe(clips, sampling_rate=SR, return_tensors="pt", device="cuda", padding="max_length", max_length=150),
        fe([torch.from_numpy(c).cuda() for c in clips], sampling_rate=SR, return_tensors="pt", padding="max_length",
           max_length=150),
    ):
        assert out["input_values"].device.type == "cuda" and out["attention_mask"].device.type == "cuda"
        torch.testing.assert_close(out["input_values"].cpu(), cpu_pt["input_values"], rtol=0, atol=1e-3)
        torch.testing.assert_close(out["attention_mask"].cpu(), cpu_pt["attention_mask"], rtol=0, atol=0)
    numpy_out = fe(clips, sampling_rate=SR, return_tensors="np", device="cuda")
    assert isinstance(numpy_out["input_values"], np.ndarray) and isinstance(numpy_out["attention_mask"], np.ndarray)
