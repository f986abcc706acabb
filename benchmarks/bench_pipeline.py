"""Pretraining input pipeline: PairStream pairs/s vs the train step's pairs/s on the same machine.

A corpus rendered like the built-in one (`write_corpus`: 16 kHz mono FLAC in a `datasets` folder) is opened with
`open_tracks`, and its train split is read with the paper's pair rules (`PairSampling()` defaults: 10 pairs per
track, 4 s crops 5-90 s apart, 8 probe crops for the track level) in batches of 32 pairs: (a) in the main process
(num_workers=0), (b) through `DataLoader(stream, batch_size=None, num_workers=1)`, what `run_pretraining.py` uses by
default, and (a') in the main process on the same tracks re-encoded as 44.1 kHz stereo FLAC, like real releases
(resampling and mixdown included). The train step is `contrastive_step` (log-mel on the device + NT-Xent forward) +
backward + clipping + AdamW step of the paper's model (`ViT1DConfig()`), fp32, on a pre-made batch.
Target: loader (b) >= 2x the train step's pairs/s.

Caveats, printed with the figures: on a 2-core machine a DataLoader worker competes with training for the cores, so
the end-to-end rate (loader with 1 worker feeding the train step) is measured against the train step alone,
interleaved. And the stream decodes a whole group of `mix_tracks` tracks before it yields that group's first batch,
while a DataLoader worker runs at most `prefetch_factor` (2) batches ahead: the look-ahead test feeds a consumer that
sleeps (no CPU use) at exactly half the loader's rate (the 2x target just met) and reports how much of its own rate
it gets. The machine may be shared: the load average is printed with the figures.
"""

import argparse
import contextlib
import json
import os
import statistics
import tempfile
import time
import types
from pathlib import Path
from unittest import mock

import numpy as np
import soundfile as sf
import torch
from common import report

import vit1d
from vit1d.audio import resample
from vit1d.corpus.render import write_corpus
from vit1d.data import streaming
from vit1d.data.pairs import PairSampling
from vit1d.data.sources import list_audio_files, open_tracks
from vit1d.data.streaming import PairStream, StreamOptions
from vit1d.training.optimization import parameter_groups
from vit1d.training.pretraining import contrastive_step


def make_loader(source, rules, batch_size: int, num_workers: int, mix_tracks: int = 64, prefetch_factor=None):
    options = StreamOptions(batch_size=batch_size, mix_tracks=mix_tracks)
    stream = PairStream(source, rules, options, num_workers=num_workers)
    if num_workers == 0:
        return stream
    return torch.utils.data.DataLoader(stream, batch_size=None, num_workers=num_workers,
                                       prefetch_factor=prefetch_factor)


def _group(batch) -> tuple[int, int]:
    return batch["position"]["epoch"], batch["position"]["group"]


def loader_rate(batches, batch_size: int, groups: int) -> dict:
    """Steady pairs/s of a stream: the time from its first batch (group 1 decoded) to the first batch of group
    `groups + 1`, over the pairs of `groups` groups (all groups hold the same tracks here). A stream decodes a
    whole group before that group's first batch, so the count starts and ends on group boundaries."""
    start = time.perf_counter()
    iterator = iter(batches)
    batch = next(iterator)
    first = time.perf_counter()
    current, seen, changes, group_pairs = _group(batch), 1, 0, None
    while changes < groups:
        batch = next(iterator)
        seen += 1
        if _group(batch) != current:
            current, changes = _group(batch), changes + 1
            if group_pairs is None:  # the pairs of the first group: batches before, plus its tail in this batch
                group_pairs = (seen - 1) * batch_size - batch["position"]["emitted"]
    end = time.perf_counter()
    return {"pairs_per_s": groups * group_pairs / (end - first), "first_batch_s": first - start,
            "pairs_per_group": group_pairs, "batches": seen, "last_batch": batch}


class TrainStep:
    """The loop body of `vit1d.training.pretraining.pretrain` for one process, fp32, without Accelerate."""

    def __init__(self, max_grad_norm: float = 3.0):
        torch.manual_seed(0)
        config = vit1d.ViT1DConfig()
        self.model = vit1d.ViT1DForContrastivePretraining(config).train()
        self.extractor = vit1d.ViT1DFeatureExtractor(sampling_rate=config.sampling_rate, hop_length=config.hop_length,
                                                     feature_size=config.num_mel_bins)
        self.optimizer = torch.optim.AdamW(parameter_groups(self.model, 0.04), lr=1e-3, betas=(0.9, 0.98))
        self.accelerator = types.SimpleNamespace(device=torch.device("cpu"), num_processes=1)
        self.max_grad_norm = max_grad_norm

    def __call__(self, batch: dict) -> None:
        outputs = contrastive_step(self.model, self.extractor, batch, self.accelerator)
        outputs.loss.backward()
        torch.nn.utils.clip_grad_norm_(self.model.parameters(), self.max_grad_norm)
        self.optimizer.step()
        self.optimizer.zero_grad(set_to_none=True)


