import numpy as np
import pytest
import torch

import vit1d
from vit1d.hub import AUTO_CLASSES


def tiny_config(**overrides):
    """A small ViT-1D for fast tests; the full-size model is tested where size matters."""
    values = dict(num_mel_bins=16, hidden_size=32, num_hidden_layers=3, num_attention_heads=2, intermediate_size=64)
    values.update(overrides)
    return vit1d.ViT1DConfig(**values)


@pytest.fixture
def rng():
    return np.random.default_rng(0)


@pytest.fixture(autouse=True)
def _seed():
    torch.manual_seed(0)


@pytest.fixture
def restore_auto_classes():
    """`register_for_auto_class` sets class attributes; undo them so tests do not leak into each other."""
    classes = [*AUTO_CLASSES.values(), vit1d.ViT1DFeatureExtractor]
    saved = {cls: cls.__dict__.get("_auto_class") for cls in classes}
    yield
    for cls, value in saved.items():
        if value is None and "_auto_class" in cls.__dict__:
            delattr(cls, "_auto_class")
        elif value is not None:
            cls._auto_class = value


def music_like(seconds: float, sampling_rate: int = 16000, seed: int = 0) -> np.ndarray:
    """Harmonic tones with note changes, percussive noise bursts and a silent gap: a spectrally varied test signal."""
    rng = np.random.default_rng(seed)
    n = int(seconds * sampling_rate)
    t = np.arange(n) / sampling_rate
    signal = np.zeros(n)
    note_length = int(0.25 * sampling_rate)
    for start in range(0, n, note_length):
        f0 = 110 * 2 ** (rng.integers(0, 36) / 12)
        segment = slice(start, min(start + note_length, n))
        envelope = np.exp(-np.arange(segment.stop - segment.start) / (0.1 * sampling_rate))
        for harmonic in range(1, 6):
            signal[segment] += envelope * np.sin(2 * np.pi * f0 * harmonic * t[segment]) / harmonic
        burst = min(400, segment.stop - segment.start)
        signal[start : start + burst] += 0.3 * rng.standard_normal(burst)
    signal[n // 2 : n // 2 + sampling_rate // 4] = 0.0
    return (0.3 * signal / np.abs(signal).max()).astype(np.float32)
