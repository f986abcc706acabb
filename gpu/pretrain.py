#!/usr/bin/env python
"""Pretrain ViT-1D on one GPU from log-mel shards: several seeds at batch >= 256 in bf16 within minutes, for machines
that are bare (torch, transformers, numpy and safetensors; no soundfile, datasets or vit1d install) and that take and
return little (inputs up to 64 MiB, at most 8 files back).

Three steps:

    # 1. here (CPU): shards of the pretraining corpus, about 56 MiB of uint8 log-mel (vit1d.data.mel_shards)
    python gpu/pretrain.py prepare --data data/real_music --shards gpu_inputs
    # 2. there (GPU): train; writes seed<k>-step0.safetensors and seed<k>-final.safetensors (bf16 encoder weights),
    #    config.json and log.json into --out
    python gpu/pretrain.py train --shards gpu_inputs --out "$OUT" --seeds 0,1,2 --batch_size 256 --steps 3000
    # 3. here (CPU): encoder folders (fp32 weights, feature extractor, code, model card) to probe, one per seed
    python gpu/pretrain.py assemble --returned RETURNED_DIR --shards gpu_inputs --output_dir outputs/gpu

`train --dry_run` runs a few steps on the CPU (the test suite does). The model is vit1d's own modeling file, loaded
by path without importing the vit1d package (whose audio I/O needs soundfile); the loop follows
`vit1d.training.pretraining`: AdamW (betas 0.9/0.98, weight decay 0.04 -> 0.01 off biases, norms, class token,
positions), warm-up then cosine, clipping at 3, NT-Xent at temperature 0.1 with same-track crops masked. Each step
draws `batch_size` distinct tracks (all of them, with repeats masked by track id, when there are fewer), two segments
per track whose starts lie 5-90 s apart, and a random 4 s crop (126 frames) of each, moved by its view's random
gain, spectral tilt and peaking band in dB (`run_pretraining.py`'s default augmentation, `--gain_db 6
--tilt_db_per_octave 3 --eq_gain_db 6`, in the log-mel domain; 0 turns each off), then clamped to 80 dB below its
maximum as the feature extractor clamps a clip.
"""

import argparse
import importlib
import json
import sys
import time
import types
from pathlib import Path

import numpy as np
import torch

ROOT = Path(__file__).resolve().parents[1]
CROP_FRAMES = 126  # 4 s at 31.25 frames per second, the paper's crop
TOP_DB = 80.0
# The per-view augmentation's ranges, as vit1d.corpus.effects and vit1d.data.streaming draw them (those modules are
# not importable here; tests/test_gpu_script.py checks the values agree).
TILT_PIVOT_HZ, TILT_BAND_HZ = 1000.0, (50.0, 16000.0)
EQ_BAND_HZ, EQ_Q = (100.0, 5000.0), (0.7, 2.0)


def standalone_modules():
    """vit1d's configuration, modeling and optimisation modules, imported from their files as package
    `vit1d_standalone` so that `vit1d/__init__.py` (and soundfile) is never imported."""
    package = types.ModuleType("vit1d_standalone")
    package.__path__ = [str(ROOT / "vit1d")]
    sys.modules.setdefault("vit1d_standalone", package)
    training = types.ModuleType("vit1d_standalone.training")
    training.__path__ = [str(ROOT / "vit1d" / "training")]
    sys.modules.setdefault("vit1d_standalone.training", training)
    config = importlib.import_module("vit1d_standalone.configuration_vit1d")
    modeling = importlib.import_module("vit1d_standalone.modeling_vit1d")
    optimization = importlib.import_module("vit1d_standalone.training.optimization")
    return config, modeling, optimization


def dequantise(codes: torch.Tensor, db_range) -> torch.Tensor:
    """`vit1d.data.mel_shards.dequantise` on the GPU with the shards' own range; that module cannot be imported
    here (it reads audio through vit1d.audio, which needs soundfile)."""
    low, high = db_range
    return codes.float() * ((high - low) / 255) + low


class SegmentSampler:
    """Positive pairs of crops from the shards' segments (see the module docstring)."""

    def __init__(self, track: np.ndarray, start: np.ndarray, segment_frames: int, rng: np.random.Generator,
                 min_distance: float = 5.0, max_distance: float = 90.0):
        self.rng = rng
        self.segment_frames = segment_frames
        self.partners = {}  # segment -> the segments of its track that may pair with it
        for segment in range(len(track)):
            same = np.flatnonzero(track == track[segment])
            gap = np.abs(start[same] - start[segment])
            ok = same[(gap >= min_distance) & (gap <= max_distance)]
            if len(ok):
                self.partners[segment] = ok
        self.by_track = {}
        for segment in self.partners:
            self.by_track.setdefault(int(track[segment]), []).append(segment)
        self.tracks = np.array(sorted(self.by_track))
        if len(self.tracks) == 0:
            raise ValueError("No track has two segments 5-90 s apart: write shards of longer tracks.")

    def draw(self, batch_size: int) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        """Segment and frame-offset indices of both views, and the track of each pair."""
        replace = batch_size > len(self.tracks)
        tracks = self.rng.choice(self.tracks, size=batch_size, replace=replace)
        first = np.array([self.rng.choice(self.by_track[int(t)]) for t in tracks])
        second = np.array([self.rng.choice(self.partners[int(s)]) for s in first])
        offsets = self.rng.integers(0, self.segment_frames - CROP_FRAMES + 1, size=(2, batch_size))
        return first, second, offsets, tracks


