"""Bundled example datasets, generated deterministically: nothing to download.

- `reads`: keep/discard classification of sequencer reads. Each read is a noisy 256-sample trace with drifting
  baseline and 1-3 bumps; a read is worth keeping (class 1, about 25%) when it holds the double-peak motif (two bumps
  12 samples apart) anywhere. Position-invariant, so a small CNN beats logistic regression on the raw samples.
- `shapes`: 16x16 grey images of four shapes (horizontal bar, vertical bar, square outline, cross) at random
  positions with noise.
"""

from __future__ import annotations

import numpy as np

from edgeopt.data.dataset import Dataset
from edgeopt.data.splits import stratified_split

EXAMPLES = ("reads", "shapes")


def example_for_shape(sample_shape) -> str:
    """The bundled example a model of this sample shape takes: images (channels, height, width) the `shapes`, the
    rest (series, features) the `reads`; None (not known) the `reads`."""
    return "shapes" if sample_shape is not None and len(sample_shape) == 3 else "reads"


def example_dataset(name: str, *, seed: int = 0, n_samples: int | None = None) -> Dataset:
    """A bundled dataset by name ('reads' or 'shapes'), with train / val / test splits."""
    if name == "reads":
        x, y = _reads(n_samples or 4000, seed)
        classes = ("discard", "keep")
    elif name == "shapes":
        x, y = _shapes(n_samples or 2400, seed)
        classes = ("hbar", "vbar", "square", "cross")
    else:
        from edgeopt.data.dataset import DataError

        raise DataError(f"unknown example dataset {name!r}; bundled: {', '.join(EXAMPLES)}")
    rest, test = stratified_split(y, 0.2, seed + 1)
    train, val = stratified_split(y[rest], 0.2, seed + 2)
    train, val = rest[train], rest[val]
    return Dataset(name, x[train], y[train], x[val], y[val], x[test], y[test], len(classes), classes)


def _bump(length: int, centre: float, width: float) -> np.ndarray:
    t = np.arange(length)
    return np.exp(-0.5 * ((t - centre) / width) ** 2)


def _reads(n: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    length = 256
    y = (rng.random(n) < 0.25).astype(np.int64)
    x = np.empty((n, 1, length), np.float32)
    for i in range(n):
        t = np.linspace(0, 1, length)
        signal = 0.3 * np.sin(2 * np.pi * (rng.uniform(0.2, 1.5) * t + rng.random()))  # baseline drift
        for _ in range(rng.integers(1, 4)):  # decoy single bumps
            signal += rng.uniform(0.8, 1.4) * _bump(length, rng.uniform(10, length - 10), rng.uniform(2, 4))
        if y[i]:
            start = rng.uniform(10, length - 30)
            height = rng.uniform(0.8, 1.4)
            signal += height * (_bump(length, start, 2.5) + _bump(length, start + 12, 2.5))
        x[i, 0] = signal + rng.normal(0, 0.35, length)
    return x, y


def _shapes(n: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    size = 16
    y = rng.integers(0, 4, n)
    x = rng.normal(0, 0.3, (n, 1, size, size)).astype(np.float32)
    for i, label in enumerate(y):
        s = rng.integers(5, 9)
        r, c = rng.integers(0, size - s, 2)
        img = x[i, 0]
        if label == 0:
            img[r + s // 2, c:c + s] += 1.0
        elif label == 1:
            img[r:r + s, c + s // 2] += 1.0
        elif label == 2:
            img[r, c:c + s] += 1.0
            img[r + s - 1, c:c + s] += 1.0
            img[r:r + s, c] += 1.0
            img[r:r + s, c + s - 1] += 1.0
        else:
            img[r + s // 2, c:c + s] += 1.0
            img[r:r + s, c + s // 2] += 1.0
    return x, y.astype(np.int64)
