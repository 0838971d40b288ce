"""The channel layout onnxruntime runs 2-D convolutions in on this CPU, read from its own optimized graph: MLAS's
NCHWc blocks (8 channels with AVX2, 16 with AVX-512, none where it has no NCHWc kernels) and its filter tile (four
blocks a pass over the input). What `calibrate --runtime onnxruntime` writes into the profile it fits."""

from __future__ import annotations

import tempfile
from pathlib import Path

from edgeopt.deploy.microbench import Micro, write_micro
from edgeopt.graph.ops import Op

NCHWC_DOMAIN = "com.microsoft.nchwc"
FILTER_BLOCKS_A_PASS = 4  # MLAS's NCHWc kernels compute up to four blocks of filters per pass over the input


def nchwc_layout() -> dict[Op, tuple[int, int]]:
    """Per op, (channel block, channel tile: 0 for one pass) as onnxruntime lays out 2-D convolutions here: (1, 0)
    where it does not block them. A one-filter convolution is optimized by onnxruntime and its filter count read
    back: the padding onnxruntime adds is the block."""
    import onnx
    import onnxruntime as ort

    with tempfile.TemporaryDirectory(prefix="edgeopt-layout-") as tmp:
        model = write_micro(Micro("probe", "conv", 1, 1, (8, 8), 3), Path(tmp) / "probe.onnx")
        options = ort.SessionOptions()
        options.optimized_model_filepath = str(Path(tmp) / "optimized.onnx")
        options.log_severity_level = 3
        options.intra_op_num_threads = 1
        ort.InferenceSession(str(model), options, providers=["CPUExecutionProvider"])
        graph = onnx.load(options.optimized_model_filepath).graph
    weights = {init.name: tuple(init.dims) for init in graph.initializer}
    blocks = [weights[node.input[1]][0] for node in graph.node
              if node.domain == NCHWC_DOMAIN and node.op_type == "Conv" and node.input[1] in weights]
    block = int(blocks[0]) if blocks else 1
    return {Op.CONV2D: (block, FILTER_BLOCKS_A_PASS * block if block > 1 else 0), Op.DEPTHWISE_CONV2D: (block, 0)}