def mel_centres_hz(extractor: dict) -> np.ndarray:
    """The centre frequency (Hz) of every mel band of the feature extractor (Slaney scale, as its filter bank)."""
    from transformers.audio_utils import hertz_to_mel, mel_to_hertz

    low, high = (hertz_to_mel(extractor[name], mel_scale="slaney") for name in ("f_min", "f_max"))
    return mel_to_hertz(np.linspace(low, high, extractor["feature_size"] + 2)[1:-1], mel_scale="slaney")


def view_offsets_db(centres_hz: np.ndarray, batch_size: int, rng: np.random.Generator, sampling_rate: int,
                    gain_db: float = 6.0, tilt_db_per_octave: float = 3.0, eq_gain_db: float = 6.0) -> np.ndarray:
    """`(B, mels)` dB offsets, one per view: `run_pretraining.py`'s per-view gain, tilt and peaking band
    (`vit1d.data.streaming`, drawn from the same ranges) in the log-mel domain, where a linear filter adds its gain
    in dB; each band takes the filter's gain at its centre frequency (an approximation for the wide bands above
    a few kHz). 0 turns an effect off."""
    offsets = np.zeros((batch_size, len(centres_hz)))
    if gain_db:
        offsets += rng.uniform(-gain_db, gain_db, (batch_size, 1))
    if tilt_db_per_octave:
        octaves = np.log2(np.clip(centres_hz, *TILT_BAND_HZ) / TILT_PIVOT_HZ)
        offsets += rng.uniform(-tilt_db_per_octave, tilt_db_per_octave, (batch_size, 1)) * octaves
    if eq_gain_db:
        # The RBJ cookbook's peaking biquad (vit1d.corpus.effects.peaking_biquad), its gain at each band centre.
        high = min(EQ_BAND_HZ[1], 0.45 * sampling_rate)
        centre = np.exp(rng.uniform(np.log(EQ_BAND_HZ[0]), np.log(high), (batch_size, 1)))
        gain = rng.uniform(-eq_gain_db, eq_gain_db, (batch_size, 1))
        q = np.exp(rng.uniform(np.log(EQ_Q[0]), np.log(EQ_Q[1]), (batch_size, 1)))
        amplitude, w0 = 10.0 ** (gain / 40.0), 2.0 * np.pi * centre / sampling_rate
        alpha = np.sin(w0) / (2.0 * q)
        b = (1.0 + alpha * amplitude, -2.0 * np.cos(w0), 1.0 - alpha * amplitude)
        a = (1.0 + alpha / amplitude, -2.0 * np.cos(w0), 1.0 - alpha / amplitude)
        w = 2.0 * np.pi * centres_hz[None, :] / sampling_rate

        def power(c):  # |c0 + c1 e^-jw + c2 e^-2jw|^2
            return (c[0] + c[1] * np.cos(w) + c[2] * np.cos(2 * w)) ** 2 + (c[1] * np.sin(w) + c[2] * np.sin(2 * w)) ** 2

        offsets += 10.0 * np.log10(power(b) / power(a))
    return offsets


def crops(mel: torch.Tensor, segments: np.ndarray, offsets: np.ndarray, db_range, mean=None, std=None,
          view_offsets: np.ndarray | None = None):
    """`(B, 126, mels)` float32 log-mel crops in dB, each moved by its view's `view_offsets` (`(B, mels)` dB),
    clamped per crop, standardised when statistics are given."""
    device = mel.device
    frames = torch.as_tensor(offsets, device=device)[:, None] + torch.arange(CROP_FRAMES, device=device)
    x = dequantise(mel[torch.as_tensor(segments, device=device)[:, None], frames], db_range)
    if view_offsets is not None:
        x = x + torch.as_tensor(view_offsets, dtype=x.dtype, device=device)[:, None, :]
    x = torch.maximum(x, x.amax(dim=(1, 2), keepdim=True) - TOP_DB)
    if mean is not None:
        x = (x - mean) / std
    return x


