"""Seek-decoding vs whole-track decoding, for the pair stream's crops.

Tracks of 60 s and 300 s of synthetic music, 44.1 kHz stereo like real releases (so that mixdown and resampling to
16 kHz are included), in FLAC, WAV and OGG Vorbis:
- one 4 s crop with `vit1d.load_audio(path, 16000, offset=..., duration=4)` (seeks, decodes 4 s) vs decoding the
  whole track with `load_audio(path, 16000)` and slicing;
- the whole pair sampling of one track as `PairStream` does it (its `_track_pairs`: the `reference_db` silence check,
  then `sample_pairs`, which probes the reference level again and draws 10 pairs, every crop a seek-decode) vs
  decoding the whole track once and running `sample_pairs` on slices of it; plus `sample_pairs` alone on
  seek-decodes (the stream without its second probe of the reference level).
"""

import argparse
import json
import statistics
import tempfile
import time
from pathlib import Path
from unittest import mock

import numpy as np
import soundfile as sf
from common import interleaved_median_seconds, report

import vit1d
from vit1d.data import streaming
from vit1d.data.pairs import PairSampling, sample_pairs
from vit1d.data.sources import TrackSource
from vit1d.data.streaming import PairStream, StreamOptions
from vit1d.synthetic import synthetic_music

FORMATS = {"flac": ("FLAC", "PCM_16"), "wav": ("WAV", "PCM_16"), "ogg": ("OGG", "VORBIS")}
NATIVE_RATE, RATE, CROP = 44100, 16000, 4.0


def write_track(path: Path, seconds: float, seed: int) -> None:
    """Stereo synthetic music at 44.1 kHz, written in 10 s blocks: libsndfile 1.2.2 crashes writing minutes of
    Vorbis in one call."""
    left = synthetic_music(seconds, NATIVE_RATE, seed=seed)
    right = 0.7 * left + 0.3 * synthetic_music(seconds, NATIVE_RATE, seed=seed + 1)
    audio = np.stack([left, right], axis=1)
    container, subtype = FORMATS[path.suffix[1:]]
    with sf.SoundFile(path, "w", NATIVE_RATE, 2, subtype=subtype, format=container) as handle:
        for start in range(0, len(audio), 10 * NATIVE_RATE):
            handle.write(audio[start : start + 10 * NATIVE_RATE])


def crop_vs_whole(path: Path, seconds: float, crops: int, repeats: int) -> dict:
    offsets = np.random.default_rng(0).uniform(0.0, seconds - CROP, size=crops)

    def seek_crops():
        for offset in offsets:
            vit1d.load_audio(path, RATE, offset=float(offset), duration=CROP)

    def whole_then_slice():
        audio = vit1d.load_audio(path, RATE)
        start = int(round(offsets[0] * RATE))
        return audio[start : start + int(CROP * RATE)]

    times = interleaved_median_seconds({"crop": seek_crops, "whole": whole_then_slice}, repeats=repeats)
    return {"crop_s": times["crop"] / crops, "whole_s": times["whole"]}


def track_pairs(path: Path, repeats: int) -> dict:
    """Seconds (median over `repeats` seeds) and decodes of one track's pairs, three ways."""
    rules = PairSampling()
    stream = PairStream(TrackSource(None, "audio", None, "bench"), rules, StreamOptions(sampling_rate=RATE))
    duration = sf.info(str(path)).duration

    def seek(start, length):  # through the stream module's name, so that the decodes are counted
        return streaming.load_audio(path, RATE, offset=start, duration=length)

    def the_stream(seed):
        return len(stream._track_pairs({"audio": str(path)}, np.random.default_rng(seed)))

    def one_probe(seed):
        return len(sample_pairs(seek, duration, np.random.default_rng(seed), rules).pairs)

    def whole(seed):
        audio = vit1d.load_audio(path, RATE)

        def sliced(start, length):
            first = int(round(start * RATE))
            return audio[first : first + int(round(length * RATE))]

        return len(sample_pairs(sliced, duration, np.random.default_rng(seed), rules).pairs)

    results = {}
    for name, function in (("stream", the_stream), ("seek_one_probe", one_probe), ("whole", whole)):
        times = []
        with mock.patch.object(streaming, "load_audio", wraps=streaming.load_audio) as counted:
            for seed in range(repeats + 1):  # the first run warms up
                start = time.perf_counter()
                pairs = function(seed)
                if seed:
                    times.append(time.perf_counter() - start)
            decodes = counted.call_count / (repeats + 1)
        results[name] = {"s": statistics.median(times), "pairs": pairs, "decodes": decodes}
    return results


def main(argv=None):
    parser = argparse.ArgumentParser()
    parser.add_argument("--lengths", type=float, nargs="+", default=[60.0, 300.0], help="Track lengths (s).")
    parser.add_argument("--crops", type=int, default=10, help="Crops per timed call (at random offsets).")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--quick", action="store_true", help="3 crops, 1 repeat.")
    parser.add_argument("--json", action="store_true", help="Also print the figures as one JSON line.")
    args = parser.parse_args(argv)
    if args.quick:
        args.crops, args.repeats = 3, 1
    crop_rows, pair_rows, results = [], [], {}
    with tempfile.TemporaryDirectory(prefix="vit1d-bench-decoding-") as folder:
        for seconds in args.lengths:
            for extension in FORMATS:
                path = Path(folder) / f"track_{seconds:g}s.{extension}"
                write_track(path, seconds, seed=int(seconds))
                label = f"{extension.upper():<4} {seconds:>4g} s"
                crop = crop_vs_whole(path, seconds, args.crops, args.repeats)
                pairs = track_pairs(path, args.repeats)
                results[f"{extension}_{seconds:g}s"] = {**crop, "track_pairs": pairs,
                                                        "mb": path.stat().st_size / 2**20}
                crop_rows.append((label, f"crop {1000 * crop['crop_s']:6.1f} ms | whole {1000 * crop['whole_s']:6.0f} "
                                         f"ms | seek {crop['whole_s'] / crop['crop_s']:5.1f}x faster"))
                stream, one, whole = pairs["stream"], pairs["seek_one_probe"], pairs["whole"]
                pair_rows.append((label, (
                    f"stream {1000 * stream['s']:5.0f} ms ({stream['decodes']:.0f} seeks) | one probe pass "
                    f"{1000 * one['s']:5.0f} ms ({one['decodes']:.0f} seeks) | whole + slices {1000 * whole['s']:5.0f}"
                    f" ms | stream vs whole: {whole['s'] / stream['s']:.2f}x ({stream['pairs']} pairs)"
                )))
    report(f"one 4 s crop: seek-decode vs whole-track decode + slice (44.1 kHz stereo -> 16 kHz mono, median of "
           f"{args.repeats} x {args.crops} crops)", crop_rows)
    report("pairs of one track (10 pairs, PairSampling defaults): the stream's seeks vs one whole-track decode "
           "(> 1x: seeking is faster)", pair_rows)
    if args.json:
        print(json.dumps({"bench": "decoding", **results}))
    return results


if __name__ == "__main__":
    main()