def _seconds(function) -> float:
    start = time.perf_counter()
    function()
    return time.perf_counter() - start


def alone_and_fed(train_step: TrainStep, batch: dict, batches, rounds: int) -> tuple[list[float], list[float]]:
    """Seconds per train step on a pre-made batch (alone) and per loop iteration fed by a loader (`next(batches)` +
    the train step), interleaved so that both see the same machine load. Each `next` asks the worker for the batch
    after the one ready, so its decoding runs during the fed step. After one warm-up step."""
    iterator = iter(batches)
    train_step(next(iterator))  # warm-up; starts the worker
    alone, fed = [], []
    for _ in range(rounds):
        alone.append(_seconds(lambda: train_step(batch)))
        fed.append(_seconds(lambda: train_step(next(iterator))))
    return alone, fed


def look_ahead(batches, consumer_seconds: float) -> dict:
    """Feed a consumer that takes `consumer_seconds` per batch (sleeping: no CPU use) from the first batch to the
    first batch of the next group (one group decoded in between), and report the time it waited."""
    iterator = iter(batches)
    current = _group(next(iterator))
    waits, start = [], time.perf_counter()
    while True:
        before = time.perf_counter()
        batch = next(iterator)
        waits.append(time.perf_counter() - before)
        time.sleep(consumer_seconds)
        if _group(batch) != current:
            break
    elapsed = time.perf_counter() - start
    return {"efficiency": len(waits) * consumer_seconds / elapsed, "batches": len(waits), "waited_s": sum(waits),
            "longest_wait_s": max(waits)}


