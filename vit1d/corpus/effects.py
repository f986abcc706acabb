"""Recording realism for the rendered corpus: room reverb, EQ, a noise floor and a level, drawn per piece from a seed
and applied to a mono waveform from the drawn numbers alone.

A SoundFont render is dry, flat, noiseless and peak-normalised, which no recording is; a model probed only on such
audio can lean on those tells. `draw_realism(seed, settings)` draws the concrete parameters of one piece (a flat,
JSON-serialisable dict whose keys are `PARAM_KEYS`; an effect that is off has `None` values) and
`apply_realism(audio, sampling_rate, params)` applies them, so a corpus row that stores the dict says exactly what was
applied and reproduces the audio bit for bit:

    params = draw_realism((seed, 7), RealismSettings(), sampling_rate=16000)
    audio = apply_realism(audio, 16000, params)

The chain, in this order (`realism_stages` returns every stage):

1. reverb (`reverberate`): convolution with a synthetic room impulse response (`impulse_response`): a unit direct
   path at sample 0, so the labels' times stay right, then after a short pre-delay a Gaussian-noise tail with an
   exponential decay of 60 dB at RT60, scaled to the drawn direct-to-reverberant energy ratio. The room acts on the
   source first, as it does in a recording.
2. EQ (`equalise`): a spectral tilt in dB per octave around 1 kHz (zero-phase, in the frequency domain) and one RBJ
   peaking band (a causal biquad): the microphone and playback chain colour everything they pick up, room included.
3. noise (`add_noise`): white or pink noise at the drawn SNR relative to the reverberant, equalised signal. It is the
   recording's noise floor (hiss, room tone), so it is neither reverberated nor equalised, and its colour is the one
   recorded.
4. level (`set_peak_level`): one gain that puts the peak at the drawn dBFS (at most 0 dBFS, so nothing clips). It
   comes last because it scales signal and noise alike: the SNR of the written file is the recorded `snr_db`.

Pure numpy/scipy. The computation runs in float64 and `apply_realism` returns float32.
"""

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from scipy.fft import irfft, next_fast_len, rfft, rfftfreq
from scipy.signal import lfilter, oaconvolve

__all__ = [
    "NOISE_COLOURS",
    "PARAM_KEYS",
    "RealismSettings",
    "add_noise",
    "apply_realism",
    "coloured_noise",
    "draw_realism",
    "equalise",
    "impulse_response",
    "peaking_biquad",
    "realism_stages",
    "reverberate",
    "set_peak_level",
    "tilt_gain_db",
]

NOISE_COLOURS = ("white", "pink")

# The keys of a parameter dict, in drawing order; groups are all None (effect off) or all set.
REVERB_KEYS = ("rt60_s", "drr_db", "predelay_ms")
BAND_KEYS = ("eq_hz", "eq_gain_db", "eq_q")
NOISE_KEYS = ("noise_colour", "snr_db")
PARAM_KEYS = ("seed", *REVERB_KEYS, "tilt_db_per_octave", *BAND_KEYS, *NOISE_KEYS, "peak_dbfs")

# ln(1000): an amplitude envelope exp(-DECAY_60DB * t / RT60) is 60 dB down at t = RT60.
DECAY_60DB = 3.0 * np.log(10.0)
# The reverberant tail runs to 1.2 RT60 (72 dB down): past what 16-bit audio resolves under the direct sound, and
# long enough that a Schroeder integration over its first 35 dB is not bent by the cut.
TAIL_RT60S = 1.2
# The tilt pivots on 1 kHz and is flat outside 50 Hz - 16 kHz, so that a steep tilt neither boosts DC and rumble
# nor the top octave of a 44.1 kHz file by tens of dB.
TILT_PIVOT_HZ = 1000.0
TILT_BAND_HZ = (50.0, 16000.0)
# Pink noise is 1/f above 20 Hz and flat below, so that sub-audio rumble does not take most of its power.
PINK_FLOOR_HZ = 20.0
# Zero padding (seconds) before the tilt's FFT: the zero-phase response of the tilt (a few tens of ms, set by its
# 50 Hz corner) wraps into the padding rather than from the end of the piece onto its start.
TILT_PAD_S = 0.25
# A drawn peaking band stays below this fraction of the sampling rate (0.5 is Nyquist).
MAX_BAND_FRACTION = 0.45

Range = tuple[float, float]
SeedLike = int | Sequence[int] | np.random.Generator


