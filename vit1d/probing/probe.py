"""The linear probe: one `nn.Linear` on frozen features, trained with AdamW for a fixed number of steps, keeping the
step with the best validation score (early stopping), with fixed seeds so that a CPU run repeats exactly.

Defaults are the paper group's probe recipe: lr 1e-3, batch 128. Features are standardised with the training set's
mean and standard deviation (part of the probe, so applied identically at test time).
"""

from collections.abc import Callable
from dataclasses import dataclass

import torch
from torch import nn


@dataclass
class ProbeConfig:
    """How a probe is trained.

    Args:
        objective: "multilabel" (sigmoid + BCE; targets may be soft, e.g. widened beat targets) or "multiclass"
            (softmax + cross-entropy on class indices).
        learning_rate / batch_size / weight_decay: AdamW and minibatches.
        max_steps: steps of training (the paper's recipe: 50 epochs x 128 steps; shorter runs suit small data).
        eval_every: steps between validation checks.
        patience: validation checks without improvement before stopping.
        positive_weight: weight of positive targets in the BCE (beat targets are rare), multilabel only.
        seed: seeds the initialisation and the minibatch order.
    """

    objective: str = "multiclass"
    learning_rate: float = 1e-3
    batch_size: int = 128
    weight_decay: float = 0.0
    max_steps: int = 2000
    eval_every: int = 100
    patience: int = 5
    positive_weight: float | None = None
    seed: int = 0

    def __post_init__(self):
        if self.objective not in ("multilabel", "multiclass"):
            raise ValueError(f"objective must be 'multilabel' or 'multiclass', got {self.objective!r}.")


class LinearProbe(nn.Module):
    def __init__(self, mean: torch.Tensor, std: torch.Tensor, num_outputs: int):
        super().__init__()
        self.register_buffer("mean", mean)
        self.register_buffer("std", std)
        self.linear = nn.Linear(mean.numel(), num_outputs)

    def forward(self, features: torch.Tensor) -> torch.Tensor:
        return self.linear((features.float() - self.mean) / self.std)

    @torch.no_grad()
    def predict(self, features: torch.Tensor, batch_size: int = 8192) -> torch.Tensor:
        """Logits of any number of rows, in bounded batches."""
        self.eval()
        return torch.cat([self(chunk) for chunk in features.split(batch_size)]) if len(features) else \
            torch.zeros(0, self.linear.out_features)


@dataclass
class ProbeHistory:
    best_step: int
    best_score: float
    steps_run: int
    validation_scores: list[tuple[int, float]]


def _loss_function(config: ProbeConfig, device) -> nn.Module:
    if config.objective == "multiclass":
        return nn.CrossEntropyLoss()
    weight = None if config.positive_weight is None else torch.tensor(config.positive_weight, device=device)
    return nn.BCEWithLogitsLoss(pos_weight=weight)


def train_probe(
    train_features: torch.Tensor,
    train_targets: torch.Tensor,
    num_outputs: int,
    config: ProbeConfig,
    validation_score: Callable[[LinearProbe], float] | None = None,
) -> tuple[LinearProbe, ProbeHistory]:
    """Train a linear probe on `(N, D)` features.

    Args:
        train_targets: `(N,)` class indices (multiclass) or `(N, num_outputs)` targets in [0, 1] (multilabel).
        validation_score: the score to maximise (e.g. accuracy or mAP on the validation split) given the probe;
            without it the probe trained for `max_steps` is returned.
    """
    if len(train_features) == 0:
        raise ValueError("No training examples for the probe.")
    generator = torch.Generator().manual_seed(config.seed)
    torch.manual_seed(config.seed)
    features = train_features.float()
    mean, std = features.mean(0), features.std(0, unbiased=False).clamp_min(1e-6)
    probe = LinearProbe(mean, std, num_outputs)
    optimizer = torch.optim.AdamW(probe.parameters(), lr=config.learning_rate, weight_decay=config.weight_decay)
    loss_function = _loss_function(config, features.device)
    targets = train_targets.long() if config.objective == "multiclass" else train_targets.float()

    best_state, best_score, best_step, scores, bad_checks = None, -float("inf"), 0, [], 0
    order, cursor, step = torch.randperm(len(features), generator=generator), 0, 0
    for step in range(1, config.max_steps + 1):
        if cursor + config.batch_size > len(order) and cursor > 0:
            order, cursor = torch.randperm(len(features), generator=generator), 0
        index = order[cursor: cursor + config.batch_size]
        cursor += config.batch_size
        probe.train()
        loss = loss_function(probe(features[index]), targets[index])
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        if validation_score is not None and (step % config.eval_every == 0 or step == config.max_steps):
            score = float(validation_score(probe))
            scores.append((step, score))
            if score > best_score:
                best_score, best_step, bad_checks = score, step, 0
                best_state = {k: v.clone() for k, v in probe.state_dict().items()}
            else:
                bad_checks += 1
                if bad_checks >= config.patience:
                    break
    if best_state is not None:
        probe.load_state_dict(best_state)
    else:
        best_step, best_score = step, float("nan")
    return probe.eval(), ProbeHistory(best_step, best_score, step, scores)
