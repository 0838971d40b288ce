"""Where real numbers land on an integer grid: ranges, symmetric weight scales, asymmetric activation scales, and the
wide bias register. PyTorch's simulation (`compression.fakequant`), the QDQ ONNX export and the C export all take their
scales from here."""

from __future__ import annotations

import numpy as np

from edgeopt.profiles.formats import get_format


def bits_range(bits: int) -> tuple[int, int]:
    return -(2 ** (bits - 1)), 2 ** (bits - 1) - 1


def int_range(fmt: str) -> tuple[int, int]:
    return bits_range(get_format(fmt).bits)


def weight_scale(weight, bits: int, per_channel: bool):
    """Symmetric scale(s) so the largest |w| (per output channel, or of the tensor) maps to 2^(bits-1) - 1."""
    import torch

    qmax = 2 ** (bits - 1) - 1
    flat = weight.detach().reshape(weight.shape[0], -1).abs()
    absmax = flat.amax(dim=1) if per_channel else flat.amax().expand(weight.shape[0])
    return (torch.clamp(absmax, min=1e-8) / qmax).to(torch.float32)


def activation_params(low: float, high: float, bits: int) -> tuple[float, int]:
    """Asymmetric per-tensor scale and zero point covering [low, high] (widened to include 0)."""
    qmin, qmax = bits_range(bits)
    low, high = min(low, 0.0), max(high, 0.0)
    scale = max(high - low, 1e-8) / (qmax - qmin)
    zero_point = int(min(qmax, max(qmin, round(qmin - low / scale))))
    return float(np.float32(scale)), zero_point


def bias_scale(bias, input_scale: float, bias_bits: int, w_scale):
    """The accumulator scale (input scale x weight scale), doubled per channel until the bias fits `bias_bits`:
    a narrow bias register is shifted into place, as fixed-point hardware does."""
    import torch

    scale = (w_scale * input_scale).to(torch.float32)
    limit = 2 ** (bias_bits - 1) - 1
    shifts = torch.ceil(torch.log2(torch.clamp(bias.detach().abs() / (scale * limit), min=1.0)))
    return (scale * torch.pow(2.0, shifts)).to(torch.float32)


def weight_integers(weight, bits: int, per_channel: bool):
    """(integer weights as int32, their scales): what the deployed model stores."""
    import torch

    qmax = 2 ** (bits - 1) - 1
    scale = weight_scale(weight, bits, per_channel)
    view = (-1,) + (1,) * (weight.dim() - 1)
    integers = torch.clamp(torch.round(weight.detach() / scale.view(view)), -qmax, qmax).to(torch.int32)
    return integers, scale


def bias_integers(bias, input_scale: float, bias_bits: int, w_scale):
    """(integer biases as int32, their scales), on the grid `bias_scale` gives."""
    import torch

    scale = bias_scale(bias, input_scale, bias_bits, w_scale)
    limit = 2 ** (bias_bits - 1) - 1
    return torch.clamp(torch.round(bias.detach() / scale), -limit, limit).to(torch.int32), scale
