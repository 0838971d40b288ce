"""What every compression step needs besides the model: the profile, the data on its device, the metric and a seed."""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property

from edgeopt.profiles.schema import HardwareProfile
from edgeopt.train.loop import DeviceData, evaluate
from edgeopt.metrics import Metrics


@dataclass(frozen=True, eq=False)
class CompressContext:
    """Normalised train/validation tensors, the target profile, and the teacher a distillation step learns from."""

    profile: HardwareProfile
    data: DeviceData
    sample_shape: tuple[int, ...]
    num_classes: int
    metric: str = "f1"
    positive_class: int = 1
    seed: int = 0
    max_drop: float | None = None  # in `metric`, against `reference_score`; None: no limit
    reference_score: float | None = None
    teacher: object | None = None  # nn.Module; the pipeline's input model unless one is given

    @property
    def input_shape(self) -> tuple[int, ...]:
        return (1, *self.sample_shape)

    def metrics(self, model) -> Metrics:
        return evaluate(model, self.data.x_eval, self.data.y_eval, self.positive_class)

    def score(self, model) -> float:
        return self.metrics(model).get(self.metric)

    def within_tolerance(self, score: float) -> bool:
        if self.max_drop is None or self.reference_score is None:
            return True
        return score >= self.reference_score - self.max_drop - 1e-12

    @cached_property
    def teacher_logits(self):
        """The teacher's logits on the training split, computed once and reused by every step that distils."""
        from edgeopt.train.fit import logits_of

        if self.teacher is None:
            return None
        return logits_of(self.teacher, self.data.x_train).detach()
