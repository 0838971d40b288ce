"""Cross-validation for small validation splits: stratified folds, pooled out-of-fold metrics, a refit to deploy."""

import numpy as np
import pytest
import torch
from hypothesis import given
from hypothesis import strategies as st

from edgeopt.data import Normalizer
from edgeopt.data.dataset import Dataset
from edgeopt.space import load_space
from edgeopt.train.cv import (
    HOLDOUT,
    FoldedData,
    Selection,
    choose_selection,
    fold_assignment,
    fold_checkpoint,
    train_cv,
)
from edgeopt.train.loop import TrialSpec, load_trained


@given(st.lists(st.integers(0, 3), min_size=4, max_size=200), st.integers(2, 5), st.integers(0, 99))
def test_folds_are_stratified_and_balanced(labels, folds, seed):
    y = np.array(labels)
    assignment = fold_assignment(y, folds, seed)
    assert set(assignment.tolist()) <= set(range(folds))
    for label in np.unique(y):
        per_fold = np.bincount(assignment[y == label], minlength=folds)
        assert per_fold.max() - per_fold.min() <= 1  # each class spread evenly
    sizes = np.bincount(assignment, minlength=folds)
    assert sizes.max() - sizes.min() <= 1
    assert np.array_equal(assignment, fold_assignment(y, folds, seed))


def _dataset(n_train, n_val, classes=2, seed=0):
    rng = np.random.default_rng(seed)
    y = np.arange(n_train + n_val) % classes
    x = (rng.normal(size=(len(y), 1, 32)) + y[:, None, None] * 1.5).astype(np.float32)
    return Dataset("toy", x[:n_train], y[:n_train], x[n_train:], y[n_train:], x[:8], y[:8], classes)


def test_small_validation_splits_choose_cross_validation():
    assert choose_selection(_dataset(400, 100)) == HOLDOUT
    assert choose_selection(_dataset(40, 10)) == Selection("cv", 5)
    assert choose_selection(_dataset(6, 3, classes=3)) == Selection("cv", 3)  # three samples of each class
    assert choose_selection(_dataset(2, 2, classes=4)) == HOLDOUT  # one sample of a class: nothing to fold


def test_train_cv_scores_every_sample_once_and_checkpoints_a_refit(tmp_path):
    torch.set_num_threads(1)
    data = _dataset(40, 10)
    selection = choose_selection(data)
    x_all = np.concatenate([data.x_train, data.x_val])
    normalizer = Normalizer.fit(x_all)
    folded = FoldedData(data, normalizer, selection, seed=3)
    config = {"blocks": 1, "channels": 4, "channel_growth": 1.0, "kernel_size": 3, "stride": 1, "pooling": "avg",
              "separable": False, "activation": "relu", "dropout": 0.0, "lr": 0.02, "weight_decay": 0.0,
              "batch_size": 8, "optimizer": "adam", "epochs": 6}
    spec = TrialSpec(0, load_space("cnn1d").to_json(), config, data.sample_shape, 2, 0, str(tmp_path / "c.pt"))
    result = train_cv(spec, folded, 6)
    assert result.probs.shape == (50, 2) and np.allclose(result.probs.sum(axis=1), 1)
    assert result.metrics.accuracy > 0.8  # the classes are separable
    cv = result.extra["cv"]
    assert cv["folds"] == 5 and 0 <= cv["accuracy_std"] <= 0.5
    assert cv["accuracy_mean"] == pytest.approx(result.metrics.accuracy, abs=0.05)  # equal folds: means agree
    for fold in range(5):  # each fold model resumes from its own checkpoint
        assert (tmp_path / f"c.fold{fold}.pt").is_file()
    refit = load_trained(spec)
    with torch.no_grad():
        predicted = refit(torch.from_numpy(normalizer.apply(x_all))).argmax(1).numpy()
    assert (predicted == folded.y).mean() > 0.8
    again = train_cv(spec, folded, 6)  # already trained to 6: nothing more to do, the same predictions
    assert np.allclose(again.probs, result.probs, atol=1e-6)
    assert fold_checkpoint(str(tmp_path / "c.pt"), 2) == str(tmp_path / "c.fold2.pt")
