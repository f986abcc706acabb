"""The pair stream of contrastive pretraining: tracks in, batches of positive pairs of 4 s crops out.

Sharding (one scheme, for processes and DataLoader workers alike). Each process runs `num_workers` DataLoader
workers (or reads in the main process when `num_workers=0`); every worker of every process is one *reader*, and
reader `g` of `G = num_processes * max(1, num_workers)` reads `datasets.split_dataset_by_node(tracks, g, G)`: whole
shards when the number of shards divides by `G`, else every `G`-th track. Each track is therefore read by exactly one
reader per pass. The DataLoader is *not* passed to `accelerator.prepare` (which would make rank 0 read everything and
dispatch it, or shard a second time); batches are moved to the device by the training loop.

Order. Tracks are shuffled by `datasets` with one seed on every process (a buffer of `shuffle_buffer` tracks, and a
shard order that changes with the epoch through `set_epoch`). Each reader then takes `mix_tracks` tracks at a time,
samples their pairs, and emits them round-robin (the first pair of every track, then the second, ...), so that the
pairs of one track are spread over consecutive batches: any `mix_tracks` consecutive pairs come from distinct tracks.
A batch larger than `mix_tracks` (or a reader with fewer tracks than a batch) still holds several pairs of some
tracks; every pair carries its track's id and NT-Xent leaves the crops of an anchor's own track out of its negatives
(`nt_xent_loss(track_ids=...)`), so no batch size, process count or corpus size makes them false negatives. Memory per
reader is about `mix_tracks * pairs_per_track * 2 * crop_seconds * sampling_rate * 4` bytes (328 MB at 64 tracks,
10 pairs, 4 s, 16 kHz).

Training is by steps: every reader repeats its share forever, epoch after epoch, and yields whole batches (drop
last), so every process makes the same number of steps and the NT-Xent all_gather never waits for a finished rank.

Decoding. Tracks up to `decode_whole_below_seconds` (2 minutes) are decoded once and sliced; longer ones are read
crop by crop with soundfile's seeking, so a long track is never decoded whole. (A track costs about 8 probe crops and
2-3 crops per pair; below about 2 minutes one whole decode is cheaper than that many seeks.) MP3 crops are exact too:
`load_audio` seeks 1 s early and drops the lead-in, which libsndfile (1.2) decodes to zeros after a seek.

Bad tracks (unreadable, truncated or damaged (`vit1d.audio.truncation_of`: libsndfile would decode the part before
the cut without a word), empty, NaN/inf samples, sampling rate below `min_sampling_rate`, too short for a pair,
silent) are skipped and warned about (the first few of each reason); nothing bad reaches a batch. The skip counts are
counts of *tracks*: a reader counts only in its first pass, in which every track is read by exactly one reader, so
the counts summed over readers are the number of bad tracks however long training runs; each reader warns the total
when its first pass ends. A reader remembers the tracks whose fault does not depend on the drawn crops (unreadable,
empty, low rate, too short, NaN/inf or silent in the probe crops or the whole decode) and skips them in later passes
without decoding them again; that is only a cache, since retrying them would skip them all the same, so a resumed
reader without it gives the same batches.
Multichannel audio is mixed down and other sampling rates are resampled with soxr.

Exact resume. Everything a reader does is a pure function of (seed, epoch, reader, group of tracks): the pairs of a
track come from a generator seeded with those numbers. Each batch carries its reader's position after it (epoch,
group, pairs already emitted from the group, skip counts); the training loop keeps the latest position of every
reader and saves it with the checkpoint. A resumed reader re-reads the rows of the groups before its position
(metadata only: nothing is decoded), re-samples its current group and continues after the emitted pairs. Since a
DataLoader takes batches from its workers in turn, the loop also saves which reader is next (`first_reader`).
"""

import hashlib
import itertools
import logging
from collections import Counter
from dataclasses import asdict, dataclass, field

import numpy as np
import torch

from ..audio import audio_info, load_audio, truncation_of
from ..corpus.effects import equalise
from .pairs import PairSampling, holds_pairs, reference_db, sample_pairs
from .sources import TrackSource

logger = logging.getLogger(__name__)

