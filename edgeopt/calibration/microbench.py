"""Microbenchmarks for calibrating latency: one-op (and short-chain) fp32 ONNX models of the op kinds and sizes the
shipped search spaces produce, written with onnx.helper, architectures drawn from those spaces (exported from torch),
and their latency measured in onnxruntime."""

from __future__ import annotations

import dataclasses
import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from edgeopt.calibration.board_micro import build_module, space_samples
from edgeopt.deploy.onnx import export_onnx
from edgeopt.deploy.runtime import host_latency_s
from edgeopt.errors import EdgeoptError

OPSET = 21
# architectures drawn from the shipped spaces beside the one-op models: how a search's small models run (their
# layers' sizes, chains and heads together), which single ops do not show; cnn2d on an 8x8 digit and on a 32x32
# three-channel tiny image (CIFAR's size)
SPACE_SAMPLES = (("cnn1d", (12, 64), 8), ("mlp", (32,), 6), ("cnn2d", (1, 8, 8), 6), ("cnn2d", (3, 32, 32), 4))


@dataclass(frozen=True)
class Micro:
    """One microbenchmark: a name that says its shape, and how to build it."""

    name: str
    kind: str  # conv | dense | pool | global_pool | residual (conv + add of its input + relu) | head (conv, relu,
    # the mean over positions between views, dense: how torch exports a search model's end) | conv_pool (conv,
    # its activation, then a `pool` of `kernel` 2: a pool where networks have one, after a convolution)
    channels_in: int
    channels_out: int
    spatial: tuple[int, ...]  # () for dense; (L,) 1-D; (H, W) 2-D
    kernel: int = 1
    groups: int = 1
    depth: int = 1  # a chain of `depth` such layers (the first maps channels_in to channels_out, the rest keep them)
    pool: str = "max"
    stride: int = 1  # a convolution's
    activation: str = "Relu"  # the ONNX op after each conv or dense layer: Relu, Clip to [0, 6] (relu6), or ""
    # for none (an inverted residual block's projection)


def micro_suite() -> tuple[Micro, ...]:
    """The sizes the shipped spaces (mlp, cnn1d, cnn2d) produce, small to large, each alone and as a chain of three
    (what a layer costs inside a model, apart from what a call costs), residual blocks (their adds), a stride-2
    depthwise layer, some ending in relu6 as well as relu (a runtime may clamp one in the kernel, not the other),
    the cnn2d space's inverted residual pieces on a 32x32 image, and 2-D pools after a convolution."""
    base = []
    for cin, cout in ((3, 8), (16, 16), (16, 64)):
        for length in (32, 256):
            for k in (3, 7):
                base.append(Micro(f"conv1d_{cin}x{cout}_L{length}_k{k}", "conv", cin, cout, (length,), k))
    for c in (8, 64):
        for length in (64, 256):
            for k in (3, 5):  # two kernel lengths: how a short innermost loop costs (the half length) shows
                base.append(Micro(f"dwconv1d_{c}_L{length}_k{k}", "conv", c, c, (length,), k, groups=c))
    for cin, cout in ((3, 8), (16, 32)):
        for hw in (8, 32):
            base.append(Micro(f"conv2d_{cin}x{cout}_{hw}x{hw}_k3", "conv", cin, cout, (hw, hw), 3))
    base.append(Micro("conv2d_16x16_32x32_k3", "conv", 16, 16, (32, 32), 3))  # same width (ResNet-style)
    base.append(Micro("conv2d_16x32_16x16_k1", "conv", 16, 32, (16, 16), 1))  # pointwise (MobileNet-style)
    for c in (16, 64):
        base.append(Micro(f"dwconv2d_{c}_16x16_k3", "conv", c, c, (16, 16), 3, groups=c))
    base.append(Micro("dwconv2d_64_32x32_k3_s2", "conv", 64, 64, (32, 32), 3, groups=64, stride=2))
    # the cnn2d space's widest inverted residual pieces (16 channels expanded 4x and 6x) on a tiny image (32x32):
    # its largest layers, of which the sizes above have no pointwise or depthwise one
    for c in (64, 96):
        base.append(Micro(f"conv2d_16x{c}_32x32_k1_relu6", "conv", 16, c, (32, 32), 1, activation="Clip"))
        base.append(Micro(f"dwconv2d_{c}_32x32_k3_relu6", "conv", c, c, (32, 32), 3, groups=c, activation="Clip"))
        base.append(Micro(f"conv2d_{c}x16_32x32_k1_linear", "conv", c, 16, (32, 32), 1, activation=""))
    for fin, fout in ((8, 8), (64, 16), (256, 128), (1024, 64)):
        base.append(Micro(f"dense_{fin}x{fout}", "dense", fin, fout, ()))
    for pool in ("max", "avg"):  # 2-D pools run after a (pointwise, cheap) convolution, as in networks: a runtime
        # that computes convolutions in a blocked layout pools there, with another kernel than a 1-D pool's
        for c, hw in ((16, 32), (8, 16)):
            base.append(Micro(f"conv2d_{c}x{c}_{hw}x{hw}_k1_{pool}pool2d", "conv_pool", c, c, (hw, hw), 1,
                              pool=pool))
    for pool in ("max", "avg"):  # three sizes: what a pooled element costs apart from the layer's overhead
        for c, length in ((8, 16), (16, 128), (64, 512)):
            base.append(Micro(f"{pool}pool1d_{c}_L{length}", "pool", c, c, (length,), 2, pool=pool))
    base.append(Micro("global_avgpool_32_L128", "global_pool", 32, 32, (128,)))
    for c, length in ((16, 32), (64, 128)):  # a search model's head as torch exports it: views around the mean
        base.append(Micro(f"head1d_{c}_L{length}", "head", c, 8, (length,), 3))
    base.append(Micro("head2d_16_8x8", "head", 16, 8, (8, 8), 3))
    base.append(Micro("residual1d_16_L64_k3", "residual", 16, 16, (64,), 3))
    base.append(Micro("residual2d_16_16x16_k3", "residual", 16, 16, (16, 16), 3))
    # relu6, as the spaces' and MobileNets' layers end: a runtime may clamp in the kernel for relu but not for it
    base += [dataclasses.replace(m, name=f"{m.name}_relu6", activation="Clip") for m in base if m.name in (
        "conv1d_16x64_L256_k3", "conv2d_16x32_32x32_k3", "conv2d_16x32_16x16_k1", "dwconv2d_64_16x16_k3",
        "dense_256x128")]
    chains = [dataclasses.replace(m, name=f"{m.name}_x3", depth=3) for m in base
              if m.kind not in ("global_pool", "head")]
    return tuple(base + chains)


