"""Integer arithmetic simulated in float, on the grid `edgeopt.intgrid.grid` defines (as the exports use it).

A `QuantPlan` says, per weighted layer (by module name), which format its weights and input activations take and the
activation range; weight scales are always recomputed from the weights by `weight_scale` (symmetric, per channel or
per tensor as the profile stores them), so quantization-aware training and export can never disagree.
"""

from __future__ import annotations

import types
from dataclasses import dataclass, replace

from edgeopt.intgrid.grid import activation_params, bias_scale, bits_range, int_range, weight_scale
from edgeopt.profiles.formats import get_format
from edgeopt.profiles.schema import Analog

WEIGHTED_TYPES = ("Conv1d", "Conv2d", "Linear")


@dataclass(frozen=True)
class LayerQuant:
    name: str  # module name in the (batchnorm-folded) model
    weight_format: str  # int8, int4, int16, analog8, or a float format (kept as is)
    per_channel: bool
    act_format: str | None = None  # None: the input stays float
    act_scale: float = 1.0
    act_zero_point: int = 0
    bias_bits: int = 32
    out_low: float = 0.0  # output range seen in calibration, for analog ADC simulation
    out_high: float = 0.0

    @property
    def weight_bits(self) -> int | None:
        fmt = get_format(self.weight_format)
        return fmt.bits if fmt.integer else None


@dataclass(frozen=True)
class QuantPlan:
    layers: tuple[LayerQuant, ...]

    def by_name(self) -> dict[str, LayerQuant]:
        return {layer.name: layer for layer in self.layers}

    def with_layer(self, name: str, **changes) -> QuantPlan:
        return QuantPlan(tuple(replace(q, **changes) if q.name == name else q for q in self.layers))

    def formats(self) -> dict[str, str]:
        return {q.name: q.weight_format for q in self.layers}


def fake_weight(weight, bits: int, per_channel: bool):
    """Weights rounded to the integer grid; gradients pass straight through (STE)."""
    import torch

    qmax = 2 ** (bits - 1) - 1
    scale = weight_scale(weight, bits, per_channel)
    zero = torch.zeros_like(scale, dtype=torch.int32)
    return torch.fake_quantize_per_channel_affine(weight, scale, zero, 0, -qmax, qmax)


def fake_activation(x, q: LayerQuant):
    import torch

    qmin, qmax = int_range(q.act_format)
    return torch.fake_quantize_per_tensor_affine(x, q.act_scale, q.act_zero_point, qmin, qmax)


def quantized_bias(bias, q: LayerQuant, w_scale):
    """Bias on its integer grid (see `bias_scale`); gradients pass straight through."""
    import torch

    if bias is None or q.act_format is None:
        return bias
    scale = bias_scale(bias, q.act_scale, q.bias_bits, w_scale)
    limit = 2 ** (q.bias_bits - 1) - 1
    return torch.clamp(torch.round(bias.detach() / scale), -limit, limit) * scale + (bias - bias.detach())


def _forward(module, q: LayerQuant, noise: Analog | None, x):
    import torch
    import torch.nn.functional as F

    if q.act_format is not None:
        x = fake_activation(x, q)
        if noise is not None and noise.dac_bits:
            qmin, qmax = int_range(q.act_format)
            low, high = (qmin - q.act_zero_point) * q.act_scale, (qmax - q.act_zero_point) * q.act_scale
            scale, zero = activation_params(low, high, noise.dac_bits)
            x = torch.fake_quantize_per_tensor_affine(x, scale, zero, *bits_range(noise.dac_bits))
    weight, bias = module.weight, module.bias
    bits = q.weight_bits
    if bits is not None:
        w_scale = weight_scale(weight, bits, q.per_channel)
        weight = fake_weight(weight, bits, q.per_channel)
        bias = quantized_bias(bias, q, w_scale)
        if noise is not None and noise.weight_noise > 0:
            view = (-1,) + (1,) * (weight.dim() - 1)
            weight = weight + torch.randn_like(weight) * (w_scale * (2 ** (bits - 1) - 1)).view(view) \
                * noise.weight_noise
    if isinstance(module, torch.nn.Linear):
        out = F.linear(x, weight, bias)
    else:
        out = module._conv_forward(x, weight, bias)
    if noise is not None and noise.adc_bits and q.out_high > q.out_low:
        scale, zero = activation_params(q.out_low, q.out_high, noise.adc_bits)
        qmin, qmax = bits_range(noise.adc_bits)
        out = torch.fake_quantize_per_tensor_affine(out, scale, zero, qmin, qmax)
    return out


def attach(model, plan: QuantPlan, noise: Analog | None = None):
    """Make `model` (in place) compute as `plan` says; `detach` restores plain float forwards."""
    modules = dict(model.named_modules())
    for q in plan.layers:
        module = modules[q.name]
        module.forward = types.MethodType(lambda self, x, q=q: _forward(self, q, noise, x), module)
    return model


def detach(model):
    for module in model.modules():
        module.__dict__.pop("forward", None)
    return model


def weighted_layers(model) -> list[str]:
    """Names of the modules a plan can quantize, in module order."""
    return [name for name, m in model.named_modules() if type(m).__name__ in WEIGHTED_TYPES and name]


def fold_batchnorm(model):
    """An eval-mode copy with each batchnorm folded into the convolution before it (as the deployed model has it)."""
    import copy

    from torch.fx.experimental.optimization import fuse

    from edgeopt.errors import ModelError

    model = copy.deepcopy(model).eval()
    if not any("BatchNorm" in type(m).__name__ for m in model.modules()):
        return model
    try:
        return fuse(model)
    except Exception as exc:  # untraceable user code: say so instead of quantizing the wrong weights
        raise ModelError(f"cannot fold batchnorm into the layers before it: torch.fx could not trace "
                         f"{type(model).__name__} ({type(exc).__name__}: {exc})") from None
