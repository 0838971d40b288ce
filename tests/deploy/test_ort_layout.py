"""onnxruntime's channel layout for 2-D convolutions, read from its optimized graph."""

from __future__ import annotations

import math

from edgeopt.deploy.microbench import Micro, write_micro
from edgeopt.deploy.ort_layout import FILTER_BLOCKS_A_PASS, NCHWC_DOMAIN, nchwc_layout, optimized_convs
from edgeopt.graph.ops import Op


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
