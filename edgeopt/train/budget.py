"""How long trials train, whatever the dataset's size.

A space's epochs (rungs included) are counted in passes over the training split. On a few dozen samples nine passes
are a handful of optimizer steps and every model stays at chance, so two rules fit the budget to the data:
- no batch is larger than `max_batch_share` of the training split (default a quarter, at least 4 samples), so an
  epoch is at least a few steps;
- every epoch of the space is stretched by a whole factor (`epoch_scale`) until a trial trained to the full budget at
  the space's typical (median) batch size takes at least `min_steps` optimizer steps (default 250).
On big data both rules are idle: the bundled example (2,560 training samples, batches 32-128) keeps its budget, and
100k samples never train longer than the space says. Both are set under `training:` in the space YAML.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass

from edgeopt.space.spec import SearchSpace

MIN_STEPS = 250
MAX_BATCH_SHARE = 0.25
MIN_BATCH = 4


@dataclass(frozen=True)
class TrainingBudget:
    batch_cap: int | None  # None: batches as sampled
    epoch_scale: int  # passes over the data per epoch of the space's budget
    min_steps: int
    max_batch_share: float

    def batch_size(self, sampled: int) -> int:
        return sampled if self.batch_cap is None else max(1, min(sampled, self.batch_cap))

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict) -> TrainingBudget:
        return cls(data["batch_cap"], int(data["epoch_scale"]), int(data["min_steps"]), float(data["max_batch_share"]))


LEGACY_BUDGET = TrainingBudget(None, 1, 0, 1.0)  # searches stored before these rules trained as sampled


def plan_budget(n_train: int, batch_sizes: tuple[int, ...], max_epochs: int, *, min_steps: int = MIN_STEPS,
                max_batch_share: float = MAX_BATCH_SHARE) -> TrainingBudget:
    """The budget rules applied to a training split of `n_train` samples and the space's batch-size choices."""
    cap = max(MIN_BATCH, int(n_train * max_batch_share))
    capped = sorted(min(b, cap) for b in batch_sizes)
    typical = capped[(len(capped) - 1) // 2]
    steps = max_epochs * math.ceil(n_train / typical)
    scale = max(1, math.ceil(min_steps / steps))
    return TrainingBudget(cap if cap < max(batch_sizes) else None, scale, min_steps, max_batch_share)


def space_budget(space: SearchSpace, n_train: int) -> TrainingBudget:
    """The budget rules of `space` (its batch sizes, epochs and `training:` rules) for `n_train` training samples."""
    return plan_budget(n_train, space.batch_sizes, space.max_epochs, **space.budget_rules)


__all__ = ["LEGACY_BUDGET", "TrainingBudget", "plan_budget", "space_budget"]
