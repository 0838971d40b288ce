"""Build the IR from a torch nn.Module: trace with torch.fx, propagate shapes on a zero input, map nodes to layers."""

from __future__ import annotations

import contextlib
import io

import dataclasses
import functools
import math
import operator
from collections.abc import Sequence
from contextlib import contextmanager

from edgeopt.errors import ModelError
from edgeopt.graph import layers as L
from edgeopt.graph.ir import Graph, Layer, Tensor
from edgeopt.graph.model_spec import normalise_input_shapes
from edgeopt.graph.ops import Op

InputShape = Sequence[int] | Sequence[Sequence[int]]


def graph_from_module(module, input_shape: InputShape, name: str | None = None) -> Graph:
    """The IR of `module` for inputs of `input_shape` (one shape, or one per input), batch included."""
    import torch
    import torch.fx
    from torch.fx.passes.shape_prop import ShapeProp

    shapes = normalise_input_shapes(input_shape)
    try:
        traced = torch.fx.symbolic_trace(module)
    except Exception as exc:  # fx raises many types for untraceable Python control flow
        raise ModelError(
            f"cannot trace {type(module).__name__} with torch.fx: {exc}. Export it to ONNX and pass the .onnx file, "
            "or make its forward free of data-dependent Python control flow"
        ) from None
    with _eval_mode(module), torch.no_grad():
        try:
            # on the module's device: a module built on `meta` (costed before it is allocated) is traced there
            device = next(module.parameters(), torch.zeros(0)).device
            example = [torch.zeros(shape, device=device) for shape in shapes]
            with contextlib.redirect_stderr(io.StringIO()):  # ShapeProp prints a traceback before it raises
                ShapeProp(traced).propagate(*example)
        except Exception as exc:
            cause = exc.__cause__ or exc  # ShapeProp wraps the layer's own error in a dump of the fx node
            reason = (str(cause).strip().splitlines() or [type(cause).__name__])[0][:300]
            raise ModelError(f"running {type(module).__name__} on input shape(s) {shapes} failed: "
                             f"{type(cause).__name__}: {reason}") from None
    return _Mapper(traced, module, name or type(module).__name__).run()


@contextmanager
def _eval_mode(module):
    modes = {m: m.training for m in module.modules()}
    module.eval()
    try:
        yield
    finally:
        for m, training in modes.items():
            m.training = training


