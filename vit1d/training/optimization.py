"""AdamW parameter groups and the schedules of pretraining (pure functions of the step, so a resumed run gets the
same values)."""

import math

import torch
from torch import nn

# Parameters without weight decay: biases, LayerNorm weights, the class token and learned position embeddings.
NO_DECAY_NAMES = ("cls_token", "position_embeddings")


def parameter_groups(model: nn.Module, weight_decay: float) -> list[dict]:
    """Two AdamW groups: decayed weight matrices, and everything decay would harm (see `NO_DECAY_NAMES`)."""
    decay, no_decay = [], []
    norm_parameters = {
        id(p) for module in model.modules() if isinstance(module, nn.LayerNorm) for p in module.parameters()
    }
    for name, parameter in model.named_parameters():
        if not parameter.requires_grad:
            continue
        exempt = name.endswith(".bias") or id(parameter) in norm_parameters or name.split(".")[-1] in NO_DECAY_NAMES
        (no_decay if exempt else decay).append(parameter)
    return [
        {"params": decay, "weight_decay": weight_decay, "name": "decay"},
        {"params": no_decay, "weight_decay": 0.0, "name": "no_decay"},
    ]


def cosine(progress: float, start: float, end: float) -> float:
    """Half a cosine from `start` (progress 0) to `end` (progress 1)."""
    progress = min(max(progress, 0.0), 1.0)
    return end + 0.5 * (start - end) * (1.0 + math.cos(math.pi * progress))


def warmup_cosine_factor(step: int, warmup_steps: int, max_steps: int, min_ratio: float = 0.0) -> float:
    """Learning-rate factor: linear warm-up to 1 over `warmup_steps`, then a cosine down to `min_ratio`."""
    if step < warmup_steps:
        return (step + 1) / warmup_steps
    return cosine((step - warmup_steps) / max(1, max_steps - warmup_steps), 1.0, min_ratio)


def warmup_cosine_schedule(optimizer, warmup_steps: int, max_steps: int, min_ratio: float = 0.0):
    return torch.optim.lr_scheduler.LambdaLR(
        optimizer, lambda step: warmup_cosine_factor(step, warmup_steps, max_steps, min_ratio)
    )


def set_weight_decay(optimizer, step: int, max_steps: int, start: float, end: float) -> float:
    """Cosine weight decay from `start` to `end` over the run, on the decayed group only; returns the value."""
    value = cosine(step / max(1, max_steps - 1), start, end)
    for group in optimizer.param_groups:
        if group.get("name") == "decay":
            group["weight_decay"] = value
    return value
