"""distill() and the distillation loss."""

from __future__ import annotations

import pytest

torch = pytest.importorskip("torch")

from edgeopt.compression import CompressError, DistillConfig, distill  # noqa: E402
from edgeopt.train.losses import distillation_loss  # noqa: E402


def test_loss_is_cross_entropy_at_alpha_zero_and_zero_kl_for_the_teacher_itself():
    logits = torch.randn(8, 3)
    labels = torch.randint(0, 3, (8,))
    ce = torch.nn.functional.cross_entropy(logits, labels)
    assert torch.allclose(distillation_loss(logits, labels, torch.randn(8, 3), 4.0, 0.0), ce)
    assert float(distillation_loss(logits, labels, logits, 4.0, 1.0)) == pytest.approx(0.0, abs=1e-6)


def test_student_learns_the_teacher(trained, make_ctx):
    import numpy as np

    from edgeopt.space.spec import load_space

    ctx = make_ctx(teacher=trained.module)
    space = load_space("cnn1d")
    config = {**space.sample(np.random.default_rng(0)), "blocks": 2, "channels": 6, "kernel_size": 9, "stride": 2,
              "separable": False, "dropout": 0.0, "pooling": "max", "activation": "relu", "channel_growth": 1.0,
              "downsample": 1, "dilation": 1, "global_pool": "avg", "normalization": "channel", "augment": "none"}
    student = space.build(config, ctx.sample_shape, 2, seed=1)

    def agreement(model):
        with torch.no_grad():
            return float((model(ctx.data.x_eval).argmax(1) == trained.module(ctx.data.x_eval).argmax(1)).float()
                         .mean())

    taught = distill(student, trained.module, DistillConfig(epochs=10, lr=0.01), ctx)
    assert agreement(taught) > max(agreement(student), 0.85)
    assert ctx.score(taught) > ctx.score(student)


def test_teacher_with_other_classes_is_refused(trained, make_ctx):
    teacher = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(256, 3))
    with pytest.raises(CompressError, match="teacher predicts 3 classes, the student 2"):
        distill(trained.module, teacher, DistillConfig(epochs=1), make_ctx())


@pytest.mark.parametrize("options", [{"temperature": 0}, {"alpha": 1.5}, {"epochs": 0}])
def test_bad_distill_configs(options):
    with pytest.raises(CompressError):
        DistillConfig(**options)


def test_fine_tuning_ends_at_its_best_validation_epoch(trained, make_ctx):
    import copy

    from edgeopt.train.fit import FitSettings, fit

    ctx = make_ctx()
    model = copy.deepcopy(trained.module)
    start = ctx.score(model)
    scores = []

    def score(m):
        scores.append(ctx.score(m))
        return scores[-1]

    # a learning rate this large wrecks the weights; the selection must bring back the best epoch (or the start)
    fit(model, ctx.data.x_train, ctx.data.y_train, FitSettings(3, lr=5.0), select=score)
    assert len(scores) == 4 and scores[0] == start
    assert ctx.score(model) == max(scores) >= start
