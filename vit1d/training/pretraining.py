"""Contrastive pretraining of ViT-1D with Accelerate: the loop behind `run_pretraining.py`.

It reads like Accelerate's `examples/by_feature` scripts: `Accelerator(mixed_precision, gradient_accumulation_steps,
log_with)`, `prepare` on the model, optimizer and scheduler, `accumulate`, `backward`, `clip_grad_norm_` when the
gradients sync, `save_state` / `load_state`, training by steps. The data loader is deliberately not prepared: the
pair stream shards itself over processes and DataLoader workers (see `vit1d.data.streaming`).

NT-Xent spans the global batch: every process gathers the class tokens of all processes with a differentiable
all_gather, so each process computes the same global loss and DDP's gradient average equals the single-process
gradient. Gradient accumulation averages gradients over micro-batches but does not add negatives.
"""

import gc
import json
import logging
import math
import os
import platform
import time
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path

import numpy as np
import torch

from ..configuration_vit1d import ViT1DConfig
from ..data.pairs import PairSampling
from ..data.sources import open_tracks
from ..data.statistics import mel_statistics, with_mel_statistics
from ..data.streaming import PairStream, StreamOptions, total_skipped
from ..feature_extraction_vit1d import ViT1DFeatureExtractor
from ..files import share_safetensors
from ..hub import input_normalisation_text, model_card, prepare_for_hub, push_folder_to_hub, tested_versions
from ..modeling_vit1d import ViT1DForContrastivePretraining
from . import checkpointing
from .arguments import (
    ARGUMENTS_FILE,
    RESUME_FIXED,
    DataArguments,
    ModelArguments,
    PretrainingArguments,
    write_arguments,
)
from .metrics import embedding_metrics
from .optimization import parameter_groups, set_weight_decay, warmup_cosine_schedule

logger = logging.getLogger(__name__)


@dataclass
class PretrainingResult:
    output_dir: Path
    steps: int
    final_loss: float | None
    log_file: Path


# -- set-up ---------------------------------------------------------------------------------------------------------


def build_model(args: ModelArguments) -> ViT1DForContrastivePretraining:
    hub = dict(revision=args.revision, trust_remote_code=args.trust_remote_code)
    if args.model_name_or_path:
        model = ViT1DForContrastivePretraining.from_pretrained(args.model_name_or_path, **hub)
        if args.config_overrides:
            raise ValueError("--config_overrides applies to a fresh model; it cannot change loaded weights' shapes.")
        return model
    config = ViT1DConfig.from_pretrained(args.config_name, **hub) if args.config_name else ViT1DConfig()
    if args.config_overrides:
        config.update_from_string(args.config_overrides)
    return ViT1DForContrastivePretraining(config)


def build_feature_extractor(args: ModelArguments, config: ViT1DConfig) -> ViT1DFeatureExtractor:
    """The run's feature extractor, checked against the model's config (`vit1d.loading.check_front_end`)."""
    from ..loading import check_front_end

    extractor = _feature_extractor(args, config)
    check_front_end(config, extractor)
    return extractor


def _feature_extractor(args: ModelArguments, config: ViT1DConfig) -> ViT1DFeatureExtractor:
    if args.feature_extractor_name:
        return ViT1DFeatureExtractor.from_pretrained(args.feature_extractor_name, revision=args.revision)
    source = args.model_name_or_path or args.config_name
    if source:
        try:
            return ViT1DFeatureExtractor.from_pretrained(source, revision=args.revision)
        except OSError:
            logger.warning(f"{source} has no preprocessor_config.json: using the default feature extractor.")
    extractor = ViT1DFeatureExtractor(sampling_rate=config.sampling_rate, hop_length=config.hop_length,
                                      feature_size=config.num_mel_bins)
    return extractor


def built_in_corpus(data_args: DataArguments, accelerator) -> str:
    """The built-in corpus folder, rendered by the main process the first time while the others wait."""
    from ..corpus.render import ensure_corpus, parse_split_fractions

    if accelerator.is_main_process:
        ensure_corpus(data_args.corpus_dir, data_args.corpus_pieces, data_args.corpus_seconds,
                      split_fractions=parse_split_fractions(data_args.corpus_split_fractions))
    accelerator.wait_for_everyone()
    return str(data_args.corpus_dir)


