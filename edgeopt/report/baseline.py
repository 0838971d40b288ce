"""A linear baseline: multinomial logistic regression on the same normalised features and split."""

from __future__ import annotations

import math


from edgeopt.data.dataset import Dataset
from edgeopt.data.normalize import Normalizer
from edgeopt.train.metrics import Metrics, classification_metrics


def logistic_regression(dataset: Dataset, normalizer: Normalizer, *, positive_class: int = 1, l2: float = 1e-3,
                        iterations: int = 200, seed: int = 0) -> tuple[object, Metrics, Metrics | None]:
    """(the fitted torch model, validation metrics, test metrics or None), fitted by L-BFGS on the full train split."""
    import torch
    from torch import nn

    def flat(x):
        return torch.from_numpy(normalizer.apply(x).reshape(len(x), -1))

    x_train, y_train = flat(dataset.x_train), torch.from_numpy(dataset.y_train)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        model = nn.Sequential(nn.Flatten(), nn.Linear(x_train.shape[1], dataset.num_classes))
    optimizer = torch.optim.LBFGS(model.parameters(), lr=1.0, max_iter=iterations, line_search_fn="strong_wolfe")
    weight = model[1].weight

    def closure():
        optimizer.zero_grad()
        loss = nn.functional.cross_entropy(model(x_train), y_train) + l2 * weight.pow(2).sum()
        loss.backward()
        return loss

    optimizer.step(closure)

    def metrics(x, y):
        with torch.no_grad():
            logits = model(flat(x))
            loss = float(nn.functional.cross_entropy(logits, torch.from_numpy(y)))
            probs = torch.softmax(logits, 1).numpy()
        if not math.isfinite(loss):
            loss = float("nan")
        return classification_metrics(y, probs, positive_class=positive_class, loss=loss)

    test = metrics(dataset.x_test, dataset.y_test) if dataset.x_test is not None else None
    return model.eval(), metrics(dataset.x_val, dataset.y_val), test


__all__ = ["logistic_regression"]
