"""Layers the model families build from that torch does not have as one module: each exports to ONNX ops the C
export lowers, and the cost model reads them as the ops they are (a depthwise convolution; two global poolings)."""

from __future__ import annotations

import torch
from torch import nn


def fixed_average(channels: int, factor: int) -> nn.Conv1d:
    """Average pooling by `factor` (stride `factor`) as a depthwise convolution whose weights are all 1 / factor and
    never trained (`requires_grad` off): a downsampling front end that every export runs as the convolution it is,
    and whose `factor` int8 weights per channel the device stores (quantized, 1 / factor is exactly 127 steps). A
    plain Conv1d, not a subclass, so tracing, batchnorm folding and quantization take it as any convolution."""
    conv = nn.Conv1d(channels, channels, factor, factor, 0, groups=channels, bias=False)
    with torch.no_grad():
        conv.weight.fill_(1.0 / factor)
    conv.weight.requires_grad_(False)
    return conv


class GlobalAvgMax(nn.Module):
    """The mean and the max of every channel over all steps: (N, C, L) -> (N, 2C), ordered channel by channel
    (mean 0, max 0, mean 1, ...), so a model with fewer channels has its features first (what a pack of trials of
    several widths relies on). The max keeps a short event that the mean of a long series dilutes."""

    def forward(self, x):
        return torch.cat([x.mean(dim=-1, keepdim=True), x.amax(dim=-1, keepdim=True)], dim=-1).flatten(1)


__all__ = ["GlobalAvgMax", "fixed_average"]
