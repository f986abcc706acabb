"""The pretraining input: track sources, the pair stream, its sharding, skips and exact resume."""

import json
import logging
import os
from collections import Counter
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import soundfile as sf
import torch

from vit1d.audio import audio_info, load_audio
from vit1d.data.pairs import PairSampling
from vit1d.data.sources import open_tracks
from vit1d.data.streaming import PairStream, ReaderPosition, StreamOptions, total_skipped

SR = 16000
RULES = PairSampling(crop_seconds=1.0, min_distance_seconds=1.0, max_distance_seconds=5.0, pairs_per_track=2,
                     probe_crops=4)
ONE_PAIR = PairSampling(**{**RULES.__dict__, "pairs_per_track": 1})


def tone(index: int, seconds: float = 6.0, sr: int = SR) -> np.ndarray:
    """Track `index` is a tone whose level identifies it (RMS = (index + 1) / 100)."""
    t = np.arange(int(seconds * sr)) / sr
    amplitude = (index + 1) / 100 * np.sqrt(2)
    return (amplitude * np.sin(2 * np.pi * 220 * t)).astype(np.float32)


def track_of(crop: torch.Tensor) -> int:
    rms = float(crop.double().square().mean().sqrt())
    return int(round(rms * 100)) - 1


@pytest.fixture
def tone_folder(tmp_path):
    folder = tmp_path / "tones"
    (folder / "sub").mkdir(parents=True)
    for index in range(8):
        path = folder / ("sub" if index % 2 else "") / f"track{index}.{('wav', 'flac')[index % 2]}"
        sf.write(path, tone(index), SR)
    return folder


def stream(source, rules=RULES, **options):
    defaults = dict(batch_size=1, seed=0, shuffle_buffer=0, mix_tracks=1)
    return PairStream(source, rules, StreamOptions(**{**defaults, **{k: v for k, v in options.items()
                                                                      if k in StreamOptions.__dataclass_fields__}}),
                      **{k: v for k, v in options.items() if k not in StreamOptions.__dataclass_fields__})


def take(iterable, n):
    iterator = iter(iterable)
    return [next(iterator) for _ in range(n)]


def one_pass(pair_stream, loader_workers=0) -> list[int]:
    """Track ids of every pair of the first epoch of every reader (batch_size 1, one pair per track)."""
    loader = torch.utils.data.DataLoader(pair_stream, batch_size=None, num_workers=loader_workers)
    seen, finished = [], set()
    for batch in loader:
        if batch["position"]["epoch"] > 0:
            finished.add(batch["reader"])
            if len(finished) == pair_stream.readers_per_process:
                return seen
        elif batch["reader"] not in finished:
            seen.append(track_of(batch["input_values"][0]))
        if len(seen) > 100:
            raise AssertionError("the first pass never ended")
    raise AssertionError("the stream ended")


# -- sources --------------------------------------------------------------------------------------------------------


def test_audio_folder_is_listed_recursively_and_sharded_by_file(tone_folder):
    source = open_tracks(tone_folder)
    assert source.audio_column == "audio" and source.tracks.num_shards == 8
    rows = list(source.tracks)
    assert sorted(source.audio_of(row).rsplit("/", 1)[-1] for row in rows) == [f"track{i}.{('wav', 'flac')[i % 2]}"
                                                                                for i in range(8)]


def test_parquet_shards_with_audio_bytes_and_an_audio_feature(tmp_path, tone_folder):
    files = sorted(tone_folder.rglob("*.wav"))
    table = pa.table({"audio": [{"bytes": f.read_bytes(), "path": f.name} for f in files], "id": list(range(len(files)))})
    meta = {"info": {"features": {"audio": {"_type": "Audio"}, "id": {"dtype": "int64", "_type": "Value"}}}}
    pq.write_table(table.slice(0, 2).replace_schema_metadata({"huggingface": json.dumps(meta)}), tmp_path / "a.parquet")
    pq.write_table(table.slice(2), tmp_path / "b.parquet")  # no Audio metadata: a plain struct column
    for pattern in (str(tmp_path / "*.parquet"),):
        source = open_tracks(pattern)
        assert source.audio_column == "audio" and source.tracks.num_shards == 2
        batch = take(stream(source, mix_tracks=4, batch_size=4), 1)[0]
        assert sorted(track_of(crop) for crop in batch["input_values"]) == [0, 2, 4, 6]


