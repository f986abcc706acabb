"""Tests of vit1d.audio: decoding wav/flac/ogg with soundfile, cropping by seeking, mixing down, resampling with
soxr, bytes and file-like inputs, errors, and block streaming. Every test writes its own files into tmp_path."""

import io
import os

import numpy as np
import pytest
import soundfile as sf
import soxr

from vit1d.audio import audio_info, load_audio, resample, stream_audio

SR = 44100


def stereo_signal(seconds, sampling_rate=SR, seed=0):
    """Two different channels: a vibrato tone plus a little noise, and a chord."""
    rng = np.random.default_rng(seed)
    n = int(seconds * sampling_rate)
    t = np.arange(n) / sampling_rate
    left = 0.4 * np.sin(2 * np.pi * 330 * t * (1 + 0.01 * np.sin(2 * np.pi * t))) + 0.02 * rng.standard_normal(n)
    right = 0.2 * (np.sin(2 * np.pi * 440 * t) + np.sin(2 * np.pi * 554.37 * t) + np.sin(2 * np.pi * 659.25 * t))
    return np.stack([left, right], axis=1).astype(np.float32)  # soundfile layout (samples, channels)


@pytest.fixture(scope="module")
def signal():
    return stereo_signal(5.0)


@pytest.fixture(scope="module")
def files(tmp_path_factory, signal):
    folder = tmp_path_factory.mktemp("audio")
    paths = {}
    for ext in ("wav", "flac", "ogg"):
        paths[ext] = folder / f"stereo.{ext}"
        sf.write(paths[ext], signal, SR)
    return paths


def assert_close_to_written(decoded, written, ext):
    """PCM_16 files round to 1/32768; lossy Vorbis only keeps the waveform's shape."""
    assert decoded.shape == written.shape
    if ext == "ogg":
        for channel in range(written.shape[0]):
            assert np.corrcoef(decoded[channel], written[channel])[0, 1] > 0.99
    else:
        np.testing.assert_allclose(decoded, written, atol=1.0 / 2**15 + 1e-7)


# ---------------------------------------------------------------------------------------------------------------------
# decoding


@pytest.mark.parametrize("ext", ["wav", "flac", "ogg"])
def test_full_read_matches_written_data(files, signal, ext):
    decoded = load_audio(files[ext], sampling_rate=None, mono=False)
    assert decoded.dtype == np.float32
    assert_close_to_written(decoded, signal.T, ext)
    assert audio_info(files[ext]) == (SR, len(signal), 2)


@pytest.mark.parametrize("ext", ["wav", "flac", "ogg"])
def test_crop_equals_slice_of_full_read(files, ext):
    full = load_audio(files[ext], sampling_rate=None, mono=False)
    crop = load_audio(files[ext], sampling_rate=None, mono=False, offset=1.3, duration=2.0)
    start = int(round(1.3 * SR))
    np.testing.assert_allclose(crop, full[:, start : start + 2 * SR], atol=1e-6)


