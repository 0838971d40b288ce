"""A quantized (QDQ) ONNX model lowered to the integer program it computes (`intgrid.program.IntProgram`).

The QDQ file is the deployed artifact: its integer weights, scales and zero points are taken as they are, so the C
export runs what was measured. Every op outside the supported set is one error naming the op and its node."""

from __future__ import annotations

import dataclasses
import math
import os
from pathlib import Path

import numpy as np

from edgeopt.deploy.lower_shapes import ShapeOps
from edgeopt.deploy.lower_values import Acc, Const, Dequantized, Input, Joined, Quantized
from edgeopt.errors import ModelError
from edgeopt.intgrid.fixedpoint import INT32_MAX, INT32_MIN, WIDE_ACC_LIMIT, quantize_multiplier
from edgeopt.intgrid.grid import bits_range
from edgeopt.graph.kernels import generated_kernels
from edgeopt.intgrid.program import (HARDSWISH_GRID_BITS, SKIP_BITS, TANH_INPUT_SHIFT, IntLayer, IntProgram, Nonlinear,
                                     Residual)

# what an op's handler (`_Lowering._<OpType>`) covers, where it is less than the whole ONNX op
SUPPORT_NOTES = {"Conv": "incl. depthwise/grouped, dilated", "Add": "residual",
                 "Concat": "layer outputs, channels; a layer's global mean and max", "Clip": "ReLU6",
                 "ReduceMean": "global; after Greater a proportion of positive values", "ReduceMax": "global",
                 "Greater": "x > 0", "Cast": "of Greater", "QuantizeLinear": "int8 or int16 activations",
                 "DequantizeLinear": "int8 or int16 activations"}
ACTIVATION_BITS = {np.dtype(np.int8): 8, np.dtype(np.int16): 16}
# ops on accumulators that act per channel: after a concatenation they apply to each part
PER_PART = ("Relu", "Clip", "Tanh", "HardSwish", "MaxPool", "AveragePool", "GlobalAveragePool", "ReduceMean",
            "GlobalMaxPool", "ReduceMax", "Greater", "Cast")


def supported_ops() -> tuple[str, ...]:
    """The ONNX ops the C export lowers (one handler each), with what each covers."""
    ops = [name[1:] for cls in _Lowering.__mro__ for name in vars(cls) if name.startswith("_") and name[1:2].isupper()]
    ops.sort(key=lambda op: op in ("QuantizeLinear", "DequantizeLinear"))  # the layers first, the grid's edges last
    return tuple(f"{op} ({SUPPORT_NOTES[op]})" if op in SUPPORT_NOTES else op for op in ops)


def lower_onnx(path: str | os.PathLike) -> IntProgram:
    """The integer program of the QDQ ONNX model at `path`; a ModelError for anything the C export cannot run."""
    import onnx
    from onnx import helper, numpy_helper, shape_inference

    path = Path(path)
    try:
        graph = shape_inference.infer_shapes(onnx.load(str(path))).graph
        consts = {init.name: numpy_helper.to_array(init) for init in graph.initializer}
        for node in graph.node:
            if node.op_type == "Constant":  # a tensor, or a plain value (value_float, value_ints, ...)
                value = helper.get_attribute_value(node.attribute[0])
                consts[node.output[0]] = numpy_helper.to_array(value) if hasattr(value, "dims") else np.asarray(value)
    except Exception as exc:  # not an ONNX file, or a broken one
        raise ModelError(f"{path}: cannot read as ONNX: {type(exc).__name__}: {exc}") from None
    inputs = [i for i in graph.input if i.name not in consts]
    if len(inputs) != 1 or len(graph.output) != 1:
        raise ModelError(f"{path}: the C export takes models with one input and one output, this one has "
                         f"{len(inputs)} and {len(graph.output)}")
    dims = [d.dim_value for d in inputs[0].type.tensor_type.shape.dim][1:]
    if not dims or any(d <= 0 for d in dims):
        raise ModelError(f"{path}: input {inputs[0].name!r} needs a fixed sample shape after the batch, got {dims}")
    return _Lowering(path, consts).run(inputs[0].name, tuple(dims), graph)


