"""The GPU pretraining script's CPU dry run: shards written here, a few training steps without the vit1d package, and
encoder folders assembled from the returned weights."""

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import soundfile as sf
import torch

from vit1d import ViT1DFeatureExtractor, ViT1DModel
from vit1d.data.mel_shards import DB_RANGE, dequantise, quantise, segment_starts, write_mel_shards
from vit1d.data.sources import open_tracks

REPO = Path(__file__).resolve().parents[1]
SCRIPT = REPO / "gpu" / "pretrain.py"


def load_script():
    """gpu/pretrain.py as a module (it is a script, not part of the package)."""
    import importlib.util

    spec = importlib.util.spec_from_file_location("gpu_pretrain", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_quantisation_round_trips_within_half_a_step():
    values = np.linspace(DB_RANGE[0] - 5, DB_RANGE[1] + 5, 1000)
    codes, clipped = quantise(values)
    assert codes.dtype == np.uint8 and clipped == np.count_nonzero((values < -100) | (values > 40))
    inside = (values >= DB_RANGE[0]) & (values <= DB_RANGE[1])
    step = (DB_RANGE[1] - DB_RANGE[0]) / 255
    assert np.abs(dequantise(codes)[inside] - values[inside]).max() <= step / 2 + 1e-9
    assert list(segment_starts(60.0, 5.0, 10.0)) == [0.0, 11.0, 22.0, 33.0, 44.0, 55.0]
    assert len(segment_starts(4.0, 5.0, 10.0)) == 0 and len(segment_starts(6.0, 5.0, 100.0)) == 2


def test_dry_run_trains_without_vit1d_and_assembles_loadable_encoders(tmp_path):
    rng = np.random.default_rng(0)
    music = tmp_path / "music"
    music.mkdir()
    for index in range(6):
        sf.write(music / f"t{index}.wav", (0.05 * (index + 1) * rng.standard_normal(30 * 16000)).astype(np.float32),
                 16000)
    shards = tmp_path / "shards"
    summary = write_mel_shards(open_tracks(music), shards, max_bytes=2 << 20)
    data = np.load(shards / "mel_shards.npz")
    assert data["mel"].dtype == np.uint8 and data["mel"].shape[1:] == (157, 128)
    assert summary["bytes"] <= 2 << 20 and set(data["track"]) == set(range(6))
    # The shards hold the extractor's features of each segment, quantised.
    extractor = ViT1DFeatureExtractor()
    first = extractor(sf.read(music / "t0.wav", dtype="float32")[0][:5 * 16000], sampling_rate=16000)
    assert np.abs(dequantise(data["mel"][0]) - first["input_values"][0]).max() < 0.3

    returned = tmp_path / "returned"
    done = subprocess.run([sys.executable, str(SCRIPT), "train", "--shards", str(shards), "--out", str(returned),
                           "--seeds", "0,1", "--batch_size", "4", "--dry_run"],
                          capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-3000:]
    log = json.loads((returned / "log.json").read_text())
    assert log["vit1d_imported"] is False and sorted(log["seeds"]) == ["0", "1"]
    assert all(np.isfinite(record["loss"]).all() and record["steps_done"] == 3 for record in log["seeds"].values())
    assert sorted(p.name for p in returned.iterdir()) == [
        "config.json", "log.json", "seed0-final.safetensors", "seed0-step0.safetensors", "seed1-final.safetensors",
        "seed1-step0.safetensors"]

    out = tmp_path / "encoders"
    done = subprocess.run([sys.executable, str(SCRIPT), "assemble", "--returned", str(returned), "--shards",
                           str(shards), "--output_dir", str(out)], capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-3000:]
    final = ViT1DModel.from_pretrained(out / "seed1")
    initial = ViT1DModel.from_pretrained(out / "seed1" / "initial_encoder")
    moved = [not torch.equal(a, b) for a, b in zip(final.state_dict().values(), initial.state_dict().values())]
    assert any(moved) and final.config.num_hidden_layers == 2
    loaded = ViT1DFeatureExtractor.from_pretrained(out / "seed1").to_dict()
    assert {k: v for k, v in loaded.items() if k != "auto_map"} == extractor.to_dict()
    assert (out / "seed1" / "README.md").is_file()


def test_view_augmentation_in_decibels_matches_the_waveform_augmentation():
    from scipy.signal import freqz

    from vit1d.corpus import effects
    from vit1d.data import streaming

    script = load_script()
    assert (script.TILT_PIVOT_HZ, script.TILT_BAND_HZ) == (effects.TILT_PIVOT_HZ, effects.TILT_BAND_HZ)
    assert (script.EQ_BAND_HZ, script.EQ_Q) == (streaming.EQ_BAND_HZ, streaming.EQ_Q)
    extractor = ViT1DFeatureExtractor()
    centres = script.mel_centres_hz(extractor.to_dict())
    # The centres are the peaks of the extractor's own triangular filters.
    peaks = np.argmax(extractor.mel_filters, axis=0) * extractor.sampling_rate / extractor.n_fft
    assert np.all(np.abs(centres - peaks) <= extractor.sampling_rate / extractor.n_fft)

    gain = script.view_offsets_db(centres, 64, np.random.default_rng(0), 16000, 6.0, 0.0, 0.0)
    assert np.all(gain == gain[:, :1]) and np.abs(gain).max() <= 6.0 and gain.std() > 2.0
    tilt = script.view_offsets_db(centres, 64, np.random.default_rng(1), 16000, 0.0, 3.0, 0.0)
    slopes = tilt / effects.tilt_gain_db(centres, 1.0)[None, :]
    assert np.allclose(slopes, slopes[:, :1]) and np.abs(slopes).max() <= 3.0
    # The band: the peaking biquad's own gain at each centre, for the parameters the same draws give.
    band = script.view_offsets_db(centres, 4, np.random.default_rng(2), 16000, 0.0, 0.0, 6.0)
    rng = np.random.default_rng(2)
    hz = np.exp(rng.uniform(np.log(100.0), np.log(5000.0), (4, 1)))[:, 0]
    gains = rng.uniform(-6.0, 6.0, (4, 1))[:, 0]
    qs = np.exp(rng.uniform(np.log(0.7), np.log(2.0), (4, 1)))[:, 0]
    for row, (f, g, q) in enumerate(zip(hz, gains, qs)):
        _, response = freqz(*effects.peaking_biquad(f, g, q, 16000), worN=centres, fs=16000)
        assert np.allclose(band[row], 20 * np.log10(np.abs(response)), atol=1e-6)
