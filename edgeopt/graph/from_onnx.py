"""Build the IR from an ONNX file: onnx shape inference, initializers as weights, nodes mapped to layers.

Imports onnx and numpy only, never torch, so `edgeopt check model.onnx` starts fast.
"""

from __future__ import annotations

import math
import os
from collections.abc import Sequence
from pathlib import Path

from edgeopt.errors import ModelError
from edgeopt.graph import layers as L
from edgeopt.graph.ir import Graph, Layer, Tensor
from edgeopt.graph.kernels import generated_kernels
from edgeopt.graph.model_spec import normalise_input_shapes
from edgeopt.graph.ops import Op

# ONNX element types (onnx.TensorProto) for weights stored quantized.
_QUANT_FORMATS = {2: "int8", 3: "int8", 4: "int16", 5: "int16", 21: "int4", 22: "int4"}
_FLOAT_TYPES = {1, 10, 11, 16}  # float, float16, double, bfloat16

_SIMPLE_OPS: dict[str, Op] = {
    "Relu": Op.RELU, "LeakyRelu": Op.LEAKY_RELU, "Sigmoid": Op.SIGMOID, "Tanh": Op.TANH, "Gelu": Op.GELU,
    "HardSwish": Op.HARDSWISH, "HardSigmoid": Op.HARDSIGMOID, "Add": Op.ADD, "Sub": Op.SUB, "Mul": Op.MUL,
    "Div": Op.DIV, "Concat": Op.CONCAT, "MaxPool": Op.MAXPOOL, "AveragePool": Op.AVGPOOL,
    "GlobalAveragePool": Op.GLOBAL_AVGPOOL, "GlobalMaxPool": Op.GLOBAL_MAXPOOL, "Flatten": Op.FLATTEN,
    "Reshape": Op.RESHAPE, "Squeeze": Op.RESHAPE, "Unsqueeze": Op.RESHAPE, "Identity": Op.IDENTITY,
    "Dropout": Op.IDENTITY, "Cast": Op.IDENTITY, "Transpose": Op.TRANSPOSE, "Pad": Op.PAD, "PRelu": Op.LEAKY_RELU,
    "Softmax": Op.SOFTMAX,
    "LogSoftmax": Op.SOFTMAX, "BatchNormalization": Op.BATCHNORM, "QuantizeLinear": Op.QUANTIZE,
    "DequantizeLinear": Op.DEQUANTIZE, "ReduceMean": Op.GLOBAL_AVGPOOL, "ReduceMax": Op.GLOBAL_MAXPOOL,
    "Greater": Op.STEP,
}
# Nodes that only compute shapes or constants; they never touch an activation.
_SHAPE_OPS = {"Shape", "Size", "Constant", "ConstantOfShape", "Range"}


def load_onnx(path: str | os.PathLike):
    """Load an ONNX model (with external data), turning every failure into a ModelError."""
    import onnx
    from google.protobuf.message import DecodeError

    path = Path(path)
    if not path.is_file():
        raise ModelError(f"{path}: no such model file")
    try:
        model = onnx.load(str(path))
    except DecodeError as exc:
        raise ModelError(f"{path}: not a valid ONNX file (the protobuf does not decode: {exc})") from None
    except (OSError, ValueError) as exc:
        raise ModelError(f"{path}: cannot load ONNX model: {exc}") from None
    except Exception as exc:  # onnx raises its own types, e.g. ValidationError for missing external data
        raise ModelError(f"{path}: cannot load ONNX model ({type(exc).__name__}: {exc})") from None
    if not model.graph.node:
        raise ModelError(f"{path}: not a valid ONNX model: the graph has no nodes (a truncated or foreign file?)")
    _check(model, path)
    return model


