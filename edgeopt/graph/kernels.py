"""The generated kernels of the rocket family (MiniRocket's): length 9, -1 at every tap except three of 2. A device
generates kernel k from its index (the k-th combination of three taps of nine, in lexicographic order) instead of
storing its weights; the C export keeps one 9-bit mask per kernel (`masks`)."""

from __future__ import annotations

import itertools

import numpy as np

TAPS = 9
HIGH_TAPS = 3
COMBOS = tuple(itertools.combinations(range(TAPS), HIGH_TAPS))  # 84: a kernel's index is its place here


def kernel_weights(index: int) -> list[float]:
    """Kernel `index` (0..83): 2 at its three taps, -1 elsewhere (the weights sum to 0)."""
    high = COMBOS[index]
    return [2.0 if j in high else -1.0 for j in range(TAPS)]


def masks() -> list[int]:
    """Each kernel's high taps as bits (bit j: tap j), in index order."""
    return [sum(1 << j for j in combo) for combo in COMBOS]


def generated_kernels(weights: np.ndarray) -> tuple[np.ndarray, tuple[float, float]] | None:
    """Whether conv weights (out, in, [1,] 9) are generated kernels: each output channel reads one input channel with
    one level at three taps and another at six, the same two levels everywhere (int8 127 and -64 once quantized,
    2 and -1 in float). Then (per output channel its input channel and kernel index, as uint8 pairs; (high, low));
    else None: the weights are stored."""
    w = np.asarray(weights)
    if w.ndim == 4 and w.shape[2] == 1:
        w = w[:, :, 0, :]
    if w.ndim != 3 or w.shape[2] != TAPS or w.shape[1] > 256 or w.shape[0] == 0:
        return None
    used = (w != 0).any(axis=2)
    if not np.all(used.sum(axis=1) == 1):
        return None
    channel = used.argmax(axis=1)
    rows = w[np.arange(len(w)), channel]
    high, low = rows.max(), rows.min()
    if not high > 0 > low or not np.all((rows == high) | (rows == low)):
        return None
    index = {combo: i for i, combo in enumerate(COMBOS)}
    kernels = [index.get(tuple(np.flatnonzero(row == high).tolist())) for row in rows]
    if any(k is None for k in kernels):
        return None
    pairs = np.stack([channel, np.array(kernels)], axis=1).astype(np.uint8).reshape(-1)
    return pairs, (high.item(), low.item())


__all__ = ["COMBOS", "HIGH_TAPS", "TAPS", "generated_kernels", "kernel_weights", "masks"]