@dataclass(frozen=True)
class RealismSettings:
    """The ranges the parameters of a piece are drawn from (uniformly, or log-uniformly where said). A range of
    `None`, or a probability of 0, turns that effect off; `RealismSettings.off()` turns everything off.

    rt60_range: reverberation time in seconds, drawn log-uniformly: 0.3 s (a furnished living room) to 2 s (a concert
        hall), the range of the Benchmark v2 issue. Log-uniform because perceived reverberance goes with the ratio:
        half the pieces are below the geometric mean, 0.77 s, as most recordings are made in small rooms.
    reverb_probability: the chance a piece is reverberated at all. 1: every recording has a room, and the drawn
        direct-to-reverberant ratio already spans close-miked (nearly dry) to distant.
    drr_db_range: direct-to-reverberant energy ratio of the impulse response, dB: 0 (as much room as source, a
        listener at the room's critical distance) to 12 (a close microphone). Lower values smear the onsets and
        chords the labels describe beyond what a labelled benchmark should ask.
    predelay_ms_range: gap between the direct sound and the reverberant tail, ms: 0 to 20, small rooms to halls.
    tilt_db_per_octave_range: spectral tilt around 1 kHz, dB per octave: -3 (muffled: through a wall, an old
        recording) to +3 (thin: a phone or laptop speaker), the extremes of ordinary recording chains.
    eq_hz_range: centre of the one peaking band, Hz, drawn log-uniformly: 100 Hz (room modes, bass boost) to 5 kHz
        (presence); below the Nyquist frequency of 11.025 kHz audio. `draw_realism` keeps it below
        `MAX_BAND_FRACTION` of the sampling rate it is given.
    eq_gain_db_range: gain of that band, dB: -6 to +6, a clearly audible but ordinary EQ move. `None` turns the band
        off (the centre and Q ranges are then ignored).
    eq_q_range: quality factor of the band, drawn log-uniformly: 0.7 (an octave and a half wide) to 2 (about two
        thirds of an octave): broad, as room and microphone colourations are.
    snr_db_range: signal-to-noise ratio of the added noise floor over the whole piece, dB: 5 (very noisy) to 30
        (a quiet home recording), the issue's range.
    noise_probability: the chance a piece gets a noise floor. 1: every recording has one.
    noise_colours: the colours drawn from, with equal chances: "white" (flat: electronic hiss) and "pink" (-3 dB per
        octave: room tone, air handling).
    level_dbfs_range: peak level of the result, dBFS: -20 (a quiet, unmastered recording) to -1 (the usual
        mastering ceiling). At most 0, so the level stage never clips; `None` leaves the level alone (and then
        reverb and noise can push the peak past full scale).
    """

    rt60_range: Range | None = (0.3, 2.0)
    reverb_probability: float = 1.0
    drr_db_range: Range = (0.0, 12.0)
    predelay_ms_range: Range = (0.0, 20.0)
    tilt_db_per_octave_range: Range | None = (-3.0, 3.0)
    eq_hz_range: Range = (100.0, 5000.0)
    eq_gain_db_range: Range | None = (-6.0, 6.0)
    eq_q_range: Range = (0.7, 2.0)
    snr_db_range: Range | None = (5.0, 30.0)
    noise_probability: float = 1.0
    noise_colours: tuple[str, ...] = NOISE_COLOURS
    level_dbfs_range: Range | None = (-20.0, -1.0)

    def __post_init__(self):
        ranges = {name: getattr(self, name) for name in (
            "rt60_range", "drr_db_range", "predelay_ms_range", "tilt_db_per_octave_range", "eq_hz_range",
            "eq_gain_db_range", "eq_q_range", "snr_db_range", "level_dbfs_range")}
        for name, bounds in ranges.items():
            valid = bounds is None or (len(bounds) == 2 and np.all(np.isfinite(bounds)) and bounds[0] <= bounds[1])
            if not valid:
                raise ValueError(f"{name} must be None or a finite (low, high) pair with low <= high, not {bounds}.")
        for name in ("reverb_probability", "noise_probability"):
            if not 0.0 <= getattr(self, name) <= 1.0:
                raise ValueError(f"{name} must be within [0, 1], not {getattr(self, name)}.")
        # Log-uniform draws need positive bounds, and the level stage must not clip.
        for name in ("rt60_range", "eq_hz_range", "eq_q_range"):
            if ranges[name] is not None and ranges[name][0] <= 0:
                raise ValueError(f"{name} must be positive, not {ranges[name]}.")
        if self.predelay_ms_range[0] < 0:
            raise ValueError(f"predelay_ms_range must not be negative, not {self.predelay_ms_range}.")
        if self.level_dbfs_range is not None and self.level_dbfs_range[1] > 0:
            raise ValueError(f"level_dbfs_range must be at most 0 dBFS (no clipping), not {self.level_dbfs_range}.")
        if self.snr_db_range is not None and self.noise_probability > 0:
            unknown = [colour for colour in self.noise_colours if colour not in NOISE_COLOURS]
            if not self.noise_colours or unknown:
                raise ValueError(f"noise_colours must be a non-empty subset of {NOISE_COLOURS}, not "
                                 f"{self.noise_colours}.")

    @classmethod
    def off(cls) -> "RealismSettings":
        """Every effect off: `apply_realism` returns the audio unchanged."""
        return cls(rt60_range=None, tilt_db_per_octave_range=None, eq_gain_db_range=None, snr_db_range=None,
                   level_dbfs_range=None)