def pair_rules(args: DataArguments) -> PairSampling:
    return PairSampling(
        crop_seconds=args.crop_seconds,
        min_distance_seconds=args.min_distance_seconds,
        max_distance_seconds=args.max_distance_seconds,
        pairs_per_track=args.pairs_per_track,
        silence_db=args.silence_db,
        short_tracks=args.short_tracks,
    )


def trackers(report_to: str) -> list[str]:
    if report_to == "none":
        return []
    if report_to == "auto":
        try:
            import tensorboard  # noqa: F401
        except ImportError:
            return []
        return ["tensorboard"]
    return [name.strip() for name in report_to.split(",") if name.strip()]


class JsonlLog:
    """`logs.jsonl` of the main process: one JSON object per logging step, appended (a resumed run continues it).

    A run resumed from the checkpoint at step `s` redoes the steps after `s` that the interrupted run had logged:
    `resumed_at(s)` first drops those lines, so that every step appears once and the file reads as one run."""

    def __init__(self, path: Path, enabled: bool):
        self.path, self.enabled = path, enabled

    def resumed_at(self, step: int) -> int:
        """Drop the records of steps after `step`; returns how many were dropped."""
        if not (self.enabled and self.path.is_file()):
            return 0
        lines = self.path.read_text().splitlines(keepends=True)
        kept = [line for line in lines if not line.strip() or json.loads(line).get("step", 0) <= step]
        if len(kept) < len(lines):
            temporary = self.path.with_name(f".{self.path.name}.tmp")
            temporary.write_text("".join(kept))
            os.replace(temporary, self.path)  # atomic: a crash here leaves the old or the new file, never half
        return len(lines) - len(kept)

    def write(self, record: dict) -> None:
        if self.enabled:
            with open(self.path, "a") as handle:
                handle.write(json.dumps(record) + "\n")


# -- the loop -------------------------------------------------------------------------------------------------------


@dataclass
class ResumePoint:
    """Where a run starts: step 0, or a checkpoint's step with its stream positions and training time so far."""

    step: int = 0
    data_state: dict = field(default_factory=lambda: {"positions": {}, "first_reader": 0})
    trained_seconds: float = 0.0
    checkpoint: Path | None = None