EQ_BAND_HZ = (100.0, 5000.0)  # the peaking band's centre, as in the corpus's realism (vit1d.corpus.effects)
EQ_Q = (0.7, 2.0)
SKIP_REASONS = ("unreadable", "truncated", "empty", "non_finite", "low_sampling_rate", "too_short", "silent")


@dataclass
class ReaderPosition:
    """Where a reader stands, after the last batch it emitted."""

    epoch: int = 0
    group: int = 0
    emitted: int = 0  # pairs of `group` already emitted
    # Tracks skipped in the groups before `group`, counted in the first pass (epoch 0) only, so each once.
    skipped_before_group: dict[str, int] = field(default_factory=dict)
    skipped_in_group: dict[str, int] = field(default_factory=dict)
    tracks_before_group: int = 0  # usable tracks (that gave pairs) before `group`, over all epochs
    tracks_in_group: int = 0

    def skipped(self) -> Counter:
        return Counter(self.skipped_before_group) + Counter(self.skipped_in_group)

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, state: dict) -> "ReaderPosition":
        return cls(**state)


class _BadTrack(Exception):
    def __init__(self, reason: str, detail: str, depends_on_draw: bool = False):
        super().__init__(detail)
        self.reason = reason
        # Whether the fault showed in randomly drawn crops: another draw might miss it, so the track is retried.
        self.depends_on_draw = depends_on_draw


@dataclass
class StreamOptions:
    """How crops are decoded and batched (the pair rules are `PairSampling`).

    Args:
        batch_size: pairs per batch of this process.
        seed: one seed for every process; the shuffle and the pairs follow from it.
        shuffle_buffer: tracks in the `datasets` shuffle buffer (0: no shuffling, the order of the source).
        mix_tracks: tracks whose pairs are interleaved before batching.
        sampling_rate: rate of the crops (soxr resamples other rates).
        min_sampling_rate: tracks stored below this rate are skipped (upsampling cannot restore their highs).
        peak_normalize: scale every crop to a peak of 1 (per crop: a per-track peak would need the whole track).
        gain_db: augmentation, off here (0); `run_pretraining.py` turns it on (6): a random gain in [-gain_db,
            +gain_db] dB per crop.
        tilt_db_per_octave: augmentation, off here; `run_pretraining.py`: 3. A random spectral tilt in [-t, +t] dB
            per octave around 1 kHz per crop (`vit1d.corpus.effects.equalise`, zero-phase). With the gain and the
            band it changes each view's mean spectrum, which otherwise identifies the track by itself.
        eq_gain_db: augmentation, off here; `run_pretraining.py`: 6. One random peaking band per crop (centre 100
            Hz-5 kHz and Q 0.7-2, both log-uniform; gain in [-g, +g] dB), applied after the tilt.
        min_track_db: tracks whose reference level is below this (dBFS) are skipped as silent.
        warnings_per_reason: how many skipped tracks of each reason a reader names in a warning.
        decode_whole_below_seconds: tracks up to this long are decoded once and sliced; longer ones are read crop by
            crop with seeking. A track costs about 8 probe crops + 2-3 crops per pair, some 150 s of audio at the
            defaults, so one whole decode is cheaper below about 2 minutes (see benchmarks/bench_decoding.py).
    """

    batch_size: int = 128
    seed: int = 0
    shuffle_buffer: int = 1000
    mix_tracks: int = 64
    sampling_rate: int = 16000
    min_sampling_rate: int = 8000
    peak_normalize: bool = False
    gain_db: float = 0.0
    tilt_db_per_octave: float = 0.0
    eq_gain_db: float = 0.0
    min_track_db: float = -70.0
    warnings_per_reason: int = 5
    decode_whole_below_seconds: float = 120.0


