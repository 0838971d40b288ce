"""Constructors for Layer records with the MAC and parameter formulas, shared by every front end."""

from __future__ import annotations

import dataclasses
import math

from edgeopt.graph.ir import Layer, WeightMatrix
from edgeopt.graph.ops import ACTIVATIONS, BINARY_ELEMENTWISE, Op

ShapeT = tuple[int, ...] | None


def _numel(shape: ShapeT) -> int:
    return math.prod(shape) if shape is not None else 0


def dense(name: str, inputs: tuple[str, ...], output: str, source_op: str, *, in_features: int,
          out_features: int, bias: bool, out_shape: ShapeT, extra_params: int = 0,
          weight_format: str | None = None) -> Layer:
    """y = x W^T + b over the last axis: one MAC per weight per output row."""
    rows = _numel(out_shape) // out_features if out_shape else 0
    return Layer(
        name, Op.DENSE, inputs, output, source_op,
        weight_params=in_features * out_features,
        bias_params=out_features if bias else 0,
        other_params=extra_params,
        macs=rows * in_features * out_features,
        out_channels=out_features,
        matrix=WeightMatrix(in_features, out_features),
        weight_format=weight_format,
        loop_length=in_features,
    )


def conv(name: str, inputs: tuple[str, ...], output: str, source_op: str, *, in_channels: int, out_channels: int,
         kernel: tuple[int, ...], groups: int, bias: bool, out_shape: ShapeT, extra_params: int = 0,
         weight_format: str | None = None) -> Layer:
    """N-d convolution: each output element takes (in_channels / groups) * prod(kernel) MACs."""
    fan_in = (in_channels // groups) * math.prod(kernel)
    depthwise = groups > 1 and groups == in_channels
    spatial = len(kernel)
    if spatial not in (1, 2):
        op = Op.UNKNOWN
    elif depthwise:
        op = Op.DEPTHWISE_CONV1D if spatial == 1 else Op.DEPTHWISE_CONV2D
    else:
        op = Op.CONV1D if spatial == 1 else Op.CONV2D
    return Layer(
        name, op, inputs, output, source_op,
        weight_params=out_channels * fan_in,
        bias_params=out_channels if bias else 0,
        other_params=extra_params,
        macs=_numel(out_shape) * fan_in,
        out_channels=out_channels,
        in_channels=in_channels,
        matrix=WeightMatrix(fan_in, out_channels // groups, groups),
        weight_format=weight_format,
        # a pointwise convolution is a dense layer at each position: its innermost loop runs over the channels
        loop_length=fan_in if math.prod(kernel) == 1 else math.prod(kernel),
    )


def generated(layer: Layer, out_shape: ShapeT) -> Layer:
    """A convolution whose kernels are generated on the device, not stored (the rocket family): each output channel
    reads one input channel, its kernel given by one stored index word (`other_params`); its bias is stored."""
    taps = layer.loop_length
    return dataclasses.replace(layer, weight_params=0, other_params=layer.out_channels, macs=_numel(out_shape) * taps,
                               matrix=None)


def matmul(name: str, inputs: tuple[str, ...], output: str, source_op: str, *, inner: int, out_shape: ShapeT) -> Layer:
    """Product of two activations (attention-style): no weights, inner-dimension MACs per output element."""
    return Layer(name, Op.MATMUL, inputs, output, source_op, macs=_numel(out_shape) * inner, loop_length=inner)


def simple(name: str, op: Op, inputs: tuple[str, ...], output: str, source_op: str, *, in_shape: ShapeT,
           out_shape: ShapeT, window: int = 1, params: int = 0) -> Layer:
    """Every non-MAC layer: its arithmetic is counted as vector ops from its shapes."""
    if op in (Op.GLOBAL_AVGPOOL, Op.GLOBAL_MAXPOOL):
        ops = _numel(in_shape)
    elif op in (Op.MAXPOOL, Op.AVGPOOL):
        ops = _numel(out_shape) * window
    elif op is Op.SOFTMAX:
        ops = 3 * _numel(out_shape)  # exp, sum, divide
    elif op in ACTIVATIONS or op in BINARY_ELEMENTWISE or op is Op.BATCHNORM:
        ops = _numel(out_shape)
    else:
        ops = 0  # views, concat, transpose: data movement only
    channels = 0
    if op is Op.BATCHNORM and out_shape is not None and len(out_shape) >= 2:
        channels = out_shape[1]
    return Layer(name, op, inputs, output, source_op, other_params=params, vector_ops=ops, out_channels=channels)