def _uniform(u: float, bounds: Range, digits: int) -> float:
    return round(bounds[0] + u * (bounds[1] - bounds[0]), digits)


def _log_uniform(u: float, bounds: Range, digits: int) -> float:
    return round(float(bounds[0] * (bounds[1] / bounds[0]) ** u), digits)


def draw_realism(seed: SeedLike, settings: RealismSettings | None = None,
                 sampling_rate: int | None = None) -> dict:
    """The parameters of one piece, drawn from `seed` (an int, a sequence of ints such as `(corpus_seed, index)`,
    or a numpy Generator) within `settings` (default: `RealismSettings()`): a dict keyed by `PARAM_KEYS`, with
    `None` for the effects that are off, and an integer `seed` from which the impulse response and the noise are
    made. Values are rounded (to ms, hundredths of a dB, tenths of a Hz), so the record is readable and is exactly
    what `apply_realism` applies. With `sampling_rate`, the peaking band stays below 0.45 of it.

    The same number of random values is drawn whatever the settings, in a fixed order, so turning one effect off (or
    narrowing its range) leaves the others' parameters of a seed unchanged."""
    settings = settings or RealismSettings()
    rng = seed if isinstance(seed, np.random.Generator) else np.random.default_rng(seed)
    (u_reverb, u_rt60, u_drr, u_predelay, u_tilt, u_hz, u_gain, u_q, u_noise, u_colour, u_snr,
     u_level) = rng.random(12).tolist()
    params: dict = dict.fromkeys(PARAM_KEYS)
    params["seed"] = int(rng.integers(2**32))
    if settings.rt60_range is not None and u_reverb < settings.reverb_probability:
        params["rt60_s"] = _log_uniform(u_rt60, settings.rt60_range, 3)
        params["drr_db"] = _uniform(u_drr, settings.drr_db_range, 2)
        params["predelay_ms"] = _uniform(u_predelay, settings.predelay_ms_range, 2)
    if settings.tilt_db_per_octave_range is not None:
        params["tilt_db_per_octave"] = _uniform(u_tilt, settings.tilt_db_per_octave_range, 3)
    if settings.eq_gain_db_range is not None:
        low, high = settings.eq_hz_range
        if sampling_rate is not None:
            ceiling = MAX_BAND_FRACTION * sampling_rate
            low, high = min(low, ceiling), min(high, ceiling)
        params["eq_hz"] = _log_uniform(u_hz, (low, high), 1)
        params["eq_gain_db"] = _uniform(u_gain, settings.eq_gain_db_range, 2)
        params["eq_q"] = _log_uniform(u_q, settings.eq_q_range, 3)
    if settings.snr_db_range is not None and u_noise < settings.noise_probability:
        colours = settings.noise_colours
        params["noise_colour"] = colours[min(int(u_colour * len(colours)), len(colours) - 1)]
        params["snr_db"] = _uniform(u_snr, settings.snr_db_range, 2)
    if settings.level_dbfs_range is not None:
        params["peak_dbfs"] = _uniform(u_level, settings.level_dbfs_range, 2)
    return params