def pretrain(model_args: ModelArguments, data_args: DataArguments, args: PretrainingArguments) -> PretrainingResult:
    """Pretrain ViT-1D with NT-Xent: set up Accelerate, build the model, optimizer and schedule, resume if asked,
    stream pairs, then train by steps, logging, checkpointing and keeping encoders as asked; write the encoder
    folder (and push it) at the end."""
    from tqdm.auto import tqdm
    from tqdm.contrib.logging import logging_redirect_tqdm

    output_dir = Path(args.output_dir)
    accelerator, args = make_accelerator(args, output_dir)
    model = build_model(model_args)
    if args.gradient_checkpointing:
        model.gradient_checkpointing_enable()
    extractor = build_feature_extractor(model_args, model.config)
    optimizer, scheduler = build_optimization(model, args)
    model, optimizer, scheduler = accelerator.prepare(model, optimizer, scheduler)

    fixed = fixed_arguments((model_args, data_args, args))
    start = resume_point(accelerator, output_dir, args, data_args, fixed)
    source = open_tracks(data_args.data or built_in_corpus(data_args, accelerator), data_args.split,
                         data_args.audio_column, data_args.dataset_config)
    if model_args.standardize_mel_bins:
        extractor = standardized(extractor, source)
    stream, loader = pair_loader(source, data_args, args, extractor, accelerator, start.data_state)
    positions = {int(k): v for k, v in start.data_state["positions"].items()}  # reader -> its stream position

    recipe = training_recipe(model_args, data_args, args, accelerator, source.description, model, extractor)
    if args.save_initial_encoder and start.step == 0:
        # The weights before any step, as a loadable encoder: probing them beside the trained encoder is a paired
        # design (same initialisation, same code; only the training differs), tighter than other random seeds.
        save_encoder(accelerator, model, extractor, output_dir / INITIAL_ENCODER, {**recipe, "steps": 0}, None)
    if accelerator.is_main_process:  # the exact run, repeatable with `run_pretraining.py --config` on this file
        write_arguments(output_dir / ARGUMENTS_FILE, (model_args, data_args, args))
    log = start_logs(accelerator, output_dir, start, flat_hparams(model_args, data_args, args))
    progress = tqdm(total=args.max_steps, initial=start.step, disable=not accelerator.is_local_main_process,
                    desc="pretraining", unit="step")

    step, batches, consumed = start.step, iter(loader), 0
    window, window_start, last_loss = [], time.perf_counter(), None
    start_time = time.perf_counter()
    model.train()
    # Log lines (checkpoints, warnings about skipped tracks) print above the progress bar instead of through it.
    with logging_redirect_tqdm():
        while step < args.max_steps:
            weight_decay = set_weight_decay(optimizer, step, args.max_steps, args.weight_decay, args.weight_decay_end)
            lr = scheduler.get_last_lr()[0]  # read before scheduler.step(), which sets the next step's lr
            for _ in range(args.gradient_accumulation_steps):  # one optimizer step: its micro-batches
                batch = next(batches)
                consumed += 1
                positions[batch["reader"]] = batch["position"]
                outputs, grad_norm = training_step(model, extractor, batch, accelerator, optimizer, scheduler, args)
                window.append(record_of(outputs, model_config(model).nt_xent_temperature))
            step += 1
            progress.update(1)
            window[-1]["grad_norm"] = grad_norm
            if step % args.logging_steps == 0 or step == args.max_steps:
                record = summarize(window, step, lr, weight_decay, time.perf_counter() - window_start,
                                   args.per_device_train_batch_size * accelerator.num_processes,
                                   skipped_counts(accelerator, positions))
                last_loss = record["loss"]
                log.write(record)
                accelerator.log({k: v for k, v in record.items() if isinstance(v, (int, float))}, step=step)
                progress.set_postfix(loss=f"{record['loss']:.4f}", top1=f"{record['retrieval_top1']:.2f}")
                window, window_start = [], time.perf_counter()
            if args.save_steps and step % args.save_steps == 0 and step < args.max_steps:
                data_state = {"positions": positions,
                              "first_reader": (start.data_state["first_reader"] + consumed) % stream.readers_per_process}
                trainer_state = {"step": step, "num_processes": accelerator.num_processes,
                                 "num_workers": data_args.num_workers, "max_steps": args.max_steps,
                                 "fixed_arguments": fixed,
                                 "training_seconds": training_seconds(start.trained_seconds, start_time)}
                save(accelerator, model, extractor, args, trainer_state, data_state, recipe)
            if args.encoder_every_steps and step % args.encoder_every_steps == 0 and step < args.max_steps:
                save_encoder(accelerator, model, extractor, output_dir / ENCODERS / f"step-{step:08d}",
                             {**recipe, "steps": step}, None)
    progress.close()

    recipe["wall_clock_seconds"] = training_seconds(start.trained_seconds, start_time)
    recipe["final_loss"] = None if last_loss is None else round(last_loss, 4)
    save_encoder(accelerator, model, extractor, output_dir, recipe, args.hub_model_id)
    if args.push_to_hub and accelerator.is_main_process:
        push_folder_to_hub(output_dir, args.hub_model_id, private=args.hub_private_repo, token=args.hub_token)
        logger.info(f"Pushed {output_dir} to https://huggingface.co/{args.hub_model_id}")
    accelerator.wait_for_everyone()
    # Drop the DDP wrapper before the process group goes: freeing it after `end_training` shut gloo down under the
    # GIL while a gloo thread still needed it, and a rank of a 2-process run occasionally never exited.
    del model, optimizer, scheduler, batches, loader
    accelerator.free_memory()
    gc.collect()
    accelerator.end_training()
    return PretrainingResult(output_dir, step, last_loss, output_dir / "logs.jsonl")


