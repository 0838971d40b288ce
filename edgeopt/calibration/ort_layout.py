"""The channel layout onnxruntime runs 2-D convolutions in on this CPU, read from its own optimized graph: MLAS's
NCHWc blocks (8 channels with AVX2, 16 with AVX-512, none where it has no NCHWc kernels) and its filter tile (four
blocks a pass over the input). What `calibrate --runtime onnxruntime` writes into the profile it fits."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

from edgeopt.calibration.microbench import Micro, write_micro
from edgeopt.deploy.runtime import session
from edgeopt.graph.ops import Op

NCHWC_DOMAIN = "com.microsoft.nchwc"
FILTER_BLOCKS_A_PASS = 4  # MLAS's NCHWc kernels compute up to four blocks of filters per pass over the input


def nchwc_layout() -> dict[Op, tuple[int, int]]:
    """Per op, (channel block, channel tile: 0 for one pass) as onnxruntime lays out 2-D convolutions here: (1, 0)
    where it does not block them. A one-filter convolution is optimized by onnxruntime and its filter count read
    back: the padding onnxruntime adds is the block."""
    with tempfile.TemporaryDirectory(prefix="edgeopt-layout-") as tmp:
        model = write_micro(Micro("probe", "conv", 1, 1, (8, 8), 3), Path(tmp) / "probe.onnx")
        blocks = [filters for domain, filters in optimized_convs(model, Path(tmp) / "optimized.onnx")
                  if domain == NCHWC_DOMAIN]
    block = blocks[0] if blocks else 1
    return {Op.CONV2D: (block, FILTER_BLOCKS_A_PASS * block if block > 1 else 0), Op.DEPTHWISE_CONV2D: (block, 0)}


def optimized_convs(model: str | os.PathLike, optimized_to: str | os.PathLike) -> list[tuple[str, int]]:
    """(domain, filter count) of each convolution (Conv, FusedConv) in the graph onnxruntime runs for `model` (saved
    to `optimized_to`): its NCHWc domain's carry the filters padded to whole blocks."""
    import onnx

    session(model, exact=False, optimized_to=optimized_to)
    graph = onnx.load(str(optimized_to)).graph
    weights = {init.name: tuple(init.dims) for init in graph.initializer}
    return [(node.domain, int(weights[node.input[1]][0])) for node in graph.node
            if node.op_type in ("Conv", "FusedConv") and len(node.input) > 1 and node.input[1] in weights]