@pytest.mark.parametrize("extension", ["ogg", "mp3"])
def test_lossy_files_in_a_local_folder_stream(tmp_path, extension):
    assert extension.upper() in sf.available_formats()  # libsndfile >= 1.1 writes MP3; older builds cannot
    for index in range(4):
        sf.write(tmp_path / f"track{index}.{extension}", tone(index), SR)
    # One whole decode, and crops read by seeking (libsndfile decodes an MP3's first frames after a seek to zeros,
    # which load_audio works around). Both settings must give the same crops.
    batches = [take(stream(open_tracks(tmp_path), ONE_PAIR, batch_size=4, mix_tracks=4,
                           decode_whole_below_seconds=whole_below), 1)[0] for whole_below in (120.0, 0.0)]
    for batch in batches:
        assert batch["input_values"].shape == batch["positive_input_values"].shape == (4, SR)
        assert sorted(track_of(crop) for crop in batch["input_values"]) == [0, 1, 2, 3]
        assert [track_of(crop) for crop in batch["positive_input_values"]] == [
            track_of(crop) for crop in batch["input_values"]]
    # MP3 decoding after an earlier seek may differ in the last float bit from a sequential decode.
    for key in ("input_values", "positive_input_values"):
        torch.testing.assert_close(batches[0][key], batches[1][key], atol=1e-6, rtol=0)


def test_arrow_shards_given_as_a_glob(tmp_path, tone_folder):
    files = sorted(tone_folder.rglob("*.*"))
    for shard, part in enumerate((files[:3], files[3:])):
        table = pa.table({"audio": [{"bytes": f.read_bytes(), "path": f.name} for f in part]})
        with pa.ipc.new_stream(tmp_path / f"tracks-{shard}.arrow", table.schema) as writer:
            writer.write_table(table)
    source = open_tracks(str(tmp_path / "tracks-*.arrow"))
    assert source.audio_column == "audio" and source.tracks.num_shards == 2
    batch = take(stream(source, ONE_PAIR, batch_size=8, mix_tracks=8), 1)[0]
    assert sorted(track_of(crop) for crop in batch["input_values"]) == list(range(8))


def test_dataset_folder_resolves_relative_paths(tmp_path, tone_folder):
    folder = tmp_path / "ds"
    (folder / "train").mkdir(parents=True)
    rows = []
    for index in range(3):
        sf.write(folder / "train" / f"t{index}.flac", tone(index), SR)
        rows.append({"audio_path": f"train/t{index}.flac", "key": "C major"})
    (folder / "train" / "metadata.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    (folder / "README.md").write_text("---\nconfigs:\n- config_name: default\n  data_files:\n  - split: train\n"
                                      "    path: train/metadata.jsonl\n---\n")
    source = open_tracks(folder)
    assert source.audio_column == "audio_path"
    assert sorted(track_of(b["input_values"][0]) for b in take(stream(source, ONE_PAIR), 3)) == [0, 1, 2]


def test_source_errors_name_the_fix(tmp_path):
    (tmp_path / "empty").mkdir()
    with pytest.raises(ValueError, match="no audio files"):
        open_tracks(tmp_path / "empty")
    pq.write_table(pa.table({"id": [1], "label": ["x"]}), tmp_path / "x.parquet")
    with pytest.raises(ValueError, match="--audio_column"):
        open_tracks(tmp_path / "x.parquet")
    with pytest.raises(ValueError, match="No column 'sound'"):
        open_tracks(tmp_path / "x.parquet", audio_column="sound")


# -- pairs and batches ----------------------------------------------------------------------------------------------


def test_batches_have_fixed_shapes_and_pairs_of_one_track(tone_folder):
    batches = take(stream(open_tracks(tone_folder), batch_size=4, mix_tracks=8), 3)
    for batch in batches:
        assert batch["input_values"].shape == batch["positive_input_values"].shape == (4, SR)
        assert batch["input_values"].dtype == torch.float32
        for a, b in zip(batch["input_values"], batch["positive_input_values"]):
            assert track_of(a) == track_of(b)


def test_pairs_of_a_track_are_spread_over_batches(tone_folder):
    # 8 tracks x 2 pairs mixed: the first 8 pairs are one pair of each track, the next 8 the second ones.
    batches = take(stream(open_tracks(tone_folder), batch_size=8, mix_tracks=8), 2)
    for batch in batches:
        assert sorted(track_of(crop) for crop in batch["input_values"]) == list(range(8))


def test_options_peak_normalize_and_gain(tone_folder):
    source = open_tracks(tone_folder)
    plain = take(stream(source, batch_size=2, mix_tracks=2), 1)[0]["input_values"]
    peak = take(stream(source, batch_size=2, mix_tracks=2, peak_normalize=True), 1)[0]["input_values"]
    assert torch.allclose(peak.abs().amax(dim=1), torch.ones(2))
    gained = take(stream(source, batch_size=2, mix_tracks=2, gain_db=6.0), 1)[0]["input_values"]
    ratio = gained.abs().amax(dim=1) / plain.abs().amax(dim=1)
    assert ((ratio > 0.5) & (ratio < 2.0)).all() and not torch.allclose(ratio, torch.ones(2))


