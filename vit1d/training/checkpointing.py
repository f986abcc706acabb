"""Atomic checkpoints: Accelerate's `save_state` writes into a hidden temporary folder, which is renamed to
`checkpoints/step-NNNNNNNN` only once every process has written its part. A crash or `kill -9` during a save leaves
the temporary folder, which is ignored and removed by the next run, and the previous checkpoints intact. Old
checkpoints are pruned only after the new one is in place.

A checkpoint holds the model (safetensors), the optimizer, scheduler and RNG states (pickled by Accelerate: resume
only your own checkpoints; share the final encoder folder, which is safetensors only), `trainer_state.json` and one
`data_state_rank{R}.json` per process (the readers' positions in the stream).
"""

import contextlib
import json
import logging
import os
import shutil
from pathlib import Path

from ..files import share_safetensors

PREFIX = "step-"
TEMPORARY_PREFIX = ".tmp-"

logger = logging.getLogger(__name__)


@contextlib.contextmanager
def _quiet_accelerate():
    """Accelerate logs a line per saved or loaded part (weights, optimizer, scheduler, RNG), each naming the hidden
    temporary folder, through the progress bar at every checkpoint; the run logs one line of its own instead."""
    loggers = [logging.getLogger(name) for name in ("accelerate.accelerator", "accelerate.checkpointing")]
    levels = [each.level for each in loggers]
    for each in loggers:
        each.setLevel(max(logging.WARNING, each.getEffectiveLevel()))
    try:
        yield
    finally:
        for each, level in zip(loggers, levels):
            each.setLevel(level)


def checkpoint_root(output_dir: str | Path) -> Path:
    return Path(output_dir) / "checkpoints"


def _save_sequence(checkpoint: Path) -> int:
    """The order in which checkpoints were saved (`trainer_state.json`'s `save_sequence`; older checkpoints without
    it count as saved before any that has one)."""
    try:
        return int(json.loads((checkpoint / "trainer_state.json").read_text()).get("save_sequence", 0))
    except (OSError, ValueError):
        return 0


def list_checkpoints(output_dir: str | Path) -> list[Path]:
    """Complete checkpoints, oldest save first. Saves are ordered by when they were written, not by step: a run
    resumed from an older checkpoint saves lower steps after the abandoned run's higher ones, and those newer saves
    are what "latest" and `save_total_limit` must keep."""
    root = checkpoint_root(output_dir)
    if not root.is_dir():
        return []
    found = [p for p in root.iterdir() if p.is_dir() and p.name.startswith(PREFIX) and p.name[len(PREFIX):].isdigit()]
    return sorted(found, key=lambda p: (_save_sequence(p), int(p.name[len(PREFIX):])))


def resolve_checkpoint(output_dir: str | Path, which: str) -> Path | None:
    """`which` = 'latest' (None when there is none yet: a fresh start) or a checkpoint folder."""
    if which == "latest":
        checkpoints = list_checkpoints(output_dir)
        return checkpoints[-1] if checkpoints else None
    path = Path(which)
    if not (path / "trainer_state.json").is_file():
        raise FileNotFoundError(f"{path} is not a complete checkpoint (no trainer_state.json).")
    return path


def remove_partial_checkpoints(output_dir: str | Path) -> list[Path]:
    root = checkpoint_root(output_dir)
    partial = [p for p in root.iterdir() if p.name.startswith(TEMPORARY_PREFIX)] if root.is_dir() else []
    for path in partial:
        shutil.rmtree(path, ignore_errors=True)
    return partial


def write_json(path: Path, value) -> None:
    """Write then fsync, so the rename that publishes a checkpoint never exposes a half-written file."""
    with open(path, "w") as handle:
        json.dump(value, handle, indent=1)
        handle.flush()
        os.fsync(handle.fileno())


def save_checkpoint(accelerator, output_dir: str | Path, step: int, trainer_state: dict, data_state: dict,
                    save_total_limit: int, before_publish=None) -> Path:
    """Every process calls this. Returns the published folder.

    `before_publish(folder)` runs on the main process after everything is written and before the rename (e.g. to
    add an encoder folder).
    """
    root = checkpoint_root(output_dir)
    final = root / f"{PREFIX}{step:08d}"
    temporary = root / f"{TEMPORARY_PREFIX}{PREFIX}{step:08d}"
    if accelerator.is_main_process:
        shutil.rmtree(temporary, ignore_errors=True)
        temporary.mkdir(parents=True)
    accelerator.wait_for_everyone()
    write_state(accelerator, temporary)
    write_json(temporary / f"data_state_rank{accelerator.process_index}.json", data_state)
    accelerator.wait_for_everyone()
    if accelerator.is_main_process:
        if before_publish is not None:
            before_publish(temporary)
        share_safetensors(temporary)
        existing = list_checkpoints(output_dir)
        sequence = 1 + max((_save_sequence(p) for p in existing), default=0)
        write_json(temporary / "trainer_state.json", {**trainer_state, "save_sequence": sequence})
        if final.exists():
            shutil.rmtree(final)
        os.replace(temporary, final)
        for old in list_checkpoints(output_dir)[: -max(1, save_total_limit)]:
            shutil.rmtree(old, ignore_errors=True)
        logger.info(f"Saved checkpoint {final} (step {step}).")
    accelerator.wait_for_everyone()
    return final


def write_state(accelerator, folder: Path) -> None:
    """Accelerate's part of a checkpoint (a module-level function so that tests can interrupt a save here)."""
    with _quiet_accelerate():
        accelerator.save_state(str(folder), safe_serialization=True)


def read_trainer_state(folder: Path) -> dict:
    """`trainer_state.json` alone, to check a resume before any state is loaded."""
    return json.loads((Path(folder) / "trainer_state.json").read_text())


def load_checkpoint(accelerator, folder: Path) -> tuple[dict, dict]:
    """Restore Accelerate's state; returns `trainer_state.json` and this process's data state."""
    with _quiet_accelerate():
        accelerator.load_state(str(folder))
    trainer_state = read_trainer_state(folder)
    data_file = folder / f"data_state_rank{accelerator.process_index}.json"
    if not data_file.is_file():
        raise ValueError(
            f"{folder} was written by {trainer_state.get('num_processes')} process(es) and has no data state for "
            f"process {accelerator.process_index}: resume with the same number of processes."
        )
    return trainer_state, json.loads(data_file.read_text())