def make_accelerator(args: PretrainingArguments, output_dir: Path):
    """The Accelerator of the run, checked against the arguments, and the arguments with the precision Accelerate
    actually uses; the output folder exists and holds no half-written checkpoint; every RNG is seeded."""
    from accelerate import Accelerator
    from accelerate.utils import ProjectConfiguration, set_seed

    accelerator = Accelerator(
        mixed_precision=args.mixed_precision,
        gradient_accumulation_steps=args.gradient_accumulation_steps,
        log_with=trackers(args.report_to) or None,
        project_config=ProjectConfiguration(project_dir=str(output_dir), logging_dir=str(output_dir / "runs")),
        step_scheduler_with_optimizer=False,  # the schedule counts optimizer steps, whatever the number of processes
    )
    check_mixed_precision(accelerator)
    # The argument may defer to `accelerate launch` or `accelerate config` (None): from here on, what Accelerate uses.
    args = replace(args, mixed_precision=accelerator.mixed_precision)
    check_gradient_accumulation(accelerator.gradient_accumulation_steps, args.gradient_accumulation_steps)
    check_global_batch(args.per_device_train_batch_size, accelerator.num_processes)
    if accelerator.is_main_process:
        output_dir.mkdir(parents=True, exist_ok=True)
        removed = checkpointing.remove_partial_checkpoints(output_dir)
        if removed:
            logger.warning(f"Removed {len(removed)} partial checkpoint(s) left by an interrupted save: {removed}")
    set_seed(args.seed)  # before the model is built: its initial weights follow the seed
    return accelerator, args


def build_optimization(model, args: PretrainingArguments):
    """AdamW without weight decay on biases, norms, the class token and position embeddings, and a linear warm-up
    followed by a cosine schedule (`vit1d.training.optimization`)."""
    optimizer = torch.optim.AdamW(
        parameter_groups(model, args.weight_decay),
        lr=args.learning_rate,
        betas=(args.adam_beta1, args.adam_beta2),
        eps=args.adam_epsilon,
    )
    scheduler = warmup_cosine_schedule(optimizer, args.warmup_steps, args.max_steps, args.min_learning_rate_ratio)
    return optimizer, scheduler


def resume_point(accelerator, output_dir: Path, args: PretrainingArguments, data_args: DataArguments,
                 fixed: dict) -> ResumePoint:
    """Step 0, or the checkpoint `--resume_from_checkpoint` names, loaded into the prepared objects after checking
    that this run may continue it (steps left, same process and worker layout, same fixed arguments)."""
    checkpoint = (checkpointing.resolve_checkpoint(output_dir, args.resume_from_checkpoint)
                  if args.resume_from_checkpoint else None)
    if checkpoint is None:
        if args.resume_from_checkpoint:
            logger.info(f"No checkpoint in {output_dir} yet: starting from step 0.")
        return ResumePoint()
    # Checked before any state is loaded: a changed model config would otherwise fail inside load_state.
    trainer_state = checkpointing.read_trainer_state(checkpoint)
    check_steps_left(trainer_state, args.max_steps, checkpoint)
    check_same_layout(trainer_state, accelerator.num_processes, data_args.num_workers, checkpoint)
    check_same_arguments(trainer_state, fixed, checkpoint)
    trainer_state, data_state = checkpointing.load_checkpoint(accelerator, checkpoint)
    logger.info(f"Resumed from {checkpoint} at step {trainer_state['step']}.")
    return ResumePoint(trainer_state["step"], data_state, trainer_state["training_seconds"], checkpoint)


def standardized(extractor: ViT1DFeatureExtractor, source) -> ViT1DFeatureExtractor:
    """The extractor with every mel bin's mean and SD over the training tracks (`--standardize_mel_bins`). Every
    process measures the same tracks the same way (deterministic), so no broadcast is needed; a resumed run measures
    them again and gets the same statistics."""
    statistics = mel_statistics(source, extractor)
    logger.info(f"Mel-bin statistics from {statistics.frames} frames of {statistics.tracks} training tracks: "
                f"mean {np.mean(statistics.mean):.1f} dB, SD {np.mean(statistics.std):.1f} dB on average.")
    return with_mel_statistics(extractor, statistics)


