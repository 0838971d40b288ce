"""onnxruntime's channel layout for 2-D convolutions, read from its optimized graph."""

from __future__ import annotations

import math

import onnx
import pytest
import torch
from torch import nn

from edgeopt.cost.estimate import estimate
from edgeopt.calibration.microbench import Micro, write_micro
from edgeopt.calibration.ort_layout import FILTER_BLOCKS_A_PASS, NCHWC_DOMAIN, nchwc_layout, optimized_convs
from edgeopt.deploy.onnx import export_onnx
from edgeopt.graph.build import build_graph
from edgeopt.graph.ops import Op
from edgeopt.profiles.loader import load_profile
from edgeopt.calibration.calibrate import with_layout
from reference_models import BasicBlock, InvertedResidual


def test_the_block_read_back_is_how_onnxruntime_pads_any_convolution(tmp_path):
    """The probe's block predicts the filters onnxruntime gives convolutions of 12 and 24 channels (and a depthwise
    one of 12) after its own graph optimizations; where it does not block them, (1, 0)."""
    layout = nchwc_layout()
    block, tile = layout[Op.CONV2D]
    assert layout[Op.DEPTHWISE_CONV2D] == (block, 0)
    assert tile == (FILTER_BLOCKS_A_PASS * block if block > 1 else 0)
    for micro in (Micro("c12", "conv", 8, 12, (8, 8), 3), Micro("c24", "conv", 16, 24, (8, 8), 1),
                  Micro("d12", "conv", 12, 12, (8, 8), 3, groups=12)):
        convs = optimized_convs(write_micro(micro, tmp_path / f"{micro.name}.onnx"),
                                tmp_path / f"{micro.name}-optimized.onnx")
        assert [filters for _, filters in convs] == [math.ceil(micro.channels_out / block) * block], micro.name
        assert all((domain == NCHWC_DOMAIN) == (block > 1) for domain, _ in convs), micro.name


class Head(nn.Module):
    def forward(self, x):
        return x.mean((2, 3))


def test_the_cost_model_converts_what_onnxruntime_reorders(tmp_path):
    """On host-cpu with the layout read here, the elements the cost model converts between layouts are those of
    onnxruntime's ReorderInput and ReorderOutput nodes: inverted residual chains (an add with a plain skip runs
    plain), a stem of 3 channels and a narrow layer (read plain), stride-2 blocks, ResNet basic blocks (a strided
    1x1 shortcut), the mean at the end."""
    layout = nchwc_layout()
    if layout[Op.CONV2D][0] == 1:
        pytest.skip("onnxruntime has no NCHWc kernels on this CPU: it reorders nothing")

    profile = with_layout(load_profile("host-cpu"), layout)
    torch.manual_seed(0)
    models = {
        "residual": (nn.Sequential(InvertedResidual(16, 16, 1, 4), InvertedResidual(16, 16, 1, 4)), (16, 12, 12)),
        "mobile": (nn.Sequential(nn.Conv2d(3, 16, 3, 2, 1), nn.ReLU6(), InvertedResidual(16, 16, 1, 4),
                                 InvertedResidual(16, 24, 2, 4), Head()), (3, 16, 16)),
        "resnet": (nn.Sequential(nn.Conv2d(3, 16, 3, 1, 1), nn.ReLU(), BasicBlock(16, 16, 1), BasicBlock(16, 32, 2),
                                 Head()), (3, 16, 16)),
        "narrow": (nn.Sequential(nn.Conv2d(3, 4, 3, 1, 1), nn.ReLU(), nn.Conv2d(4, 24, 1), nn.ReLU(),
                                 nn.Conv2d(24, 24, 3, 1, 1, groups=24), nn.MaxPool2d(2), Head()), (3, 8, 8)),
    }
    for name, (module, shape) in models.items():
        path = export_onnx(module.eval(), shape, tmp_path / f"{name}.onnx")
        optimized_convs(path, tmp_path / f"{name}-optimized.onnx")
        tensors = build_graph(path).tensors  # the plain tensors a reorder reads or writes are the model's own
        reordered = sum(tensors[node.input[0] if node.op_type == "ReorderInput" else node.output[0]].numel
                        for node in onnx.load(str(tmp_path / f"{name}-optimized.onnx")).graph.node
                        if node.op_type in ("ReorderInput", "ReorderOutput"))
        rate = profile.compute.macs_per_s["fp32"]
        counted = sum(layer.terms.convert_s * rate for layer in estimate(path, profile).layers
                      if layer.terms is not None)
        assert reordered > 0 and round(counted) == reordered, name


def test_the_pools_the_cost_model_runs_blocked_are_onnxruntimes_nchwc_pools(tmp_path):
    """A 2-D pool runs in onnxruntime's NCHWc domain where the schedule says it runs blocked (its blocked efficiency
    applies): after a blocked convolution, over whole blocks of channels (16 are two blocks with AVX2, one with
    AVX-512; 8 one block with AVX2, half of one with AVX-512); a 1-D pool after a 1-D convolution runs plain. What
    onnxruntime does is read from its optimized graph on this CPU, not assumed."""
    layout = nchwc_layout()
    if layout[Op.CONV2D][0] == 1:
        pytest.skip("onnxruntime has no NCHWc kernels on this CPU")
    profile = with_layout(load_profile("host-cpu"), layout)
    block = layout[Op.CONV2D][0]
    for micro, nchwc in ((Micro("p2", "conv_pool", 16, 16, (16, 16), 1, pool="max"), True),
                         (Micro("a2", "conv_pool", 8, 8, (16, 16), 1, pool="avg"), 8 % block == 0),
                         (Micro("w2", "conv_pool", 16, 24, (16, 16), 1, pool="max"), 24 % block == 0),
                         (Micro("p1", "conv_pool", 16, 16, (64,), 3, pool="max"), False)):
        path = write_micro(micro, tmp_path / f"{micro.name}.onnx")
        optimized_convs(path, tmp_path / f"{micro.name}-optimized.onnx")
        pools = [node.domain == NCHWC_DOMAIN for node in onnx.load(str(tmp_path / f"{micro.name}-optimized.onnx"))
                 .graph.node if node.op_type in ("MaxPool", "AveragePool")]
        blocked = [layer.terms.blocked for layer in estimate(path, profile).layers
                   if layer.op in (Op.MAXPOOL, Op.AVGPOOL)]
        assert pools == blocked == [nchwc], micro.name
