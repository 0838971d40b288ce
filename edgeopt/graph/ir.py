"""The model IR: a small DAG of Layer records over named tensors, in topological order.

Both front ends (torch modules, ONNX files) produce it; the cost model reads nothing else. It holds only what the
architecture decides (shapes, parameter counts, MACs); everything that depends on the device lives in `edgeopt.cost`.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from functools import cached_property

from edgeopt.graph.ops import Op


@dataclass(frozen=True)
class Tensor:
    name: str
    shape: tuple[int, ...] | None  # None: not known (after an op whose shape nothing could infer)

    @property
    def numel(self) -> int:
        return math.prod(self.shape) if self.shape is not None else 0


@dataclass(frozen=True)
class WeightMatrix:
    """A layer's weights as the matrix a crossbar or systolic array holds: rows = fan-in, cols = outputs, per group."""

    rows: int
    cols: int
    groups: int = 1


@dataclass(frozen=True)
class Layer:
    name: str
    op: Op
    inputs: tuple[str, ...]  # activation tensors read (weights are not tensors here, they are counted below)
    output: str
    source_op: str  # the module type or ONNX op it came from, e.g. "Conv2d" or "Conv"
    weight_params: int = 0  # multiplicative weights (stored at the device's weight format)
    bias_params: int = 0  # biases (stored at the accumulator width on integer devices)
    other_params: int = 0  # everything else: batchnorm scale and shift, constant operands
    macs: int = 0
    vector_ops: int = 0  # non-MAC arithmetic: activations, pooling, elementwise
    out_channels: int = 0  # channels that carry their own quantization scale
    in_channels: int = 0  # a convolution's input channels, all groups together
    matrix: WeightMatrix | None = None
    weight_format: str | None = None  # set when the model already stores its weights quantized (ONNX QDQ)
    zero_weights: int = 0  # multiplicative weights that are exactly zero (unstructured pruning)
    loop_length: int = 0  # MACs of one innermost loop: a convolution's kernel taps, a dense layer's fan-in

    @property
    def params(self) -> int:
        return self.weight_params + self.bias_params + self.other_params


@dataclass(frozen=True)
class Graph:
    name: str
    inputs: tuple[str, ...]
    outputs: tuple[str, ...]
    layers: tuple[Layer, ...]
    tensors: Mapping[str, Tensor]
    notes: tuple[str, ...] = field(default=())  # what the front end assumed, e.g. a dynamic batch taken as 1
    unused_params: int = 0  # parameters the model holds but never reads: counted, never deployed

    @property
    def params(self) -> int:
        return sum(layer.params for layer in self.layers) + self.unused_params

    @property
    def macs(self) -> int:
        return sum(layer.macs for layer in self.layers)

    @property
    def unknown_layers(self) -> tuple[Layer, ...]:
        return tuple(layer for layer in self.layers if layer.op is Op.UNKNOWN)

    @cached_property
    def consumers(self) -> Mapping[str, tuple[int, ...]]:
        """Tensor name -> indices of the layers that read it."""
        readers: dict[str, list[int]] = {}
        for index, layer in enumerate(self.layers):
            for name in layer.inputs:
                readers.setdefault(name, []).append(index)
        return {name: tuple(indices) for name, indices in readers.items()}

    def shape(self, tensor: str) -> tuple[int, ...] | None:
        return self.tensors[tensor].shape
