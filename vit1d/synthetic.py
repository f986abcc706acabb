"""Synthetic music-like test signals, for demos, tests and benchmarks on machines without any audio data."""

import numpy as np


def synthetic_music(seconds: float, sampling_rate: int = 16000, seed: int = 0) -> np.ndarray:
    """Harmonic notes with decaying envelopes, a noise burst at every note onset and a quarter-second silent gap in
    the middle: a mono float32 signal (peak 0.3) whose spectrum changes like music's, deterministic for a seed.
    Real rendered music with labels comes from `vit1d.corpus`."""
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
    peak = np.abs(signal).max()
    return (0.3 * signal / peak if peak > 0 else signal).astype(np.float32)