def pair_loader(source, data_args: DataArguments, args: PretrainingArguments, extractor, accelerator,
                data_state: dict):
    """The stream of positive pairs, continued from `data_state`, and the DataLoader that runs its readers. The
    loader is not passed to `accelerator.prepare`: the stream already shards itself over processes and workers."""
    rules = pair_rules(data_args)
    options = StreamOptions(
        batch_size=args.per_device_train_batch_size, seed=args.seed, shuffle_buffer=data_args.shuffle_buffer,
        mix_tracks=data_args.mix_tracks, sampling_rate=extractor.sampling_rate,
        peak_normalize=data_args.peak_normalize, gain_db=data_args.gain_db,
        tilt_db_per_octave=data_args.tilt_db_per_octave, eq_gain_db=data_args.eq_gain_db,
    )
    stream = PairStream(source, rules, options, accelerator.process_index, accelerator.num_processes,
                        data_args.num_workers, data_state["positions"], data_state["first_reader"])
    loader = torch.utils.data.DataLoader(
        stream, batch_size=None, num_workers=data_args.num_workers, pin_memory=accelerator.device.type == "cuda",
        prefetch_factor=prefetch_batches(rules, options) if data_args.num_workers else None,
    )
    return stream, loader


def start_logs(accelerator, output_dir: Path, start: ResumePoint, hparams: dict) -> "JsonlLog":
    """Start the trackers and `logs.jsonl`. A resumed run drops what the interrupted one logged after its
    checkpoint (TensorBoard through `purge_step`), so every step is logged once."""
    tracker_options = {"tensorboard": {"purge_step": start.step + 1}} if start.checkpoint is not None else {}
    accelerator.init_trackers("vit1d-pretraining", config=hparams, init_kwargs=tracker_options)
    log = JsonlLog(output_dir / "logs.jsonl", accelerator.is_main_process)
    if start.checkpoint is not None and (dropped := log.resumed_at(start.step)):
        logger.info(f"logs.jsonl: dropped {dropped} record(s) after step {start.step}, which this run trains again.")
    return log


def training_step(model, extractor, batch: dict, accelerator, optimizer, scheduler, args: PretrainingArguments):
    """One micro-batch: NT-Xent forward and backward; where the gradients sync (the last micro-batch of an optimizer
    step), clipping, the optimizer step and the schedule's. Returns the outputs and the gradient norm (or None)."""
    with accelerator.accumulate(model):
        outputs = contrastive_step(model, extractor, batch, accelerator, args.same_track_negatives)
        accelerator.backward(outputs.loss)
        grad_norm = None
        if accelerator.sync_gradients:
            grad_norm = clip_gradients(accelerator, model, args.max_grad_norm)
        optimizer.step()  # under `accumulate`, Accelerate's wrapped optimizer skips the step until the gradients sync
        if accelerator.sync_gradients:
            scheduler.step()
        optimizer.zero_grad(set_to_none=True)
    return outputs, grad_norm


def training_seconds(trained_before: float, start_time: float) -> float:
    """Training time of the steps in the model, summed over the segments of a resumed run (steps that a crash threw
    away after the last checkpoint are not in the model and their time is not counted)."""
    return round(trained_before + time.perf_counter() - start_time, 1)


def check_mixed_precision(accelerator) -> None:
    """Accelerate accepts `fp16` on a machine whose device has no fp16 autocast (a CPU) and then trains in fp32,
    while the recipe and the model card would say fp16: refuse instead."""
    mixed_precision = accelerator.mixed_precision
    if mixed_precision != "no" and not accelerator.native_amp:
        raise ValueError(
            f"--mixed_precision {mixed_precision} is not available on {accelerator.device.type}: Accelerate would "
            "silently train in fp32. Use --mixed_precision bf16 (CPUs and recent GPUs) or no, or run on a CUDA GPU "
            "for fp16."
        )


def check_gradient_accumulation(accelerator_steps: int, argument_steps: int) -> None:
    """Accelerate takes ACCELERATE_GRADIENT_ACCUMULATION_STEPS (set by `accelerate launch`, e.g. from a DeepSpeed
    config) over the value passed to it, while the loop runs --gradient_accumulation_steps micro-batches per step:
    with two values, optimizer steps and logged steps would silently disagree."""
    if accelerator_steps != argument_steps:
        raise ValueError(
            f"Accelerate accumulates gradients over {accelerator_steps} micro-batches (from "
            f"ACCELERATE_GRADIENT_ACCUMULATION_STEPS, set by `accelerate launch` / `accelerate config` or its DeepSpeed "
            f"config) but --gradient_accumulation_steps is {argument_steps}: pass --gradient_accumulation_steps "
            f"{accelerator_steps}, or launch with gradient accumulation {argument_steps}."
        )


