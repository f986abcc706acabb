"""The corpus's recording realism (vit1d.corpus.effects): every effect changes the audio by the amount its record
says, measured independently of how it was made, and the same seed gives the same audio."""

import dataclasses
import json

import numpy as np
import pytest
from scipy.signal import oaconvolve, welch

from vit1d.corpus.effects import (
    PARAM_KEYS,
    RealismSettings,
    add_noise,
    apply_realism,
    coloured_noise,
    draw_realism,
    equalise,
    impulse_response,
    realism_stages,
    reverberate,
    set_peak_level,
    tilt_gain_db,
)

SR = 16000


def music(seconds=3.0, sampling_rate=SR, seed=0):
    """A stand-in for a render: decaying harmonic notes every quarter second, then a little silence."""
    t = np.arange(int(seconds * sampling_rate)) / sampling_rate
    pitches = np.random.default_rng(seed).choice([220.0, 277.2, 329.6, 440.0], size=int(seconds * 4))
    frequency = pitches[np.minimum((t * 4).astype(int), pitches.size - 1)]
    audio = sum(np.sin(2 * np.pi * k * frequency * t) / k for k in (1, 2, 3)) * np.exp(-6 * (t % 0.25))
    audio[-sampling_rate // 4:] = 0.0
    return (0.9 * audio / np.max(np.abs(audio))).astype(np.float32)


def spectral_slope(audio, sampling_rate=SR, low=100.0, high=6000.0):
    """dB per octave of the power spectral density: a regression of the mean density in third-octave bands between
    `low` and `high` Hz over the log2 of their centres (white noise: 0, pink: -3)."""
    frequencies, density = welch(audio, sampling_rate, nperseg=4096)
    centres = low * 2.0 ** (np.arange(int(3 * np.log2(high / low)) + 1) / 3)
    levels = [10 * np.log10(density[(frequencies >= c * 2**-(1 / 6)) & (frequencies < c * 2 ** (1 / 6))].mean())
              for c in centres]
    return np.polyfit(np.log2(centres), levels, 1)[0]


def schroeder_rt60(response, sampling_rate, top_db=-5.0, bottom_db=-35.0):
    """RT60 from Schroeder's backward-integrated energy decay: the -60 dB time of a line fitted between `top_db`
    and `bottom_db` (-5 to -35: T30; -5 to -25: T20)."""
    energy = np.cumsum(response[::-1] ** 2)[::-1]
    decay_db = 10 * np.log10(energy / energy[0])
    fit = (decay_db <= top_db) & (decay_db >= bottom_db)
    slope = np.polyfit(np.arange(response.size)[fit] / sampling_rate, decay_db[fit], 1)[0]
    return -60.0 / slope


def power_db(x):
    return 10 * np.log10(np.mean(np.asarray(x, dtype=np.float64) ** 2))


def all_on(**overrides):
    params = {"seed": 12345, "rt60_s": 0.8, "drr_db": 6.0, "predelay_ms": 10.0, "tilt_db_per_octave": -1.5,
              "eq_hz": 800.0, "eq_gain_db": 4.0, "eq_q": 1.0, "noise_colour": "pink", "snr_db": 15.0,
              "peak_dbfs": -6.0}
    return {**params, **overrides}


# Determinism.


def test_same_params_give_the_same_audio_also_through_json():
    audio, params = music(), draw_realism(3)
    out = apply_realism(audio, SR, params)
    assert out.dtype == np.float32 and out.shape == audio.shape and np.all(np.isfinite(out))
    np.testing.assert_array_equal(out, apply_realism(audio, SR, params))
    np.testing.assert_array_equal(out, apply_realism(audio, SR, json.loads(json.dumps(params))))
    assert not np.array_equal(out, audio)


def test_same_seed_gives_the_same_params_and_other_seeds_others():
    audio = music()
    first = draw_realism((7, 1))
    assert first == draw_realism((7, 1)) == draw_realism(np.random.default_rng((7, 1)))
    assert set(first) == set(PARAM_KEYS) and all(value is not None for value in first.values())
    assert json.loads(json.dumps(first)) == first
    np.testing.assert_array_equal(apply_realism(audio, SR, first), apply_realism(audio, SR, draw_realism((7, 1))))
    second = draw_realism((7, 2))
    assert all(first[key] != second[key] for key in PARAM_KEYS if key != "noise_colour")
    assert not np.allclose(apply_realism(audio, SR, first), apply_realism(audio, SR, second))
    # Only the seed differs: the impulse response and the noise both change with it.
    reseeded = apply_realism(audio, SR, {**first, "seed": first["seed"] + 1})
    assert not np.allclose(apply_realism(audio, SR, first), reseeded)


def test_draws_stay_in_their_ranges_and_turning_one_effect_off_leaves_the_others():
    settings = RealismSettings()
    draws = [draw_realism(seed, settings) for seed in range(300)]
    for key, bounds in [("rt60_s", settings.rt60_range), ("drr_db", settings.drr_db_range),
                        ("predelay_ms", settings.predelay_ms_range), ("eq_hz", settings.eq_hz_range),
                        ("tilt_db_per_octave", settings.tilt_db_per_octave_range),
                        ("eq_gain_db", settings.eq_gain_db_range), ("eq_q", settings.eq_q_range),
                        ("snr_db", settings.snr_db_range), ("peak_dbfs", settings.level_dbfs_range)]:
        values = np.array([draw[key] for draw in draws])
        assert bounds[0] <= values.min() < values.max() <= bounds[1], key
    # RT60 is log-uniform: about half the rooms below the geometric mean of the range.
    assert 0.4 < np.mean([draw["rt60_s"] < np.sqrt(0.3 * 2.0) for draw in draws]) < 0.6
    assert {draw["noise_colour"] for draw in draws} == {"white", "pink"}
    dry = dataclasses.replace(settings, reverb_probability=0.0)
    for seed in range(5):
        full, without_reverb = draw_realism(seed, settings), draw_realism(seed, dry)
        assert without_reverb["rt60_s"] is without_reverb["drr_db"] is without_reverb["predelay_ms"] is None
        assert {k: v for k, v in full.items() if k not in ("rt60_s", "drr_db", "predelay_ms")} == {
            k: v for k, v in without_reverb.items() if k not in ("rt60_s", "drr_db", "predelay_ms")}
    # The noise's random numbers do not depend on the reverb: turning the reverb off only rescales the noise.
    audio, params = music(), draw_realism(5)
    noises = []
    for reverb in (params, {**params, "rt60_s": None, "drr_db": None, "predelay_ms": None}):
        stages = realism_stages(audio, SR, reverb)
        noises.append((stages["noise"] - stages["eq"]) / np.std(stages["noise"] - stages["eq"]))
    np.testing.assert_allclose(noises[0], noises[1], atol=1e-9)
    half = [draw_realism(seed, dataclasses.replace(settings, noise_probability=0.5)) for seed in range(300)]
    assert 0.35 < np.mean([draw["snr_db"] is None for draw in half]) < 0.65


# Every effect by its recorded amount.


@pytest.mark.parametrize("colour", ["white", "pink"])
@pytest.mark.parametrize("snr_db", [5.0, 17.5, 30.0])
def test_added_noise_is_at_the_recorded_snr(colour, snr_db):
    signal = music().astype(np.float64)
    noisy = add_noise(signal, SR, snr_db, colour, seed=4)
    assert abs(power_db(signal) - power_db(noisy - signal) - snr_db) < 0.1
    np.testing.assert_array_equal(noisy, add_noise(signal, SR, snr_db, colour, seed=4))


def test_the_written_audio_has_the_recorded_snr_and_peak():
    """Through the whole chain, at the float32 output: level scales signal and noise alike."""
    params = all_on(snr_db=12.34, peak_dbfs=-3.21)
    stages = realism_stages(music(), SR, params)
    out = apply_realism(music(), SR, params).astype(np.float64)
    np.testing.assert_array_equal(out, stages["level"].astype(np.float32))
    gain = np.max(np.abs(out)) / np.max(np.abs(stages["noise"]))
    signal = gain * stages["eq"]
    assert abs(power_db(signal) - power_db(out - signal) - 12.34) < 0.1
    assert abs(20 * np.log10(np.max(np.abs(out))) + 3.21) < 0.01


@pytest.mark.parametrize("rt60_s", [0.3, 1.0, 2.0])
def test_the_impulse_response_decays_at_the_recorded_rt60_with_the_recorded_ratio(rt60_s):
    response = impulse_response(rt60_s, drr_db=4.0, predelay_ms=15.0, sampling_rate=SR, seed=9)
    start = round(15.0e-3 * SR)
    assert response[0] == 1.0 and not np.any(response[1:start]) and response[start] != 0.0
    tail = response[start:]
    assert abs(schroeder_rt60(tail, SR) / rt60_s - 1) < 0.1
    assert abs(schroeder_rt60(tail, SR, bottom_db=-25.0) / rt60_s - 1) < 0.1
    assert abs(10 * np.log10(response[0] ** 2 / np.sum(tail**2)) - 4.0) < 1e-9


def test_reverb_is_the_convolution_cut_to_length_and_keeps_the_onsets_in_place():
    audio = music()
    wet = reverberate(audio, SR, rt60_s=1.2, drr_db=3.0, predelay_ms=5.0, seed=2)
    response = impulse_response(1.2, 3.0, 5.0, SR, seed=2)
    assert wet.shape == audio.shape
    np.testing.assert_allclose(wet, oaconvolve(audio.astype(np.float64), response)[: audio.size], atol=1e-9)
    # The direct path is undelayed: the first five ms are the dry audio, the reverb fills the final silence.
    np.testing.assert_allclose(wet[: round(5e-3 * SR)], audio[: round(5e-3 * SR)], atol=1e-6)
    assert np.max(np.abs(wet[-SR // 8:])) > 0.01
    assert np.array_equal(realism_stages(audio, SR, all_on(seed=8, rt60_s=1.2, drr_db=3.0, predelay_ms=5.0))["reverb"],
                          reverberate(audio, SR, 1.2, 3.0, 5.0, (8, 0)))


@pytest.mark.parametrize("tilt", [-3.0, -1.25, 0.0, 2.0, 3.0])
def test_the_tilt_slopes_white_noise_by_the_recorded_amount(tilt):
    noise = np.random.default_rng(1).standard_normal(4 * SR)
    assert abs(spectral_slope(equalise(noise, SR, tilt_db_per_octave=tilt)) - tilt) < 0.5
    assert tilt_gain_db(np.array([1000.0]), tilt)[0] == 0.0


@pytest.mark.parametrize(("centre", "gain", "q", "tilt"), [(150.0, 6.0, 0.7, None), (800.0, -6.0, 2.0, None),
                                                          (3000.0, 4.5, 1.2, 2.0), (5000.0, -3.0, 1.0, -3.0)])
def test_the_peaking_band_changes_its_centre_by_the_recorded_gain(centre, gain, q, tilt):
    noise = np.random.default_rng(2).standard_normal(4 * SR)
    out = equalise(noise, SR, tilt, eq_hz=centre, eq_gain_db=gain, eq_q=q)
    frequencies, before = welch(noise, SR, nperseg=8192)
    after = welch(out, SR, nperseg=8192)[1]
    at_centre = np.abs(frequencies - centre) <= 0.01 * centre
    change = 10 * np.log10(after[at_centre].mean() / before[at_centre].mean())
    expected = gain + (tilt_gain_db(np.array([centre]), tilt)[0] if tilt is not None else 0.0)
    assert abs(change - expected) < 0.5
    # Far from the band (and with no tilt), nothing changes.
    if tilt is None:
        far = np.abs(np.log2(np.maximum(frequencies, 1.0) / centre)) > 3
        assert abs(10 * np.log10(after[far].sum() / before[far].sum())) < 0.5


@pytest.mark.parametrize("peak_dbfs", [-20.0, -6.02, -1.0, 0.0])
def test_the_level_puts_the_peak_at_the_recorded_dbfs_without_clipping(peak_dbfs):
    # Loud noise pushes the peak far past full scale before the level stage.
    params = all_on(snr_db=5.0, noise_colour="white", peak_dbfs=peak_dbfs, drr_db=0.0)
    out = apply_realism(music(), SR, params)
    peak = np.max(np.abs(out))
    assert np.max(np.abs(realism_stages(music(), SR, params)["noise"])) > 1.0
    assert abs(20 * np.log10(peak) - peak_dbfs) < 0.01 and peak <= 1.0
    assert abs(20 * np.log10(np.max(np.abs(set_peak_level(music(), peak_dbfs)))) - peak_dbfs) < 0.01


@pytest.mark.parametrize(("colour", "slope"), [("white", 0.0), ("pink", -3.0)])
def test_noise_colours_have_their_spectral_slopes(colour, slope):
    noise = coloured_noise(4 * SR, SR, colour, seed=5)
    assert abs(spectral_slope(noise) - slope) < 0.5
    assert abs(np.mean(noise**2) - 1.0) < 1e-9


# Effects off, edge cases.


def test_everything_off_leaves_the_audio_unchanged_and_level_alone_only_scales():
    audio = music()
    params = draw_realism(0, RealismSettings.off())
    assert params["seed"] is not None and all(params[key] is None for key in PARAM_KEYS if key != "seed")
    out = apply_realism(audio, SR, params)
    assert out.dtype == np.float32 and np.array_equal(out, audio)
    level_only = apply_realism(audio, SR, {**params, "peak_dbfs": -12.0})
    np.testing.assert_allclose(level_only, audio * (10 ** (-12 / 20) / np.max(np.abs(audio))), rtol=1e-6)
    off = RealismSettings(reverb_probability=0.0, tilt_db_per_octave_range=None, eq_gain_db_range=None,
                          noise_probability=0.0, level_dbfs_range=None)
    assert np.array_equal(apply_realism(audio, SR, draw_realism(0, off)), audio)


def test_silence_and_very_short_audio_pass_without_nans():
    params = draw_realism(1)
    silence = np.zeros(SR, dtype=np.float32)
    assert np.array_equal(apply_realism(silence, SR, params), silence)
    for size in (0, 1, 2, 17):
        out = apply_realism(np.linspace(-0.5, 0.5, size, dtype=np.float32), SR, params)
        assert out.shape == (size,) and out.dtype == np.float32 and np.all(np.isfinite(out))
        if size:
            assert abs(20 * np.log10(np.max(np.abs(out))) - params["peak_dbfs"]) < 0.01
    with pytest.raises(ValueError, match="NaN"):
        apply_realism(np.array([0.0, np.nan], dtype=np.float32), SR, params)
    with pytest.raises(ValueError, match="mono"):
        apply_realism(np.zeros((2, 100), dtype=np.float32), SR, params)


@pytest.mark.parametrize("sampling_rate", [8000, 22050, 44100])
def test_other_sampling_rates(sampling_rate):
    audio = music(2.0, sampling_rate)
    params = draw_realism(11, RealismSettings(eq_hz_range=(4000.0, 5000.0)), sampling_rate=sampling_rate)
    assert params["eq_hz"] <= 0.45 * sampling_rate
    out = apply_realism(audio, sampling_rate, params)
    assert out.shape == audio.shape and np.all(np.isfinite(out))
    assert abs(20 * np.log10(np.max(np.abs(out))) - params["peak_dbfs"]) < 0.01
    response = impulse_response(0.5, 6.0, 0.0, sampling_rate, seed=0)
    assert abs(schroeder_rt60(response[1:], sampling_rate) / 0.5 - 1) < 0.1
    assert abs(spectral_slope(coloured_noise(4 * sampling_rate, sampling_rate, "pink", 0), sampling_rate,
                              high=min(6000.0, 0.4 * sampling_rate)) + 3.0) < 0.5


def test_bad_settings_and_records_are_refused():
    with pytest.raises(ValueError, match="level_dbfs_range"):
        RealismSettings(level_dbfs_range=(-6.0, 3.0))
    with pytest.raises(ValueError, match="rt60_range"):
        RealismSettings(rt60_range=(2.0, 0.3))
    with pytest.raises(ValueError, match="noise_colours"):
        RealismSettings(noise_colours=("brown",))
    with pytest.raises(ValueError, match="keys"):
        apply_realism(music(), SR, {**draw_realism(0), "reverb": True})
    with pytest.raises(ValueError, match="all be set"):
        apply_realism(music(), SR, {**draw_realism(0), "drr_db": None})
    with pytest.raises(ValueError, match="Nyquist"):
        apply_realism(music(), 8000, all_on(eq_hz=5000.0))
