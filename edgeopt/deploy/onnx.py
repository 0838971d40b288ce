"""Export to ONNX: float, or quantized as QDQ (integer weights + DequantizeLinear, activations through Q/DQ pairs).

The integer values and scales come from the grid the PyTorch simulation uses (`intgrid.grid`), so the
deployed artifact computes what was evaluated. Export is deterministic: the same model gives byte-identical files.
"""

from __future__ import annotations

import contextlib
import io
import os
from pathlib import Path

from edgeopt.errors import ModelError

OPSET = 21  # int4 and int16 QuantizeLinear/DequantizeLinear


def export_onnx(model, sample_shape: tuple[int, ...], path: str | os.PathLike, plan=None) -> Path:
    """Write `model` (dynamic batch) to `path`; with a QuantPlan, as QDQ with the plan's integer formats."""
    import copy

    import onnx
    import torch

    clean = copy.deepcopy(model).eval()
    for module in clean.modules():  # a quantization simulation's forwards (instance attributes): the float graph
        module.__dict__.pop("forward", None)
    example = torch.zeros((2, *sample_shape))
    quiet = io.StringIO()
    try:
        with contextlib.redirect_stdout(quiet), contextlib.redirect_stderr(quiet):
            program = torch.onnx.export(clean, (example,), dynamo=True, external_data=False, opset_version=OPSET,
                                        verbose=False, dynamic_shapes=({0: torch.export.Dim("batch")},))
    except Exception as exc:  # the exporter's own message says which op failed
        raise ModelError(f"ONNX export of {type(model).__name__} failed: {type(exc).__name__}: {exc}") from None
    proto = program.model_proto
    proto.producer_name, proto.producer_version = "edgeopt", ""
    if plan is not None:
        _insert_qdq(proto, clean, plan)
    onnx.checker.check_model(proto)
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    tmp.write_bytes(proto.SerializeToString())
    os.replace(tmp, path)
    return path


_ONNX_INT = {"int8": "INT8", "int16": "INT16", "int4": "INT4", "analog8": "INT8"}


def _insert_qdq(proto, model, plan) -> None:
    import numpy as np
    from onnx import TensorProto, helper, numpy_helper

    from edgeopt.intgrid.grid import bias_integers, weight_integers

    graph = proto.graph
    inits = {init.name: init for init in graph.initializer}
    modules = dict(model.named_modules())
    layers = plan.by_name()
    found: set[str] = set()
    new_nodes = []
    for node in graph.node:
        weight_name = node.input[1] if node.op_type in ("Conv", "Gemm") and len(node.input) > 1 else None
        name = weight_name[:-len(".weight")] if weight_name and weight_name.endswith(".weight") else None
        q = layers.get(name)
        if q is None or weight_name not in inits:
            new_nodes.append(node)
            continue
        found.add(name)
        module = modules[name]
        axis = 0
        if node.op_type == "Gemm" and not any(a.name == "transB" and a.i == 1 for a in node.attribute):
            raise ModelError(f"ONNX export: {name} became a Gemm without transB; cannot place its per-channel scales")
        if q.act_format is not None:
            qmin_dtype = getattr(TensorProto, _ONNX_INT[q.act_format])
            scale = f"{name}.input_scale"
            zero = f"{name}.input_zero_point"
            graph.initializer.extend([numpy_helper.from_array(np.array(q.act_scale, np.float32), scale),
                                      helper.make_tensor(zero, qmin_dtype, [], [q.act_zero_point])])
            quantized, dequantized = f"{name}.input_q", f"{name}.input_dq"
            new_nodes.append(helper.make_node("QuantizeLinear", [node.input[0], scale, zero], [quantized],
                                              name=f"{name}.quantize_input"))
            new_nodes.append(helper.make_node("DequantizeLinear", [quantized, scale, zero], [dequantized],
                                              name=f"{name}.dequantize_input"))
            node.input[0] = dequantized
        bits = q.weight_bits
        if bits is not None:
            weight = module.weight.detach()
            integers, w_scale = weight_integers(weight, bits, q.per_channel)
            w_dtype = getattr(TensorProto, _ONNX_INT[q.weight_format])
            graph.initializer.remove(inits[weight_name])
            graph.initializer.extend([
                helper.make_tensor(f"{weight_name}_quantized", w_dtype, list(weight.shape),
                                   integers.flatten().tolist()),
                numpy_helper.from_array(w_scale.numpy().astype(np.float32), f"{weight_name}_scale"),
                helper.make_tensor(f"{weight_name}_zero_point", w_dtype, [weight.shape[0]], [0] * weight.shape[0]),
            ])
            new_nodes.append(helper.make_node(
                "DequantizeLinear", [f"{weight_name}_quantized", f"{weight_name}_scale", f"{weight_name}_zero_point"],
                [weight_name], name=f"{name}.dequantize_weight", axis=axis))
            bias_name = node.input[2] if len(node.input) > 2 else ""
            if bias_name in inits and q.act_format is not None:
                b_int, b_scale = bias_integers(module.bias.detach(), q.act_scale, q.bias_bits, w_scale)
                graph.initializer.remove(inits[bias_name])
                graph.initializer.extend([
                    numpy_helper.from_array(b_int.numpy(), f"{bias_name}_quantized"),
                    numpy_helper.from_array(b_scale.numpy(), f"{bias_name}_scale"),
                    numpy_helper.from_array(np.zeros(len(b_int), np.int32), f"{bias_name}_zero_point"),
                ])
                new_nodes.append(helper.make_node(
                    "DequantizeLinear", [f"{bias_name}_quantized", f"{bias_name}_scale", f"{bias_name}_zero_point"],
                    [bias_name], name=f"{name}.dequantize_bias", axis=0))
        new_nodes.append(node)
    missing = sorted(set(layers) - found)
    if missing:
        raise ModelError(f"ONNX export: quantized layers {', '.join(missing)} were not found in the exported graph "
                         "(the exporter renamed or fused them)")
    del graph.node[:]
    graph.node.extend(new_nodes)