def check_global_batch(per_device_batch_size: int, num_processes: int) -> None:
    """NT-Xent needs negatives: with a single pair in the global batch the loss is 0 and nothing is learned."""
    if per_device_batch_size * num_processes < 2:
        raise ValueError(
            f"--per_device_train_batch_size {per_device_batch_size} on {num_processes} process(es) gives one pair per "
            "step, with no negatives for NT-Xent: use a batch of at least 2 pairs."
        )


def check_same_layout(trainer_state: dict, num_processes: int, num_workers: int, checkpoint: Path) -> None:
    """The saved stream positions belong to readers (processes x workers): another layout cannot continue them."""
    saved = (trainer_state.get("num_processes"), trainer_state.get("num_workers"))
    if saved != (num_processes, num_workers):
        raise ValueError(
            f"{checkpoint} was written by {saved[0]} process(es) with --num_workers {saved[1]}; this run has "
            f"{num_processes} with --num_workers {num_workers}. Resume with the same layout (the data stream's "
            "position is saved per reader)."
        )


def fixed_arguments(argument_sets) -> dict:
    """The values of `RESUME_FIXED`, saved with every checkpoint."""
    values = {name: value for arguments in argument_sets for name, value in asdict(arguments).items()}
    return {name: values[name] for name in RESUME_FIXED}


def check_steps_left(trainer_state: dict, max_steps: int, checkpoint: Path) -> None:
    step = trainer_state["step"]
    if max_steps <= step:
        raise ValueError(
            f"{checkpoint} is at step {step} and --max_steps is {max_steps}: nothing is left to train. Resume with the "
            f"run's --max_steps {trainer_state.get('max_steps')}, or start a new run in another --output_dir."
        )


def changed_arguments(saved: dict, now: dict) -> list[str]:
    """`name: checkpoint value -> now value` for each argument both know and that differs. An argument that only one
    side knows (added or removed by another version of this code) cannot be compared and is left out."""
    return [f"{name}: {saved[name]!r} -> {now[name]!r}" for name in now if name in saved and saved[name] != now[name]]


def check_same_arguments(trainer_state: dict, now: dict, checkpoint: Path) -> None:
    """A resume continues the checkpoint's run: refuse it when an argument of `RESUME_FIXED` changed, or when the
    checkpoint does not record them (not written by this code's `save`)."""
    saved = trainer_state.get("fixed_arguments")
    if saved is None or "training_seconds" not in trainer_state:
        raise ValueError(f"{checkpoint}/trainer_state.json does not record the run's arguments and training time: it "
                         "was not written by vit1d's pretraining and cannot be resumed. Start a new run in another "
                         "--output_dir.")
    changed = changed_arguments(saved, now)
    if changed:
        raise ValueError(
            f"{checkpoint} belongs to a run with other arguments. A resume continues that run (its optimizer, "
            "schedule and data position), so these must not change (checkpoint value -> now value):\n  "
            + "\n  ".join(changed)
            + "\nResume with the checkpoint's values, or start a new run in another --output_dir."
        )


def prefetch_batches(rules: PairSampling, options: StreamOptions, limit: int = 8) -> int:
    """Batches each DataLoader worker keeps ready: a group of tracks is decoded at once before its batches flow, so
    a worker that runs only 2 batches ahead leaves the trainer waiting at every group (measured: 78 % of the step
    rate at 2, 98 % at one group ahead). Bounded, since each batch holds 2 x batch_size crops."""
    per_group = math.ceil(options.mix_tracks * rules.pairs_per_track / options.batch_size)
    return max(2, min(limit, per_group + 1))


def model_config(model) -> ViT1DConfig:
    return getattr(model, "module", model).config