def test_view_equalisation_is_seeded_and_stays_within_its_stated_range(tone_folder):
    source = open_tracks(tone_folder)
    plain = take(stream(source, batch_size=4, mix_tracks=4), 2)
    for options, limit_db in ((dict(tilt_db_per_octave=3.0), 3.0 * abs(np.log2(220 / 1000))),
                              (dict(eq_gain_db=6.0), 6.0)):
        equalised = take(stream(source, batch_size=4, mix_tracks=4, **options), 2)
        again = take(stream(source, batch_size=4, mix_tracks=4, **options), 2)
        changes = []
        for before, after, repeat in zip(plain, equalised, again):
            assert torch.equal(after["input_values"], repeat["input_values"])  # seeded
            for key in ("input_values", "positive_input_values"):
                # The 220 Hz tone's level changes by the EQ's gain at 220 Hz: within the stated range, and drawn
                # anew for every view.
                rms = [crops[:, SR // 4:].double().square().mean(dim=1).sqrt() for crops in (before[key], after[key])]
                changes.append(20 * torch.log10(rms[1] / rms[0]))
        changes = torch.cat(changes)
        assert (changes.abs() <= limit_db + 0.1).all() and changes.std() > 0.5, (options, changes)


def test_track_ids_name_the_track_of_every_pair_and_mask_every_same_track_negative(tmp_path):
    """The shipped batch-128 config over a corpus smaller than a batch, on 1 and 2 processes and with DataLoader
    workers: every batch holds several pairs of some tracks, and the ids tell NT-Xent exactly which."""
    import yaml

    from vit1d.modeling_vit1d import nt_xent_loss

    shipped = yaml.safe_load((Path(__file__).parents[1] / "configs" / "pretraining.yaml").read_text())
    rules = PairSampling(crop_seconds=shipped["crop_seconds"], min_distance_seconds=shipped["min_distance_seconds"],
                         max_distance_seconds=shipped["max_distance_seconds"],
                         pairs_per_track=shipped["pairs_per_track"], probe_crops=2)
    write_tones(tmp_path, {index: f"t{index}.wav" for index in range(24)}, seconds=10.0)
    source = open_tracks(tmp_path)
    batch_size = shipped["per_device_train_batch_size"]
    for world_size, workers, mix_tracks in ((1, 0, 64), (2, 0, 64), (1, 2, 8)):
        streams = [stream(source, rules, batch_size=batch_size // world_size, mix_tracks=mix_tracks, rank=rank,
                          world_size=world_size, num_workers=workers) for rank in range(world_size)]
        loaders = [iter(torch.utils.data.DataLoader(s, batch_size=None, num_workers=workers)) for s in streams]
        for _ in range(2):
            parts = [next(loader) for loader in loaders]  # one global batch: what NT-Xent gathers
            ids = torch.cat([part["track_ids"] for part in parts])
            tracks = torch.tensor([track_of(crop) for part in parts for crop in part["input_values"]])
            assert len(ids) == batch_size and len(set(tracks.tolist())) < batch_size
            assert torch.equal(ids[:, None] == ids[None, :], tracks[:, None] == tracks[None, :])
            _, logits = nt_xent_loss(torch.randn(batch_size, 4), torch.randn(batch_size, 4), track_ids=ids)
            both = torch.cat([tracks, tracks])
            negatives = torch.isfinite(logits)
            negatives[torch.arange(2 * batch_size), torch.arange(2 * batch_size).roll(batch_size)] = False
            assert not (negatives & (both[:, None] == both[None, :])).any()


def test_links_and_byte_identical_copies_are_read_once(tmp_path, caplog):
    folder = tmp_path / "dupes"
    write_tones(folder, {0: "a.wav", 1: "b.wav", 2: "c.wav"})
    (folder / "a copy.wav").write_bytes((folder / "a.wav").read_bytes())
    (folder / "0 link to b.wav").symlink_to(folder / "b.wav")  # listed first, yet the real file is kept
    (folder / "same size, other bytes.wav").write_bytes((folder / "c.wav").read_bytes()[:-2] + b"\x01\x02")
    with caplog.at_level(logging.WARNING, logger="vit1d.data.sources"):
        rows = sorted(row["audio"] for row in open_tracks(folder).tracks)
    assert rows == ["a copy.wav", "b.wav", "c.wav", "same size, other bytes.wav"]
    assert any("2 of 6 audio files are links to, or byte-identical copies" in m for m in caplog.messages)


def test_stream_is_deterministic_and_epochs_reshuffle(tone_folder):
    source = open_tracks(tone_folder)
    first = [track_of(b["input_values"][0]) for b in take(stream(source, shuffle_buffer=8), 16)]
    again = [track_of(b["input_values"][0]) for b in take(stream(source, shuffle_buffer=8), 16)]
    assert first == again
    # Epoch 0 and epoch 1 each hold every track once (two pairs each, mix_tracks=1), in different orders.
    epoch0, epoch1 = first[::2], [track_of(b["input_values"][0]) for b in take(stream(source, shuffle_buffer=8), 32)][16::2]
    assert sorted(epoch0) == sorted(epoch1) == list(range(8)) and epoch0 != epoch1


# -- bad files ------------------------------------------------------------------------------------------------------


def test_whole_track_decoding_equals_seeking(tone_folder):
    """Short tracks are decoded once and sliced; at the native rate that gives exactly the crops seeking gives."""
    source = open_tracks(tone_folder)
    whole = take(stream(source, batch_size=4, mix_tracks=8), 2)
    seeking = take(stream(source, batch_size=4, mix_tracks=8, decode_whole_below_seconds=0.0), 2)
    for a, b in zip(whole, seeking):
        assert torch.equal(a["input_values"], b["input_values"])
        assert torch.equal(a["positive_input_values"], b["positive_input_values"])


@pytest.mark.parametrize("decode_whole_below_seconds", [0.0, 120.0])
def test_bad_files_are_skipped_counted_and_warned(tmp_path, caplog, decode_whole_below_seconds):
    folder = tmp_path / "mixed"
    folder.mkdir()
    for index in range(3):
        sf.write(folder / f"good{index}.wav", tone(index), SR)
    stereo = np.stack([tone(3), tone(3)], axis=1)
    sf.write(folder / "stereo_44k.wav", stereo, 44100)  # mixed down and resampled, not skipped
    (folder / "corrupt.wav").write_bytes(b"RIFF\x00\x00\x00\x00WAVEjunk" + bytes(100))
    sf.write(folder / "empty.wav", np.zeros(0, dtype=np.float32), SR)
    sf.write(folder / "short.wav", tone(0, seconds=0.5), SR)
    nan = tone(0)
    nan[SR: 2 * SR] = np.nan
    sf.write(folder / "nan.wav", nan, SR, subtype="FLOAT")
    sf.write(folder / "low_rate.wav", tone(0, sr=4000), 4000)
    sf.write(folder / "silent.wav", np.zeros(6 * SR, dtype=np.float32), SR)
    rules = PairSampling(crop_seconds=1.0, min_distance_seconds=1.0, max_distance_seconds=5.0, pairs_per_track=1,
                         probe_crops=6, short_tracks="skip")
    with caplog.at_level(logging.WARNING, logger="vit1d.data.streaming"):
        batches = take(stream(open_tracks(folder), rules, batch_size=4, mix_tracks=16,
                              decode_whole_below_seconds=decode_whole_below_seconds), 1)
    batch = batches[0]
    assert sorted(track_of(crop) for crop in batch["input_values"]) == [0, 1, 2, 3]
    assert torch.isfinite(batch["input_values"]).all() and torch.isfinite(batch["positive_input_values"]).all()
    skipped = ReaderPosition.from_dict(batch["position"]).skipped()
    assert skipped == Counter(unreadable=1, empty=1, too_short=1, non_finite=1, low_sampling_rate=1, silent=1)
    assert total_skipped({0: batch["position"]}) == skipped
    for name in ("corrupt.wav", "empty.wav", "short.wav", "nan.wav", "low_rate.wav", "silent.wav"):
        assert any(name in message for message in caplog.messages), name


@pytest.fixture
def folder_with_a_corrupt_file(tmp_path):
    folder = tmp_path / "corrupt"
    folder.mkdir()
    for index in range(5):
        sf.write(folder / f"good{index}.wav", tone(index), SR)
    (folder / "corrupt.wav").write_bytes(b"RIFF\x00\x00\x00\x00WAVEjunk" + bytes(100))
    return folder


def test_a_bad_track_is_counted_once_over_passes_and_not_decoded_again(folder_with_a_corrupt_file, caplog,
                                                                       monkeypatch):
    from vit1d.data import streaming

    opened = Counter()

    def counting_audio_info(audio):
        opened[str(audio).rsplit("/", 1)[-1]] += 1
        return audio_info(audio)

    monkeypatch.setattr(streaming, "audio_info", counting_audio_info)
    with caplog.at_level(logging.WARNING, logger="vit1d.data.streaming"):
        batches = take(stream(open_tracks(folder_with_a_corrupt_file), ONE_PAIR, mix_tracks=4, shuffle_buffer=6),
                       5 * 5)  # 5 passes of 5 usable tracks, one pair each
    assert batches[-1]["position"]["epoch"] == 4
    assert total_skipped({0: batches[-1]["position"]}) == Counter(unreadable=1)
    assert opened["corrupt.wav"] == 1 and opened["good0.wav"] == 5  # the corrupt file is not retried
    assert sum("corrupt.wav" in message for message in caplog.messages) == 1
    summaries = [message for message in caplog.messages if "first pass" in message]
    assert len(summaries) == 1 and "skipped 1 of 6 tracks" in summaries[0] and "unreadable: 1" in summaries[0]


def test_skip_counts_summed_over_readers_count_each_bad_track_once(tmp_path, folder_with_a_corrupt_file):
    # One json shard: readers take every 2nd track of the shuffled order, so the corrupt track moves between
    # readers from pass to pass, and a per-reader memory of bad tracks alone would count it again.
    files = sorted(folder_with_a_corrupt_file.iterdir())
    (tmp_path / "tracks.jsonl").write_text("".join(json.dumps({"audio": str(f)}) + "\n" for f in files))
    source = open_tracks(tmp_path / "tracks.jsonl")
    last = {rank: take(stream(source, ONE_PAIR, shuffle_buffer=6, rank=rank, world_size=2), 12)[-1]["position"]
            for rank in range(2)}
    assert min(position["epoch"] for position in last.values()) >= 3
    assert total_skipped(last) == Counter(unreadable=1)


@pytest.mark.parametrize("resume_after", [4, 7, 12])
def test_a_resumed_stream_skips_known_bad_tracks_exactly(folder_with_a_corrupt_file, resume_after):
    """A resumed reader has no memory of bad tracks: it retries them once, and must still give the same batches."""
    source = open_tracks(folder_with_a_corrupt_file)
    settings = dict(batch_size=3, mix_tracks=4, shuffle_buffer=6)
    resumed = assert_resumes_exactly(source, settings, resume_after, 4)
    assert total_skipped({0: resumed[-1]["position"]}) == Counter(unreadable=1)


def test_a_reader_without_usable_tracks_fails_clearly(tmp_path):
    folder = tmp_path / "one"
    folder.mkdir()
    sf.write(folder / "only.wav", tone(0), SR)
    lonely = stream(open_tracks(folder), rank=1, world_size=2)  # the one track goes to reader 0
    with pytest.raises(RuntimeError, match="no usable pair in a whole pass"):
        take(lonely, 1)


# -- sharding -------------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("layout", ["shards", "examples"])
def test_each_track_is_read_once_per_pass_over_processes_and_workers(tmp_path, tone_folder, layout):
    if layout == "shards":
        source = open_tracks(tone_folder)  # 8 files = 8 shards, 4 readers take 2 whole shards each
    else:
        # One json shard (parquet would do the same, but datasets sleeps 5 s after each pass over parquet files).
        files = sorted(tone_folder.rglob("*.*"))
        (tmp_path / "tracks.jsonl").write_text("".join(json.dumps({"audio": str(f)}) + "\n" for f in files))
        source = open_tracks(tmp_path / "tracks.jsonl")  # 1 shard: every 4th track per reader
    seen = []
    for rank in range(2):
        pair_stream = stream(source, ONE_PAIR, shuffle_buffer=4, rank=rank, world_size=2, num_workers=2)
        seen += one_pass(pair_stream, loader_workers=2)
    assert sorted(seen) == list(range(8))


def test_worker_count_must_match(tone_folder):
    built_for_two = stream(open_tracks(tone_folder), num_workers=2)
    with pytest.raises(ValueError, match="num_workers"):
        iter(built_for_two)  # iterated in the main process: one reader, not two


# -- exact resume ---------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("resume_after", [1, 2, 5, 9])
def test_resumed_stream_continues_exactly(tone_folder, resume_after):
    """Positions inside a group, at a group boundary and across an epoch all resume to the same next batches."""
    source = open_tracks(tone_folder)
    settings = dict(batch_size=3, mix_tracks=3, shuffle_buffer=4)
    assert_resumes_exactly(source, settings, resume_after, 3)


def assert_resumes_exactly(source, settings: dict, resume_after: int, batches: int) -> list[dict]:
    """A stream resumed from the position of batch `resume_after` gives the next `batches` batches of the
    uninterrupted stream; returns the resumed batches."""
    reference = take(stream(source, **settings), resume_after + batches)
    position = reference[resume_after - 1]["position"]
    resumed = take(stream(source, positions={0: position}, **settings), batches)
    for expected, got in zip(reference[resume_after:], resumed):
        assert torch.equal(expected["input_values"], got["input_values"])
        assert torch.equal(expected["positive_input_values"], got["positive_input_values"])
        assert expected["position"] == got["position"]
    return resumed


def test_a_folder_named_like_an_earlier_dataset_does_not_read_its_cached_schema(tmp_path, monkeypatch):
    import datasets

    monkeypatch.setattr(datasets.config, "HF_DATASETS_CACHE", tmp_path / "hf")  # the default cache, isolated
    card = "---\nconfigs:\n- config_name: default\n  data_files:\n  - split: train\n    path: train/metadata.jsonl\n---\n"
    for name, row in (("old", {"audio": "x.wav"}), ("new", {"audio": "x.wav", "key": "C major"})):
        (tmp_path / name / "corpus" / "train").mkdir(parents=True)
        (tmp_path / name / "corpus" / "README.md").write_text(card)
        (tmp_path / name / "corpus" / "train" / "metadata.jsonl").write_text(json.dumps(row) + "\n")
    datasets.load_dataset(str(tmp_path / "old" / "corpus"), split="train")  # caches its schema under "corpus"
    source = open_tracks(tmp_path / "new" / "corpus")
    assert next(iter(source.tracks)) == {"audio": "x.wav", "key": "C major"}


def test_a_folder_of_split_manifests_is_read_by_split(tmp_path):
    folder = tmp_path / "manifests"
    (folder / "audio").mkdir(parents=True)
    for index in range(3):
        sf.write(folder / "audio" / f"t{index}.wav", tone(index), SR)
    (folder / "train.jsonl").write_text("".join(json.dumps({"path": f"audio/t{i}.wav"}) + "\n" for i in (0, 1)))
    (folder / "test.jsonl").write_text(json.dumps({"path": "audio/t2.wav"}) + "\n")
    train, test = open_tracks(folder, "train"), open_tracks(folder, "test")
    assert train.audio_column == "path" and [train.audio_of(r) for r in train.tracks] == [
        str(folder.resolve() / f"audio/t{i}.wav") for i in (0, 1)]
    assert [track_of(b["input_values"][0]) for b in take(stream(test, ONE_PAIR), 1)] == [2]
    with pytest.raises(ValueError, match="No 'validation' manifest"):
        open_tracks(folder, "validation")


# -- splits of an audio folder and saved datasets ----------------------------------------------------------------------


def write_tones(folder, names, seconds=6.0):
    for index, name in names.items():
        (folder / name).parent.mkdir(parents=True, exist_ok=True)
        sf.write(folder / name, tone(index, seconds), SR)


def tracks_of(source) -> list[int]:
    return sorted(track_of(torch.from_numpy(load_audio(source.audio_of(row), SR))) for row in source.tracks)


def test_an_audio_folder_with_split_folders_reads_only_the_requested_split(tmp_path):
    write_tones(tmp_path, {0: "train/a.wav", 1: "train/sub/b.flac", 2: "val/a.wav", 3: "test/a.wav", 4: "test/b.wav"})
    assert tracks_of(open_tracks(tmp_path)) == [0, 1]
    assert tracks_of(open_tracks(tmp_path, "test")) == [3, 4]
    # datasets' aliases: a val/ folder is the "validation" split, whichever alias is asked for.
    for alias in ("validation", "valid", "val", "dev"):
        source = open_tracks(tmp_path, alias)
        assert tracks_of(source) == [2] and "(validation)" in source.description
    assert [track_of(b["input_values"][0]) for b in take(stream(open_tracks(tmp_path, "test"), ONE_PAIR), 4)] == [
        3, 4, 3, 4]


def test_split_folders_below_the_root_follow_datasets_rules(tmp_path):
    write_tones(tmp_path, {0: "data/train-00/a.wav", 1: "data/eval/a.wav", 2: "data/eval/b.wav"})
    assert tracks_of(open_tracks(tmp_path)) == [0]
    assert tracks_of(open_tracks(tmp_path, "test")) == [1, 2]


def test_audio_folder_split_errors_name_the_fix(tmp_path, caplog):
    write_tones(tmp_path / "split", {0: "train/a.wav", 1: "test/a.wav"})
    with pytest.raises(ValueError, match=r"No 'validation' split .*\['test', 'train'\]. Pass --split"):
        open_tracks(tmp_path / "split", "validation")
    write_tones(tmp_path / "flat", {0: "a.wav", 1: "sub/test_take.wav"})
    with caplog.at_level(logging.WARNING, logger="vit1d.data.sources"):
        assert tracks_of(open_tracks(tmp_path / "flat")) == [0, 1]  # a flat folder is all "train"
    assert any("sub/test_take.wav" in message and "test/ subfolder" in message for message in caplog.messages)
    with pytest.raises(ValueError, match="no split folders.*no 'test' split.*pass --split train"):
        open_tracks(tmp_path / "flat", "test")
    write_tones(tmp_path / "mixed", {0: "train/a.wav", 1: "extra/a.wav"})
    with pytest.raises(ValueError, match=r"outside them \(e.g. 'extra/a.wav'\)"):
        open_tracks(tmp_path / "mixed")
    write_tones(tmp_path / "both", {0: "train/test/a.wav"})
    with pytest.raises(ValueError, match="several splits"):
        open_tracks(tmp_path / "both")


def audio_dataset(folder, indices):
    """A `datasets.Dataset` of generated tones in an `Audio(decode=False)` column (encoded bytes + a path)."""
    import datasets

    cells = []
    for index in indices:
        sf.write(folder / f"t{index}.flac", tone(index), SR)
        cells.append({"bytes": (folder / f"t{index}.flac").read_bytes(), "path": f"t{index}.flac"})
    return datasets.Dataset.from_dict({"audio": cells, "id": list(indices)}).cast_column(
        "audio", datasets.Audio(decode=False))


def test_a_save_to_disk_folder_is_streamed(tmp_path):
    import datasets

    audio_dataset(tmp_path, range(3)).save_to_disk(tmp_path / "saved")
    source = open_tracks(tmp_path / "saved")
    assert source.audio_column == "audio" and source.tracks.num_shards == 3
    assert sorted(track_of(b["input_values"][0]) for b in take(stream(source, ONE_PAIR), 3)) == [0, 1, 2]
    with pytest.raises(ValueError, match="one saved Dataset, split 'train'.*pass --split train"):
        open_tracks(tmp_path / "saved", "test")

    datasets.DatasetDict(train=audio_dataset(tmp_path, (0, 1)), valid=audio_dataset(tmp_path, (5,))).save_to_disk(
        tmp_path / "saved_dict")
    assert tracks_of(open_tracks(tmp_path / "saved_dict")) == [0, 1]
    assert tracks_of(open_tracks(tmp_path / "saved_dict", "validation")) == [5]
    with pytest.raises(ValueError, match=r"No 'test' split .*\['train', 'valid'\]"):
        open_tracks(tmp_path / "saved_dict", "test")


# -- links, odd names, damaged files, a single file -------------------------------------------------------------------


def test_linked_folders_are_followed_once_and_loops_end(tmp_path, caplog):
    album = tmp_path / "elsewhere" / "album"
    write_tones(album, {index: f"a{index}.wav" for index in range(3)})
    music = tmp_path / "music"
    write_tones(music, {3: "own.wav"})
    (music / "album").symlink_to(album)  # a linked album: its tracks belong to the folder
    (music / "copy").symlink_to(album)  # a second link to it: listed once, under the first name in sorted order
    (music / "loop").symlink_to(music)  # back to the root: not followed
    (music / "up").symlink_to(tmp_path)  # up out of the tree: would pull in everything beside it
    with caplog.at_level(logging.WARNING, logger="vit1d.data.sources"):
        source = open_tracks(music)
    assert sorted(row["audio"] for row in source.tracks) == ["album/a0.wav", "album/a1.wav", "album/a2.wav",
                                                             "own.wav"]
    assert any("3 linked folder(s)" in message for message in caplog.messages), caplog.messages
    only_a_link = tmp_path / "only_a_link"
    only_a_link.mkdir()
    (only_a_link / "album").symlink_to(album)  # a folder holding only a link is not empty
    assert len(list(open_tracks(only_a_link).tracks)) == 3


def test_broken_and_looping_links_are_skipped_and_counted(tmp_path, caplog):
    folder = tmp_path / "links"
    write_tones(folder, {0: "t0.wav", 1: "t1.wav", 2: "t2.wav"})
    (folder / "dangling.wav").symlink_to(folder / "deleted.wav")
    (folder / "loop.flac").symlink_to(folder / "loop.flac")
    (folder / "gone_folder").symlink_to(tmp_path / "no_such_folder")
    with caplog.at_level(logging.WARNING):
        source = open_tracks(folder)
        batch = take(stream(source, ONE_PAIR, batch_size=3, mix_tracks=8), 1)[0]
    assert sorted(track_of(crop) for crop in batch["input_values"]) == [0, 1, 2]
    assert ReaderPosition.from_dict(batch["position"]).skipped() == Counter(unreadable=2)
    assert any("dangling.wav" in m and "broken symbolic link" in m for m in caplog.messages)
    assert any("loop.flac" in m and "loops" in m for m in caplog.messages)
    assert any("1 broken or looping link(s)" in m and "gone_folder" in m for m in caplog.messages)


def test_a_file_name_that_is_not_utf8_is_streamed(tmp_path, caplog):
    folder = tmp_path / "names"
    write_tones(folder, {0: "t0.wav", 1: "t1.wav"})
    odd = os.fsdecode(os.path.join(os.fsencode(folder), b"\xe9t\xe9 \xff"))  # Latin-1 bytes: not valid UTF-8
    os.mkdir(odd)  # in a folder whose name is not UTF-8 either
    sf.write(os.fsencode(os.path.join(odd, os.fsdecode(b"caf\xe9.wav"))), tone(2), SR)
    with caplog.at_level(logging.WARNING, logger="vit1d.data.sources"):
        source = open_tracks(folder)
    names = sorted(row["audio"] for row in source.tracks)
    assert names == ["\\xe9t\\xe9 \\xff/caf\\xe9.wav", "t0.wav", "t1.wav"]  # printable, storable text
    assert any("not valid UTF-8" in message for message in caplog.messages)
    batch = take(stream(source, ONE_PAIR, batch_size=3, mix_tracks=8), 1)[0]
    assert sorted(track_of(crop) for crop in batch["input_values"]) == [0, 1, 2]  # read, not skipped


def test_truncated_tracks_are_skipped_counted_and_named(tmp_path, caplog):
    folder = tmp_path / "cut"
    write_tones(folder, {0: "t0.wav", 1: "t1.wav"})
    with sf.SoundFile(folder / "whole.ogg", "w", SR, 1, format="OGG", subtype="VORBIS") as f:
        for second in range(12):
            f.write(tone(2, seconds=1.0))
    data = (folder / "whole.ogg").read_bytes()
    (folder / "whole.ogg").unlink()
    (folder / "half.ogg").write_bytes(data[: len(data) // 2])
    mp3 = tmp_path / "whole.mp3"
    sf.write(mp3, tone(3, seconds=12.0), SR, format="MP3")
    (folder / "half.mp3").write_bytes(mp3.read_bytes()[: mp3.stat().st_size // 2])
    with caplog.at_level(logging.WARNING, logger="vit1d.data.streaming"):
        batch = take(stream(open_tracks(folder), ONE_PAIR, batch_size=2, mix_tracks=8), 1)[0]
    assert sorted(track_of(crop) for crop in batch["input_values"]) == [0, 1]
    assert ReaderPosition.from_dict(batch["position"]).skipped() == Counter(truncated=2)
    for name in ("half.ogg", "half.mp3"):
        assert any(name in m and "(truncated)" in m for m in caplog.messages), (name, caplog.messages)


@pytest.mark.parametrize("decode_whole_below_seconds", [0.0, 120.0])
def test_the_nan_warning_names_the_time_of_the_first_nan(tmp_path, caplog, decode_whole_below_seconds):
    folder = tmp_path / "nan"
    write_tones(folder, {0: "t0.wav", 1: "t1.wav"})
    nan = tone(2, seconds=30.0)
    nan[20 * SR + 1600 : 21 * SR] = np.nan  # from 20.10 s
    sf.write(folder / "nan.wav", nan, SR, subtype="FLOAT")
    rules = PairSampling(crop_seconds=1.0, min_distance_seconds=1.0, max_distance_seconds=5.0, pairs_per_track=1,
                         probe_crops=30)  # probe crops every second: one starts at 20 s
    with caplog.at_level(logging.WARNING, logger="vit1d.data.streaming"):
        take(stream(open_tracks(folder), rules, batch_size=2, mix_tracks=8,
                    decode_whole_below_seconds=decode_whole_below_seconds), 1)
    (message,) = [m for m in caplog.messages if "nan.wav" in m]
    assert "NaN or inf samples from 20.1" in message, message


def test_a_single_audio_file_is_a_source_of_one_track(tmp_path):
    path = tmp_path / "one.flac"
    sf.write(path, tone(4), SR)
    for split in ("train", "test"):  # the file named is the data, whatever split is asked for
        source = open_tracks(path, split=split)
        assert [source.audio_of(row) for row in source.tracks] == [str(path)]
    assert track_of(take(stream(open_tracks(path), ONE_PAIR), 1)[0]["input_values"][0]) == 4
    (tmp_path / "notes.txt").write_text("not audio")
    with pytest.raises(ValueError, match="neither audio .* nor a manifest .*: point it at an audio file, a folder"):
        open_tracks(tmp_path / "notes.txt")
    with pytest.raises(FileNotFoundError, match="No audio file at .*missing.wav"):
        open_tracks(tmp_path / "missing.wav")


# -- corpus statistics ----------------------------------------------------------------------------------------------


def test_mel_statistics_standardise_the_crops_they_were_measured_on_and_skip_bad_files(tmp_path, caplog):
    import subprocess
    import sys

    from vit1d import ViT1DFeatureExtractor
    from vit1d.data.statistics import mel_statistics, with_mel_statistics

    rng = np.random.default_rng(0)
    for index, level in enumerate((0.01, 0.1, 0.5)):
        sf.write(tmp_path / f"noise{index}.wav", (level * rng.standard_normal(5 * SR)).astype(np.float32), SR)
    (tmp_path / "broken.wav").write_bytes(b"RIFF not audio")
    extractor = ViT1DFeatureExtractor()
    with caplog.at_level(logging.WARNING, logger="vit1d.data.statistics"):
        statistics = mel_statistics(open_tracks(tmp_path), extractor, crops_per_track=2, crop_seconds=4.0)
    assert statistics.tracks == 3 and statistics.skipped == {"unreadable": 1} and statistics.frames == 3 * 2 * 126
    assert any("skipped 1 track" in message for message in caplog.messages)
    standardised = with_mel_statistics(extractor, statistics)
    crops = [load_audio(tmp_path / f"noise{i}.wav", SR, offset=start, duration=4.0) for i in range(3)
             for start in (0.0, 1.0)]
    frames = np.concatenate(standardised(crops, sampling_rate=SR)["input_values"])
    np.testing.assert_allclose(frames.mean(axis=0), 0.0, atol=1e-3)
    np.testing.assert_allclose(frames.std(axis=0), 1.0, atol=1e-3)
    # The command writes an extractor that loads with the statistics.
    out = tmp_path / "extractor"
    done = subprocess.run([sys.executable, str(Path(__file__).parents[1] / "run_mel_statistics.py"), "--data",
                           str(tmp_path), "--output_dir", str(out), "--crops_per_track", "2"],
                          capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]
    assert ViT1DFeatureExtractor.from_pretrained(out).mel_mean == pytest.approx(statistics.mean)
    assert json.loads((out / "mel_statistics.json").read_text())["tracks"] == 3