def write_micros(folder: str | os.PathLike) -> list[tuple[str, Path]]:
    """(name, ONNX file) of every microbenchmark written into `folder`: the one-op models and chains, then the
    architectures drawn from the shipped spaces (fp32, random weights)."""
    import torch

    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    files = [(m.name, write_micro(m, folder / f"{m.name}.onnx")) for m in micro_suite()]
    torch.manual_seed(0)
    for micro in space_samples(SPACE_SAMPLES):
        path = export_onnx(build_module(micro).eval(), micro.sample_shape, folder / f"{micro.name}.onnx")
        files.append((micro.name, Path(path)))
    return files


def write_micro(micro: Micro, path: str | os.PathLike) -> Path:
    """The microbenchmark as an ONNX file (batch 1, fixed seed weights)."""
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    rng = np.random.default_rng(0)
    nodes, inits = [], []
    shape = [1, micro.channels_in, *micro.spatial]
    current = "input"
    for i in range(micro.depth):
        out = "output" if i == micro.depth - 1 else f"h{i}"
        cin = micro.channels_in if i == 0 else micro.channels_out
        if micro.kind in ("conv", "residual", "conv_pool"):
            rank = len(micro.spatial)
            w = rng.standard_normal((micro.channels_out, cin // micro.groups,
                                     *[micro.kernel] * rank)).astype(np.float32) * 0.1
            b = np.zeros(micro.channels_out, np.float32)
            inits += [numpy_helper.from_array(w, f"w{i}"), numpy_helper.from_array(b, f"b{i}")]
            conv_out = f"c{i}" if micro.activation or micro.kind != "conv" else out
            nodes.append(helper.make_node("Conv", [current, f"w{i}", f"b{i}"], [conv_out], group=micro.groups,
                                          pads=[micro.kernel // 2] * 2 * rank, kernel_shape=[micro.kernel] * rank,
                                          strides=[micro.stride] * rank))
            if micro.kind == "residual":  # conv, add the block's input, relu
                nodes.append(helper.make_node("Add", [f"c{i}", current], [f"a{i}"]))
                nodes.append(_activation(micro, f"a{i}", out))
            elif micro.kind == "conv_pool":
                nodes.append(_activation(micro, f"c{i}", f"r{i}"))
                nodes.append(_pool(micro, f"r{i}", out, 2))
            elif micro.activation:
                nodes.append(_activation(micro, f"c{i}", out))
        elif micro.kind == "dense":
            w = rng.standard_normal((micro.channels_out, cin)).astype(np.float32) * 0.1
            b = np.zeros(micro.channels_out, np.float32)
            inits += [numpy_helper.from_array(w, f"w{i}"), numpy_helper.from_array(b, f"b{i}")]
            nodes.append(helper.make_node("Gemm", [current, f"w{i}", f"b{i}"], [f"c{i}"], transB=1))
            nodes.append(_activation(micro, f"c{i}", out))
        elif micro.kind == "pool":
            nodes.append(_pool(micro, current, out, micro.kernel))
        elif micro.kind == "global_pool":
            nodes.append(helper.make_node("GlobalAveragePool", [current], [out]))
        else:  # head: conv, relu, then the mean over positions and a dense layer, through views
            rank = len(micro.spatial)
            c = micro.channels_in
            w = rng.standard_normal((c, c, *[micro.kernel] * rank)).astype(np.float32) * 0.1
            fc = rng.standard_normal((micro.channels_out, c)).astype(np.float32) * 0.1
            inits += [numpy_helper.from_array(w, "w"), numpy_helper.from_array(np.zeros(c, np.float32), "b"),
                      numpy_helper.from_array(fc, "fc"),
                      numpy_helper.from_array(np.zeros(micro.channels_out, np.float32), "fcb"),
                      numpy_helper.from_array(np.array([2], np.int64), "ax2"),
                      numpy_helper.from_array(np.array([2, 3], np.int64), "ax23"),
                      numpy_helper.from_array(np.array([1, c], np.int64), "flat")]
            nodes.append(helper.make_node("Conv", [current, "w", "b"], ["c"], pads=[micro.kernel // 2] * 2 * rank,
                                          kernel_shape=[micro.kernel] * rank))
            nodes.append(helper.make_node("Relu", ["c"], ["r"]))
            pooled = "r"
            if rank == 1:
                nodes.append(helper.make_node("Unsqueeze", ["r", "ax2"], ["u"]))
                pooled = "u"
            nodes.append(helper.make_node("ReduceMean", [pooled, "ax23"], ["m"], keepdims=1))
            nodes.append(helper.make_node("Squeeze", ["m", "ax23"], ["s"]))
            nodes.append(helper.make_node("Reshape", ["s", "flat"], ["f"]))
            nodes.append(helper.make_node("Gemm", ["f", "fc", "fcb"], [out], transB=1))
        current = out
    if micro.activation == "Clip":
        inits += [numpy_helper.from_array(np.array(v, np.float32), name) for name, v in (("lo", 0.0), ("hi", 6.0))]
    graph = helper.make_graph(nodes, micro.name, [helper.make_tensor_value_info("input", TensorProto.FLOAT, shape)],
                              [helper.make_tensor_value_info("output", TensorProto.FLOAT, None)], inits)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", OPSET)], producer_name="edgeopt")
    model = onnx.shape_inference.infer_shapes(model)
    path = Path(path)
    onnx.save(model, str(path))
    return path


def _pool(micro: Micro, source: str, out: str, kernel: int):
    from onnx import helper

    op = "MaxPool" if micro.pool == "max" else "AveragePool"
    rank = len(micro.spatial)
    return helper.make_node(op, [source], [out], kernel_shape=[kernel] * rank, strides=[kernel] * rank)


def _activation(micro: Micro, source: str, out: str):
    from onnx import helper

    if micro.activation == "Clip":
        return helper.make_node("Clip", [source, "lo", "hi"], [out])
    return helper.make_node(micro.activation, [source], [out])


def input_shape(path: str | os.PathLike) -> tuple[int, ...]:
    """The ONNX file's first input shape, unknown dimensions (a dynamic batch) taken as 1."""
    import onnx

    graph = onnx.load(str(path), load_external_data=False).graph
    initializers = {init.name for init in graph.initializer}
    first = next(i for i in graph.input if i.name not in initializers)
    return tuple(d.dim_value or 1 for d in first.type.tensor_type.shape.dim)


def measure_latencies_s(paths, rounds: int = 5, runs: int = 300,
                        progress=None) -> list[tuple[float, float]]:
    """Per ONNX file: (the best of `rounds` medians of `runs` single-sample calls, the rounds' spread: max / min - 1),
    in onnxruntime on one thread on a fixed random input. Rounds are interleaved across the files, so a slow stretch
    of a shared machine lands on every file once rather than on a few files entirely, and the best round is the one
    least disturbed (on this 2-core VM rounds of one file differ by up to 2x)."""
    samples = [np.random.default_rng(0).standard_normal(input_shape(p)[1:]).astype(np.float32) for p in paths]
    medians: list[list[float]] = [[] for _ in paths]
    for r in range(rounds):
        for i, (path, sample) in enumerate(zip(paths, samples)):
            if progress:
                progress(f"round {r + 1}/{rounds}: {Path(path).name}")
            try:
                medians[i].append(host_latency_s(path, sample, runs=runs))
            except Exception as exc:  # onnxruntime's own errors: a model it cannot load or run on one input
                raise EdgeoptError(f"{path}: onnxruntime cannot time it on one input of shape {sample.shape}: "
                                   f"{type(exc).__name__}: {str(exc).strip()[:200]}") from None
    return [(min(m), max(m) / min(m) - 1.0) for m in medians]