def contrastive_step(model, extractor: ViT1DFeatureExtractor, batch: dict, accelerator,
                     same_track_negatives: bool = False):
    """Log-mel of both views on the accelerator (the extractor's torch path), then the model's NT-Xent, which leaves
    the crops of each anchor's own track out of its negatives unless `same_track_negatives`."""
    views = torch.cat([batch["input_values"], batch["positive_input_values"]]).to(accelerator.device, non_blocking=True)
    features = extractor(views, sampling_rate=extractor.sampling_rate, return_tensors="pt",
                         device=accelerator.device)["input_values"]
    first, second = features.chunk(2)
    track_ids = None if same_track_negatives else batch["track_ids"].to(accelerator.device)
    return model(input_values=first, positive_input_values=second, track_ids=track_ids,
                 gather_across_processes=accelerator.num_processes > 1)


def clip_gradients(accelerator, model, max_norm: float) -> float:
    """Clip to `max_norm` (0: never) and return the norm before clipping."""
    limit = max_norm if max_norm > 0 else math.inf
    return float(accelerator.clip_grad_norm_(model.parameters(), limit))


def record_of(outputs, temperature: float) -> dict:
    return {"loss": outputs.loss.item(), **embedding_metrics(outputs.logits.detach(), temperature)}


def skipped_counts(accelerator, positions: dict) -> dict[str, int]:
    """Skipped tracks by reason, summed over this process's readers, then over processes."""
    from ..data.streaming import SKIP_REASONS

    local = total_skipped(positions)
    counts = torch.tensor([local.get(reason, 0) for reason in SKIP_REASONS], device=accelerator.device)
    counts = accelerator.reduce(counts, reduction="sum") if accelerator.num_processes > 1 else counts
    return {reason: int(n) for reason, n in zip(SKIP_REASONS, counts.tolist()) if n}


def summarize(window: list[dict], step: int, lr: float, weight_decay: float, elapsed: float, pairs_per_micro_batch: int,
              skipped: dict) -> dict:
    mean = {key: sum(r[key] for r in window) / len(window) for key in ("loss", "retrieval_top1", "alignment",
                                                                       "uniformity")}
    norms = [r["grad_norm"] for r in window if r.get("grad_norm") is not None]
    return {
        "step": step,
        **mean,
        "lr": lr,
        "weight_decay": weight_decay,
        "grad_norm": sum(norms) / len(norms) if norms else None,
        "pairs_per_second": len(window) * pairs_per_micro_batch / max(elapsed, 1e-9),
        "skipped_tracks": sum(skipped.values()),
        "skipped": skipped,
    }


# -- saving ---------------------------------------------------------------------------------------------------------


def save(accelerator, model, extractor, args: PretrainingArguments, trainer_state: dict, data_state: dict,
         recipe: dict):
    step = trainer_state["step"]

    def add_encoder(folder: Path):
        if args.save_encoder_at_checkpoints:
            write_encoder_folder(accelerator.unwrap_model(model), extractor, folder / "encoder",
                                 {**recipe, "steps": step}, args.hub_model_id)

    checkpointing.save_checkpoint(accelerator, args.output_dir, step, trainer_state, data_state,
                                  args.save_total_limit, before_publish=add_encoder)


# The folder (inside output_dir) of the step-0 encoder; not uploaded with the trained one.
INITIAL_ENCODER = "initial_encoder"
ENCODERS = "encoders"  # the encoder folders of --encoder_every_steps, one per step-N


def save_encoder(accelerator, model, extractor, output_dir: Path, recipe: dict, repo_id: str | None):
    accelerator.wait_for_everyone()
    if accelerator.is_main_process:
        write_encoder_folder(accelerator.unwrap_model(model), extractor, output_dir, recipe, repo_id)


def write_encoder_folder(pretraining_model: ViT1DForContrastivePretraining, extractor, folder: Path, recipe: dict,
                         repo_id: str | None) -> None:
    """The encoder alone, as a `ViT1DModel` folder that loads with `import vit1d` or `trust_remote_code=True`: weights
    (safetensors), config with `auto_map`, feature extractor, the three code files, a model card and the recipe."""
    encoder = pretraining_model.base_model
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    prepare_for_hub(encoder, extractor)
    encoder.save_pretrained(folder)
    extractor.save_pretrained(folder)
    share_safetensors(folder)
    checkpointing.write_json(folder / "training_recipe.json", recipe)
    model_card(encoder, extractor, repo_id=repo_id, training_recipe=recipe).save(folder / "README.md")