class _Lowering(ShapeOps):
    def __init__(self, path: Path, consts: dict):
        self.path = path
        self.consts = consts
        self.values: dict = {}
        self.layers: list[IntLayer] = []
        self.input_grid: tuple[float, int] | None = None
        self.quantized_input: Quantized | None = None
        self.skip_sources: set[str] = set()  # tensors a residual add reads
        self.input_shape: tuple[int, ...] = ()

    def fail(self, node, what: str) -> ModelError:
        return ModelError(f"{self.path}: node {node.name or node.output[0]!r} ({node.op_type}): {what}")

    def run(self, input_name: str, shape: tuple[int, ...], graph) -> IntProgram:
        self.input_shape = shape
        self.values[input_name] = Input(shape)
        self.skip_sources = {name for node in graph.node if node.op_type == "Add" for name in node.input}
        for node in graph.node:
            if node.op_type == "Constant":
                continue
            handler = getattr(self, f"_{node.op_type}", None)
            if handler is None:
                raise self.fail(node, "not supported by the C export; supported ops: " + ", ".join(supported_ops()))
            first = self.values.get(node.input[0]) if node.input else None
            try:
                if isinstance(first, Joined) and node.op_type in PER_PART:
                    self.values[node.output[0]] = self._per_part(node, handler, first)
                else:
                    self.values[node.output[0]] = handler(node)
            except (KeyError, IndexError, ValueError, TypeError, AttributeError) as exc:  # a malformed file
                raise self.fail(node, f"malformed ({type(exc).__name__}: {exc}): inputs, attributes or constants "
                                      "are not what the op needs") from None
        out = self.values.get(graph.output[0].name)
        if not isinstance(out, Acc) or self.input_grid is None:
            raise ModelError(f"{self.path}: the C export needs a quantized model whose logits come from a quantized "
                             "Conv or Gemm (a QDQ file from `edgeopt compress` with int8 or int16 activations)")
        scales = out.parts["scales"]
        output_scale = float(scales.min())
        self.layers.append(self._finish(out, output_scale, 0, INT32_MIN, INT32_MAX, 32))
        return IntProgram(self.input_shape, self.input_grid[0], self.input_grid[1], tuple(self.layers), output_scale)

    def _per_part(self, node, handler, joined: Joined) -> Joined:
        members = []
        try:
            for member in joined.members:
                self.values[node.input[0]] = member
                members.append(handler(node))
        finally:
            self.values[node.input[0]] = joined
        return Joined(_concatenated(node, self, [m.shape for m in members]), members)

    # -- helpers

    def arg(self, node, index: int):
        name = node.input[index] if len(node.input) > index else ""
        if name in self.values:
            return self.values[name]
        if name in self.consts:
            return self.consts[name]
        raise self.fail(node, f"input {index} ({name!r}) is not something the C export can compute")

    def acc(self, node) -> Acc:
        value = self.arg(node, 0)
        if not isinstance(value, Acc):
            raise self.fail(node, "the C export runs this op only after a quantized Conv or Gemm (on its "
                                  "accumulators), not on this input")
        return value

    def attrs(self, node) -> dict:
        from onnx import helper

        return {a.name: helper.get_attribute_value(a) for a in node.attribute}

    # -- quantization

    def _QuantizeLinear(self, node):
        value = self.arg(node, 0)
        scales = np.asarray(self.consts[node.input[1]]).reshape(-1)
        if scales.size != 1:
            raise self.fail(node, "per-channel activation scales; the C export runs one scale per activation tensor")
        scale = float(scales[0])
        zero = np.asarray(self.consts[node.input[2]]) if len(node.input) > 2 else np.zeros((), np.uint8)
        bits = ACTIVATION_BITS.get(zero.dtype)
        if bits is None:
            raise self.fail(node, f"activations on a {zero.dtype} grid; the C export runs int8 and int16 activations")
        zero_point = int(zero.reshape(-1)[0])
        grid = (scale, zero_point, bits)
        if isinstance(value, Input):
            if self.quantized_input is None:
                self.input_grid = (scale, zero_point)
                self.quantized_input = Quantized(value.shape, scale, zero_point, 0, bits)
            return self._again(node, self.quantized_input, grid)
        if isinstance(value, Acc) and "quantized_as" in value.parts:
            return self._again(node, value.parts["quantized_as"], grid)
        if isinstance(value, Joined):
            if value.quantized_as is None:
                value.quantized_as = self._finish_joined(node, value, *grid)
            return self._again(node, value.quantized_as, grid)
        if isinstance(value, Acc):
            shape = value.shape
            skip16 = node.input[0] in self.skip_sources
            if skip16 and bits != 8:
                raise self.fail(node, "a residual add on int16 activations is not supported by the C export (its "
                                      "skip copy is an int16 grid 2^7 finer than int8)")
            self.layers.append(self._finish(value, scale, zero_point, *bits_range(bits), bits, skip16))
            value.parts["quantized_as"] = Quantized(shape, scale, zero_point, len(self.layers), bits)
            if skip16:
                value.parts["skip_copy"] = (len(self.layers) - 1, scale / 2 ** SKIP_BITS)
            return value.parts["quantized_as"]
        raise self.fail(node, "quantizes a tensor that is neither the model input nor a layer's output")

    def _again(self, node, done: Quantized | None, grid: tuple[float, int, int]) -> Quantized:
        """A tensor read by two quantized layers (a branch): one grid, calibrated on the same values, is one buffer."""
        if done is None:
            raise self.fail(node, "reads a layer's output that the C export keeps only inside a concatenation")
        if (done.scale, done.zero_point, done.bits) != grid:
            raise self.fail(node, f"a tensor quantized twice on different grids ({done.scale:g}, {done.zero_point}, "
                                  f"int{done.bits}) and ({grid[0]:g}, {grid[1]}, int{grid[2]}); the C export keeps "
                                  "one copy of each tensor")
        return done

    def _finish_joined(self, node, joined: Joined, scale: float, zero_point: int, bits: int) -> Quantized:
        if node.input[0] in self.skip_sources:
            raise self.fail(node, "a residual add on a concatenation is not supported by the C export")
        target = len(self.layers) + len(joined.members)  # the buffer of its last part
        offset = 0
        for member in joined.members:
            layer = self._finish(member, scale, zero_point, *bits_range(bits), bits)
            self.layers.append(dataclasses.replace(layer, target=target, target_offset=offset))
            offset += layer.output_size
            member.parts["quantized_as"] = None  # its output is only in the concatenation
        return Quantized(joined.shape, scale, zero_point, target, bits)

    def _Concat(self, node):
        values = [self.arg(node, i) for i in range(len(node.input))]
        merged = self._avg_max(node, values, self.attrs(node)["axis"])
        if merged is not None:
            return merged
        members = []
        for value in values:
            if isinstance(value, Joined) and value.quantized_as is None:
                members += value.members
            elif isinstance(value, Acc) and "quantized_as" not in value.parts:
                members.append(value)
            else:
                raise self.fail(node, "the C export concatenates layers' outputs before their requantization "
                                      "(Conv/Gemm, activation, pooling, then Concat, then QuantizeLinear), not the "
                                      "input or quantized tensors")
        if len({id(m) for m in members}) != len(members):
            raise self.fail(node, "concatenates a layer's output with itself")
        rank = len(values[0].shape) + 1  # with the batch
        if self.attrs(node)["axis"] % rank != 1:
            raise self.fail(node, "the C export concatenates on the channel axis (axis 1) only")
        return Joined(_concatenated(node, self, [v.shape for v in values]), members)

    def _DequantizeLinear(self, node):
        value = self.arg(node, 0)
        if isinstance(value, Quantized):
            return Dequantized(value)
        if isinstance(value, np.ndarray):  # weights or biases stored as integers
            scale = np.asarray(self.consts[node.input[1]], np.float64)
            zero = np.asarray(self.consts[node.input[2]]) if len(node.input) > 2 else np.zeros(1, np.int64)
            return Const(value.astype(np.int64), scale.reshape(-1), zero.astype(np.int64).reshape(-1))
        raise self.fail(node, "dequantizes something that is not a quantized activation or stored integers")

    # -- weighted layers

    def _Conv(self, node):
        a = self.attrs(node)
        if a.get("auto_pad", b"NOTSET") not in (b"NOTSET", "NOTSET"):
            raise self.fail(node, "auto-padded convolutions are not supported by the C export")
        x, w = self.arg(node, 0), self.arg(node, 1)
        if not isinstance(x, Dequantized) or not isinstance(w, Const):
            raise self.fail(node, "needs a quantized input and integer weights (a QDQ model with int8 or int16 "
                                  "activations)")
        rank = w.values.ndim - 2
        shape = x.of.shape
        if rank not in (1, 2) or len(shape) != rank + 1:
            raise self.fail(node, f"a {rank}-D convolution on a {shape} input is not supported")
        c, h, wd = (shape[0], 1, shape[1]) if rank == 1 else shape
        kernel = (1, *w.values.shape[2:]) if rank == 1 else tuple(w.values.shape[2:])
        stride = tuple(a.get("strides", [1] * rank))
        pads = list(a.get("pads", [0] * 2 * rank))
        stride = (1, stride[0]) if rank == 1 else stride
        dilation = tuple(int(d) for d in a.get("dilations", [1] * rank))
        dilation = (1, dilation[0]) if rank == 1 else dilation
        if len(dilation) != 2 or min(dilation) < 1 or max(dilation) > 32767:
            raise self.fail(node, f"dilations {list(a.get('dilations'))} (1 to 32767 per axis)")
        begin = (0, pads[0]) if rank == 1 else (pads[0], pads[1])
        end = (0, pads[1]) if rank == 1 else (pads[2], pads[3])
        oh = (h + begin[0] + end[0] - dilation[0] * (kernel[0] - 1) - 1) // stride[0] + 1
        ow = (wd + begin[1] + end[1] - dilation[1] * (kernel[1] - 1) - 1) // stride[1] + 1
        weights = w.values.reshape(w.values.shape[0], w.values.shape[1], *kernel)
        layer = self._weighted(node, x.of, weights, w, (c, h, wd), (weights.shape[0], oh, ow), kernel, stride,
                               begin, int(a.get("group", 1)), "conv")
        layer["dilation"] = dilation
        found = generated_kernels(layer["weights"]) if layer["groups"] == 1 else None
        layer["generated"] = None if found is None else (found[0], tuple(int(v) for v in found[1]))
        out_shape = (weights.shape[0], ow) if rank == 1 else (weights.shape[0], oh, ow)
        return Acc(out_shape, layer)

    def _Gemm(self, node):
        a = self.attrs(node)
        if a.get("transA", 0) or not a.get("transB", 0) or a.get("alpha", 1.0) != 1.0 or a.get("beta", 1.0) != 1.0:
            raise self.fail(node, "only Gemm with transB=1, alpha=beta=1 (a Linear layer) is supported")
        x, w = self.arg(node, 0), self.arg(node, 1)
        if not isinstance(x, Dequantized) or not isinstance(w, Const):
            raise self.fail(node, "needs a quantized input and integer weights (a QDQ model with int8 or int16 "
                                  "activations)")
        k = int(np.prod(x.of.shape))
        if w.values.shape[1] != k:
            raise self.fail(node, f"weights of shape {w.values.shape} do not take an input of {k} values")
        weights = w.values.reshape(w.values.shape[0], k, 1, 1)
        parts = self._weighted(node, x.of, weights, w, (k, 1, 1), (weights.shape[0], 1, 1), (1, 1), (1, 1), (0, 0),
                               1, "dense")
        return Acc((weights.shape[0],), parts)

    def _weighted(self, node, x: Quantized, weights, w: Const, in_shape, conv_shape, kernel, stride, padding, groups,
                  kind) -> dict:
        out_channels = weights.shape[0]
        if np.any(w.zero_point != 0):
            raise self.fail(node, "weights with a nonzero zero point; the C export runs symmetric weights")
        if weights.min() < -128 or weights.max() > 127:
            raise self.fail(node, "weights wider than int8 (int16?); the C export runs int8 weights (int4 is stored as "
                                  "int8) with int8 or int16 activations")
        if in_shape[0] % groups or out_channels % groups or weights.shape[1] != in_shape[0] // groups:
            raise self.fail(node, f"{groups} groups do not divide {in_shape[0]} input and {out_channels} output "
                                  "channels")
        w_scale = np.broadcast_to(w.scale, (out_channels,)).astype(np.float64)
        scales = x.scale * w_scale  # the accumulator's real scale per output channel
        bias = np.zeros(out_channels, np.int64)
        bias_shift = np.zeros(out_channels, np.int64)
        has_bias = len(node.input) > 2 and bool(node.input[2])
        if has_bias:
            b = self.arg(node, 2)
            if not isinstance(b, Const):
                raise self.fail(node, "a float bias in a quantized layer; the C export needs integer biases")
            ratio = np.broadcast_to(b.scale, (out_channels,)) / scales
            bias_shift = np.round(np.log2(ratio)).astype(np.int64)
            if np.any(bias_shift < 0) or np.any(np.abs(ratio / 2.0 ** bias_shift - 1) > 1e-3):
                raise self.fail(node, "bias scales that are not the accumulator scale times a power of two")
            bias = b.values.reshape(-1)
        if np.any(np.abs(bias << bias_shift) > INT32_MAX):
            raise self.fail(node, "a bias beyond int32 on the accumulators' grid; the C export stores int32 biases")
        low, high = bits_range(x.bits)
        reach = max(x.zero_point - low, high - x.zero_point)  # the largest |input - zero point|
        bound = np.abs(weights).reshape(out_channels, -1).sum(axis=1) * reach + np.abs(bias << bias_shift)
        limit = INT32_MAX if x.bits == 8 else WIDE_ACC_LIMIT - 1
        if bound.max() > limit:
            raise self.fail(node, f"its accumulators could overflow (bound {int(bound.max())}, register "
                                  f"{'int32' if x.bits == 8 else '2^40'}); the layer has too many inputs per output")
        return {"name": node.name or node.output[0], "kind": kind, "in_shape": in_shape, "conv_shape": conv_shape,
                "source": x.buffer, "residual": None, "bound": int(bound.max()),
                "kernel": tuple(int(k) for k in kernel), "stride": tuple(int(s) for s in stride),
                "padding": tuple(int(p) for p in padding), "groups": groups, "weights": weights.astype(np.int8),
                # the bias register's shift applied here: the bound above keeps the shifted bias in int32
                "bias": (bias << bias_shift).astype(np.int32) if has_bias else None, "input_zero_point": x.zero_point,
                "input_bits": x.bits, "limit": limit,
                "relu": False, "act_high": math.inf, "nonlinear": None,
                "pool": None, "global_pool": None, "scales": scales, "spatial": conv_shape[1:], "dilation": (1, 1),
                "step": False}

    # -- on accumulators

    def _Relu(self, node):
        value = self.acc(node)
        self._before_pooling(node, value)
        value.parts["relu"] = True
        return value

    def _Clip(self, node):
        value = self.acc(node)
        self._before_pooling(node, value)
        low = self._scalar(node, 1, -math.inf)
        high = self._scalar(node, 2, math.inf)
        if low not in (0.0, -math.inf) or high <= 0:
            raise self.fail(node, f"Clip({low:g}, {high:g}): the C export runs ReLU and ReLU6-style clips "
                                  "(lower bound 0 or none, upper bound positive or none)")
        if low == 0.0:
            value.parts["relu"] = True
        value.parts["act_high"] = min(value.parts["act_high"], high)
        return value

    def _scalar(self, node, index: int, default: float) -> float:
        if len(node.input) <= index or not node.input[index]:
            return default
        if node.input[index] not in self.consts:
            raise self.fail(node, "clip bounds must be constants")
        return float(np.asarray(self.consts[node.input[index]]).reshape(-1)[0])

    def _before_pooling(self, node, value: Acc) -> None:
        if value.parts["pool"] is not None or value.parts["global_pool"] or value.parts["nonlinear"] \
                or value.parts["step"]:
            raise self.fail(node, "an activation after pooling, a compare or tanh/hardswish is not supported by the "
                                  "C export")

    def _Add(self, node):
        a, b = self.arg(node, 0), self.arg(node, 1)
        if not (isinstance(a, Acc) and isinstance(b, Acc)):
            raise self.fail(node, "the C export adds only a layer's output to an earlier one (a residual)")
        body, skip = (a, b) if "quantized_as" not in a.parts else (b, a)
        if "quantized_as" in body.parts or "skip_copy" not in skip.parts:
            raise self.fail(node, "the C export runs residual adds whose skip branch was quantized for the branch's "
                                  "first layer")
        parts = body.parts
        if parts["residual"] is not None or parts["pool"] is not None or parts["global_pool"] \
                or parts["nonlinear"] or parts["relu"] or parts["act_high"] < math.inf:
            raise self.fail(node, "a residual add after an activation, pooling or another add is not supported")
        kept = skip.parts["quantized_as"]
        if int(np.prod(kept.shape)) != int(np.prod(parts["conv_shape"])):
            raise self.fail(node, f"adds {kept.shape} to {parts['conv_shape']}")
        layer, copy_scale = skip.parts["skip_copy"]
        try:
            fixed = [quantize_multiplier(copy_scale / float(s)) for s in parts["scales"]]
        except ValueError as exc:
            raise self.fail(node, str(exc)) from None
        if parts["bound"] + 32768 * max(copy_scale / float(s) for s in parts["scales"]) > parts["limit"]:
            raise self.fail(node, "its int32 accumulators could overflow with the residual added")
        parts["residual"] = Residual(layer, np.array([m for m, _ in fixed], np.int64),
                                     np.array([n for _, n in fixed], np.int64))
        return body

    def _Greater(self, node):
        """x > 0 on a layer's accumulators (bias included): the step whose mean over positions is a proportion of
        positive values (the rocket family's features)."""
        value = self.acc(node)
        self._before_pooling(node, value)
        if value.parts["relu"] or value.parts["act_high"] < math.inf:
            raise self.fail(node, "a compare after a clamp is not supported by the C export")
        if node.input[1] not in self.consts or np.any(np.asarray(self.consts[node.input[1]]) != 0):
            raise self.fail(node, "the C export compares a layer's output with 0 only (x > 0)")
        value.parts["step"] = True
        return value

    def _Cast(self, node):
        value = self.arg(node, 0)
        if not isinstance(value, Acc) or not value.parts["step"]:
            raise self.fail(node, "the C export casts only a compare's result (x > 0) to a number")
        return value

    def _Tanh(self, node):
        return self._nonlinear(node, "tanh")

    def _HardSwish(self, node):
        return self._nonlinear(node, "hardswish")

    def _nonlinear(self, node, kind: str):
        value = self.acc(node)
        self._before_pooling(node, value)
        if value.parts["relu"] or value.parts["act_high"] < math.inf:
            raise self.fail(node, f"{kind} after a clamp is not supported by the C export")
        value.parts["nonlinear"] = kind
        return value

    def _finish(self, value: Acc, out_scale: float, zero_point: int, low: int, high: int, bits: int,
                skip16: bool = False) -> IntLayer:
        """The layer `value` has gathered, requantized to (out_scale, zero_point) within [low, high]; with `skip16`,
        through an int16 copy on a grid 2^SKIP_BITS finer that a residual add reads."""
        parts = value.parts
        if "quantized_as" in parts:  # finished already: the logits taken from a quantized tensor
            raise ModelError(f"{self.path}: the output of {parts['name']} is used twice; branches other than "
                             "residual adds (concatenations, two heads) are not supported by the C export yet")
        multipliers = parts["scales"] / out_scale
        if parts["global_pool"] == "ppv":  # a count of positions, 0..H*W, for a proportion in [0, 1]
            multipliers = np.full_like(parts["scales"], 1.0 / (math.prod(parts["conv_shape"][1:]) * out_scale))
        kind, special, ceiling = parts["nonlinear"], None, None
        try:
            if parts["act_high"] < math.inf:
                steps = parts["act_high"] / out_scale
                averaged = parts["global_pool"] in ("avg", "avgmax") or \
                    (parts["pool"] is not None and parts["pool"].kind == "avg")
                if averaged or skip16:
                    # averaging, and a residual's int16 copy, read the clamped accumulators
                    ceiling = quantize_multiplier(steps)
                else:  # as QuantizeLinear rounds (half to even), so the bound is the grid point of the real one
                    high = max(low, min(high, zero_point + int(min(np.round(steps), INT32_MAX))))
            if kind is not None:
                if bits == 32:
                    raise ValueError(f"{kind} on the logits is not supported by the C export")
                if kind == "tanh":
                    grid = 2.0 ** -TANH_INPUT_SHIFT
                    special = Nonlinear(kind, quantize_multiplier(2.0 ** -15 / out_scale), 32767)
                else:  # a grid over [-3, the output grid's top] (above it the output saturates), fine enough that
                    # x (x + 3) stays below 2^40 (its product with a 23-bit multiplier fits an int64)
                    top = max(3.0, (high - zero_point) * out_scale)
                    grid = max(out_scale / 1024, top / 2 ** HARDSWISH_GRID_BITS)
                    special = Nonlinear(kind, quantize_multiplier(grid * grid / 6 / out_scale),
                                        int(np.ceil(top / grid)), round(3 / grid))
                multipliers = parts["scales"] / grid
            fixed = [quantize_multiplier(float(m)) for m in multipliers]
            final = [special.to_output] if special is not None else fixed
            if skip16 and min(n for _, n in final) <= SKIP_BITS:  # the copy's shift is SKIP_BITS less
                raise ValueError("an output multiplier too large for the residual copy's finer grid")
        except ValueError as exc:
            raise ModelError(f"{self.path}: {parts['name']}: {exc}") from None
        oh, ow = parts["spatial"]
        out_channels = parts["conv_shape"][0] * (2 if parts["global_pool"] == "avgmax" else 1)
        return IntLayer(parts["name"], parts["kind"], parts["in_shape"], (out_channels, oh, ow),
                        parts["conv_shape"], parts["kernel"], parts["stride"], parts["padding"], parts["groups"],
                        parts["weights"], parts["bias"], parts["input_zero_point"], parts["relu"],
                        ceiling, special,
                        parts["pool"], parts["global_pool"],
                        np.array([m for m, _ in fixed], np.int32), np.array([n for _, n in fixed], np.int32),
                        zero_point, low, high, bits, parts["source"], parts["residual"], skip16,
                        parts["input_bits"], dilation=parts["dilation"],
                        generated=None if parts.get("generated") is None else parts["generated"][0],
                        generated_levels=(0, 0) if parts.get("generated") is None else parts["generated"][1])


def _concatenated(node, lowering: _Lowering, shapes: list[tuple[int, ...]]) -> tuple[int, ...]:
    """The shape of `shapes` concatenated on their first axis (the channels); the rest must agree."""
    if any(len(s) != len(shapes[0]) or s[1:] != shapes[0][1:] for s in shapes):
        raise lowering.fail(node, f"concatenates tensors of shapes {shapes}: all but the channels must agree")
    return (sum(s[0] for s in shapes), *shapes[0][1:])
