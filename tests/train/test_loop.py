import numpy as np
import pytest
import torch
from hypothesis import given
from hypothesis import strategies as st

from edgeopt.data import Normalizer, example_dataset
from edgeopt.space import load_space
from edgeopt.train.loop import (
    DeviceData,
    TrainingError,
    TrialSpec,
    evaluate,
    learning_rate,
    load_trained,
    train_trial,
)

CONFIG = {"blocks": 1, "channels": 4, "channel_growth": 1.0, "kernel_size": 5, "stride": 2, "pooling": "max",
          "separable": False, "activation": "relu", "dropout": 0.1, "lr": 0.01, "weight_decay": 1e-5,
          "batch_size": 64, "optimizer": "adam", "epochs": 3, "lr_schedule": "cosine"}


@pytest.fixture(scope="module")
def data():
    dataset = example_dataset("reads", n_samples=600)
    return dataset, DeviceData(dataset, Normalizer.fit(dataset.x_train))


def spec(tmp_path, dataset, config=CONFIG, name="ckpt.pt"):
    return TrialSpec(0, load_space("cnn1d").to_json(), config, dataset.sample_shape, dataset.num_classes, 7,
                     str(tmp_path / name), normalizer=Normalizer.fit(dataset.x_train).to_dict())


def test_resumed_training_equals_uninterrupted_training(tmp_path, data):
    dataset, device_data = data
    straight = spec(tmp_path, dataset, name="straight.pt")
    result = train_trial(straight, device_data, 3)
    resumed = spec(tmp_path, dataset, name="resumed.pt")
    train_trial(resumed, device_data, 1)
    again = train_trial(resumed, device_data, 3)
    assert result.epochs == again.epochs == 3
    for a, b in zip(load_trained(straight).state_dict().values(), load_trained(resumed).state_dict().values()):
        assert torch.equal(a, b)
    assert result.metrics == again.metrics
    checkpoint = torch.load(straight.checkpoint, weights_only=True)
    assert checkpoint["epoch"] == 3
    assert checkpoint["trial"]["config"] == CONFIG and checkpoint["trial"]["sample_shape"] == [1, 256]
    assert len(checkpoint["trial"]["normalizer"]["mean"]) == 1  # the model can be evaluated without the store


@given(st.floats(1e-5, 1.0), st.integers(1, 10_000), st.data())
def test_cosine_schedule_decays_from_the_rate_to_zero_over_the_budget(lr, total, draw):
    config = {"lr": lr, "lr_schedule": "cosine"}
    step = draw.draw(st.integers(0, total - 1))
    assert learning_rate(config, 0, total) == pytest.approx(lr)
    assert learning_rate(config, total, total) == pytest.approx(0.0, abs=1e-12)
    assert 0.0 <= learning_rate(config, step + 1, total) <= learning_rate(config, step, total) <= lr
    # Without a schedule (and in configs stored before there was one) the rate stays put.
    assert learning_rate({"lr": lr, "lr_schedule": "constant"}, step, total) == lr
    assert learning_rate({"lr": lr}, step, total) == lr


def test_training_to_a_budget_already_reached_only_evaluates(tmp_path, data):
    dataset, device_data = data
    s = spec(tmp_path, dataset)
    first = train_trial(s, device_data, 2)
    again = train_trial(s, device_data, 2)
    assert again.metrics == first.metrics and np.isnan(again.train_loss)


def test_nan_loss_is_a_training_error(tmp_path, data):
    dataset, device_data = data
    wild = {**CONFIG, "optimizer": "sgd", "lr": 1e12}
    with pytest.raises(TrainingError, match="loss became"):
        train_trial(spec(tmp_path, dataset, wild), device_data, 3)


