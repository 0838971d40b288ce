"""A linear baseline: multinomial logistic regression on the same normalised features, scored as the trials are."""

from __future__ import annotations

import math

import numpy as np

from edgeopt.data.dataset import Dataset
from edgeopt.data.normalize import Normalizer
from edgeopt.train.cv import HOLDOUT, Selection, fold_datasets, pooled
from edgeopt.metrics import Metrics, classification_metrics


def logistic_regression(dataset: Dataset, normalizer: Normalizer, *, positive_class: int = 1, l2: float = 1e-3,
                        iterations: int = 200, seed: int = 0, selection: Selection = HOLDOUT,
                        ) -> tuple[object, Metrics, Metrics | None]:
    """(the fitted torch model, validation metrics, test metrics or None). Holdout: fitted by L-BFGS on the train
    split, scored on validation. Cross-validation: scored on pooled out-of-fold predictions as the trials are, and
    the model returned (and tested) is the refit on train + validation."""
    if selection.method == "holdout":
        model = _fit(dataset.x_train, dataset.y_train, dataset.num_classes, normalizer, l2, iterations, seed)
        val = _metrics(model, normalizer, dataset.x_val, dataset.y_val, positive_class)
    else:
        folds, assignment = fold_datasets(dataset, selection, seed)
        y = pooled(dataset)[1]
        probs = np.zeros((len(y), dataset.num_classes))
        for fold, data in enumerate(folds):
            fitted = _fit(data.x_train, data.y_train, dataset.num_classes, normalizer, l2, iterations, seed)
            probs[assignment == fold] = _probs(fitted, normalizer, data.x_val)[0]
        val = classification_metrics(y, probs, positive_class=positive_class)
        model = _fit(*pooled(dataset), dataset.num_classes, normalizer, l2, iterations, seed)
    test = _metrics(model, normalizer, dataset.x_test, dataset.y_test, positive_class) \
        if dataset.x_test is not None else None
    return model.eval(), val, test


def _flat(normalizer: Normalizer, x: np.ndarray):
    import torch

    return torch.from_numpy(normalizer.apply(x).reshape(len(x), -1))


def _fit(x: np.ndarray, y: np.ndarray, num_classes: int, normalizer: Normalizer, l2: float, iterations: int,
         seed: int):
    import torch
    from torch import nn

    x_train, y_train = _flat(normalizer, x), torch.from_numpy(y)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        model = nn.Sequential(nn.Flatten(), nn.Linear(x_train.shape[1], num_classes))
    optimizer = torch.optim.LBFGS(model.parameters(), lr=1.0, max_iter=iterations, line_search_fn="strong_wolfe")
    weight = model[1].weight

    def closure():
        optimizer.zero_grad()
        loss = nn.functional.cross_entropy(model(x_train), y_train) + l2 * weight.pow(2).sum()
        loss.backward()
        return loss

    optimizer.step(closure)
    return model


def _probs(model, normalizer: Normalizer, x: np.ndarray, y: np.ndarray | None = None) -> tuple[np.ndarray, float]:
    import torch
    from torch import nn

    with torch.no_grad():
        logits = model(_flat(normalizer, x))
        loss = float(nn.functional.cross_entropy(logits, torch.from_numpy(y))) if y is not None else 0.0
        probs = torch.softmax(logits, 1).numpy()
    return probs, loss if math.isfinite(loss) else float("nan")


def _metrics(model, normalizer: Normalizer, x: np.ndarray, y: np.ndarray, positive_class: int) -> Metrics:
    probs, loss = _probs(model, normalizer, x, y)
    return classification_metrics(y, probs, positive_class=positive_class, loss=loss)


__all__ = ["logistic_regression"]