class _Mapper:
    def __init__(self, traced, module, name: str):
        import torch.nn.functional as F
        from torch import nn

        self.nn, self.F = nn, F
        self.traced = traced
        self.module = module  # tracing drops submodules forward() never calls; their parameters still count
        self.name = name
        self.layers: list[Layer] = []
        self.tensors: dict[str, Tensor] = {}
        self.inputs: list[str] = []
        self.outputs: list[str] = []
        self.notes: list[str] = []
        self.names_seen: dict[str, int] = {}
        self.counted: set[int] = set()  # ids of parameters already attributed, so shared weights count once

    def run(self) -> Graph:
        for node in self.traced.graph.nodes:
            if node.op == "placeholder":
                shape = self._shape(node)
                if shape is not None:
                    self.inputs.append(node.name)
                    self.tensors[node.name] = Tensor(node.name, shape)
            elif node.op == "output":
                self.outputs = [n.name for n in _flatten_args(node.args) if n.name in self.tensors]
            elif node.op in ("call_module", "call_function", "call_method"):
                self._node(node)
        unused = [p for p in self.module.parameters() if id(p) not in self.counted]
        unused_params = sum(p.numel() for p in unused)
        if unused:
            self.notes.append(f"{unused_params} parameters in {len(unused)} tensors are never used by forward() "
                              "(counted in params, not in weight bytes)")
        return Graph(self.name, tuple(self.inputs), tuple(self.outputs), tuple(self.layers), self.tensors,
                     tuple(self.notes), unused_params)

    # -- helpers

    def _shape(self, node) -> tuple[int, ...] | None:
        meta = node.meta.get("tensor_meta")
        shape = getattr(meta, "shape", None)
        return tuple(int(d) for d in shape) if shape is not None else None

    def _activation_inputs(self, node) -> tuple[str, ...]:
        return tuple(n.name for n in _flatten_args((node.args, node.kwargs)) if n.name in self.tensors)

    def _take(self, tensors) -> int:
        """Count parameters not yet attributed to a layer."""
        total = 0
        for t in tensors:
            if isinstance(t, self.nn.Parameter) and id(t) not in self.counted:
                self.counted.add(id(t))
                total += t.numel()
        return total

    def _attr_tensor(self, arg):
        if getattr(arg, "op", None) == "get_attr":
            return _fetch_attr(self.traced, arg.target)
        return None

    def _node(self, node) -> None:
        shape = self._shape(node)
        inputs = self._activation_inputs(node)
        if shape is None:
            return  # sizes, dtypes, tuples of tensors: not an activation of its own
        self.tensors[node.name] = Tensor(node.name, shape)
        in_shape = self.tensors[inputs[0]].shape if inputs else None
        if node.op == "call_module":
            layer = self._module(node, inputs, in_shape, shape)
        else:
            layer = self._function(node, inputs, in_shape, shape)
        # A module called twice (a shared ReLU) yields two layers; keep their names apart.
        calls = self.names_seen.get(layer.name, 0)
        self.names_seen[layer.name] = calls + 1
        if calls:
            layer = dataclasses.replace(layer, name=f"{layer.name}#{calls + 1}")
        self.layers.append(layer)

    def _module(self, node, inputs, in_shape, out_shape) -> Layer:
        nn = self.nn
        mod = self.traced.get_submodule(node.target)
        name, kind = node.target, type(mod).__name__
        if isinstance(mod, nn.Linear):
            self._take(mod.parameters())
            return _with_zeros(L.dense(name, inputs, node.name, kind, in_features=mod.in_features,
                                       out_features=mod.out_features, bias=mod.bias is not None, out_shape=out_shape),
                               mod.weight)
        if isinstance(mod, (nn.Conv1d, nn.Conv2d, nn.Conv3d)):
            self._take(mod.parameters())
            layer = L.conv(name, inputs, node.name, kind, in_channels=mod.in_channels, out_channels=mod.out_channels,
                           kernel=tuple(mod.kernel_size), groups=mod.groups, bias=mod.bias is not None,
                           out_shape=out_shape)
            if getattr(mod, "generated_kernels", False):
                return L.generated(layer, out_shape)
            return _with_zeros(layer, mod.weight)
        simple_op = _MODULE_OPS.get(kind)
        if isinstance(mod, (nn.AdaptiveAvgPool1d, nn.AdaptiveAvgPool2d, nn.AdaptiveMaxPool1d, nn.AdaptiveMaxPool2d)):
            is_avg = "Avg" in kind
            global_pool = all(d == 1 for d in out_shape[2:])
            simple_op = (Op.GLOBAL_AVGPOOL if is_avg else Op.GLOBAL_MAXPOOL) if global_pool else (
                Op.AVGPOOL if is_avg else Op.MAXPOOL)
        if simple_op is None:
            params = self._take(mod.parameters())
            return Layer(name, Op.UNKNOWN, inputs, node.name, kind, other_params=params)
        window = math.prod(_pair(getattr(mod, "kernel_size", 1), len(out_shape) - 2)) \
            if simple_op in (Op.MAXPOOL, Op.AVGPOOL) and hasattr(mod, "kernel_size") else 1
        if simple_op in (Op.MAXPOOL, Op.AVGPOOL) and not hasattr(mod, "kernel_size") and in_shape:
            window = math.prod(i // o for i, o in zip(in_shape[2:], out_shape[2:]))
        return L.simple(name, simple_op, inputs, node.name, kind, in_shape=in_shape, out_shape=out_shape,
                        window=window, params=self._take(mod.parameters()))

    def _function(self, node, inputs, in_shape, out_shape) -> Layer:
        F = self.F
        target = node.target
        label = target if isinstance(target, str) else getattr(target, "__name__", str(target))
        name = node.name
        if target in (F.linear,):
            weight, bias = self._attr_tensor(node.args[1]), _arg(node, 2, "bias")
            bias_t = self._attr_tensor(bias) if bias is not None else None
            if weight is not None:
                self._take([weight, bias_t] if bias_t is not None else [weight])
                return L.dense(name, inputs[:1], name, label, in_features=weight.shape[1],
                               out_features=weight.shape[0], bias=bias is not None, out_shape=out_shape)
        if target in (F.conv1d, F.conv2d):
            weight, bias = self._attr_tensor(node.args[1]), _arg(node, 2, "bias")
            bias_t = self._attr_tensor(bias) if bias is not None else None
            if weight is not None:
                self._take([weight, bias_t] if bias_t is not None else [weight])
                groups = _arg(node, 6, "groups") or 1
                return L.conv(name, inputs[:1], name, label, in_channels=weight.shape[1] * groups,
                              out_channels=weight.shape[0], kernel=tuple(weight.shape[2:]), groups=groups,
                              bias=bias is not None, out_shape=out_shape)
        op = _METHOD_OPS.get(target) if isinstance(target, str) else _function_op(target)
        if op is Op.MATMUL and len(inputs) == 2:
            inner = self.tensors[inputs[0]].shape[-1]
            return L.matmul(name, inputs, name, label, inner=inner, out_shape=out_shape)
        if op in (Op.GLOBAL_AVGPOOL, Op.GLOBAL_MAXPOOL) and target not in (F.adaptive_avg_pool1d,
                                                                             F.adaptive_avg_pool2d):
            op = _reduction_op(op, in_shape, out_shape)
        if target in (F.adaptive_avg_pool1d, F.adaptive_avg_pool2d) and not all(d == 1 for d in out_shape[2:]):
            op = Op.AVGPOOL
        if target in (F.max_pool1d, F.max_pool2d, F.avg_pool1d, F.avg_pool2d) and in_shape:
            window = math.prod(_pair(_arg(node, 1, "kernel_size"), len(out_shape) - 2))
        else:
            window = 1
        params = self._take(t for t in (self._attr_tensor(a) for a in _flatten_args(node.args)) if t is not None)
        if op is None:
            return Layer(name, Op.UNKNOWN, inputs, name, label, other_params=params)
        return L.simple(name, op, inputs, name, label, in_shape=in_shape, out_shape=out_shape, window=window,
                        params=params)


def _reduction_op(op: Op, in_shape, out_shape) -> Op | None:
    # mean/amax over every spatial axis is global pooling; any other reduction is not an op we model.
    if in_shape is None or len(in_shape) < 3 or math.prod(out_shape) != in_shape[0] * in_shape[1]:
        return None
    return op


def _arg(node, position: int, keyword: str):
    if len(node.args) > position:
        return node.args[position]
    return node.kwargs.get(keyword)


def _pair(value, n: int) -> tuple[int, ...]:
    return tuple(value) if isinstance(value, (tuple, list)) else (int(value),) * max(n, 1)


def _flatten_args(args) -> list:
    from torch.fx import Node

    out: list = []

    def walk(a):
        if isinstance(a, Node):
            out.append(a)
        elif isinstance(a, (list, tuple)):
            for x in a:
                walk(x)
        elif isinstance(a, dict):
            for x in a.values():
                walk(x)

    walk(args)
    return out


def _fetch_attr(module, target: str):
    obj = module
    for part in target.split("."):
        obj = getattr(obj, part)
    return obj


_MODULE_OPS: dict[str, Op] = {
    "BatchNorm1d": Op.BATCHNORM, "BatchNorm2d": Op.BATCHNORM,
    "ReLU": Op.RELU, "ReLU6": Op.RELU6, "LeakyReLU": Op.LEAKY_RELU, "Sigmoid": Op.SIGMOID, "Tanh": Op.TANH,
    "GELU": Op.GELU, "SiLU": Op.SILU, "Hardswish": Op.HARDSWISH, "Hardsigmoid": Op.HARDSIGMOID,
    "MaxPool1d": Op.MAXPOOL, "MaxPool2d": Op.MAXPOOL, "AvgPool1d": Op.AVGPOOL, "AvgPool2d": Op.AVGPOOL,
    "Flatten": Op.FLATTEN, "Unflatten": Op.RESHAPE, "Identity": Op.IDENTITY, "Dropout": Op.IDENTITY,
    "Dropout1d": Op.IDENTITY, "Dropout2d": Op.IDENTITY, "Softmax": Op.SOFTMAX, "LogSoftmax": Op.SOFTMAX,
    "PReLU": Op.LEAKY_RELU, "ZeroPad1d": Op.PAD, "ZeroPad2d": Op.PAD, "ConstantPad1d": Op.PAD,
    "ConstantPad2d": Op.PAD, "ReflectionPad1d": Op.PAD, "ReflectionPad2d": Op.PAD,
}


@functools.cache
def _function_table() -> dict:
    # Built on first use so that importing this module does not import torch.
    import torch
    import torch.nn.functional as F

    return {
        operator.add: Op.ADD, operator.iadd: Op.ADD, torch.add: Op.ADD,
        operator.sub: Op.SUB, torch.sub: Op.SUB,
        operator.mul: Op.MUL, operator.imul: Op.MUL, torch.mul: Op.MUL,
        operator.truediv: Op.DIV, torch.div: Op.DIV,
        operator.matmul: Op.MATMUL, torch.matmul: Op.MATMUL, torch.bmm: Op.MATMUL,
        torch.cat: Op.CONCAT, torch.concat: Op.CONCAT,
        torch.flatten: Op.FLATTEN, torch.reshape: Op.RESHAPE, torch.squeeze: Op.RESHAPE,
        torch.unsqueeze: Op.RESHAPE, operator.getitem: Op.IDENTITY,
        torch.transpose: Op.TRANSPOSE, torch.permute: Op.TRANSPOSE,
        F.relu: Op.RELU, torch.relu: Op.RELU, F.relu6: Op.RELU6, F.leaky_relu: Op.LEAKY_RELU,
        F.gelu: Op.GELU, F.silu: Op.SILU, F.hardswish: Op.HARDSWISH, F.hardsigmoid: Op.HARDSIGMOID,
        torch.sigmoid: Op.SIGMOID, F.sigmoid: Op.SIGMOID, torch.tanh: Op.TANH, F.tanh: Op.TANH,
        F.softmax: Op.SOFTMAX, torch.softmax: Op.SOFTMAX, F.log_softmax: Op.SOFTMAX,
        F.max_pool1d: Op.MAXPOOL, F.max_pool2d: Op.MAXPOOL, F.avg_pool1d: Op.AVGPOOL, F.avg_pool2d: Op.AVGPOOL,
        F.adaptive_avg_pool1d: Op.GLOBAL_AVGPOOL, F.adaptive_avg_pool2d: Op.GLOBAL_AVGPOOL,
        torch.mean: Op.GLOBAL_AVGPOOL, torch.amax: Op.GLOBAL_MAXPOOL,
        F.dropout: Op.IDENTITY, F.pad: Op.PAD, F.prelu: Op.LEAKY_RELU,
        operator.gt: Op.STEP, torch.gt: Op.STEP,
    }


def _function_op(target) -> Op | None:
    try:
        return _function_table().get(target)
    except TypeError:  # unhashable call targets
        return None


_METHOD_OPS: dict[str, Op] = {
    "add": Op.ADD, "add_": Op.ADD, "sub": Op.SUB, "mul": Op.MUL, "mul_": Op.MUL, "div": Op.DIV,
    "matmul": Op.MATMUL, "view": Op.RESHAPE, "reshape": Op.RESHAPE, "flatten": Op.FLATTEN,
    "squeeze": Op.RESHAPE, "unsqueeze": Op.RESHAPE, "contiguous": Op.IDENTITY, "permute": Op.TRANSPOSE,
    "transpose": Op.TRANSPOSE, "relu": Op.RELU, "relu_": Op.RELU, "sigmoid": Op.SIGMOID, "tanh": Op.TANH,
    "softmax": Op.SOFTMAX, "mean": Op.GLOBAL_AVGPOOL, "amax": Op.GLOBAL_MAXPOOL,
    "gt": Op.STEP, "float": Op.IDENTITY, "to": Op.IDENTITY, "type_as": Op.IDENTITY,
}


def _with_zeros(layer: Layer, weight) -> Layer:
    """Record exact zeros (unstructured pruning): only profiles that declare sparse support turn them into savings."""
    if weight.is_meta:  # a module costed before it is allocated has no values, so no zeros
        return layer
    zeros = int(weight.numel() - weight.count_nonzero())
    return dataclasses.replace(layer, zero_weights=zeros) if zeros else layer
