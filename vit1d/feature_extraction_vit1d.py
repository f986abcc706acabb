# Copyright 2026 The vit1d authors.
#
# Licensed under the Apache License, Version 2.0 (the "License");
# you may not use this file except in compliance with the License.
# You may obtain a copy of the License at
#
#     http://www.apache.org/licenses/LICENSE-2.0
#
# Unless required by applicable law or agreed to in writing, software
# distributed under the License is distributed on an "AS IS" BASIS,
# WITHOUT WARRANTIES OR CONDITIONS OF ANY KIND, either express or implied.
# See the License for the specific language governing permissions and
# limitations under the License.
"""Log-mel feature extractor for ViT-1D.

This file is copied next to the weights by `save_pretrained` for `trust_remote_code=True` loading: it may import only
the standard library, numpy, transformers and (optionally) torch. soxr is imported lazily, only to resample.
"""

import math

import numpy as np
from transformers import BatchFeature, SequenceFeatureExtractor
from transformers.audio_utils import mel_filter_bank, spectrogram, window_function
from transformers.utils import PaddingStrategy, TensorType, logging

try:
    import torch
except ImportError:  # pragma: no cover - transformers feature extractors work without torch
    torch = None


logger = logging.get_logger(__name__)

_MULTICHANNEL_HINT = (
    "ViT-1D takes mono audio: mix it down first, e.g. `x.mean(axis=-1)` for a soundfile array of shape "
    "(samples, channels), or load it with `vit1d.load_audio(path, mono=True)`. A 2-D input of shape "
    "(batch_size, samples) is read as a batch of mono clips."
)
_ACCEPTED_DTYPES = (
    "float16, float32 or float64 (samples in [-1, 1]), int16 or int32 (signed PCM, divided by 2**15 or 2**31) and "
    "uint8 (unsigned 8-bit PCM, (x - 128) / 128)"
)
# Float audio louder than this, 30 dB above full scale, is almost surely integer PCM stored as floats (16-bit PCM
# peaks above it unless it is quieter than -60 dBFS). A mix may exceed 1 a little, and the pretraining views'
# augmentation (gain, spectral tilt and peaking band of `run_pretraining.py`) boosts a band by at most 25 dB.
_MAX_FLOAT_PEAK = 32.0
# Frames per STFT chunk on CPU: small chunks keep the float64 frames, the FFT and the power spectrum in cache (2 to 3x
# faster than one batch-wide FFT on a 2-core machine). The power spectra of several chunks then go through the banded
# mel matmul and the log together, in blocks of up to `_CPU_MEL_BLOCK_FRAMES` frames: 8 matmuls per block instead of
# 8 per chunk. Accelerators get one large chunk.
_CPU_CHUNK_FRAMES = 256
_CPU_MEL_BLOCK_FRAMES = 4096
_ACCELERATOR_CHUNK_FRAMES = 32768


def _uses_cpu_plan(device) -> bool:
    """Whether the torch backend computes on `device` the CPU way: small cache-sized chunks padded on the host."""
    return device.type == "cpu"