def _check(model, path: Path) -> None:
    """A graph onnxruntime refuses is bad input, never a model to cost: every node reads only tensors that exist
    before it (graph inputs, initializers, outputs of earlier nodes; onnx requires this order, and a cycle can never
    meet it), and every graph output is produced. onnx's checker would also refuse value infos without shapes, which
    exporters write and onnxruntime runs, so the order is checked here."""
    import onnx

    newest = onnx.defs.onnx_opset_version()
    for opset in model.opset_import:
        if opset.domain in ("", "ai.onnx") and not 1 <= opset.version <= newest:
            raise ModelError(f"{path}: not a valid ONNX model: opset {opset.version} (onnxruntime and onnx here run "
                             f"opsets 1 to {newest})")
    for tensor in model.graph.initializer:
        _check_initializer(tensor, path)
    available = {i.name for i in model.graph.input} | {i.name for i in model.graph.initializer} | {""}
    produced_later = {out for node in model.graph.node for out in node.output}
    for index, node in enumerate(model.graph.node):
        for name in node.input:
            if name not in available:
                where = f"node {node.name or index} ({node.op_type})"
                if name in produced_later:
                    raise ModelError(f"{path}: not a valid ONNX model: {where} reads {name!r} before any node makes "
                                     "it (a cycle, or nodes out of topological order)")
                raise ModelError(f"{path}: not a valid ONNX model: {where} reads {name!r}, which no input, "
                                 "initializer or node provides")
        available.update(node.output)
    for output in model.graph.output:
        if output.name not in available:
            raise ModelError(f"{path}: not a valid ONNX model: graph output {output.name!r} is made by no node")


MAX_ELEMENTS = 1 << 31  # a tensor past this is no model for a small device; its declared size is an error


def _check_initializer(tensor, path: Path) -> None:
    """A weight whose dims are negative or absurd, or whose stored bytes do not match its dims, is a corrupt file."""
    from onnx import TensorProto, helper

    dims = list(tensor.dims)
    elements = 1
    for d in dims:
        if d < 0:
            raise ModelError(f"{path}: initializer {tensor.name[:80]!r}: negative dimension in {dims}")
        elements *= d
    if elements > MAX_ELEMENTS:
        raise ModelError(f"{path}: initializer {tensor.name[:80]!r}: {elements:,} elements (dims {dims}); at most "
                         f"{MAX_ELEMENTS:,}")
    if tensor.data_location == 1 or not tensor.HasField("raw_data"):  # external or typed fields: onnx checks those
        return
    try:
        itemsize = helper.tensor_dtype_to_np_dtype(tensor.data_type).itemsize
    except Exception:
        raise ModelError(f"{path}: initializer {tensor.name[:80]!r}: unknown data type {tensor.data_type}") from None
    packed = tensor.data_type in (TensorProto.INT4, TensorProto.UINT4)  # two values a byte
    expected = (elements + 1) // 2 if packed else elements * itemsize
    if len(tensor.raw_data) != expected:
        raise ModelError(f"{path}: initializer {tensor.name[:80]!r} is corrupt: {len(tensor.raw_data):,} bytes for "
                         f"dims {dims} ({expected:,} expected)")


def graph_from_onnx(path: str | os.PathLike, input_shape: Sequence | None = None) -> Graph:
    """The IR of an ONNX model. `input_shape` (one shape, or one per input) overrides the graph's input shapes."""
    model = load_onnx(path)
    return _OnnxMapper(model, Path(path), input_shape).run()


