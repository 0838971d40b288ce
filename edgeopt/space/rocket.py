"""The `rocket` family: MiniRocket's features at a device's size. Convolution kernels are generated, not stored: the 84
kernels of length 9 whose weights are -1 except three taps of 2, at exponentially spaced dilations, each feature one
(channel, kernel, dilation) triple with a threshold fitted from training data (a quantile of its output on a training
series, as MiniRocket does). A feature is the proportion of positions where the convolution passes its threshold (PPV);
only the linear head on the features is trained.

Stored on a device: per feature its threshold and one index word (channel, kernel), and the head. Computed: per feature
9 multiply-adds and a compare per position (the 2s and -1s are adds). In torch each dilation is a Conv1d whose weight
is a buffer marked `generated_kernels` (the cost model counts it as generated) and whose bias is minus the threshold, so
the network exports as Conv, Greater, ReduceMean, Concat and Gemm, which the C export runs (docs/export.md)."""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np

from edgeopt.graph.kernels import COMBOS, TAPS, kernel_weights

GOLDEN = 0.6180339887498949  # MiniRocket's low-discrepancy quantiles: frac(i * golden ratio)


def dilations(length: int, levels: int) -> tuple[int, ...]:
    """Up to `levels` dilations, exponentially spaced from 1 to the one whose kernel spans the series."""
    top = max(1.0, (length - 1) / (TAPS - 1))
    return tuple(sorted({int(2 ** e) for e in np.linspace(0.0, np.log2(top), max(1, levels))}))


def triples(channels: int, length: int, levels: int) -> int:
    """How many distinct (channel, kernel, dilation) features samples of this shape have."""
    return channels * len(COMBOS) * len(dilations(length, levels))


def check(config: Mapping, sample_shape: tuple[int, ...]) -> str | None:
    channels = sample_shape[0] if len(sample_shape) == 2 else 1
    available = triples(channels, sample_shape[-1], int(config["dilations"]))
    if int(config["features"]) > available:
        return (f"more features than distinct (channel, kernel, dilation) triples ({int(config['features'])} > "
                f"{available} at length {sample_shape[-1]})")
    return None


__all__ = ["COMBOS", "GOLDEN", "TAPS", "check", "dilations", "kernel_weights", "triples"]