def test_distillation_follows_the_teacher_and_alpha_zero_is_plain_training(tmp_path):
    from dataclasses import replace

    dataset = example_dataset("reads", n_samples=600)
    plain_data = DeviceData(dataset, Normalizer.fit(dataset.x_train))
    taught_data = DeviceData(dataset, Normalizer.fit(dataset.x_train))
    # A teacher that is always wrong: a student trained on its soft targets alone must learn the inverted labels.
    taught_data.teacher_logits = torch.nn.functional.one_hot(1 - taught_data.y_train, 2).float() * 6
    plain = spec(tmp_path, dataset, name="plain.pt")
    train_trial(plain, plain_data, 2)
    mixed = replace(spec(tmp_path, dataset, name="alpha0.pt"), distill=(4.0, 0.0))
    train_trial(mixed, taught_data, 2)
    for a, b in zip(load_trained(plain).state_dict().values(), load_trained(mixed).state_dict().values()):
        assert torch.equal(a, b)
    taught = replace(spec(tmp_path, dataset, name="taught.pt"), distill=(1.0, 1.0))
    train_trial(taught, taught_data, 3)
    with torch.no_grad():
        agree = (load_trained(taught)(taught_data.x_train).argmax(1) == taught_data.teacher_logits.argmax(1))
    assert agree.float().mean() > 0.75  # it learned the teacher rather than the labels
    with pytest.raises(TrainingError, match="no teacher logits"):
        train_trial(replace(spec(tmp_path, dataset, name="none.pt"), distill=(4.0, 0.5)), plain_data, 1)


@pytest.fixture(scope="module")
def gpu_data():
    dataset = example_dataset("reads", n_samples=600)
    return dataset, DeviceData(dataset, Normalizer.fit(dataset.x_train), "cuda")


@pytest.mark.gpu
def test_a_trial_trains_and_resumes_on_the_gpu_and_loads_on_the_cpu(tmp_path, gpu_data):
    dataset, on_gpu = gpu_data
    assert on_gpu.x_train.is_cuda and on_gpu.y_eval.is_cuda  # moved once, sliced per batch
    straight = spec(tmp_path, dataset, name="straight.pt")
    result = train_trial(straight, on_gpu, 3)
    resumed = spec(tmp_path, dataset, name="resumed.pt")
    train_trial(resumed, on_gpu, 1)
    again = train_trial(resumed, on_gpu, 3)
    assert result.epochs == again.epochs == 3 and np.isfinite(again.train_loss)
    # cuDNN may sum in another order between runs, so equal up to rounding rather than bit for bit.
    for a, b in zip(load_trained(straight).state_dict().values(), load_trained(resumed).state_dict().values()):
        assert a.device.type == "cpu" and torch.allclose(a, b, rtol=1e-3, atol=1e-4)
    assert abs(result.metrics.loss - again.metrics.loss) < 1e-3
    cpu_metrics = evaluate(load_trained(straight), on_gpu.x_eval.cpu(), on_gpu.y_eval.cpu())
    assert abs(cpu_metrics.loss - result.metrics.loss) < 1e-4  # the checkpoint is the model that was evaluated


@pytest.mark.gpu
def test_a_nan_loss_on_the_gpu_is_a_training_error(tmp_path, gpu_data):
    dataset, on_gpu = gpu_data
    wild = {**CONFIG, "optimizer": "sgd", "lr": 1e12}
    with pytest.raises(TrainingError, match="loss became"):
        train_trial(spec(tmp_path, dataset, wild), on_gpu, 3)


def test_balanced_class_weights_raise_the_rare_positive_class_recall(tmp_path, data):
    from edgeopt.train.budget import TrainingBudget
    from edgeopt.train.loop import class_weights

    dataset, device_data = data
    weights = class_weights(device_data.y_train, 2)
    counts = torch.bincount(device_data.y_train, minlength=2).float()
    assert torch.allclose((weights * counts).sum(), torch.tensor(float(len(device_data.y_train))))  # mean weight 1
    assert weights[1] > 1 > weights[0]  # about a quarter of the reads are worth keeping
    budget = TrainingBudget(None, 1, 1, 1.0).to_dict()
    plain = spec(tmp_path, dataset, name="plain.pt")
    plain = TrialSpec(**{**plain.__dict__, "budget": budget})
    balanced = TrialSpec(**{**plain.__dict__, "config": CONFIG | {"class_weight": "balanced"},
                            "checkpoint": str(tmp_path / "balanced.pt")})
    unweighted, weighted = train_trial(plain, device_data, 3), train_trial(balanced, device_data, 3)
    assert weighted.metrics.recall > unweighted.metrics.recall
