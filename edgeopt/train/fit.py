"""Fine-tuning a model that already exists (compression steps), optionally against a teacher's soft targets.

The search trains trials through `train_trial`; compression fine-tunes arbitrary modules through `fit`. Both draw
batches the same way (a seeded permutation of device tensors) and share the distillation loss below.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from edgeopt.train.losses import distillation_loss
from edgeopt.train.loop import TrainingError


@dataclass(frozen=True)
class FitSettings:
    epochs: int
    lr: float = 1e-3
    weight_decay: float = 0.0
    batch_size: int = 64
    seed: int = 0
    temperature: float = 4.0  # only with teacher logits
    alpha: float = 0.7  # weight of the soft-target term, only with teacher logits


def fit(model, x, y, settings: FitSettings, *, teacher_logits=None,
        after_step: Callable[[], None] | None = None, select: Callable[[object], float] | None = None) -> float:
    """Train `model` in place for `settings.epochs`; returns the mean training loss.

    `after_step` runs after every optimizer step (unstructured pruning re-applies its masks there). With `select`
    (a validation score, higher is better), the model ends with the weights of its best-scoring epoch, the starting
    weights included: fine-tuning never leaves the validation metric below where it started.
    """
    import copy

    import torch
    import torch.nn.functional as F

    if settings.epochs <= 0:
        return float("nan")
    best = (select(model), copy.deepcopy(model.state_dict())) if select is not None else None
    optimizer = torch.optim.AdamW(model.parameters(), lr=settings.lr, weight_decay=settings.weight_decay)
    total_steps = settings.epochs * -(-len(y) // settings.batch_size)
    schedule = torch.optim.lr_scheduler.OneCycleLR(optimizer, settings.lr, total_steps=total_steps,
                                                   pct_start=0.15)
    loss_sum, steps = 0.0, 0
    with torch.random.fork_rng(devices=[]):
        for epoch in range(settings.epochs):
            torch.manual_seed(settings.seed * 100_003 + epoch)
            model.train()
            order = torch.randperm(len(y), device=x.device)
            for first in range(0, len(y), settings.batch_size):
                index = order[first:first + settings.batch_size]
                logits = model(x[index])
                if teacher_logits is None:
                    loss = F.cross_entropy(logits, y[index])
                else:
                    loss = distillation_loss(logits, y[index], teacher_logits[index], settings.temperature,
                                             settings.alpha)
                if not torch.isfinite(loss):
                    raise TrainingError(f"fine-tuning: loss became {loss.item()} at epoch {epoch + 1}")
                optimizer.zero_grad(set_to_none=True)
                loss.backward()
                optimizer.step()
                schedule.step()
                if after_step is not None:
                    after_step()
                loss_sum += loss.item()
                steps += 1
            if best is not None:
                score = select(model)
                if score > best[0]:
                    best = (score, copy.deepcopy(model.state_dict()))
    if best is not None:
        model.load_state_dict(best[1])
    model.eval()
    return loss_sum / steps


def logits_of(model, x, batch: int = 1024):
    """Eval-mode logits of `model` on `x`, without gradients."""
    import torch

    model.eval()
    with torch.no_grad():
        return torch.cat([model(x[i:i + batch]) for i in range(0, len(x), batch)])