def _chunk_plan(batch_size: int, max_frames: int, on_cpu: bool) -> tuple[int, int, int, int]:
    """`(clips_per_chunk, frames_per_chunk, chunk_rows, block_rows)` of the torch log-mel: a chunk (framed and
    transformed at once) holds whole clips when several fit in the chunk size, else part of one clip; on the CPU
    the mel matmul and the log run on blocks of several chunks (`_CPU_MEL_BLOCK_FRAMES` rows)."""
    chunk = _CPU_CHUNK_FRAMES if on_cpu else _ACCELERATOR_CHUNK_FRAMES
    clips_per_chunk = max(1, min(batch_size, chunk // max_frames))
    frames_per_chunk = max_frames if clips_per_chunk > 1 else chunk
    chunk_rows = clips_per_chunk * min(max_frames, frames_per_chunk)
    block_rows = min(max(chunk_rows, _CPU_MEL_BLOCK_FRAMES), batch_size * max_frames) if on_cpu else chunk_rows
    return clips_per_chunk, frames_per_chunk, chunk_rows, block_rows


def _is_tensor(x) -> bool:
    return torch is not None and isinstance(x, torch.Tensor)


def _resample(waveform: np.ndarray, orig_sr: int, target_sr: int) -> np.ndarray:
    try:
        import soxr
    except ImportError as err:
        raise ImportError(
            "Resampling (`resample=True`) needs the `soxr` package: `pip install soxr`. Alternatively resample the "
            f"audio to {target_sr} Hz yourself, e.g. with `vit1d.load_audio(path, sampling_rate={target_sr})`."
        ) from err
    return soxr.resample(waveform, orig_sr, target_sr, quality="HQ")


class ViT1DFeatureExtractor(SequenceFeatureExtractor):
    r"""
    Constructs a ViT-1D feature extractor: log-mel spectrograms in decibels, one row per STFT frame.

    This feature extractor inherits from [`~feature_extraction_sequence_utils.SequenceFeatureExtractor`] which contains
    most of the main methods. Users should refer to this superclass for more information regarding those methods.

    Each clip of `N` samples gives `1 + N // hop_length` frames of `feature_size` values: a centred STFT (reflect
    padding of `n_fft // 2` samples on both sides, periodic Hann window), power spectrum, Slaney mel filter bank, then
    `10 * log10(max(mel, 1e-10))` with the loudest value of the clip clamped to at most `top_db` decibels above the
    quietest. This equals `librosa.power_to_db(librosa.feature.melspectrogram(y=y, sr=16000, n_fft=1024,
    hop_length=512, n_mels=128, fmin=0, fmax=8000, norm="slaney", htk=False, center=True, pad_mode="reflect",
    power=2.0), ref=1.0, amin=1e-10, top_db=80)` (transposed) to within 0.01 dB. Note `pad_mode="reflect"`: librosa's
    default since 0.10 is `"constant"` (zero padding), which changes the first and last frames.

    Two backends compute the same features: `"torch"` (batched, runs on any torch device, default when torch is
    installed) and `"numpy"` (one clip at a time with `transformers.audio_utils.spectrogram`). Both compute the STFT in
    float64: a float32 STFT errs by up to about 1e-3 dB on low-energy bins.

    Args:
        feature_size (`int`, *optional*, defaults to 128):
            Number of mel bins of each frame.
        sampling_rate (`int`, *optional*, defaults to 16000):
            The sampling rate, in Hz, that the audio must have (see `resample` in `__call__`).
        n_fft (`int`, *optional*, defaults to 1024):
            Size of the Fourier transform and of the Hann window, in samples.
        hop_length (`int`, *optional*, defaults to 512):
            Number of samples between successive frames (31.25 frames per second at 16 kHz).
        f_min (`float`, *optional*, defaults to 0.0):
            Lowest frequency of the mel filter bank, in Hz.
        f_max (`float`, *optional*, defaults to 8000.0):
            Highest frequency of the mel filter bank, in Hz.
        top_db (`float`, *optional*, defaults to 80.0):
            Dynamic range of each clip: values more than `top_db` decibels below the clip's maximum are raised to
            that level. `None` disables the clamp.
        padding_value (`float`, *optional*, defaults to -100.0):
            Value of the padded frames; -100 dB is the log floor `10 * log10(1e-10)`.
        do_peak_normalize (`bool`, *optional*, defaults to `False`):
            Whether to scale every clip so that its largest absolute sample is 1 (silent clips are left as they are)
            before computing the features.
        mel_mean (`list[float]`, *optional*):
            Per-bin mean (dB) of the log-mel frames of a training corpus. With `mel_std`, every real frame is
            standardised bin by bin, `(log_mel - mel_mean) / mel_std`, after the dB clamp (as the Audio Spectrogram
            Transformer's extractor standardises with its dataset's statistics); padded frames keep
            `padding_value`. Unlike the model's `frame_normalization` it keeps each frame's level relative to the
            corpus. Compute both with `vit1d.data.statistics.mel_statistics` (`python run_mel_statistics.py`).
            `None` (the default): features stay in dB.
        mel_std (`list[float]`, *optional*):
            Per-bin standard deviation (dB) matching `mel_mean`; every value must be positive.
        return_attention_mask (`bool`, *optional*, defaults to `True`):
            Whether [`~ViT1DFeatureExtractor.__call__`] returns a frame-level `attention_mask` (1 for real frames, 0
            for padding).
    """

    model_input_names = ["input_values", "attention_mask"]

    def __init__(
        self,
        feature_size=128,
        sampling_rate=16000,
        n_fft=1024,
        hop_length=512,
        f_min=0.0,
        f_max=8000.0,
        top_db=80.0,
        padding_value=-100.0,
        do_peak_normalize=False,
        mel_mean=None,
        mel_std=None,
        return_attention_mask=True,
        **kwargs,
    ):
        super().__init__(
            feature_size=feature_size,
            sampling_rate=sampling_rate,
            padding_value=padding_value,
            return_attention_mask=return_attention_mask,
            **kwargs,
        )
        if top_db is not None and top_db <= 0:
            raise ValueError(f"`top_db` must be positive or None (no clamp), got {top_db}.")
        if hop_length <= 0 or n_fft <= 0 or n_fft % 2:
            raise ValueError(f"`n_fft` must be even and positive and `hop_length` positive, got {n_fft}, {hop_length}.")
        self.n_fft = n_fft
        self.hop_length = hop_length
        self.f_min = f_min
        self.f_max = f_max
        self.top_db = top_db
        self.do_peak_normalize = do_peak_normalize
        if (mel_mean is None) != (mel_std is None):
            raise ValueError("`mel_mean` and `mel_std` go together: pass both (from `mel_statistics`) or neither.")
        if mel_mean is not None:
            if len(mel_mean) != feature_size or len(mel_std) != feature_size:
                raise ValueError(f"`mel_mean` and `mel_std` need one value per mel bin ({feature_size}), got "
                                 f"{len(mel_mean)} and {len(mel_std)}.")
            if not all(np.isfinite(mel_mean)) or not all(np.isfinite(mel_std)) or min(mel_std) <= 0:
                raise ValueError("`mel_mean` must be finite and `mel_std` finite and positive; recompute them with "
                                 "`mel_statistics` on audio that is not silent.")
            mel_mean, mel_std = [float(v) for v in mel_mean], [float(v) for v in mel_std]
        self.mel_mean = mel_mean
        self.mel_std = mel_std
        # `mel_filters` and `window` are left out of preprocessor_config.json by `FeatureExtractionMixin.to_dict`.
        self.mel_filters = mel_filter_bank(
            num_frequency_bins=n_fft // 2 + 1,
            num_mel_filters=feature_size,
            min_frequency=f_min,
            max_frequency=f_max,
            sampling_rate=sampling_rate,
            norm="slaney",
            mel_scale="slaney",
        )
        self.window = window_function(n_fft, "hann", periodic=True)

    def to_dict(self) -> dict:
        output = super().to_dict()
        output.pop("_mel_bands_cache", None)
        return output

    @property
    def frames_per_second(self) -> float:
        """Log-mel frames per second of audio: `sampling_rate / hop_length`. Sequence tokens per second are the
        model's `config.tokens_per_second` (frames per second / `frames_per_patch`)."""
        return self.sampling_rate / self.hop_length

    def num_frames(self, num_samples: int) -> int:
        """Number of frames of a clip of `num_samples` samples: `1 + num_samples // hop_length`."""
        return 1 + int(num_samples) // self.hop_length

    def frame_times(self, num_frames: int, frames_per_patch: int = 1) -> np.ndarray:
        """
        Time, in seconds, of every sequence token of an input of `num_frames` frames.

        Frame `t` is centred on sample `t * hop_length` (centred STFT). A token that holds the `k = frames_per_patch`
        frames `i * k, ..., i * k + k - 1` is placed at their centre, `(i * k + (k - 1) / 2) * hop_length /
        sampling_rate`, for `i` in `range(ceil(num_frames / k))`.

        Returns:
            `np.ndarray` of float64 of shape `(ceil(num_frames / frames_per_patch),)`.
        """
        k = int(frames_per_patch)
        if k < 1:
            raise ValueError(f"`frames_per_patch` must be a positive integer, got {frames_per_patch}.")
        num_tokens = math.ceil(int(num_frames) / k)
        return (np.arange(num_tokens, dtype=np.float64) * k + (k - 1) / 2) * self.hop_length / self.sampling_rate

    # ------------------------------------------------------------------------------------------------------------
    # input checks
    # ------------------------------------------------------------------------------------------------------------

    @staticmethod
    def _to_numpy(clip, index: int) -> np.ndarray:
        if _is_tensor(clip):
            clip = clip.detach()
            if clip.dtype == torch.bfloat16:
                clip = clip.float()
            return clip.cpu().numpy()
        if isinstance(clip, np.ndarray):
            return clip
        if isinstance(clip, (list, tuple)):
            try:
                values = np.asarray(clip)
                as_float = values.astype(np.float64, copy=False)
            except (TypeError, ValueError) as err:
                raise ValueError(
                    f"Clip {index} is a list that is not a flat list of numbers ({err}). Pass a 1-D numpy array, a "
                    "list of floats, or a list of 1-D arrays."
                ) from err
            # Python ints carry no PCM width: beyond +-1 they cannot be sample values in [-1, 1].
            if values.dtype.kind in "iu" and values.size and np.abs(as_float).max() > 1:
                raise ValueError(
                    f"Clip {index} is a list of integers up to {int(np.abs(as_float).max())}, which looks like PCM "
                    "samples of unknown width. Pass a numpy array with its PCM dtype, e.g. "
                    "`np.asarray(x, dtype=np.int16)`, or floats in [-1, 1]."
                )
            return as_float
        raise ValueError(
            f"Clip {index} has unsupported type {type(clip).__name__}. Pass a 1-D numpy array, a torch tensor or a "
            "list of floats (or a list of those for a batch)."
        )

    @staticmethod
    def _to_float32(clip: np.ndarray, index: int) -> np.ndarray:
        kind, size = clip.dtype.kind, clip.dtype.itemsize  # kind and size also accept non-native byte orders
        if kind == "f" and size in (2, 4, 8):
            return clip.astype(np.float32, copy=False)
        if kind == "i" and size == 2:
            return (clip.astype(np.float32) / 2**15).astype(np.float32)
        if kind == "i" and size == 4:
            return (clip.astype(np.float64) / 2**31).astype(np.float32)
        if kind == "u" and size == 1:
            return ((clip.astype(np.float32) - 128.0) / 128.0).astype(np.float32)
        raise ValueError(
            f"Clip {index} has dtype {clip.dtype}, which is not audio this feature extractor reads. Accepted dtypes: "
            f"{_ACCEPTED_DTYPES}. Convert it, e.g. `x.astype(np.float32) / scale`."
        )

    @staticmethod
    def _split_clips(raw_speech) -> list:
        """Splits the input into a list of per-clip objects (arrays, tensors or lists), rejecting multichannel layouts."""
        if isinstance(raw_speech, np.ndarray) or _is_tensor(raw_speech):
            if raw_speech.ndim == 0:
                raise ValueError("Got a scalar as audio input: pass a 1-D array of samples.")
            if raw_speech.ndim == 1:
                return [raw_speech]
            if raw_speech.ndim == 2:
                num_rows, num_cols = raw_speech.shape
                if num_rows == 0:
                    raise ValueError(
                        f"Got an empty batch of shape {tuple(raw_speech.shape)}: pass at least one clip."
                    )
                if num_cols <= 8 < num_rows:
                    raise ValueError(
                        f"Got a 2-D input of shape {tuple(raw_speech.shape)}, which looks like one multichannel clip "
                        f"of shape (samples, channels). {_MULTICHANNEL_HINT}"
                    )
                return list(raw_speech)
            raise ValueError(
                f"Got a {raw_speech.ndim}-D input of shape {tuple(raw_speech.shape)}, which looks like multichannel "
                f"audio. {_MULTICHANNEL_HINT}"
            )
        if isinstance(raw_speech, (list, tuple)):
            if len(raw_speech) == 0:
                raise ValueError("Got an empty list as audio input: pass at least one clip.")
            if any(isinstance(clip, (np.ndarray, list, tuple)) or _is_tensor(clip) for clip in raw_speech):
                return list(raw_speech)
            return [raw_speech]
        raise ValueError(
            f"Unsupported audio input of type {type(raw_speech).__name__}: pass a 1-D numpy array, a torch tensor, a "
            "list of floats, or a list of those (a batch)."
        )

    def _prepare_clips(self, raw_speech) -> tuple[list[np.ndarray], "torch.device | None"]:
        """Validates the input and returns a list of 1-D float32 clips and the common device of torch inputs."""
        clips = self._split_clips(raw_speech)
        devices = {clip.device for clip in clips if _is_tensor(clip)}
        source_device = devices.pop() if len(devices) == 1 else None

        prepared = []
        for index, clip in enumerate(clips):
            clip = self._to_numpy(clip, index)
            if clip.ndim >= 2:
                raise ValueError(
                    f"Clip {index} has shape {clip.shape}, which looks like multichannel audio. {_MULTICHANNEL_HINT}"
                )
            if clip.ndim == 0:
                raise ValueError(f"Clip {index} is a scalar: every clip must be a 1-D array of samples.")
            clip = self._to_float32(clip, index)
            if clip.size == 0:
                raise ValueError(f"Clip {index} is empty (0 samples).")
            # Two reductions without temporaries: NaN reaches both and an infinity one, so testing the peak suffices.
            peak = max(float(clip.max()), -float(clip.min()))
            if not math.isfinite(peak):
                raise ValueError(
                    f"Clip {index} contains NaN or infinite values; clean it first, e.g. `np.nan_to_num(x)`."
                )
            if peak > _MAX_FLOAT_PEAK:
                # One fixed text, so that warning_once shows it once and keeps one entry, however many clips.
                logger.warning_once(
                    f"Float audio peaks above {_MAX_FLOAT_PEAK:g}, far outside the [-1, 1] range of float audio: the "
                    "log-mel levels will be off by the same factor. If these are integer PCM values stored as floats, "
                    "divide them by 2**15 (16-bit) or 2**31 (32-bit), or pass the integer array itself."
                )
            prepared.append(clip)
        return prepared, source_device

    def _check_lengths(self, clips: list[np.ndarray], resampled: bool) -> None:
        min_samples = self.n_fft // 2 + 1
        for index, clip in enumerate(clips):
            if len(clip) < min_samples:
                after = f" after resampling to {self.sampling_rate} Hz" if resampled else ""
                raise ValueError(
                    f"Clip {index} has {len(clip)} samples{after}, fewer than the minimum of {min_samples} "
                    f"(n_fft // 2 + 1) that the centred STFT needs for its reflect padding. Zero-pad it, e.g. "
                    f"`np.pad(x, (0, {min_samples} - len(x)))`."
                )

    @staticmethod
    def _peak_normalize(clip: np.ndarray) -> np.ndarray:
        peak = float(np.max(np.abs(clip)))
        return clip if peak == 0.0 else (clip / peak).astype(np.float32)

    # ------------------------------------------------------------------------------------------------------------
    # log-mel computation
    # ------------------------------------------------------------------------------------------------------------

    def _np_extract_fbank_features(self, clips: list[np.ndarray]) -> list[np.ndarray]:
        """Log-mel features of every clip, one at a time with numpy (float64 STFT). Returns (frames, mels) arrays."""
        features = []
        for clip in clips:
            log_mel = spectrogram(
                clip,
                self.window,
                frame_length=self.n_fft,
                hop_length=self.hop_length,
                power=2.0,
                center=True,
                pad_mode="reflect",
                mel_filters=self.mel_filters,
                mel_floor=1e-10,
                log_mel="dB",
                reference=1.0,
                min_value=1e-10,
                db_range=self.top_db,
            )
            features.append(np.ascontiguousarray(log_mel.T, dtype=np.float32))
        return features

    def _standardize(self, log_mel):
        """`(log_mel - mel_mean) / mel_std` over the last (mel) axis of a numpy array or torch tensor, or `log_mel`
        itself when the extractor has no corpus statistics."""
        if self.mel_mean is None:
            return log_mel
        if _is_tensor(log_mel):
            mean = torch.tensor(self.mel_mean, dtype=log_mel.dtype, device=log_mel.device)
            std = torch.tensor(self.mel_std, dtype=log_mel.dtype, device=log_mel.device)
        else:
            mean, std = np.asarray(self.mel_mean, np.float32), np.asarray(self.mel_std, np.float32)
        return (log_mel - mean) / std

    def _mel_bands(self, device) -> list[tuple[int, int, int, int, "torch.Tensor"]]:
        """
        Splits the mel filter bank into groups of 16 bands with the range of frequency bins each group touches, as
        `(first_band, last_band, first_bin, last_bin, filters)`. The filters are triangles, so a group needs a small
        slice of the spectrum: the banded matmul skips about 85 % of the dense one's zero products. Cached per device
        until `mel_filters` is replaced (the cache is left out of `to_dict`).
        """
        cache = self.__dict__.setdefault("_mel_bands_cache", {})
        key = str(device)
        if key not in cache or cache[key][0] is not self.mel_filters:
            cache[key] = (self.mel_filters, self._make_mel_bands(device))
        return cache[key][1]

    def _make_mel_bands(self, device) -> list[tuple[int, int, int, int, "torch.Tensor"]]:
        bands = []
        nonzero = self.mel_filters != 0
        for first in range(0, self.feature_size, 16):
            last = min(self.feature_size, first + 16)
            bins = np.flatnonzero(nonzero[:, first:last].any(axis=1))
            lo, hi = (int(bins[0]), int(bins[-1]) + 1) if len(bins) else (0, 1)
            filters = torch.from_numpy(np.ascontiguousarray(self.mel_filters[lo:hi, first:last]))
            bands.append((first, last, lo, hi, filters.to(device=device, dtype=torch.float32)))
        return bands

    def _reflect_pad_into(self, out: np.ndarray, clip: np.ndarray, start: int) -> None:
        """
        Writes samples `start, ..., start + len(out) - 1` of the centred STFT's input into `out`: the clip
        reflect-padded by `n_fft // 2` samples on both sides (as `np.pad(clip, n_fft // 2, mode="reflect")`), then
        zeros.
        """
        pad, length = self.n_fft // 2, len(clip)
        stop = start + len(out)
        # padded index p holds clip[pad - p] before the clip, clip[p - pad] inside and clip[2 * length + pad - 2 - p]
        # after it, up to p = length + 2 * pad
        lo, hi = start, min(stop, pad)
        if lo < hi:
            out[: hi - lo] = clip[pad - hi + 1 : pad - lo + 1][::-1]
        lo, hi = max(start, pad), min(stop, pad + length)
        if lo < hi:
            out[lo - start : hi - start] = clip[lo - pad : hi - pad]
        lo, hi = max(start, pad + length), min(stop, 2 * pad + length)
        if lo < hi:
            out[lo - start : hi - start] = clip[2 * length + pad - 1 - hi : 2 * length + pad - 1 - lo][::-1]
        lo = max(start, 2 * pad + length)
        if lo < stop:
            out[lo - start :] = 0.0

    def _torch_log_mel(self, clips: list[np.ndarray], device) -> tuple["torch.Tensor", list[int]]:
        """
        Log-mel features of a batch with torch, exact per clip even in a padded batch: each clip is reflect-padded on
        its own length and right-padded with zeros to the longest, then framed (as `torch.stft(center=False)` does),
        windowed and transformed with `torch.fft.rfft` in float64 (float32 on MPS, which has no float64; a float32 FFT
        errs by up to ~1e-3 dB on low-energy bins, float64 stays within ~1e-5 dB of the numpy backend and librosa).
        The power spectrum is cast to float32 for the banded mel matmul and the log (< 1e-5 dB). On the CPU the batch
        is framed and transformed in chunks of about 256 frames, which keeps the work in cache, and the mel matmul
        and the log run on blocks of several chunks; no Python loop runs over frames.

        Returns:
            `(log_mel, num_frames)`: a float32 tensor of shape `(batch_size, max(num_frames), feature_size)` on
            `device` and the number of frames of every clip. The frames past a clip's own `num_frames` hold
            unspecified values.
        """
        device = torch.device(device)
        on_cpu = _uses_cpu_plan(device)
        fft_dtype = torch.float32 if device.type == "mps" else torch.float64
        n_fft, hop, num_bins = self.n_fft, self.hop_length, self.n_fft // 2 + 1
        num_frames = [self.num_frames(len(clip)) for clip in clips]
        batch_size, max_frames = len(clips), max(num_frames)
        clips_per_chunk, frames_per_chunk, chunk_rows, block_rows = _chunk_plan(batch_size, max_frames, on_cpu)

        window = torch.from_numpy(self.window).to(device=device, dtype=fft_dtype)
        bands = self._mel_bands(device)
        # Buffers reused by every chunk (no allocation in the loop).
        frames_buffer = torch.empty((chunk_rows, n_fft), dtype=fft_dtype, device=device)
        squares_buffer = torch.empty((chunk_rows, num_bins, 2), dtype=torch.float32, device=device)
        power_buffer = torch.empty((block_rows, num_bins), dtype=torch.float32, device=device)
        band_buffers = [
            torch.empty((block_rows, last - first), dtype=torch.float32, device=device) for first, last, *_ in bands
        ]
        log_mel = torch.empty((batch_size * max_frames, self.feature_size), dtype=torch.float32, device=device)

        # Rows of `log_mel` are (clip, frame) pairs in order; the chunks visit them in order, without gaps. The power
        # spectra of several chunks gather in `power_buffer`, then one block goes through the mel matmul and the log.
        block_start = pending = 0
        chunks = self._waveform_chunks(clips, device, on_cpu, clips_per_chunk, frames_per_chunk, max_frames)
        for segment in chunks:  # (clips, samples): the padded input of exactly this chunk's frames
            num_clips, num_chunk_frames = segment.shape[0], (segment.shape[1] - n_fft) // hop + 1
            rows = num_clips * num_chunk_frames
            frames = frames_buffer[:rows]
            # (clips, frames, n_fft) windowed frames, as torch.stft(center=False) frames them
            torch.mul(segment.unfold(-1, n_fft, hop), window, out=frames.view(num_clips, num_chunk_frames, n_fft))
            spectrum = torch.fft.rfft(frames, dim=-1)  # (rows, bins) complex
            if pending + rows > block_rows:
                self._power_to_log_mel(power_buffer[:pending], bands, band_buffers,
                                       out=log_mel[block_start : block_start + pending])
                block_start, pending = block_start + pending, 0
            squares = squares_buffer[:rows]
            squares.copy_(torch.view_as_real(spectrum)).square_()
            torch.add(squares[..., 0], squares[..., 1], out=power_buffer[pending : pending + rows])
            pending += rows
        self._power_to_log_mel(power_buffer[:pending], bands, band_buffers,
                               out=log_mel[block_start : block_start + pending])

        log_mel = log_mel.view(batch_size, max_frames, self.feature_size)  # rows (clip, frame) -> (B, T, mel)
        if self.top_db is not None:
            self._clamp_to_top_db(log_mel, num_frames)
        return log_mel, num_frames

    def _waveform_chunks(self, clips, device, on_cpu: bool, clips_per_chunk: int, frames_per_chunk: int,
                         max_frames: int):
        """
        Yields the centred STFT's input for every chunk of (clips x frames) in row order, as a `(clips, samples)`
        tensor holding exactly the samples of the chunk's frames. On the CPU each chunk's clips are reflect-padded
        straight into one reused float64 buffer (the window product needs float64 anyway: no padded copy of the whole
        batch; each yielded view is overwritten by the next). Elsewhere the batch is padded once and moved to the
        device.
        """
        n_fft, hop, pad = self.n_fft, self.hop_length, self.n_fft // 2
        padded_length = max(len(clip) for clip in clips) + 2 * pad
        if on_cpu:
            buffer = np.empty((clips_per_chunk, min(padded_length, (frames_per_chunk - 1) * hop + n_fft)))
            waveforms = torch.from_numpy(buffer)
        else:
            padded = np.empty((len(clips), padded_length), dtype=np.float32)
            for index, clip in enumerate(clips):
                self._reflect_pad_into(padded[index], clip, 0)
            waveforms = torch.from_numpy(padded).to(device)
        for start in range(0, len(clips), clips_per_chunk):
            stop = min(len(clips), start + clips_per_chunk)
            for first in range(0, max_frames, frames_per_chunk):
                span = (min(max_frames - first, frames_per_chunk) - 1) * hop + n_fft
                if on_cpu:
                    for offset in range(stop - start):
                        self._reflect_pad_into(buffer[offset, :span], clips[start + offset], first * hop)
                    yield waveforms[: stop - start, :span]
                else:
                    yield waveforms[start:stop, first * hop : first * hop + span]

    @staticmethod
    def _power_to_log_mel(power: "torch.Tensor", bands, band_buffers, out: "torch.Tensor") -> None:
        """`out` `(rows, mel)` = 10 log10(max(power @ mel_filters, 1e-10)) for `power` `(rows, bins)`: one small
        matmul per group of bands over the bins it touches (`_mel_bands`), written in place."""
        rows = power.shape[0]
        for (_, _, lo, hi, filters), output in zip(bands, band_buffers):
            torch.mm(power[:, lo:hi], filters, out=output[:rows])
        torch.cat([output[:rows] for output in band_buffers], dim=1, out=out)
        out.clamp_min_(1e-10).log10_().mul_(10.0)

    def _clamp_to_top_db(self, log_mel: "torch.Tensor", num_frames: list[int]) -> None:
        """In place, clamp every clip of `log_mel` `(B, T, mel)` to `top_db` below its own maximum over its real
        frames (a clip's padded frames past `num_frames` do not count)."""
        max_frames = log_mel.shape[1]
        frame_peak = log_mel.amax(dim=-1)  # (B, T)
        if min(num_frames) < max_frames:
            lengths = torch.tensor(num_frames, device=log_mel.device)
            padded_frames = torch.arange(max_frames, device=log_mel.device)[None, :] >= lengths[:, None]
            frame_peak.masked_fill_(padded_frames, -torch.inf)
        floor = frame_peak.amax(dim=1).sub_(self.top_db)  # (B,)
        torch.maximum(log_mel, floor[:, None, None], out=log_mel)

    # ------------------------------------------------------------------------------------------------------------
    # padding
    # ------------------------------------------------------------------------------------------------------------

    def _padding_plan(self, num_frames, padding, max_length, truncation, pad_to_multiple_of):
        """
        Returns `(lengths, target)`: the number of frames of every clip after truncation, and the padded length in
        frames, or `None` for a batch of clips of different lengths that is not padded.
        """
        if padding is True:
            strategy = PaddingStrategy.LONGEST
        elif padding is False or padding is None:
            strategy = PaddingStrategy.DO_NOT_PAD
        else:
            strategy = PaddingStrategy(padding)  # "longest", "max_length" or "do_not_pad"
        if strategy == PaddingStrategy.MAX_LENGTH and max_length is None:
            raise ValueError("`padding='max_length'` needs `max_length` (in frames).")

        def round_up(length):
            if pad_to_multiple_of is None or length % pad_to_multiple_of == 0:
                return length
            return (length // pad_to_multiple_of + 1) * pad_to_multiple_of

        lengths = list(num_frames)
        if truncation:
            if max_length is None:
                raise ValueError("`truncation=True` needs `max_length` (in frames).")
            lengths = [min(length, round_up(max_length)) for length in lengths]

        if strategy == PaddingStrategy.DO_NOT_PAD:
            target = lengths[0] if len(set(lengths)) == 1 else None
        elif strategy == PaddingStrategy.LONGEST:
            target = round_up(max(lengths))
        else:
            target = round_up(max_length)
            too_long = [index for index, length in enumerate(lengths) if length > target]
            if too_long:
                raise ValueError(
                    f"Clip {too_long[0]} has {lengths[too_long[0]]} frames, more than max_length={target} frames: "
                    "pass `truncation=True` to cut it, or a larger `max_length`."
                )
        return lengths, target

    def _pad_frames(self, features, lengths, target, return_attention_mask):
        """Cuts every (frames, mels) array to its length and pads the batch to `target` frames, with numpy."""
        features = [feature[:length] for feature, length in zip(features, lengths)]
        outputs = {}
        if target is None:  # ragged batch without padding
            outputs["input_values"] = features
            if return_attention_mask:
                outputs["attention_mask"] = [np.ones(length, dtype=np.int32) for length in lengths]
            return outputs

        input_values = np.full((len(features), target, self.feature_size), self.padding_value, dtype=np.float32)
        attention_mask = np.zeros((len(features), target), dtype=np.int32)
        for index, feature in enumerate(features):
            input_values[index, : len(feature)] = feature
            attention_mask[index, : len(feature)] = 1
        outputs["input_values"] = input_values
        if return_attention_mask:
            outputs["attention_mask"] = attention_mask
        return outputs

    def _pad_frames_torch(self, log_mel, lengths, target, return_attention_mask):
        """
        `_pad_frames` in torch, on the device of `log_mel` (a `(batch_size, frames, mels)` tensor whose rows past a
        clip's length are ignored): the same values and mask, without a copy to the CPU.
        """
        batch_size, num_frames, _ = log_mel.shape
        device = log_mel.device
        if target <= num_frames:
            input_values = log_mel[:, :target]
        else:
            extra = log_mel.new_full((batch_size, target - num_frames, self.feature_size), self.padding_value)
            input_values = torch.cat([log_mel, extra], dim=1)
        if min(lengths) < target:
            positions = torch.arange(target, device=device)
            valid = positions[None, :] < torch.tensor(lengths, device=device)[:, None]
            input_values = input_values.masked_fill(~valid[..., None], self.padding_value)
            attention_mask = valid.to(torch.int32)
        else:
            input_values = input_values.contiguous()
            attention_mask = torch.ones((batch_size, target), dtype=torch.int32, device=device)
        outputs = {"input_values": input_values}
        if return_attention_mask:
            outputs["attention_mask"] = attention_mask
        return outputs

    # ------------------------------------------------------------------------------------------------------------

    def _check_call(self, sampling_rate, resample: bool, backend: str | None, device) -> str:
        """Check the rate and the backend of a call before any audio is read; return the backend to use."""
        if sampling_rate is None:
            if resample:
                raise ValueError("`resample=True` needs the `sampling_rate` of the input.")
            logger.warning(
                f"It is strongly recommended to pass the `sampling_rate` argument to `{self.__class__.__name__}()`. "
                "Failing to do so can result in silent errors that might be hard to debug."
            )
        elif sampling_rate != self.sampling_rate and not resample:
            raise ValueError(
                f"The audio has a sampling rate of {sampling_rate} Hz but {self.__class__.__name__} expects "
                f"{self.sampling_rate} Hz. Pass `resample=True` to resample it with soxr, or load it at the right rate "
                f"with `vit1d.load_audio(path, sampling_rate={self.sampling_rate})`."
            )

        if backend is None:
            backend = "torch" if torch is not None else "numpy"
        if backend not in ("torch", "numpy"):
            raise ValueError(f"`backend` must be 'torch' or 'numpy', got {backend!r}.")
        if backend == "torch" and torch is None:
            raise ValueError("`backend='torch'` needs torch, which is not installed: use `backend='numpy'`.")
        if backend == "numpy" and device is not None and str(device) != "cpu":
            raise ValueError(f"The numpy backend runs on the CPU only; use `backend='torch'` for device={device!r}.")
        return backend

    def __call__(
        self,
        raw_speech,
        sampling_rate: int | None = None,
        padding: bool | str | PaddingStrategy = "longest",
        max_length: int | None = None,
        truncation: bool = False,
        pad_to_multiple_of: int | None = None,
        return_tensors: str | TensorType | None = None,
        return_attention_mask: bool | None = None,
        backend: str | None = None,
        device=None,
        resample: bool = False,
        do_peak_normalize: bool | None = None,
        **kwargs,
    ) -> BatchFeature:
        """
        Computes the log-mel features of one clip or a batch of mono clips.

        Args:
            raw_speech (`np.ndarray`, `torch.Tensor`, `list[float]`, `list[np.ndarray]` or `list[torch.Tensor]`):
                One mono clip (1-D) or a batch of mono clips (a list of 1-D clips, or a 2-D array or tensor of shape
                `(batch_size, samples)`). float16/32/64 samples are read as values in [-1, 1]; int16 and int32 as
                signed PCM (divided by 2**15 and 2**31) and uint8 as unsigned 8-bit PCM (`(x - 128) / 128`). Other
                dtypes and multichannel layouts (a `(samples, channels)` array) are rejected.
            sampling_rate (`int`, *optional*):
                Sampling rate of `raw_speech`. Strongly recommended: a mismatch with `self.sampling_rate` raises an
                error (or is resampled with `resample=True`), while `None` assumes the right rate with a warning.
            padding (`bool`, `str` or [`~utils.PaddingStrategy`], *optional*, defaults to `"longest"`):
                `"longest"`/`True` pads to the longest clip of the batch, `"max_length"` to `max_length` frames,
                `"do_not_pad"`/`False` returns a list of arrays when the clips have different lengths. Padded frames
                hold `padding_value`.
            max_length (`int`, *optional*):
                Length in frames for `padding="max_length"` and `truncation=True`.
            truncation (`bool`, *optional*, defaults to `False`):
                Whether to cut the features to `max_length` frames. The features of a truncated clip are the first
                frames of its full features (the dB clamp uses the whole clip).
            pad_to_multiple_of (`int`, *optional*):
                Round the padded length in frames up to a multiple of this value.
            return_tensors (`str` or [`~utils.TensorType`], *optional*):
                `"pt"` for torch tensors, `"np"` for numpy arrays; `None` gives numpy arrays.
            return_attention_mask (`bool`, *optional*):
                Whether to return the frame-level `attention_mask`; defaults to `self.return_attention_mask`.
            backend (`str`, *optional*):
                `"torch"` (batched, default when torch is installed) or `"numpy"`.
            device (`str` or `torch.device`, *optional*):
                Device of the torch backend, e.g. `"cuda"`. Defaults to the device of torch tensor inputs, else the
                CPU. With `return_tensors="pt"`, `input_values` and `attention_mask` are returned on this device
                (padded and masked there, without a copy to the CPU); with `return_tensors="np"` or `None` they are
                numpy arrays, on the CPU.
            resample (`bool`, *optional*, defaults to `False`):
                Whether to resample clips from `sampling_rate` to `self.sampling_rate` with soxr (HQ) first.
            do_peak_normalize (`bool`, *optional*):
                Whether to scale each clip to a peak of 1; defaults to `self.do_peak_normalize`.

        Returns:
            [`BatchFeature`] with `input_values` of shape `(batch_size, frames, feature_size)` (float32) and, when
            requested, `attention_mask` of shape `(batch_size, frames)` (int32, 1 for real frames).
        """
        if kwargs:
            logger.warning(f"Ignoring unknown arguments of {self.__class__.__name__}.__call__: {sorted(kwargs)}.")
        backend = self._check_call(sampling_rate, resample, backend, device)

        clips, source_device = self._prepare_clips(raw_speech)
        needs_resampling = resample and sampling_rate != self.sampling_rate
        if needs_resampling:
            clips = [_resample(clip, sampling_rate, self.sampling_rate).astype(np.float32) for clip in clips]
        self._check_lengths(clips, resampled=needs_resampling)
        if do_peak_normalize if do_peak_normalize is not None else self.do_peak_normalize:
            clips = [self._peak_normalize(clip) for clip in clips]

        return_attention_mask = (
            return_attention_mask if return_attention_mask is not None else self.return_attention_mask
        )
        num_frames = [self.num_frames(len(clip)) for clip in clips]
        lengths, target = self._padding_plan(num_frames, padding, max_length, truncation, pad_to_multiple_of)
        if return_tensors is not None and target is None:
            raise ValueError(
                "The clips have different numbers of frames and `padding` is off, so they cannot be returned as "
                "tensors: use `padding='longest'` or `return_tensors=None`."
            )

        if backend == "torch":
            log_mel, _ = self._torch_log_mel(clips, device or source_device or "cpu")
            log_mel = self._standardize(log_mel)
            if return_tensors is not None and TensorType(return_tensors) == TensorType.PYTORCH:
                outputs = self._pad_frames_torch(log_mel, lengths, target, return_attention_mask)
                return BatchFeature(outputs, tensor_type=return_tensors)
            log_mel = log_mel.cpu().numpy()
            features = [log_mel[index, :frames] for index, frames in enumerate(num_frames)]
        else:
            features = [self._standardize(frames) for frames in self._np_extract_fbank_features(clips)]
        outputs = self._pad_frames(features, lengths, target, return_attention_mask)
        return BatchFeature(outputs, tensor_type=return_tensors)


__all__ = ["ViT1DFeatureExtractor"]