def training_recipe(model_args, data_args, args, accelerator, data_description: str, model, extractor) -> dict:
    """What the model card states about how this encoder was trained: the values actually used."""
    config = model_config(model)
    device = accelerator.device
    hardware = torch.cuda.get_device_name(device) if device.type == "cuda" else f"{platform.processor() or 'CPU'}"
    return {
        "objective": f"NT-Xent on last-layer class tokens, temperature {config.nt_xent_temperature}",
        "input": input_normalisation_text(config, extractor),
        "initialisation": initialisation_of(model_args),
        "data": data_description,
        "views": f"{data_args.crop_seconds:g} s crops, centres {data_args.min_distance_seconds:g}-"
                 f"{data_args.max_distance_seconds:g} s apart, up to {data_args.pairs_per_track} pairs per track, "
                 f"silence threshold {data_args.silence_db:g} dB, peak normalisation "
                 f"{'on' if data_args.peak_normalize else 'off'}, augmentation per view "
                 f"{augmentation_of(data_args)}",
        "negatives": "every other crop of the global batch" + (
            ", crops of the anchor's own track included" if args.same_track_negatives
            else " except crops of the anchor's own track"),
        "short_tracks": SHORT_TRACK_RULES[data_args.short_tracks],
        "data_order": data_order_of(data_args),
        "global_batch_pairs": args.per_device_train_batch_size * accelerator.num_processes,
        "gradient_accumulation_steps": args.gradient_accumulation_steps,
        "steps": args.max_steps,
        "optimizer": f"AdamW lr {args.learning_rate:g}, betas ({args.adam_beta1}, {args.adam_beta2}), eps "
                     f"{args.adam_epsilon:g}, weight decay {args.weight_decay:g} -> {args.weight_decay_end:g} "
                     "(not on biases, norms, class token, positions)",
        "schedule": f"linear warm-up {args.warmup_steps} steps, cosine to {args.min_learning_rate_ratio:g} x peak",
        "gradient_clipping": args.max_grad_norm,
        "precision": args.mixed_precision,
        "processes": accelerator.num_processes,
        "hardware": f"{accelerator.num_processes} x {hardware} ({device.type})",
        "seed": args.seed,
        "versions": tested_versions(),
    }


def augmentation_of(data_args: DataArguments) -> str:
    parts = [f"gain +-{data_args.gain_db:g} dB" if data_args.gain_db else "",
             f"tilt +-{data_args.tilt_db_per_octave:g} dB/octave" if data_args.tilt_db_per_octave else "",
             f"peaking band +-{data_args.eq_gain_db:g} dB" if data_args.eq_gain_db else ""]
    return ", ".join(part for part in parts if part) or "none"


SHORT_TRACK_RULES = {
    "widest": "widest: tracks shorter than crop + minimum distance give their two most distant crops",
    "skip": "skip: tracks shorter than crop + minimum distance give no pair",
}


def initialisation_of(model_args: ModelArguments) -> str:
    """Where the weights started: continued pretraining must not read like training from scratch."""
    if model_args.model_name_or_path:
        revision = f" (revision {model_args.revision})" if model_args.revision else ""
        return f"continued from the weights of {model_args.model_name_or_path}{revision}"
    config = model_args.config_name or "ViT1DConfig defaults"
    if model_args.config_name and model_args.revision:
        config += f" (revision {model_args.revision})"
    overrides = f" with {model_args.config_overrides}" if model_args.config_overrides else ""
    return f"random (config: {config}{overrides})"


def data_order_of(data_args: DataArguments) -> str:
    shuffle = (f"shuffle buffer of {data_args.shuffle_buffer} tracks" if data_args.shuffle_buffer
               else "no shuffle (the source's order)")
    return f"{shuffle}, pairs of {data_args.mix_tracks} tracks interleaved before batching"


def flat_hparams(*argument_sets) -> dict:
    """Scalars of every argument dataclass, for the trackers' hyperparameter tables."""
    flat = {}
    for values in argument_sets:
        flat.update({k: v for k, v in asdict(values).items() if isinstance(v, (int, float, str, bool))})
    return flat
