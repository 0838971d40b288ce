"""distill(student, teacher, DistillConfig(...), ctx): knowledge distillation from soft targets with a temperature."""

from __future__ import annotations

import copy
from dataclasses import dataclass

from edgeopt.compression.context import CompressContext
from edgeopt.compression.quantize import CompressError, check_options as _check
from edgeopt.errors import ModelError
from edgeopt.train.fit import FitSettings, fit, logits_of


@dataclass(frozen=True)
class DistillConfig:
    """Train the student on alpha * T^2 * KL(teacher_T || student_T) + (1 - alpha) * cross-entropy."""

    temperature: float = 4.0
    alpha: float = 0.7
    epochs: int = 10
    lr: float = 2e-3
    weight_decay: float = 0.0
    batch_size: int = 64

    def __post_init__(self):
        _check("distill", self, {"temperature": (1e-3, 1000.0, False), "alpha": (0.0, 1.0, False),
                                 "epochs": (1, 100_000, True), "lr": (1e-9, 10.0, False),
                                 "weight_decay": (0.0, 10.0, False), "batch_size": (1, 1 << 20, True)})
        if self.temperature <= 0:
            raise CompressError(f"distill: temperature must be positive, got {self.temperature}")
        if not 0.0 <= self.alpha <= 1.0:
            raise CompressError(f"distill: alpha must be in [0, 1], got {self.alpha}")
        if self.epochs < 1:
            raise CompressError(f"distill: epochs must be at least 1, got {self.epochs}")


def distill(student, teacher, config: DistillConfig, ctx: CompressContext):
    """A copy of `student` trained against `teacher`'s soft targets on the context's training split, ending at its
    best validation epoch (the student as given included)."""
    teacher_logits = ctx.teacher_logits if teacher is ctx.teacher else None
    if teacher_logits is None:
        teacher_logits = logits_of(teacher, ctx.data.x_train).detach()
    student_out = logits_of(student, ctx.data.x_train[:2])
    if teacher_logits.shape[1] != student_out.shape[1]:
        raise CompressError(f"distill: the teacher predicts {teacher_logits.shape[1]} classes, the student "
                            f"{student_out.shape[1]}; they must match")
    student = copy.deepcopy(student)
    fit(student, ctx.data.x_train, ctx.data.y_train,
        FitSettings(config.epochs, lr=config.lr, weight_decay=config.weight_decay, batch_size=config.batch_size,
                    seed=ctx.seed, temperature=config.temperature, alpha=config.alpha),
        teacher_logits=teacher_logits, select=ctx.score)
    return student.eval()


def renormalized(teacher, student_normalizer, teacher_normalizer):
    """`teacher` fed the student's normalised inputs: undo the student's statistics, apply the teacher's."""
    import torch

    if student_normalizer == teacher_normalizer:
        return teacher
    if student_normalizer.per_series or teacher_normalizer.per_series:
        # a series' own mean and std are gone from its normalised form: no affine map recovers the teacher's input
        raise ModelError(f"the teacher normalises its inputs {teacher_normalizer.kind}, the model "
                         f"{student_normalizer.kind}: distil from a teacher normalised the same way")

    def stats(n, rank):
        shape = (1, -1) + (1,) * (rank - 2)
        return (torch.tensor(n.mean, dtype=torch.float32).view(shape), torch.tensor(n.std, dtype=torch.float32)
                .view(shape))

    class Renormalized(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.teacher = teacher

        def forward(self, x):
            s_mean, s_std = stats(student_normalizer, x.dim())
            t_mean, t_std = stats(teacher_normalizer, x.dim())
            return self.teacher((x * s_std + s_mean - t_mean) / t_std)

    return Renormalized().eval()