def impulse_response(rt60_s: float, drr_db: float, predelay_ms: float, sampling_rate: int,
                     seed: SeedLike) -> np.ndarray:
    """A synthetic room impulse response: 1 at sample 0 (the direct path, so the reverberated audio is not delayed),
    then from `predelay_ms` (at least one sample on) Gaussian noise under an amplitude envelope
    exp(-6.91 t / RT60), 60 dB down at `rt60_s`, running to 1.2 RT60. The tail is scaled to an energy of
    10^(-drr_db / 10), so the direct-to-reverberant energy ratio is `drr_db`. Frequency-independent: a real room's
    highs die sooner."""
    rng = np.random.default_rng(seed)
    start = max(int(round(predelay_ms * 1e-3 * sampling_rate)), 1)
    t = np.arange(max(int(np.ceil(TAIL_RT60S * rt60_s * sampling_rate)), 1)) / sampling_rate
    tail = rng.standard_normal(t.size) * np.exp(-DECAY_60DB * t / rt60_s)
    tail *= 10.0 ** (-drr_db / 20.0) / np.sqrt(np.sum(tail**2))
    response = np.zeros(start + t.size)
    response[0] = 1.0
    response[start:] = tail
    return response


def reverberate(audio: np.ndarray, sampling_rate: int, rt60_s: float, drr_db: float, predelay_ms: float,
                seed: SeedLike) -> np.ndarray:
    """`audio` convolved with `impulse_response(...)`, cut to the input's length (the tail past the end is dropped,
    as a recording that stops there would)."""
    audio = np.asarray(audio, dtype=np.float64)
    if audio.size == 0:
        return audio.copy()
    response = impulse_response(rt60_s, drr_db, predelay_ms, sampling_rate, seed)
    return oaconvolve(audio, response)[: audio.size]


def tilt_gain_db(frequencies: np.ndarray, tilt_db_per_octave: float) -> np.ndarray:
    """The tilt's gain in dB at `frequencies` (Hz): `tilt_db_per_octave` per octave from 0 dB at 1 kHz, constant
    outside 50 Hz - 16 kHz."""
    return tilt_db_per_octave * np.log2(np.clip(frequencies, *TILT_BAND_HZ) / TILT_PIVOT_HZ)


def peaking_biquad(centre_hz: float, gain_db: float, q: float, sampling_rate: int) -> tuple[np.ndarray, np.ndarray]:
    """`(b, a)` of the RBJ Audio EQ Cookbook peaking filter: `gain_db` at `centre_hz`, 0 dB far from it."""
    if not 0.0 < centre_hz < sampling_rate / 2:
        raise ValueError(f"The peaking band's centre, {centre_hz} Hz, must be between 0 and the Nyquist frequency "
                         f"({sampling_rate / 2} Hz); draw it with `draw_realism(..., sampling_rate=...)`.")
    amplitude = 10.0 ** (gain_db / 40.0)
    w0 = 2.0 * np.pi * centre_hz / sampling_rate
    alpha = np.sin(w0) / (2.0 * q)
    b = np.array([1.0 + alpha * amplitude, -2.0 * np.cos(w0), 1.0 - alpha * amplitude])
    a = np.array([1.0 + alpha / amplitude, -2.0 * np.cos(w0), 1.0 - alpha / amplitude])
    return b / a[0], a / a[0]


def equalise(audio: np.ndarray, sampling_rate: int, tilt_db_per_octave: float | None = None,
             eq_hz: float | None = None, eq_gain_db: float | None = None, eq_q: float | None = None) -> np.ndarray:
    """The tilt (if not None) then the peaking band (if `eq_hz` is not None). The tilt is applied zero-phase in the
    frequency domain, so it shifts nothing in time; the band is a causal biquad (`scipy.signal.lfilter`), as an EQ
    is, whose group delay is a few ms at most."""
    out = np.asarray(audio, dtype=np.float64)
    if out.size == 0:
        return out.copy()
    if tilt_db_per_octave is not None:
        size = next_fast_len(out.size + int(TILT_PAD_S * sampling_rate), real=True)
        gain = 10.0 ** (tilt_gain_db(rfftfreq(size, 1.0 / sampling_rate), tilt_db_per_octave) / 20.0)
        out = irfft(rfft(out, size) * gain, size)[: out.size]
    if eq_hz is not None:
        out = lfilter(*peaking_biquad(eq_hz, eq_gain_db, eq_q, sampling_rate), out)
    return out


