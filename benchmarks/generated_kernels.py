"""Would a family of generated kernels reach MiniRocket at a device's size? (issue 28, item 2: a measurement before
building it.) MiniRocket's recipe cut to a parameter budget: its 84 fixed kernels of length 9 (weights -1, three of
them 2), exponentially spaced dilations, one bias per feature taken from a quantile of the convolution of a random
training series, the proportion of positive values (PPV) over the series as the feature, then a linear classifier.
Stored: one bias per feature and the linear head ((features + 1) x classes); the kernels are generated.

    .venv/bin/python benchmarks/generated_kernels.py [--data ../shared/datasets/plaid.npz ...] [--budget 4000 16000]

Each series is z-normalised over its own real steps (NaN padding then 0). The head is L2 logistic regression
(scikit-learn, C chosen by 5-fold cross-validation on the training split); accuracy is on the test split. Prints a
markdown table for BENCHMARKS.md.
"""

from __future__ import annotations

import argparse
import itertools
import platform
import time
import warnings
from datetime import date
from pathlib import Path

import numpy as np
import torch

DATASETS = Path(__file__).resolve().parents[2] / "shared" / "datasets"
SERIES = ("basic_motions", "japanese_vowels", "pickup_gesture_z", "trace", "plaid")
KERNELS = torch.tensor([[2.0 if j in combo else -1.0 for j in range(9)]
                        for combo in itertools.combinations(range(9), 3)])  # 84 x 9


def per_series(x: np.ndarray) -> np.ndarray:
    mean = np.nanmean(x, axis=2, keepdims=True)
    std = np.nanstd(x, axis=2, keepdims=True)
    return np.nan_to_num((x - mean) / np.where(std > 1e-8, std, 1.0)).astype(np.float32)


def dilations(length: int, count: int) -> list[int]:
    top = max(1.0, (length - 1) / 8)
    return sorted({int(2 ** e) for e in np.linspace(0, np.log2(top), count)})


def convolve(x: torch.Tensor, dilation: int) -> torch.Tensor:
    """(N, C, L) -> (N, C, 84, L): every channel with every kernel at `dilation`, same-padded."""
    n, c, length = x.shape
    weight = KERNELS.repeat(c, 1).unsqueeze(1)  # (C * 84, 1, 9)
    out = torch.nn.functional.conv1d(x, weight, padding=4 * dilation, dilation=dilation, groups=c)
    return out.view(n, c, 84, length)


class Features:
    """`count` features: (channel, kernel, dilation) triples drawn at random, each with a bias from a quantile of its
    output on a random training series."""

    def __init__(self, x_train: np.ndarray, count: int, seed: int, dilation_count: int = 6):
        rng = np.random.default_rng(seed)
        n, c, length = x_train.shape
        self.dilations = dilations(length, dilation_count)
        triples = [(ch, k, d) for d in range(len(self.dilations)) for ch in range(c) for k in range(84)]
        chosen = rng.choice(len(triples), size=min(count, len(triples)), replace=False)
        self.triples = [triples[i] for i in sorted(chosen)]
        quantiles = (np.arange(1, len(self.triples) + 1) * 0.6180339887) % 1  # MiniRocket's low-discrepancy set
        example = torch.from_numpy(x_train[rng.integers(0, n, size=len(self.triples))])
        self.bias = np.empty(len(self.triples), np.float32)
        for i, (ch, k, d) in enumerate(self.triples):
            out = convolve(example[i:i + 1], self.dilations[d])[0, ch, k]
            self.bias[i] = float(torch.quantile(out, float(quantiles[i])))

    def __call__(self, x: np.ndarray) -> np.ndarray:
        x = torch.from_numpy(x)
        out = np.empty((len(x), len(self.triples)), np.float32)
        by_dilation: dict[int, list[int]] = {}
        for i, (_, _, d) in enumerate(self.triples):
            by_dilation.setdefault(d, []).append(i)
        for d, indices in by_dilation.items():
            for first in range(0, len(x), 128):
                conv = convolve(x[first:first + 128], self.dilations[d])
                for i in indices:
                    ch, k, _ = self.triples[i]
                    out[first:first + 128, i] = (conv[:, ch, k] > float(self.bias[i])).float().mean(1).numpy()
        return out


def run(path: Path, budget: int, seed: int) -> dict:
    from sklearn.linear_model import LogisticRegressionCV
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    data = np.load(path)
    x_train, x_test = per_series(data["x_train"]), per_series(data["x_test"])
    y_train, y_test = data["y_train"], data["y_test"]
    classes = int(max(y_train.max(), y_test.max()) + 1)
    count = (budget - classes) // (classes + 2)  # a bias a feature, a head weight per class, and the scaler's scale
    start = time.perf_counter()
    features = Features(x_train, count, seed)
    a, b = features(x_train), features(x_test)
    head = make_pipeline(StandardScaler(), LogisticRegressionCV(Cs=6, cv=min(5, np.bincount(y_train).min()),
                                                                max_iter=2000))
    head.fit(a, y_train)
    stored = len(features.triples) * (classes + 2) + classes
    return {"data": path.stem, "budget": budget, "features": len(features.triples), "stored": stored,
            "accuracy": float((head.predict(b) == y_test).mean()), "seconds": time.perf_counter() - start}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data", type=Path, nargs="+", default=[DATASETS / f"{name}.npz" for name in SERIES])
    parser.add_argument("--budget", type=int, nargs="+", default=[4000, 16000])
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    args = parser.parse_args()
    warnings.simplefilter("ignore", FutureWarning)  # scikit-learn's notice about LogisticRegressionCV's attributes
    torch.set_num_threads(1)
    print(f"# {date.today()}, {platform.node()} ({platform.machine()}), seeds {args.seeds}, 1 thread")
    print("| data | parameter budget | features | stored numbers | test accuracy (median) | per seed | seconds |")
    print("|---|---|---|---|---|---|---|")
    for path in args.data:
        for budget in args.budget:
            rows = [run(path, budget, seed) for seed in args.seeds]
            scores = sorted(r["accuracy"] for r in rows)
            each = ", ".join(f"{r['accuracy']:.3f}" for r in rows)
            print(f"| {path.stem} | {budget:,} | {rows[0]['features']} | {rows[0]['stored']:,} | "
                  f"{scores[len(scores) // 2]:.3f} | {each} | "
                  f"{sum(r['seconds'] for r in rows):.0f} |", flush=True)


if __name__ == "__main__":
    main()