class PairStream(torch.utils.data.IterableDataset):
    """Endless batches of positive pairs, `{"input_values": (B, samples), "positive_input_values": (B, samples),
    "track_ids": (B,) int64, "reader": int, "position": dict}` with float32 waveforms and each pair's `track_id_of`;
    use it with `DataLoader(stream, batch_size=None, num_workers=num_workers)`.

    Args:
        source: the tracks (`vit1d.data.sources.open_tracks`).
        rules: pair sampling rules.
        options: decoding and batching options.
        rank / world_size: this process and the number of processes.
        num_workers: DataLoader workers of this process (0: read in the main process).
        positions: saved `ReaderPosition` dicts by global reader index, to resume.
        first_reader: which of this process's readers gives the next batch (saved with a checkpoint).
    """

    def __init__(
        self,
        source: TrackSource,
        rules: PairSampling,
        options: StreamOptions,
        rank: int = 0,
        world_size: int = 1,
        num_workers: int = 0,
        positions: dict[int, dict] | None = None,
        first_reader: int = 0,
    ):
        super().__init__()
        if options.batch_size < 1:
            raise ValueError(f"batch_size must be at least 1, got {options.batch_size}.")
        if options.mix_tracks < 1:
            raise ValueError(f"mix_tracks must be at least 1, got {options.mix_tracks}.")
        self.source, self.rules, self.options = source, rules, options
        self.rank, self.world_size = rank, world_size
        self.readers_per_process = max(1, num_workers)
        self.positions = {int(k): v for k, v in (positions or {}).items()}
        self.first_reader = first_reader % self.readers_per_process
        self.crop_samples = int(round(rules.crop_seconds * options.sampling_rate))

    @property
    def num_readers(self) -> int:
        return self.world_size * self.readers_per_process

    def reader_index(self, local_reader: int) -> int:
        return self.rank * self.readers_per_process + local_reader

    def __iter__(self):
        worker = torch.utils.data.get_worker_info()
        workers = worker.num_workers if worker is not None else 1
        if workers != self.readers_per_process:
            raise ValueError(
                f"PairStream was built for {self.readers_per_process} reader(s) per process but runs in {workers}: "
                "pass the DataLoader's num_workers to PairStream."
            )
        # DataLoader worker i plays reader (i + first_reader): after a resume the next batch comes from the reader
        # whose turn it was, since a DataLoader always asks worker 0 first.
        local = ((worker.id if worker is not None else 0) + self.first_reader) % workers
        reader = self.reader_index(local)
        position = ReaderPosition.from_dict(self.positions[reader]) if reader in self.positions else ReaderPosition()
        return self._batches(reader, position)

    # -- one reader ---------------------------------------------------------------------------------------------

    def _rows(self, reader: int, epoch: int):
        from datasets.distributed import split_dataset_by_node

        tracks = self.source.tracks
        if self.options.shuffle_buffer > 0:
            tracks = tracks.shuffle(seed=self.options.seed, buffer_size=self.options.shuffle_buffer)
        tracks.set_epoch(epoch)
        if self.num_readers > 1:
            tracks = split_dataset_by_node(tracks, rank=reader, world_size=self.num_readers)
        # `.iter` rather than `iter()`: inside a DataLoader worker, `iter()` would split the shards by worker again.
        for batch in tracks.iter(batch_size=1):
            yield {name: values[0] for name, values in batch.items()}

    def _batches(self, reader: int, position: ReaderPosition):
        views, positives, track_ids = [], [], []
        warned, known_bad = Counter(), set()
        while True:
            pairs_this_epoch, full_pass = 0, position.group == 0 and position.emitted == 0
            groups = _chunks(self._rows(reader, position.epoch), self.options.mix_tracks)
            for group_index, rows in enumerate(groups):
                if group_index < position.group:
                    continue  # already consumed before a resume: its rows are read, never decoded
                pairs, skipped, usable = self._group_pairs(rows, reader, position.epoch, group_index, warned,
                                                           known_bad)
                pairs_this_epoch += len(pairs)
                position.skipped_in_group = dict(skipped) if position.epoch == 0 else {}
                position.tracks_in_group = usable
                for index in range(position.emitted, len(pairs)):
                    views.append(pairs[index][0])
                    positives.append(pairs[index][1])
                    track_ids.append(pairs[index][2])
                    position.emitted = index + 1
                    if len(views) == self.options.batch_size:
                        yield {
                            "input_values": torch.from_numpy(np.stack(views)),
                            "positive_input_values": torch.from_numpy(np.stack(positives)),
                            "track_ids": torch.tensor(track_ids, dtype=torch.int64),
                            "reader": reader,
                            "position": position.to_dict(),
                        }
                        views, positives, track_ids = [], [], []
                position.skipped_before_group = dict(position.skipped())
                position.skipped_in_group, position.tracks_in_group = {}, 0
                position.tracks_before_group += usable
                position.group, position.emitted = group_index + 1, 0
            if full_pass and pairs_this_epoch == 0:
                raise RuntimeError(
                    f"Reader {reader} of {self.num_readers} got no usable pair in a whole pass over its tracks "
                    f"(skipped so far: {dict(position.skipped()) or 'none'}). Use more or longer tracks than "
                    "processes x DataLoader workers, or fix the files named in the warnings."
                )
            skipped = position.skipped()
            if position.epoch == 0 and skipped:
                logger.warning(
                    f"Reader {reader} of {self.num_readers} skipped {skipped.total()} of "
                    f"{skipped.total() + position.tracks_before_group} tracks in its first pass "
                    f"({', '.join(f'{reason}: {n}' for reason, n in sorted(skipped.items()))}; the first "
                    f"{self.options.warnings_per_reason} of each reason are named above). The skip counts stay at "
                    "these tracks: later passes skip them again without counting them."
                )
            position.epoch, position.group, position.emitted = position.epoch + 1, 0, 0

    def _group_pairs(self, rows, reader, epoch, group_index, warned, known_bad) -> tuple[list, Counter, int]:
        """The pairs of a group of tracks, round-robin over tracks, and the skip counts. `known_bad` holds the keys
        of tracks that failed for a reason no new draw changes; they are skipped undecoded (and not counted: they
        were counted the first time)."""
        per_track, skipped = [], Counter()
        for track_index, row in enumerate(rows):
            if known_bad and self._track_key(row) in known_bad:
                continue
            rng = np.random.default_rng([self.options.seed, epoch, reader, group_index, track_index])
            try:
                track_id = track_id_of(self._track_key(row))
                per_track.append([(*pair, track_id) for pair in self._track_pairs(row, rng)])
            except _BadTrack as bad:
                skipped[bad.reason] += 1
                if not bad.depends_on_draw:
                    known_bad.add(self._track_key(row))
                if warned[bad.reason] < self.options.warnings_per_reason:
                    warned[bad.reason] += 1
                    logger.warning(f"Skipping track {self.source.name_of(row)!r} ({bad.reason}): {bad}")
        round_robin = [pair for rank in itertools.zip_longest(*per_track) for pair in rank if pair is not None]
        return round_robin, skipped, len(per_track)

    def _track_key(self, row: dict):
        """What identifies a track's audio: its path, or a digest of its bytes (rows of encoded audio may share a
        path name, or have none)."""
        value = row.get(self.source.audio_column)
        if isinstance(value, dict) and value.get("bytes"):
            return hashlib.blake2b(value["bytes"], digest_size=16).digest()
        return self.source.name_of(row)

    def _track_pairs(self, row: dict, rng: np.random.Generator) -> list[tuple[np.ndarray, np.ndarray]]:
        try:
            audio = self.source.audio_of(row)
            native_rate, frames, _ = audio_info(audio)
            damage = truncation_of(audio)
        except (ValueError, TypeError, OSError, RuntimeError) as err:
            raise _BadTrack("unreadable", str(err)) from None
        if damage is not None:
            raise _BadTrack("truncated", damage)
        if frames == 0:
            raise _BadTrack("empty", "no samples")
        if native_rate < self.options.min_sampling_rate:
            raise _BadTrack("low_sampling_rate", f"{native_rate} Hz < {self.options.min_sampling_rate} Hz")
        duration = frames / native_rate
        if not holds_pairs(duration, self.rules):
            raise _BadTrack("too_short", f"{duration:.2f} s cannot hold a pair under {self.rules}")

        def decode(start: float, seconds: float) -> np.ndarray:
            try:
                crop = load_audio(audio, self.options.sampling_rate, offset=start, duration=seconds)
            except (ValueError, OSError, RuntimeError) as err:
                raise _BadTrack("unreadable", str(err)) from None
            finite = np.isfinite(crop)
            if not finite.all():
                first = start + int(np.argmin(finite)) / self.options.sampling_rate
                raise _BadTrack("non_finite", f"NaN or inf samples from {first:.2f} s")
            return crop

        if duration <= self.options.decode_whole_below_seconds:
            decode = _sliced(decode(0.0, duration), self.options.sampling_rate)
        level = reference_db(decode, duration, self.rules)
        if level < self.options.min_track_db:
            raise _BadTrack("silent", f"reference level below {self.options.min_track_db} dBFS")
        try:
            drawn = sample_pairs(decode, duration, rng, self.rules, reference=level)
        except _BadTrack as bad:
            bad.depends_on_draw = True  # a crop read by seeking at a drawn time failed
            raise
        if not drawn.pairs:
            raise _BadTrack("silent", f"every candidate crop was silent ({drawn.silent_crops} silent crops)",
                            depends_on_draw=True)
        return [(self._finish(a, rng), self._finish(b, rng)) for _, _, a, b in drawn.pairs]

    def _finish(self, crop: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        """Exactly `crop_samples` float32 samples (a resampled crop can be a sample short), normalised, augmented."""
        crop = np.asarray(crop, dtype=np.float32)[: self.crop_samples]
        if len(crop) < self.crop_samples:
            crop = np.pad(crop, (0, self.crop_samples - len(crop)))
        if self.options.peak_normalize:
            peak = float(np.abs(crop).max())
            crop = crop / peak if peak > 0 else crop
        crop = self._equalise(crop, rng)
        if self.options.gain_db:
            crop = crop * np.float32(10 ** (rng.uniform(-self.options.gain_db, self.options.gain_db) / 20))
        return crop

    def _equalise(self, crop: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        params = view_equalisation(rng, self.options.tilt_db_per_octave, self.options.eq_gain_db,
                                   self.options.sampling_rate)
        return equalise(crop, self.options.sampling_rate, **params).astype(np.float32) if params else crop


def track_id_of(key: str | bytes) -> int:
    """A 63-bit integer naming a track, the same in every process and worker (NT-Xent masks crops of an anchor's own
    track out of its negatives by comparing these)."""
    data = key if isinstance(key, bytes) else str(key).encode()
    return int.from_bytes(hashlib.blake2b(data, digest_size=8).digest(), "little") >> 1


def view_equalisation(rng: np.random.Generator, tilt_db_per_octave: float, eq_gain_db: float,
                      sampling_rate: int) -> dict:
    """The EQ of one view, drawn from `rng` (nothing is drawn for an effect that is off, so turning one on leaves the
    other draws of a run as they were): the keyword arguments of `vit1d.corpus.effects.equalise`."""
    params = {}
    if tilt_db_per_octave:
        params["tilt_db_per_octave"] = float(rng.uniform(-tilt_db_per_octave, tilt_db_per_octave))
    if eq_gain_db:
        high = min(EQ_BAND_HZ[1], 0.45 * sampling_rate)
        params["eq_hz"] = float(np.exp(rng.uniform(np.log(EQ_BAND_HZ[0]), np.log(high))))
        params["eq_gain_db"] = float(rng.uniform(-eq_gain_db, eq_gain_db))
        params["eq_q"] = float(np.exp(rng.uniform(np.log(EQ_Q[0]), np.log(EQ_Q[1]))))
    return params


def _sliced(waveform: np.ndarray, sampling_rate: int):
    """A `decode(start, seconds)` that slices an already decoded track."""

    def decode(start: float, seconds: float) -> np.ndarray:
        first = int(round(start * sampling_rate))
        return waveform[first: first + int(round(seconds * sampling_rate))]

    return decode


def _chunks(iterable, size: int):
    iterator = iter(iterable)
    while chunk := list(itertools.islice(iterator, size)):
        yield chunk


def total_skipped(positions: dict[int, dict]) -> Counter:
    """Skip counts summed over readers' positions."""
    total = Counter()
    for state in positions.values():
        total += ReaderPosition.from_dict(state).skipped()
    return total