def coloured_noise(num_samples: int, sampling_rate: int, colour: str, seed: SeedLike) -> np.ndarray:
    """`num_samples` of Gaussian noise of unit mean power: "white" (flat) or "pink" (power 1/f above 20 Hz, that is
    -3 dB per octave, and flat below), shaped in the frequency domain."""
    if colour not in NOISE_COLOURS:
        raise ValueError(f"Unknown noise colour {colour!r}; expected one of {NOISE_COLOURS}.")
    noise = np.random.default_rng(seed).standard_normal(num_samples)
    if colour == "pink" and num_samples > 1:
        frequencies = rfftfreq(num_samples, 1.0 / sampling_rate)
        noise = irfft(rfft(noise) / np.sqrt(np.maximum(frequencies, PINK_FLOOR_HZ)), num_samples)
    power = np.mean(noise**2) if num_samples else 0.0
    return noise / np.sqrt(power) if power > 0 else noise


def add_noise(audio: np.ndarray, sampling_rate: int, snr_db: float, colour: str, seed: SeedLike) -> np.ndarray:
    """`audio` plus `coloured_noise` scaled so that the mean power of the audio over that of the noise, over the
    whole piece, is exactly `snr_db`. The SNR of silence is undefined, so all-zero audio is returned unchanged
    (a renderer that produced silence has a bug that a noise floor would only hide)."""
    audio = np.asarray(audio, dtype=np.float64)
    power = np.mean(audio**2) if audio.size else 0.0
    if power == 0.0:
        return audio.copy()
    noise = coloured_noise(audio.size, sampling_rate, colour, seed)
    return audio + noise * np.sqrt(power * 10.0 ** (-snr_db / 10.0))


def set_peak_level(audio: np.ndarray, peak_dbfs: float) -> np.ndarray:
    """`audio` scaled by one gain so that its largest absolute sample is `peak_dbfs` dBFS (at most 0, so it does not
    clip). All-zero audio is returned unchanged."""
    if peak_dbfs > 0:
        raise ValueError(f"peak_dbfs must be at most 0 dBFS (no clipping), not {peak_dbfs}.")
    audio = np.asarray(audio, dtype=np.float64)
    peak = np.max(np.abs(audio)) if audio.size else 0.0
    return audio * (10.0 ** (peak_dbfs / 20.0) / peak) if peak > 0 else audio.copy()


def _check_params(params: dict) -> None:
    missing, unknown = set(PARAM_KEYS) - set(params), set(params) - set(PARAM_KEYS)
    if missing or unknown:
        raise ValueError(f"Realism parameters need exactly the keys {PARAM_KEYS}; missing {sorted(missing)}, "
                         f"unknown {sorted(unknown)}.")
    for group in (REVERB_KEYS, BAND_KEYS, NOISE_KEYS):
        if len({params[key] is None for key in group}) > 1:
            raise ValueError(f"Realism parameters {group} must all be set or all be None: {params}.")


def realism_stages(audio: np.ndarray, sampling_rate: int, params: dict) -> dict[str, np.ndarray]:
    """Every stage of `apply_realism`, in float64: "input", "reverb", "eq", "noise" and "level" (the result), each
    the previous one when its effect is off. For measuring what each stage did."""
    _check_params(params)
    audio = np.asarray(audio)
    if audio.ndim != 1:
        raise ValueError(f"apply_realism takes mono audio (one dimension), not shape {audio.shape}.")
    if not np.all(np.isfinite(audio)):
        raise ValueError("The audio has NaN or infinite samples.")
    stages = {"input": audio.astype(np.float64)}
    out = stages["input"]
    # The reverb and the noise draw from generators of their own, made afresh from the seed, so turning one off
    # (or changing its parameters) leaves the other's random numbers as they were.
    if params["rt60_s"] is not None:
        out = reverberate(out, sampling_rate, params["rt60_s"], params["drr_db"], params["predelay_ms"],
                          (params["seed"], 0))
    stages["reverb"] = out
    out = equalise(out, sampling_rate, params["tilt_db_per_octave"], params["eq_hz"], params["eq_gain_db"],
                   params["eq_q"])
    stages["eq"] = out
    if params["snr_db"] is not None:
        out = add_noise(out, sampling_rate, params["snr_db"], params["noise_colour"], (params["seed"], 1))
    stages["noise"] = out
    if params["peak_dbfs"] is not None:
        out = set_peak_level(out, params["peak_dbfs"])
    stages["level"] = out
    return stages


def apply_realism(audio: np.ndarray, sampling_rate: int, params: dict) -> np.ndarray:
    """`audio` (mono, any sampling rate) through reverb, EQ, noise and level as `params` (from `draw_realism`, or
    its JSON round trip) say, deterministically from `params` alone; float32, as long as the input. With every
    effect off, the input's samples are returned unchanged (as float32)."""
    return realism_stages(audio, sampling_rate, params)["level"].astype(np.float32)