class _OnnxMapper:
    def __init__(self, model, path: Path, input_shape):
        self.model = model
        self.path = path
        self.notes: list[str] = []
        init_names = {i.name for i in model.graph.initializer}
        self.input_names = [i.name for i in model.graph.input if i.name not in init_names]
        self._set_input_shapes(input_shape)

    # -- shapes

    def _set_input_shapes(self, input_shape) -> None:
        graph_inputs = [i for i in self.model.graph.input if i.name in self.input_names]
        shapes = normalise_input_shapes(input_shape) if input_shape is not None else None
        if shapes is not None:
            # every shape the file states was inferred from its own input shape (torch exports write them): dropped,
            # so that inference works from the shape asked for, not the file's
            del self.model.graph.value_info[:]
            for output in self.model.graph.output:
                output.type.tensor_type.ClearField("shape")
        if shapes is not None and len(shapes) != len(graph_inputs):
            raise ModelError(f"{self.path}: the model has {len(graph_inputs)} inputs but {len(shapes)} input shape(s) "
                             "were given")
        for index, value in enumerate(graph_inputs):
            dims = value.type.tensor_type.shape.dim
            if shapes is not None:
                if len(dims) and len(shapes[index]) != len(dims):
                    raise ModelError(f"{self.path}: input {value.name!r} has rank {len(dims)}, "
                                     f"but --input-shape gives {shapes[index]}")
                del dims[:]
                for d in shapes[index]:
                    dims.add().dim_value = d
                continue
            symbolic = [i for i, d in enumerate(dims) if not d.HasField("dim_value") or d.dim_value <= 0]
            if symbolic == [0]:
                label = dims[0].dim_param or "?"
                dims[0].ClearField("dim_param")
                dims[0].dim_value = 1
                self.notes.append(f"input {value.name!r}: dynamic batch dimension {label!r} taken as 1")
            elif symbolic:
                written = ["?" if i in symbolic else str(d.dim_value) for i, d in enumerate(dims)]
                raise ModelError(
                    f"{self.path}: input {value.name!r} has dynamic shape [{', '.join(written)}]; "
                    f"give the shape to analyse with --input-shape, e.g. --input-shape 1,{','.join(written[1:])}"
                )

    def _infer(self):
        import onnx

        try:
            return onnx.shape_inference.infer_shapes(self.model, data_prop=True)
        except Exception as exc:  # a model whose declared shapes contradict each other
            raise ModelError(f"{self.path}: ONNX shape inference failed: {exc}") from None

    def _shapes(self, inferred) -> dict[str, tuple[int, ...] | None]:
        shapes: dict[str, tuple[int, ...] | None] = {}
        g = inferred.graph
        for value in (*g.input, *g.value_info, *g.output):
            t = value.type.tensor_type
            if t.HasField("shape") and all(d.HasField("dim_value") for d in t.shape.dim):
                shapes[value.name] = tuple(int(d.dim_value) for d in t.shape.dim)
        return shapes

    # -- mapping

    def run(self) -> Graph:
        from onnx import numpy_helper

        g = self.model.graph
        consts = {i.name: i for i in g.initializer}
        for node in g.node:
            if node.op_type == "Constant":
                for attr in node.attribute:
                    if attr.name == "value":
                        consts[node.output[0]] = attr.t
        # DequantizeLinear outputs that are weights: name -> (quantized tensor, its format)
        quantized: dict[str, tuple[object, str]] = {}
        activation = set(self.input_names)
        inferred = self._infer()
        shapes = self._shapes(inferred)
        layers: list[Layer] = []
        tensors = {n: Tensor(n, shapes.get(n)) for n in self.input_names}
        used_names: set[str] = set()
        for index, node in enumerate(g.node):
            acts = tuple(i for i in node.input if i in activation)
            if not acts or node.op_type in _SHAPE_OPS:
                if node.op_type == "DequantizeLinear" and node.input[0] in consts:
                    quantized[node.output[0]] = (consts[node.input[0]], _QUANT_FORMATS.get(
                        consts[node.input[0]].data_type, "int8"))
                continue  # constant folding or shape arithmetic, not a layer
            output = node.output[0]
            out_shape = shapes.get(output)
            if out_shape is None and node.op_type not in _SIMPLE_OPS and node.op_type not in ("Conv", "Gemm",
                                                                                           "MatMul", "Clip"):
                # Nothing can infer a foreign op's output: assume it keeps its input's shape, say so, re-infer.
                out_shape = shapes.get(acts[0])
                if out_shape is not None:
                    self._declare(output, out_shape, acts[0], inferred)
                    inferred = self._infer()
                    shapes = self._shapes(inferred)
                    self.notes.append(f"{node.op_type} at {node.name or output!r}: output shape unknown, "
                                      f"assumed equal to its input {list(out_shape)}")
            for out in node.output:
                if out:
                    activation.add(out)
                    tensors[out] = Tensor(out, shapes.get(out))
            name = node.name or f"{node.op_type}_{index}"
            if name in used_names:
                name = f"{name}#{index}"
            used_names.add(name)
            weights = [(i, consts.get(i) or quantized.get(i, (None,))[0]) for i in node.input if i not in activation]
            weight_format = next((quantized[i][1] for i, _ in weights if i in quantized), None)
            layers.append(self._layer(node, name, acts, output, shapes, weights, weight_format, numpy_helper))
        outputs = tuple(o.name for o in g.output if o.name in tensors)
        return Graph(self.path.stem, tuple(self.input_names), outputs, tuple(layers), tensors, tuple(self.notes))

    def _declare(self, name: str, shape: tuple[int, ...], like: str, inferred) -> None:
        from onnx import helper

        elem_type = 1
        for value in (*inferred.graph.input, *inferred.graph.value_info):
            if value.name == like:
                elem_type = value.type.tensor_type.elem_type
        self.model.graph.value_info.append(helper.make_tensor_value_info(name, elem_type, list(shape)))

    def _layer(self, node, name, acts, output, shapes, weights, weight_format, numpy_helper) -> Layer:
        op_type = node.op_type
        out_shape = shapes.get(output)
        in_shape = shapes.get(acts[0])
        attrs = {a.name: a for a in node.attribute}
        consts = [t for _, t in weights if t is not None]
        # Only numeric weights count as parameters: int64 initializers are shapes and axes, and single numbers
        # (clip bounds, literal scales, quantization scales) are hyperparameters, as torch sees them.
        param_tensors = [t for t in consts if (t.data_type in _FLOAT_TYPES or t.data_type in _QUANT_FORMATS)
                         and math.prod(t.dims) > 1]
        dims = {i: tuple(t.dims) for i, t in weights if t is not None}
        numel = sum(math.prod(t.dims) for t in param_tensors)
        if op_type == "Conv" and len(node.input) > 1 and node.input[1] in dims:
            w = dims[node.input[1]]
            groups = attrs["group"].i if "group" in attrs else 1
            has_bias = len(node.input) > 2 and bool(node.input[2])
            layer = L.conv(name, acts, output, op_type, in_channels=w[1] * groups, out_channels=w[0],
                           kernel=w[2:], groups=groups, bias=has_bias, out_shape=out_shape,
                           weight_format=weight_format)
            tensor = dict(weights).get(node.input[1])
            if groups == 1 and tensor is not None and generated_kernels(numpy_helper.to_array(tensor)) is not None:
                return L.generated(layer, out_shape)  # the rocket family's: a device generates them
            return layer
        if op_type == "Gemm" and len(node.input) > 1 and node.input[1] in dims:
            w = dims[node.input[1]]
            trans_b = "transB" in attrs and attrs["transB"].i
            out_features, in_features = (w[0], w[1]) if trans_b else (w[1], w[0])
            has_bias = len(node.input) > 2 and bool(node.input[2])
            return L.dense(name, acts, output, op_type, in_features=in_features, out_features=out_features,
                           bias=has_bias, out_shape=out_shape, weight_format=weight_format)
        if op_type == "MatMul":
            if len(acts) == 1 and node.input[1] in dims:
                w = dims[node.input[1]]
                return L.dense(name, acts, output, op_type, in_features=w[-2], out_features=w[-1], bias=False,
                               out_shape=out_shape, weight_format=weight_format)
            inner = in_shape[-1] if in_shape else 0
            return L.matmul(name, acts, output, op_type, inner=inner, out_shape=out_shape)
        op = _SIMPLE_OPS.get(op_type)
        if op_type == "Clip":
            op = Op.RELU6 if _clip_bounds(node, weights, numpy_helper) == (0.0, 6.0) else Op.RELU
        if op_type == "BatchNormalization":
            # torch counts scale and shift as parameters; running mean and variance are statistics.
            numel = sum(math.prod(t.dims) for t in consts[:2])
        if op in (Op.GLOBAL_AVGPOOL, Op.GLOBAL_MAXPOOL) and op_type.startswith("Reduce"):
            if not (in_shape and out_shape and len(in_shape) >= 3
                    and math.prod(out_shape) == in_shape[0] * in_shape[1]):
                op = None
        window = 1
        if op in (Op.MAXPOOL, Op.AVGPOOL) and "kernel_shape" in attrs:
            window = math.prod(attrs["kernel_shape"].ints)
        if op is None:
            return Layer(name, Op.UNKNOWN, acts, output, op_type if not node.domain else f"{node.domain}.{op_type}",
                         other_params=numel)
        return L.simple(name, op, acts, output, op_type, in_shape=in_shape, out_shape=out_shape, window=window,
                        params=numel)


def _clip_bounds(node, weights, numpy_helper) -> tuple[float, float] | None:
    values = {}
    for position, (_, tensor) in zip((1, 2), weights):  # Clip(x, min, max): the non-activation inputs in order
        if tensor is not None:
            values[position] = float(numpy_helper.to_array(tensor).reshape(-1)[0])
    for attr in node.attribute:  # opset < 11 keeps the bounds as attributes
        if attr.name == "min":
            values[1] = attr.f
        if attr.name == "max":
            values[2] = attr.f
    if 1 in values and 2 in values:
        return values[1], values[2]
    return None