def train(args) -> None:
    from safetensors.torch import save_file

    config_module, modeling, optimization = standalone_modules()
    shards = Path(args.shards)
    meta = json.loads((shards / "mel_shards.json").read_text())
    data = np.load(shards / "mel_shards.npz")
    device = torch.device("cpu" if args.dry_run or not torch.cuda.is_available() else "cuda")
    mel = torch.from_numpy(data["mel"]).to(device)
    extractor = meta["feature_extractor"]
    centres = mel_centres_hz(extractor)
    mean = std = None
    if extractor.get("mel_mean"):
        mean = torch.tensor(extractor["mel_mean"], device=device)
        std = torch.tensor(extractor["mel_std"], device=device)
    config = config_module.ViT1DConfig()
    if args.config_overrides:
        config.update_from_string(args.config_overrides)
    if args.dry_run:
        config.update_from_string("num_hidden_layers=2,hidden_size=64,intermediate_size=128,num_attention_heads=2")
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    config.save_pretrained(out)
    seeds = [int(seed) for seed in args.seeds.split(",")]
    steps = 3 if args.dry_run else args.steps
    log = {"device": torch.cuda.get_device_name(device) if device.type == "cuda" else "cpu",
           "torch": torch.__version__, "batch_size": args.batch_size, "steps": steps, "seeds": {},
           "shards": {k: v for k, v in meta.items() if k not in ("track_names", "feature_extractor")},
           "arguments": vars(args), "vit1d_imported": "vit1d" in sys.modules}
    deadline = time.perf_counter() + args.time_budget_s
    for index, seed in enumerate(seeds):
        # Each seed gets an equal share of the time left, so a slow first seed cannot starve the others.
        seed_deadline = time.perf_counter() + (deadline - time.perf_counter()) / (len(seeds) - index)
        torch.manual_seed(seed)
        model = modeling.ViT1DForContrastivePretraining(config).to(device)
        save_file({k: v.to(torch.bfloat16).contiguous() for k, v in model.vit1d.state_dict().items()},
                  out / f"seed{seed}-step0.safetensors")
        optimizer = torch.optim.AdamW(optimization.parameter_groups(model, 0.04), lr=args.learning_rate,
                                      betas=(0.9, 0.98), eps=1e-8, fused=device.type == "cuda")
        scheduler = optimization.warmup_cosine_schedule(optimizer, min(args.warmup_steps, steps), steps)
        sampler = SegmentSampler(data["track"], data["start"], meta["segment_frames"], np.random.default_rng(seed))
        augment_rng = np.random.default_rng([seed, 1])  # the views' gain, tilt and band, apart from the sampling
        augment = {"gain_db": args.gain_db, "tilt_db_per_octave": args.tilt_db_per_octave,
                   "eq_gain_db": args.eq_gain_db}
        record = {"loss": [], "retrieval_top1": [], "logged_steps": []}
        started = time.perf_counter()
        done = 0
        for step in range(steps):
            if time.perf_counter() > seed_deadline:
                break  # this seed's share of the time budget is spent: keep what it learnt
            optimization.set_weight_decay(optimizer, step, steps, 0.04, 0.01)
            first, second, offsets, tracks = sampler.draw(args.batch_size)
            views, positives = (
                crops(mel, segments, frame_offsets, meta["db_range"], mean, std,
                      view_offsets_db(centres, len(segments), augment_rng, extractor["sampling_rate"], **augment))
                for segments, frame_offsets in ((first, offsets[0]), (second, offsets[1])))
            with torch.autocast(device.type, dtype=torch.bfloat16, enabled=not args.dry_run or device.type == "cuda"):
                outputs = model(input_values=views, positive_input_values=positives,
                                track_ids=torch.as_tensor(tracks, device=device))
            outputs.loss.backward()
            torch.nn.utils.clip_grad_norm_(model.parameters(), 3.0)
            optimizer.step()
            optimizer.zero_grad(set_to_none=True)
            scheduler.step()
            done = step + 1
            if step % args.log_every == 0 or done == steps:
                logits = outputs.logits.detach()
                targets = torch.arange(len(logits), device=device).roll(len(logits) // 2)
                record["loss"].append(round(outputs.loss.item(), 4))
                record["retrieval_top1"].append(round((logits.argmax(1) == targets).float().mean().item(), 4))
                record["logged_steps"].append(done)
        if device.type == "cuda":
            torch.cuda.synchronize()
        seconds = time.perf_counter() - started
        save_file({k: v.to(torch.bfloat16).contiguous() for k, v in model.vit1d.state_dict().items()},
                  out / f"seed{seed}-final.safetensors")
        log["seeds"][seed] = {**record, "steps_done": done, "seconds": round(seconds, 1),
                              "step_seconds": round(seconds / max(done, 1), 4)}
        print(f"seed {seed}: {done} steps in {seconds:.0f} s, loss {record['loss'][0]} -> {record['loss'][-1]}",
              flush=True)
    (out / "log.json").write_text(json.dumps(log, indent=1) + "\n")


def prepare(args) -> None:
    sys.path.insert(0, str(ROOT))
    from vit1d.data.mel_shards import write_mel_shards
    from vit1d.data.sources import open_tracks
    from vit1d.feature_extraction_vit1d import ViT1DFeatureExtractor

    extractor = (ViT1DFeatureExtractor.from_pretrained(args.feature_extractor_name) if args.feature_extractor_name
                 else ViT1DFeatureExtractor())
    summary = write_mel_shards(open_tracks(args.data, "train"), args.shards, extractor, max_bytes=args.max_mib << 20,
                               max_tracks=args.max_tracks)
    print({k: v for k, v in summary.items() if k not in ("track_names", "feature_extractor")})


def assemble(args) -> None:
    sys.path.insert(0, str(ROOT))
    from safetensors.torch import load_file

    from vit1d import ViT1DConfig, ViT1DFeatureExtractor, ViT1DForContrastivePretraining
    from vit1d.training.pretraining import write_encoder_folder

    returned, output_dir = Path(args.returned), Path(args.output_dir)
    meta = json.loads((Path(args.shards) / "mel_shards.json").read_text())
    extractor = ViT1DFeatureExtractor.from_dict(meta["feature_extractor"])
    config = ViT1DConfig.from_pretrained(returned)
    log = json.loads((returned / "log.json").read_text())
    for seed, record in log["seeds"].items():
        for stage, folder in (("step0", output_dir / f"seed{seed}" / "initial_encoder"),
                              ("final", output_dir / f"seed{seed}")):
            model = ViT1DForContrastivePretraining(config)
            weights = {k: v.float() for k, v in load_file(returned / f"seed{seed}-{stage}.safetensors").items()}
            model.vit1d.load_state_dict(weights)
            steps = 0 if stage == "step0" else record["steps_done"]
            recipe = {"objective": "NT-Xent on last-layer class tokens, temperature 0.1, same-track crops masked",
                      "data": f"log-mel shards of {log['shards']['source']} ({log['shards']['segments']} segments of "
                              f"{log['shards']['tracks']} tracks, gpu/pretrain.py)",
                      "global_batch_pairs": log["batch_size"], "steps": steps, "seed": int(seed),
                      "precision": "bf16 autocast", "hardware": log["device"],
                      "final_loss": record["loss"][-1] if steps else None,
                      "wall_clock_seconds": record["seconds"] if steps else 0}
            write_encoder_folder(model, extractor, folder, recipe, None)
        print(f"seed {seed}: {output_dir / f'seed{seed}'} (and its initial_encoder/)")


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    commands = parser.add_subparsers(dest="command", required=True)
    p = commands.add_parser("prepare", help="write log-mel shards here (needs vit1d)")
    p.add_argument("--data", required=True)
    p.add_argument("--shards", default="gpu_inputs")
    p.add_argument("--feature_extractor_name", default=None)
    p.add_argument("--max_mib", type=int, default=56)
    p.add_argument("--max_tracks", type=int, default=None)
    t = commands.add_parser("train", help="pretrain from the shards (on the GPU machine)")
    t.add_argument("--shards", default="gpu_inputs")
    t.add_argument("--out", required=True)
    t.add_argument("--seeds", default="0,1,2")
    t.add_argument("--batch_size", type=int, default=256)
    t.add_argument("--steps", type=int, default=3000)
    t.add_argument("--learning_rate", type=float, default=1e-3)
    t.add_argument("--warmup_steps", type=int, default=300)
    t.add_argument("--config_overrides", default="")
    # run_pretraining.py's per-view augmentation and its defaults (docs/decisions.md); 0 turns an effect off.
    t.add_argument("--gain_db", type=float, default=6.0)
    t.add_argument("--tilt_db_per_octave", type=float, default=3.0)
    t.add_argument("--eq_gain_db", type=float, default=6.0)
    t.add_argument("--time_budget_s", type=float, default=540.0,
                   help="all seeds together, shared equally; a seed that runs out stops early (log.json says)")
    t.add_argument("--log_every", type=int, default=50)
    t.add_argument("--dry_run", action="store_true", help="3 steps of a tiny model on the CPU")
    a = commands.add_parser("assemble", help="encoder folders from the returned weights (needs vit1d)")
    a.add_argument("--returned", required=True)
    a.add_argument("--shards", default="gpu_inputs")
    a.add_argument("--output_dir", default="outputs/gpu")
    args = parser.parse_args(argv)
    {"prepare": prepare, "train": train, "assemble": assemble}[args.command](args)


if __name__ == "__main__":
    main()
