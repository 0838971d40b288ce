"""The operator vocabulary of the model IR, shared by the torch and ONNX front ends, the cost model and profiles."""

from __future__ import annotations

from enum import Enum


class Op(str, Enum):
    DENSE = "dense"
    MATMUL = "matmul"
    CONV1D = "conv1d"
    CONV2D = "conv2d"
    DEPTHWISE_CONV1D = "depthwise_conv1d"
    DEPTHWISE_CONV2D = "depthwise_conv2d"
    BATCHNORM = "batchnorm"
    RELU = "relu"
    RELU6 = "relu6"
    LEAKY_RELU = "leaky_relu"
    SIGMOID = "sigmoid"
    TANH = "tanh"
    GELU = "gelu"
    SILU = "silu"
    HARDSWISH = "hardswish"
    HARDSIGMOID = "hardsigmoid"
    STEP = "step"  # 1 where the input is above 0, else 0: a compare (the proportion of positive values counts it)
    ADD = "add"
    SUB = "sub"
    MUL = "mul"
    DIV = "div"
    CONCAT = "concat"
    MAXPOOL = "maxpool"
    AVGPOOL = "avgpool"
    GLOBAL_AVGPOOL = "global_avgpool"
    GLOBAL_MAXPOOL = "global_maxpool"
    FLATTEN = "flatten"
    RESHAPE = "reshape"
    TRANSPOSE = "transpose"
    PAD = "pad"
    SOFTMAX = "softmax"
    QUANTIZE = "quantize"
    DEQUANTIZE = "dequantize"
    IDENTITY = "identity"
    UNKNOWN = "unknown"

    def __str__(self) -> str:
        return self.value


MAC_OPS = frozenset({Op.DENSE, Op.MATMUL, Op.CONV1D, Op.CONV2D, Op.DEPTHWISE_CONV1D, Op.DEPTHWISE_CONV2D})
DEPTHWISE_OPS = frozenset({Op.DEPTHWISE_CONV1D, Op.DEPTHWISE_CONV2D})  # each input channel its own group
ACTIVATIONS = frozenset(
    {Op.RELU, Op.RELU6, Op.LEAKY_RELU, Op.SIGMOID, Op.TANH, Op.GELU, Op.SILU, Op.HARDSWISH, Op.HARDSIGMOID, Op.STEP}
)
# Ops a runtime can apply to a buffer in place when nothing else reads that buffer.
UNARY_ELEMENTWISE = ACTIVATIONS | {Op.BATCHNORM}
BINARY_ELEMENTWISE = frozenset({Op.ADD, Op.SUB, Op.MUL, Op.DIV})
# Ops a runtime may run in the epilogue of the MAC layer whose output they read (a profile's compute.fused_ops).
EPILOGUE_OPS = ACTIVATIONS | BINARY_ELEMENTWISE
# Ops that reinterpret a buffer without moving data: their output aliases their input.
VIEW_OPS = frozenset({Op.FLATTEN, Op.RESHAPE, Op.IDENTITY, Op.QUANTIZE, Op.DEQUANTIZE})
# Ops a device must support; views and Q/DQ markers are compile-time constructs every runtime handles.
SUPPORT_OPS = frozenset(Op) - VIEW_OPS - {Op.UNKNOWN}


def parse_op(name: str) -> Op:
    """Op by its name; raises ValueError listing the valid names."""
    try:
        return Op(name)
    except ValueError:
        valid = ", ".join(sorted(o.value for o in SUPPORT_OPS))
        raise ValueError(f"unknown op {name!r}; valid ops: {valid}") from None
