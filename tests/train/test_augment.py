"""Augmented training batches: padding stays padding, draws follow the trial's seed, evaluation is never augmented."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from edgeopt.data.examples import example_dataset
from edgeopt.data.normalize import Normalizer
from edgeopt.space.families import AUGMENTATIONS
from edgeopt.space.spec import load_space
from edgeopt.train.augment import augment
from edgeopt.train.loop import DeviceData, TrialSpec, evaluate, load_trained, train_trial

torch = pytest.importorskip("torch")


def _batch() -> "torch.Tensor":
    torch.manual_seed(0)
    x = torch.randn(16, 3, 50)
    x[:8, :, 30:] = 0.0  # half the batch ends after 30 steps: normalised padding is 0
    return x


@pytest.mark.parametrize("kind", AUGMENTATIONS)
def test_every_augmentation_keeps_shapes_padding_and_follows_the_seed(kind):
    x = _batch()
    torch.manual_seed(7)
    a = augment(x, kind)
    torch.manual_seed(7)
    b = augment(x, kind)
    assert a.x.shape == x.shape and a.x.dtype == x.dtype and torch.equal(a.x, b.x)
    if kind == "none":
        assert a.x is x and a.partner is None
    elif kind == "mixup":
        assert 0.5 <= a.weight <= 1.0 and sorted(a.partner.tolist()) == list(range(16))
    else:
        assert torch.all(a.x[:8, :, 30 + (5 if kind == "shift" else 0):] == 0)  # padding (shift: a tenth of 50)
        assert not torch.equal(a.x, x) and a.partner is None
        if kind in ("jitter", "scale"):
            assert ((a.x - x).abs().max() < 1.0) and torch.all((a.x == 0) == (x == 0))


def test_shift_moves_each_series_along_its_last_axis():
    x = torch.arange(1, 21, dtype=torch.float32).repeat(64, 1, 1)  # (64, 1, 20): no zeros
    torch.manual_seed(1)
    moved = augment(x, "shift").x
    for row in moved[:, 0]:
        kept = row[row != 0]
        assert 18 <= len(kept) <= 20 and torch.all(kept[1:] - kept[:-1] == 1)  # a contiguous run, shifted by <= 2
    assert len({tuple(r.tolist()) for r in moved[:, 0]}) > 1


@pytest.mark.parametrize("kind", ["jitter", "mixup", "shift"])
def test_augmented_trials_are_reproducible_and_their_evaluation_sees_the_data_as_it_is(tmp_path, kind):
    data = example_dataset("reads", n_samples=600)
    normalizer = Normalizer.fit(data.x_train)
    device_data = DeviceData(data, normalizer)
    config = {"blocks": 1, "channels": 4, "channel_growth": 1.0, "kernel_size": 5, "stride": 2, "pooling": "max",
              "separable": False, "activation": "relu", "dropout": 0.0, "lr": 0.01, "weight_decay": 0.0,
              "batch_size": 64, "optimizer": "adam", "epochs": 2, "augment": kind}
    space = load_space("cnn1d").to_json()
    runs = []
    for name in ("a", "b"):
        spec = TrialSpec(0, space, config, data.sample_shape, 2, 3, str(tmp_path / f"{name}.pt"))
        runs.append((spec, train_trial(spec, device_data, 2)))
    (spec, first), (_, second) = runs
    assert np.array_equal(first.probs, second.probs)
    plain = train_trial(dataclasses.replace(spec, config=dict(config, augment="none"),
                                            checkpoint=str(tmp_path / "plain.pt")), device_data, 2)
    assert not np.array_equal(plain.probs, first.probs)  # the augmentation changed training
    again = evaluate(load_trained(spec), device_data.x_eval, device_data.y_eval)
    assert again.accuracy == first.metrics.accuracy and abs(again.loss - first.metrics.loss) < 1e-6
