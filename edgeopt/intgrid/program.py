"""The integer program a quantized model runs as on a device: a chain of fused layers, each a convolution or dense
layer on an int8 input (int32 accumulators) or an int16 one (int64 accumulators, as TFLM's 16x8 kernels), its
activation as a clamp of the accumulators, optional pooling and global pooling of the accumulators, and one
requantization to the next layer's int8 or int16 grid (or, for the logits, to one int32 grid).

Why pooling and activations act on accumulators: between two quantized layers the simulation computes in float, and
ReLU, max and average pooling are positively homogeneous per channel, so on accumulators (scale s_c per channel)
they give the same numbers as on reals; only the final requantization rounds. The C export fuses each layer the same
way, so no accumulator tensor is ever stored (the arena holds activations only, as the cost model assumes)."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

POOLS = ("max", "avg")
# over every position of each channel: the rounded mean, the max, both side by side (mean then max, per channel), or
# the count of positive accumulators (bias included), a proportion of positive values once requantized
GLOBAL_POOLS = ("avg", "max", "avgmax", "ppv")
TANH_INPUT_SHIFT = 13  # tanh's int16 input grid: 2^-13, so +-4 (tanh(4) is within 7e-4 of 1)
TANH_TABLE = 257  # tanh at -4 + i/32, in Q15, linearly interpolated on the low 8 bits of the int16 input
# hardswish's fine grid spans its range [-3, top] in at most 2^18 steps: x (x + 3) stays below 2^40, so its product
# with a 23-bit multiplier fits an int64 (and the Verilog engine's datapath is sized from this bound)
HARDSWISH_GRID_BITS = 18


def tanh_table() -> np.ndarray:
    """The int16 table every tanh layer shares (Q15: 32768 is 1.0, capped at 32767)."""
    x = -4.0 + np.arange(TANH_TABLE) / 32.0
    return np.minimum(np.round(np.tanh(x) * 32768.0), 32767).astype(np.int16)


@dataclass(frozen=True, eq=False)
class Nonlinear:
    """A smooth activation between the accumulators and the output grid: the accumulators requantized to a fine grid
    (the layer's own per-channel multiplier and shift) and clamped to +-`limit`, the function computed there in
    integers, the result requantized to the output (`to_output`, one per layer). tanh: an int16 grid over +-4 and a
    table with interpolation (Q15 out). hardswish: a grid of at most 1/1024 of an output step over [-3, the output
    grid's top] (int32), x (x + 3) / 6 in units of s^2 / 6, 0 below -3, 2 * round(3 / s) * x above 3 (the same
    units, continuous at 3). Each rounding error moves an output by a small share of a step, and a deep network
    compounds such flips (an int16 grid for hardswish flipped 10% of the outputs of a 3-block cnn2d by its 9th
    layer)."""

    kind: str  # tanh | hardswish
    to_output: tuple[int, int]  # (multiplier, shift)
    limit: int  # the fine grid's clamp
    three: int = 0  # hardswish: round(3 / s)


@dataclass(frozen=True)
class Pool:
    kind: str  # max | avg (of accumulators; avg rounds half away from zero)
    kernel: tuple[int, int]
    stride: tuple[int, int]


@dataclass(frozen=True, eq=False)
class Residual:
    """A skip connection added to the accumulators before the activation: the int16 copy layer `layer` keeps of its
    output (see `IntLayer.skip16`), times s_skip / s_c per channel."""

    layer: int
    multiplier: np.ndarray
    shift: np.ndarray


SKIP_BITS = 7  # a skip copy's grid: the int8 output grid / 2^7 (int16 holds 255 int8 steps either side of 0)


@dataclass(frozen=True, eq=False)
class IntLayer:
    """One fused layer. Shapes are (channels, height, width) of one sample; a 1-D layer has height 1, a dense layer
    height and width 1."""

    name: str  # the ONNX node it came from
    kind: str  # conv | dense
    in_shape: tuple[int, int, int]
    out_shape: tuple[int, int, int]  # after pooling and global pooling (avgmax: 2 x the channels)
    conv_shape: tuple[int, int, int]  # the convolution's own output
    kernel: tuple[int, int]
    stride: tuple[int, int]
    padding: tuple[int, int]  # top, left (bottom and right follow from the shapes)
    groups: int
    weights: np.ndarray  # int8, (out channels, in channels / groups, kh, kw)
    bias: np.ndarray | None  # int32 per out channel, on the accumulator's grid; None: the layer has none
    input_zero_point: int
    relu: bool  # the activation's lower clamp of the accumulators at 0 (ReLU, ReLU6)
    # An upper activation bound (ReLU6's 6) in output steps, (m, n) as a multiplier, clamping the accumulators of
    # channel c at fixedpoint.ceiling_bound before averaging (or a residual's int16 copy, which must not pass 6 either).
    # Otherwise the bound is output_max instead (requantization is monotone, so clamping after it gives the same
    # integers, as TFLM fuses ReLU6). None: no bound.
    act_ceiling: tuple[int, int] | None
    nonlinear: Nonlinear | None  # tanh or hardswish, then straight to the output grid (no pooling in between)
    pool: Pool | None
    global_pool: str | None  # one of GLOBAL_POOLS, after `pool`; None: none
    multiplier: np.ndarray  # per out channel, < 2^23: fixed-point requantization (intgrid.fixedpoint)
    shift: np.ndarray
    output_zero_point: int
    output_min: int
    output_max: int
    output_bits: int  # 8 or 16: int8 or int16 activations for the next layer; 32: the logits
    source: int = 0  # the buffer it reads: 0 the model's input, k the output of layer k - 1
    residual: Residual | None = None
    # The output feeds a residual add as well: the requantization goes to a grid 2^SKIP_BITS finer, kept as an int16
    # copy for the add (the simulation adds the unrounded tensor; rounding it to int8 first moved 10% of the next
    # layer's outputs by a step), and the int8 output is that copy rounded (zero point added, clamped).
    skip16: bool = False
    input_bits: int = 8  # int8 inputs (int32 accumulators) or int16 (int64 accumulators, |acc| < WIDE_ACC_LIMIT)
    # A concatenation's part: the output goes into buffer `target` (its last part's own) at element `target_offset`
    # (channel-major, so a concatenation on channels is consecutive blocks). None: the layer's own buffer.
    target: int | None = None
    target_offset: int = 0
    dilation: tuple[int, int] = (1, 1)  # the convolution's, (height, width): taps dilation apart
    # Kernels generated on the device, not stored (the rocket family): per output channel its input channel and its
    # kernel's index (uint8 pairs), the taps `generated_levels` (high at the kernel's three taps, low elsewhere);
    # `weights` holds the same integers for the reference. None: weights stored.
    generated: np.ndarray | None = None
    generated_levels: tuple[int, int] = (0, 0)

    @property
    def global_average(self) -> bool:
        """Whether a global mean reads the (clamped) accumulators: alone, or beside the max."""
        return self.global_pool in ("avg", "avgmax")

    @property
    def output_size(self) -> int:
        return int(np.prod(self.out_shape))

    @property
    def requant_words(self) -> int:
        """Requantization words stored: one per channel, or one for all when they are equal (per-tensor scales)."""
        same = np.all(self.multiplier == self.multiplier[0]) and np.all(self.shift == self.shift[0])
        return 1 if same else len(self.multiplier)

    @property
    def output_bytes(self) -> int:
        return self.output_size * self.output_bits // 8


@dataclass(frozen=True, eq=False)
class IntProgram:
    """The model as integers: int8 or int16 input on (input_scale, input_zero_point), int32 logits on output_scale."""

    input_shape: tuple[int, ...]  # the model's sample shape (its int8 input, in row-major order)
    input_scale: float
    input_zero_point: int
    layers: tuple[IntLayer, ...]
    output_scale: float  # logits = int32 output * output_scale

    @property
    def input_size(self) -> int:
        return int(np.prod(self.input_shape))

    @property
    def output_size(self) -> int:
        return self.layers[-1].output_size

    def target_of(self, index: int) -> int:
        """The buffer layer `index` writes (k: read by layers whose source is k; 0 is the model's input)."""
        target = self.layers[index].target
        return index + 1 if target is None else target

    def buffer_sizes(self) -> dict[int, int]:
        """Elements of each buffer the layers write (the logits, the last layer's, are the caller's: left out)."""
        sizes: dict[int, int] = {}
        for index, layer in enumerate(self.layers[:-1]):
            k = self.target_of(index)
            sizes[k] = max(sizes.get(k, 0), layer.target_offset + layer.output_size)
        return sizes

    @property
    def input_bits(self) -> int:
        return next(layer.input_bits for layer in self.layers if layer.source == 0)

    @property
    def input_dtype(self) -> type:
        return np.int8 if self.input_bits == 8 else np.int16

    @property
    def weight_bytes(self) -> int:
        """Constant data as the C export stores it for this model: int8 weights (two index bytes per output channel
        where kernels are generated); per output channel the requantization
        (multiplier and shift packed in an int32; one for the layer where every channel has the same), and an int32
        bias where the layer has one. Not counted: the tanh table (514 B, shared by every layer and model) and the
        layer descriptors, which are the runtime's, like its code (as the 84 generated kernels' table, 168 B)."""
        return sum((layer.weights.size if layer.generated is None else layer.generated.size)
                   + layer.requant_words * 4 + (4 * len(layer.bias) if layer.bias is not None
                   else 0) + (4 * len(layer.multiplier) if layer.residual else 0) for layer in self.layers)

    def quantize_input(self, x: np.ndarray) -> np.ndarray:
        """Float samples (normalised as the model expects) to the int8 input grid; the one float step, done before
        the device's inference (by the sensor pipeline, or the C export's optional wrapper)."""
        q = np.round(np.asarray(x, np.float64) / self.input_scale) + self.input_zero_point
        info = np.iinfo(self.input_dtype)
        return np.clip(q, info.min, info.max).astype(self.input_dtype)
