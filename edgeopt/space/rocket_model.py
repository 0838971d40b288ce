"""The `rocket` family's torch module (see `space.rocket` for what it computes and stores)."""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
import torch
from torch import nn

from edgeopt.space.rocket import COMBOS, GOLDEN, TAPS, dilations, kernel_weights


def _generated_conv(channels: int, chosen: list[tuple[int, int]], dilation: int) -> nn.Conv1d:
    """One dilation's features as a Conv1d: output i reads channel chosen[i][0] with kernel chosen[i][1]. The weight is
    a buffer (generated, never trained or stored); the bias, minus each threshold, is fitted from data."""
    conv = nn.Conv1d(channels, len(chosen), TAPS, padding=dilation * (TAPS // 2), dilation=dilation, bias=True)
    weight = torch.zeros(len(chosen), channels, TAPS)
    for i, (channel, kernel) in enumerate(chosen):
        weight[i, channel] = torch.tensor(kernel_weights(kernel))
    del conv.weight
    conv.register_buffer("weight", weight)
    with torch.no_grad():
        conv.bias.zero_()
    conv.bias.requires_grad_(False)
    conv.generated_kernels = True
    return conv


class Rocket(nn.Module):
    """Generated-kernel features (PPV) and a linear head; `fit_from_data` sets the thresholds before training."""

    def __init__(self, sample_shape: tuple[int, ...], num_classes: int, features: int, levels: int):
        super().__init__()
        channels = sample_shape[0] if len(sample_shape) == 2 else 1
        self.flat = len(sample_shape) == 1
        steps = dilations(sample_shape[-1], levels)
        every = [(d, c, k) for d in range(len(steps)) for c in range(channels) for k in range(len(COMBOS))]
        # evenly over every triple, so each dilation, channel and kernel gets its share (and the same config and shape
        # give the same features; a trial's seed draws the series its thresholds come from)
        pick = sorted({int(i) for i in np.linspace(0, len(every) - 1, min(features, len(every)))})
        groups: dict[int, list[tuple[int, int]]] = {}
        for index in pick:
            d, c, k = every[index]
            groups.setdefault(d, []).append((c, k))
        self.convs = nn.ModuleList([_generated_conv(channels, chosen, steps[d])
                                    for d, chosen in sorted(groups.items())])
        self.head = nn.Linear(len(pick), num_classes)

    def forward(self, x):
        if self.flat:
            x = x.unsqueeze(1)
        return self.head(torch.cat([(conv(x) > 0).to(x.dtype).mean(dim=-1) for conv in self.convs], dim=1))

    @torch.no_grad()
    def fit_from_data(self, x_train) -> None:
        """Each feature's threshold: a quantile (frac(i * golden ratio)) of its convolution on a training series
        drawn at random (torch's generator: the caller seeds it)."""
        if self.flat:
            x_train = x_train.unsqueeze(1)
        feature = 0
        for conv in self.convs:
            draws = torch.randint(len(x_train), (conv.out_channels,))
            series = x_train[draws].reshape(1, -1, x_train.shape[-1])  # feature i's series as channels i*C..(i+1)*C
            own = nn.functional.conv1d(series, conv.weight, None, padding=conv.padding, dilation=conv.dilation,
                                       groups=conv.out_channels)[0]  # (features, length): each on its own series
            quantiles = torch.tensor([((feature + i + 1) * GOLDEN) % 1 for i in range(conv.out_channels)],
                                     dtype=own.dtype)
            conv.bias.copy_(-torch.stack([torch.quantile(row, q) for row, q in zip(own, quantiles)]))
            feature += conv.out_channels


def build(config: Mapping, sample_shape: tuple[int, ...], num_classes: int) -> Rocket:
    return Rocket(tuple(sample_shape), num_classes, int(config["features"]), int(config["dilations"]))


__all__ = ["Rocket", "build"]