@pytest.mark.parametrize("rate", [16000, 44100])
@pytest.mark.parametrize("offset", [0.3, 1.3, 3.7])
def test_mp3_crop_equals_slice_of_full_read(tmp_path, rate, offset):
    """libsndfile decodes the first MP3 frames after a seek to zeros; load_audio must still return the samples of a
    sequential decode, for offsets shorter and longer than its lead-in."""
    assert "MP3" in sf.available_formats()  # libsndfile >= 1.1 writes MP3
    path = tmp_path / "tone.mp3"
    t = np.arange(5 * rate) / rate
    sf.write(path, (0.3 * np.sin(2 * np.pi * 220 * t)).astype(np.float32), rate)  # a bare seek gives ~0.25 s of zeros
    full = load_audio(path, sampling_rate=None)
    crop = load_audio(path, sampling_rate=None, offset=offset, duration=1.0)
    start = int(round(offset * rate))
    assert np.abs(crop[: rate // 10]).max() > 0.1
    np.testing.assert_allclose(crop, full[start : start + rate], atol=1e-6)  # the decoder's float rounding


@pytest.mark.parametrize("ext", ["wav", "flac"])
def test_stereo_mixes_down_to_the_mean(files, ext):
    stereo = load_audio(files[ext], sampling_rate=None, mono=False)
    mono = load_audio(files[ext], sampling_rate=None)
    assert mono.ndim == 1
    np.testing.assert_allclose(mono, stereo.mean(axis=0), atol=1e-7)


@pytest.mark.parametrize("ext", ["wav", "flac", "ogg"])
def test_resampling_to_16k(files, ext):
    native = load_audio(files[ext], sampling_rate=None)
    at_16k = load_audio(files[ext])  # default sampling_rate=16000
    assert len(at_16k) == round(len(native) * 16000 / SR)
    np.testing.assert_allclose(at_16k, soxr.resample(native, SR, 16000, quality="HQ"), atol=1e-6)
    cropped = load_audio(files[ext], offset=1.0, duration=2.0)
    assert len(cropped) == 32000


def test_bytes_and_file_objects(files):
    expected = load_audio(files["flac"])
    data = files["flac"].read_bytes()
    np.testing.assert_array_equal(load_audio(data), expected)
    np.testing.assert_array_equal(load_audio(io.BytesIO(data)), expected)
    with open(files["flac"], "rb") as f:
        np.testing.assert_array_equal(load_audio(f), expected)
    buffer = io.BytesIO(data)
    assert audio_info(buffer) == (SR, int(5.0 * SR), 2)
    assert buffer.tell() == 0  # audio_info leaves a file object where it was
    assert audio_info(data) == (SR, int(5.0 * SR), 2)


def test_dtype_and_peak_normalization(files):
    as64 = load_audio(files["wav"], dtype=np.float64)
    assert as64.dtype == np.float64
    normalized = load_audio(files["wav"], peak_normalize=True)
    assert np.abs(normalized).max() == pytest.approx(1.0)
    np.testing.assert_allclose(normalized, as64 / np.abs(as64).max(), atol=1e-5)
    with pytest.raises(ValueError, match="float32 or float64"):
        load_audio(files["wav"], dtype=np.int16)


def test_crop_past_the_end_returns_what_exists(files):
    tail = load_audio(files["wav"], sampling_rate=None, offset=4.0, duration=3.0)
    assert len(tail) == int(5.0 * SR) - 4 * SR


def test_resample_helper_works_on_channels_last_axis(signal):
    channels = np.ascontiguousarray(signal.T)
    both = resample(channels, SR, 16000)
    assert both.shape == (2, round(signal.shape[0] * 16000 / SR))
    for c in range(2):
        np.testing.assert_allclose(both[c], soxr.resample(channels[c], SR, 16000, quality="HQ"), atol=1e-6)
    assert resample(channels, SR, SR) is channels


# ---------------------------------------------------------------------------------------------------------------------
# errors


def test_missing_file(tmp_path):
    with pytest.raises(FileNotFoundError, match="No audio file"):
        load_audio(tmp_path / "nope.wav")


def test_corrupt_file(tmp_path):
    path = tmp_path / "corrupt.wav"
    path.write_bytes(b"RIFF" + np.random.default_rng(0).bytes(5000))
    with pytest.raises(ValueError, match=r"soundfile/libsndfile could not decode .*corrupt\.wav.*WAV, FLAC"):
        load_audio(path)
    with pytest.raises(ValueError, match="could not decode <bytes>"):
        load_audio(b"not audio at all" * 100)
    with pytest.raises(ValueError, match="could not decode"):
        audio_info(path)


def test_bad_offsets_and_durations(files):
    with pytest.raises(ValueError, match="non-negative"):
        load_audio(files["wav"], offset=-1.0)
    with pytest.raises(ValueError, match=r"beyond the end.*lasts 5\.000 s"):
        load_audio(files["wav"], offset=7.5)
    with pytest.raises(ValueError, match="positive"):
        load_audio(files["wav"], duration=0)
    with pytest.raises(ValueError, match="positive"):
        load_audio(files["wav"], duration=-2.0)
    with pytest.raises(TypeError, match="path, bytes or a binary file-like"):
        load_audio(12345)


# ---------------------------------------------------------------------------------------------------------------------
# a crop of a long file decodes only the crop


class CountingReader(io.RawIOBase):
    """A raw file that counts the bytes read through it."""

    def __init__(self, raw):
        self.raw = raw
        self.bytes_read = 0

    def readable(self):
        return True

    def seekable(self):
        return True

    def readinto(self, buffer):
        count = self.raw.readinto(buffer)
        self.bytes_read += count
        return count

    def seek(self, position, whence=io.SEEK_SET):
        return self.raw.seek(position, whence)

    def tell(self):
        return self.raw.tell()


@pytest.mark.parametrize("ext", ["wav", "flac"])
def test_crop_of_a_long_file_reads_few_bytes(tmp_path, ext):
    sampling_rate = 16000
    t = np.arange(60 * sampling_rate) / sampling_rate
    tone = 0.3 * np.sin(2 * np.pi * 220 * t * (1 + 0.05 * np.sin(t)))
    noise = 0.02 * np.random.default_rng(0).standard_normal(len(t))
    x = (tone + noise).astype(np.float32)
    path = tmp_path / f"long.{ext}"
    sf.write(path, x, sampling_rate)
    size = os.path.getsize(path)

    with open(path, "rb", buffering=0) as raw:
        counter = CountingReader(raw)
        crop = load_audio(io.BufferedReader(counter), sampling_rate=None, offset=28.0, duration=4.0)
    assert counter.bytes_read < 0.25 * size
    full = load_audio(path, sampling_rate=None)
    np.testing.assert_array_equal(crop, full[28 * sampling_rate : 32 * sampling_rate])


# ---------------------------------------------------------------------------------------------------------------------
# streaming


@pytest.mark.parametrize("ext", ["wav", "ogg"])
def test_stream_concatenation_equals_whole_load(files, ext):
    whole = load_audio(files[ext])
    blocks = list(stream_audio(files[ext], block_seconds=0.7))
    assert len(blocks) >= 7 and all(b.ndim == 1 and b.dtype == np.float32 for b in blocks)
    np.testing.assert_allclose(np.concatenate(blocks), whole, atol=1e-5)


def test_stream_without_resampling_and_multichannel(files):
    whole = load_audio(files["wav"], sampling_rate=None, mono=False)
    blocks = list(stream_audio(files["wav"], sampling_rate=None, block_seconds=1.5, mono=False))
    assert [b.shape[1] for b in blocks] == [66150, 66150, 66150, 22050]
    np.testing.assert_array_equal(np.concatenate(blocks, axis=1), whole)
    resampled = list(stream_audio(files["wav"], block_seconds=1.0, mono=False))
    np.testing.assert_allclose(np.concatenate(resampled, axis=1), load_audio(files["wav"], mono=False), atol=1e-5)


def test_stream_errors(tmp_path, files):
    with pytest.raises(FileNotFoundError):
        stream_audio(tmp_path / "missing.flac")  # fails at the call, before iteration
    with pytest.raises(ValueError, match="block_seconds"):
        stream_audio(files["wav"], block_seconds=0)


# ---------------------------------------------------------------------------------------------------------------------
# damaged files, odd names and links


def write_long(path, seconds=20.0, sampling_rate=SR, **kwargs):
    """A mono file written in 1 s blocks (libsndfile 1.2 can crash writing long Vorbis files in one call)."""
    signal = stereo_signal(seconds, sampling_rate)[:, 0]
    with sf.SoundFile(path, "w", sampling_rate, 1, **kwargs) as f:
        for start in range(0, len(signal), sampling_rate):
            f.write(signal[start : start + sampling_rate])
    return path


LONG_FORMATS = {
    "ogg": dict(format="OGG", subtype="VORBIS"),
    "opus": dict(format="OGG", subtype="OPUS"),
    "mp3": dict(format="MP3", subtype="MPEG_LAYER_III"),
    "wav": dict(format="WAV", subtype="PCM_16"),
}


@pytest.fixture(scope="module")
def whole_and_cut(tmp_path_factory):
    """Per format: a whole 20 s file, its first half, and its first 10 KB."""
    folder = tmp_path_factory.mktemp("cut")
    files = {}
    for ext, kwargs in LONG_FORMATS.items():
        rate = 48000 if ext == "opus" else SR
        whole = write_long(folder / f"whole.{ext}", sampling_rate=rate, **kwargs)
        data = whole.read_bytes()
        (folder / f"half.{ext}").write_bytes(data[: len(data) // 2])
        (folder / f"head.{ext}").write_bytes(data[:10240])
        files[ext] = {cut: folder / f"{cut}.{ext}" for cut in ("whole", "half", "head")}
    return files


@pytest.mark.parametrize("ext", list(LONG_FORMATS))
def test_truncated_files_are_found_and_warned_about(whole_and_cut, ext, caplog):
    from vit1d.audio import truncation_of

    files = whole_and_cut[ext]
    with caplog.at_level("WARNING", logger="vit1d.audio"):
        whole = load_audio(files["whole"], 16000)
        assert sum(len(block) for block in stream_audio(files["whole"])) == len(whole)
    assert truncation_of(files["whole"]) is None and not caplog.records
    for cut in ("half", "head"):
        assert "truncated" in truncation_of(files[cut])
        assert "truncated" in truncation_of(files[cut].read_bytes())  # encoded bytes: the same checks
        caplog.clear()
        with caplog.at_level("WARNING", logger="vit1d.audio"):
            partial = load_audio(files[cut], 16000)  # what decodes is returned, with a warning naming the file
            streamed = sum(len(block) for block in stream_audio(files[cut]))
        assert 0 < len(partial) < len(whole) and streamed == len(partial)
        messages = [record.getMessage() for record in caplog.records]
        assert len(messages) == 2 and all(str(files[cut]) in m and "truncated" in m for m in messages), messages


def test_a_decoder_ending_a_few_ms_before_the_header_is_no_damage(whole_and_cut, monkeypatch, caplog):
    """Debian's warzone2100 Opus tracks decode 10 frames (0.2 ms) short of their header's count, the codec's end
    trimming: a crop or stream reaching that end must not be called truncated. 50 ms short still is."""
    import vit1d.audio as audio

    original = audio._read_frames
    for short_ms, warned in ((0.2, False), (50, True)):
        def short_read(f, source, start, count, dtype, short_ms=short_ms):
            data = original(f, source, start, count, dtype)
            missing = int(round(short_ms / 1000 * f.samplerate))
            return data[:-missing] if f.tell() >= f.frames and missing else data  # the read reached the end

        monkeypatch.setattr(audio, "_read_frames", short_read)
        caplog.clear()
        with caplog.at_level("WARNING", logger="vit1d.audio"):
            load_audio(whole_and_cut["opus"]["whole"], 16000, offset=19.0, duration=1.0)
            for _ in stream_audio(whole_and_cut["opus"]["whole"]):
                pass
        assert len(caplog.records) == (2 if warned else 0), (short_ms, [r.getMessage() for r in caplog.records])


def test_an_ogg_file_cut_at_a_page_boundary_is_truncated(whole_and_cut, tmp_path):
    """Cut exactly before a page, the file ends with a complete page; only its missing end-of-stream flag tells."""
    from vit1d.audio import truncation_of

    data = whole_and_cut["ogg"]["whole"].read_bytes()
    boundary = data.index(b"OggS", len(data) // 2)
    path = tmp_path / "cut_at_page.ogg"
    path.write_bytes(data[:boundary])
    assert truncation_of(path) == "its last Ogg page is not marked end-of-stream (truncated)"


def test_flac_cut_short_fails_to_decode_rather_than_decoding_partly(tmp_path):
    from vit1d.audio import truncation_of

    whole = write_long(tmp_path / "whole.flac", format="FLAC")
    data = whole.read_bytes()
    half = tmp_path / "half.flac"
    half.write_bytes(data[: len(data) // 2])
    assert "does not decode" in truncation_of(half)
    with pytest.raises(ValueError, match="could not decode .*half.flac"):
        load_audio(half)


def test_a_file_name_that_is_not_utf8_is_read_and_named_safely(files, tmp_path):
    from vit1d.audio import display_path

    path = os.path.join(os.fsencode(tmp_path), b"caf\xe9 \xff.flac")  # Latin-1 bytes: not valid UTF-8
    with open(files["flac"], "rb") as source, open(path, "wb") as target:
        target.write(source.read())
    name = os.fsdecode(path)  # how os.listdir and pathlib hand such a name to Python: with surrogates
    np.testing.assert_array_equal(load_audio(name), load_audio(files["flac"]))
    assert audio_info(name) == audio_info(files["flac"])
    assert sum(len(b) for b in stream_audio(name)) == len(load_audio(name))
    assert display_path(name).endswith("caf\\xe9 \\xff.flac")
    os.remove(path)
    with pytest.raises(FileNotFoundError, match=r"caf\\\\xe9 \\\\xff\.flac"):  # the error prints the name escaped
        load_audio(name)


def test_broken_and_looping_links_say_what_they_are(tmp_path):
    (tmp_path / "dangling.wav").symlink_to(tmp_path / "gone.wav")
    (tmp_path / "loop.wav").symlink_to(tmp_path / "loop.wav")
    with pytest.raises(FileNotFoundError, match=r"broken symbolic link: its target .*gone\.wav.* does not exist"):
        load_audio(tmp_path / "dangling.wav")
    with pytest.raises(FileNotFoundError, match="symbolic link that loops"):
        audio_info(tmp_path / "loop.wav")


def test_a_decode_error_is_one_line_without_the_list_of_formats(tmp_path):
    path = tmp_path / "corrupt.ogg"
    path.write_bytes(b"OggS" + bytes(300))
    with pytest.raises(ValueError) as error:
        load_audio(path)
    message = str(error.value)
    assert "\n" not in message and "AIFF, AU" not in message and len(message) - len(str(path)) < 400
