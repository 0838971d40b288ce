"""Why a small 1-D CNN learns little on long, varying-length series (PLAID: 1 channel, length 100-1,344, 11 classes;
issue 28, item 0). One fixed ~4k-parameter 1-D CNN written by hand, trained the same way in every variant, with one
thing changed at a time:

- normalisation: per channel over the training set (edgeopt's default today) or per series (each series z-normalised
  over its own real steps, so a 0.1 A appliance and a 20 A one present the same shape);
- global pooling: average over every step, zero padding included (the old cnn1d head); average and max over every
  step (what a model without a length input can do); or average and max over each series' real steps only (masked);
- training length: the steps a default search gives a trial on this data, or eight times as many.

    .venv/bin/python benchmarks/long_series.py [--data ../shared/datasets/plaid.npz] [--seeds 0 1]

Accuracy on the dataset's test split (this is a diagnosis, not a model choice: nothing is selected on it), median over
the seeds, one CPU thread. Prints a markdown table for BENCHMARKS.md.
"""

from __future__ import annotations

import argparse
import platform
import statistics
import time
from datetime import date
from pathlib import Path

import numpy as np
import torch
from torch import nn

DATA = Path(__file__).resolve().parents[2] / "shared" / "datasets" / "plaid.npz"


def lengths(x: np.ndarray) -> np.ndarray:
    """Each series' real length (trailing NaN is padding in every channel)."""
    real = ~np.isnan(x).all(axis=1)
    return np.where(real.any(axis=1), real.shape[1] - np.argmax(real[:, ::-1], axis=1), 0)


def per_channel(x_train: np.ndarray, x: np.ndarray) -> np.ndarray:
    mean = np.nanmean(x_train, axis=(0, 2), keepdims=True)
    std = np.nanstd(x_train, axis=(0, 2), keepdims=True) + 1e-8
    return np.nan_to_num((x - mean) / std)


def per_series(x: np.ndarray) -> np.ndarray:
    mean = np.nanmean(x, axis=2, keepdims=True)
    std = np.nanstd(x, axis=2, keepdims=True) + 1e-8
    return np.nan_to_num((x - mean) / std)


POOLING = {"avg": "avg over all steps (padding in)", "avgmax": "avg + max over all steps (padding in)",
           "masked": "avg + max over real steps"}


class SmallCNN(nn.Module):
    """Average-pool by 4 (no weights), convolutions of kernel 9, 9 and 5 (16 channels each, max pooling 2 between), a
    global pooling and a linear head: 4,139 parameters for 11 classes with the masked head (3,963 without)."""

    def __init__(self, classes: int, pooling: str, channels: int = 1):
        super().__init__()
        self.pooling = pooling
        self.front = nn.AvgPool1d(4)
        self.body = nn.ModuleList([nn.Conv1d(channels, 16, 9, padding=4), nn.Conv1d(16, 16, 9, padding=4),
                                   nn.Conv1d(16, 16, 5, padding=2)])
        self.head = nn.Linear(16 if pooling == "avg" else 32, classes)

    def forward(self, x: torch.Tensor, length: torch.Tensor) -> torch.Tensor:
        x = self.front(x)
        scale = 4
        for i, conv in enumerate(self.body):
            x = torch.relu(conv(x))
            if i < len(self.body) - 1:
                x = nn.functional.max_pool1d(x, 2)
                scale *= 2
        if self.pooling == "avg":
            return self.head(x.mean(dim=2))
        if self.pooling == "avgmax":
            return self.head(torch.cat([x.mean(dim=2), x.amax(dim=2)], dim=1))
        steps = torch.arange(x.shape[2], device=x.device)
        valid = (steps[None, :] < torch.clamp(length[:, None] // scale, min=1)).unsqueeze(1)
        mean = (x * valid).sum(2) / valid.sum(2)
        peak = x.masked_fill(~valid, float("-inf")).amax(2)
        return self.head(torch.cat([mean, peak], dim=1))


def train(x, y, length, x_test, y_test, length_test, classes: int, pooling: str, steps: int, seed: int) -> float:
    torch.manual_seed(seed)
    model = SmallCNN(classes, pooling, x.shape[1])
    optimizer = torch.optim.Adam(model.parameters(), lr=5e-3, weight_decay=1e-4)
    schedule = torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, steps)
    generator = torch.Generator().manual_seed(seed)
    x, y, length = torch.from_numpy(x), torch.from_numpy(y), torch.from_numpy(length)
    batch = 32
    for _ in range(steps):
        index = torch.randint(len(y), (batch,), generator=generator)
        loss = nn.functional.cross_entropy(model(x[index], length[index]), y[index])
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        schedule.step()
    model.eval()
    with torch.no_grad():
        predicted = model(torch.from_numpy(x_test), torch.from_numpy(length_test)).argmax(1).numpy()
    return float((predicted == y_test).mean())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data", type=Path, default=DATA)
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1])
    parser.add_argument("--steps", type=int, default=250, help="the steps a default search's trial gets here")
    parser.add_argument("--norm", nargs="+", default=["per channel", "per series"],
                        choices=["per channel", "per series"])
    parser.add_argument("--pooling", nargs="+", default=list(POOLING), choices=list(POOLING))
    args = parser.parse_args()
    torch.set_num_threads(1)
    data = np.load(args.data)
    x_train, y_train = data["x_train"].astype(np.float32), data["y_train"].astype(np.int64)
    x_test, y_test = data["x_test"].astype(np.float32), data["y_test"].astype(np.int64)
    classes = int(max(y_train.max(), y_test.max()) + 1)
    l_train, l_test = lengths(x_train).astype(np.int64), lengths(x_test).astype(np.int64)
    params = sum(p.numel() for p in SmallCNN(classes, "masked", x_train.shape[1]).parameters())
    print(f"# {date.today()}, {platform.node()} ({platform.machine()}), {args.data.name}: train {x_train.shape}, "
          f"lengths {l_train.min()}-{l_train.max()} (median {int(np.median(l_train))}), {classes} classes; "
          f"{params:,} parameters (masked head), seeds {args.seeds}, 1 thread")
    print("| normalisation | global pooling | optimizer steps | test accuracy (median) | per seed | seconds |")
    print("|---|---|---|---|---|---|")
    for norm in args.norm:
        if norm == "per channel":
            a, b = per_channel(x_train, x_train), per_channel(x_train, x_test)
        else:
            a, b = per_series(x_train), per_series(x_test)
        for pooling in args.pooling:
            for steps in (args.steps, 8 * args.steps):
                start = time.perf_counter()
                scores = [train(a, y_train, l_train, b, y_test, l_test, classes, pooling, steps, seed)
                          for seed in args.seeds]
                print(f"| {norm} | {POOLING[pooling]} | {steps} | {statistics.median(scores):.3f} | "
                      f"{', '.join(f'{s:.3f}' for s in scores)} | {time.perf_counter() - start:.0f} |", flush=True)


if __name__ == "__main__":
    main()