def release_copies(folder: Path, out: Path, sampling_rate: int = 44100) -> Path:
    """The corpus's tracks as 44.1 kHz stereo FLAC (the right channel a slightly delayed, quieter mix), in a plain
    audio folder."""
    out.mkdir(parents=True)
    for path in list_audio_files(folder):
        mono, rate = sf.read(path, dtype="float32")
        left = resample(mono, rate, sampling_rate)
        right = 0.8 * left + 0.2 * np.roll(left, sampling_rate // 100)
        sf.write(out / Path(path).name, np.stack([left, right], axis=1), sampling_rate, subtype="PCM_16")
    return out


def main(argv=None):
    parser = argparse.ArgumentParser()
    parser.add_argument("--pieces", type=int, default=20, help="Pieces rendered (80%% go to the train split).")
    parser.add_argument("--seconds", type=float, default=60.0)
    parser.add_argument("--batch_size", type=int, default=32, help="Pairs per batch.")
    parser.add_argument("--groups", type=int, default=2, help="Groups of tracks timed per loader measurement.")
    parser.add_argument("--repeats", type=int, default=2, help="Train steps timed, alone and fed by the loader.")
    parser.add_argument("--quick", action="store_true", help="30 s pieces, 1 group, 1 round of steps, no look-ahead.")
    parser.add_argument("--json", action="store_true", help="Also print the figures as one JSON line.")
    args = parser.parse_args(argv)
    if args.quick:
        args.seconds, args.groups, args.repeats = 30.0, 1, 1
    rules, results = PairSampling(), {"load_average_before": os.getloadavg()[0]}
    # The folder's name is also the `datasets` builder name, and a cached dataset_info.json of an older folder of
    # the same name would be reused: a fresh random name avoids that.
    with tempfile.TemporaryDirectory(prefix="vit1d-bench-pipeline-") as folder:
        folder = Path(folder)
        summary = write_corpus(folder, args.pieces, args.seconds, seed=0)
        results["render_x_real_time"] = summary["real_time_factor"]
        source = open_tracks(folder, "train")
        tracks = summary["splits"]["train"]
        releases = open_tracks(release_copies(folder / "train", folder / "releases"))

        rows = []
        for name, tracks_source, workers, groups in (
            ("main process", source, 0, args.groups),
            ("DataLoader, 1 worker", source, 1, args.groups),
            ("main process, 44.1 kHz stereo", releases, 0, 1),
        ):
            # Counts the crops decoded (in this process, so in the main-process runs only).
            counting = mock.patch.object(streaming, "load_audio", wraps=streaming.load_audio)
            with counting if workers == 0 else contextlib.nullcontext() as decode:
                batches = make_loader(tracks_source, rules, args.batch_size, workers)
                rate = loader_rate(batches, args.batch_size, groups)
            batch = rate.pop("last_batch")
            results[f"loader: {name}"] = rate
            decodes = ""
            if workers == 0:
                rate["decodes_per_pair"] = decode.call_count / ((groups + 1) * rate["pairs_per_group"])
                decodes = f", {rate['decodes_per_pair']:.1f} crops decoded/pair"
            rows.append((f"loader: {name}", f"{rate['pairs_per_s']:.1f} pairs/s (first batch after "
                                            f"{rate['first_batch_s']:.1f} s, {rate['pairs_per_group']} pairs/group"
                                            f"{decodes})"))

        train_step = TrainStep()
        # Groups of 2 tracks (20 pairs), so that every fed step makes the worker decode its share (~1.6 tracks);
        # the decoding work per pair does not depend on the group size.
        alone, fed = alone_and_fed(train_step, batch, make_loader(source, rules, args.batch_size, 1, mix_tracks=2),
                                   args.repeats)
        alone, fed = statistics.median(alone), statistics.median(fed)
        step_rate, fed_rate = args.batch_size / alone, args.batch_size / fed
        loader = results["loader: DataLoader, 1 worker"]["pairs_per_s"]
        results.update(train_step_s=alone, train_pairs_per_s=step_rate, end_to_end_s=fed,
                       end_to_end_pairs_per_s=fed_rate, loader_over_train=loader / step_rate,
                       target_met=loader >= 2 * step_rate)
        worker_share = step_rate / loader  # the fraction of a core the worker needs to keep up
        rows += [
            ("train step alone", f"{alone:.2f} s/step, {step_rate:.2f} pairs/s ({torch.get_num_threads()} threads)"),
            ("loader (1 worker) / train step", f"{loader / step_rate:.1f}x (target >= 2x: "
                                               f"{'met' if loader >= 2 * step_rate else 'MISSED'})"),
            ("end to end (1 worker feeds the step)", f"{fed:.2f} s/step, {fed_rate:.2f} pairs/s, "
                                                     f"{100 * (alone / fed - 1):+.1f}% vs the step alone "
                                                     f"(the worker needs ~{100 * worker_share:.0f}% of a core)"),
        ]

        if not args.quick:
            # 32 rows over the train tracks (each track about twice, drawing other pairs): a group of 32 tracks is
            # about 10 batches of 32 pairs, against the DataLoader's look-ahead of 2 batches (a run's groups of 64
            # tracks are 20 batches of 32 pairs, or 5 of 128).
            listing, group_tracks = folder / "tracks.jsonl", 32
            paths = (list_audio_files(folder / "train") * group_tracks)[:group_tracks]
            listing.write_text("".join(json.dumps({"audio": path}) + "\n" for path in paths))
            consumer = 2 * args.batch_size / loader  # half the loader's rate: the 2x target exactly met
            batches = make_loader(open_tracks(listing), rules, args.batch_size, 1, mix_tracks=group_tracks)
            ahead = look_ahead(batches, consumer)
            results["look_ahead"] = {"consumer_s": consumer, **ahead}
            rows.append((
                "look-ahead: consumer at 1/2 loader rate",
                f"gets {100 * ahead['efficiency']:.0f}% of its own rate over a group of {group_tracks} tracks "
                f"({ahead['batches']} batches; DataLoader prefetch_factor 2): waited {ahead['waited_s']:.1f} s, "
                f"longest {ahead['longest_wait_s']:.1f} s",
            ))
    results["load_average_after"] = os.getloadavg()[0]
    rows.append(("machine", f"{os.cpu_count()} cores, load average {results['load_average_before']:.1f} before, "
                            f"{results['load_average_after']:.1f} after"))
    report(f"pretraining input pipeline vs train step, batch {args.batch_size} pairs, {tracks} tracks x "
           f"{args.seconds:g} s, PairSampling() defaults", rows)
    if args.json:
        print(json.dumps({"bench": "pipeline", **results}))
    return results


if __name__ == "__main__":
    main()
