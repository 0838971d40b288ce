"""HardwareProfile: what a target device offers, as frozen records in base units (bytes, seconds, hertz, joules, watts).

Built only by `edgeopt.profiles.loader`, which validates the YAML once; nothing past it sees raw dicts.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from edgeopt.graph.ops import Op
from edgeopt.profiles.formats import NumberFormat, get_format

MEMORY_KINDS = ("flash", "sram", "dram", "crossbar", "bram", "rom", "cache")


@dataclass(frozen=True)
class MemoryLevel:
    kind: str
    size_bytes: float
    reserved_bytes: float = 0.0  # taken by firmware, runtime arena overhead, stack
    bandwidth_bytes_per_s: float | None = None  # None: never the bottleneck (weights resident in compute arrays)
    energy_per_byte_j: float = 0.0

    @property
    def usable_bytes(self) -> float:
        return self.size_bytes - self.reserved_bytes


@dataclass(frozen=True)
class Compute:
    macs_per_s: Mapping[str, float]  # peak MAC/s per number format
    op_efficiency: Mapping[Op, float]  # share of peak an op reaches
    default_efficiency: float
    layer_overhead_s: float  # fixed cost per executed layer (kernel launch, DMA set-up, tile programming)
    clock_hz: float | None = None
    op_overhead_s: Mapping[Op, float] = field(default_factory=dict)  # per op kind, in place of layer_overhead_s
    call_overhead_s: float = 0.0  # fixed cost per inference (a runtime's call, input and output copies)
    # per op: the innermost loop's length (MACs) at which it runs at half its efficiency; short loops (3-tap kernels,
    # narrow dense layers) pay their loop overhead more often. None given: efficiency does not depend on size.
    op_half_length: Mapping[Op, float] = field(default_factory=dict)
    # per op: what finishing one output element costs (bias, requantization, activation, the store), in MACs at the
    # op's rate; a layer of few MACs per output (a pointwise convolution of few channels) pays it more often
    op_output_cost: Mapping[Op, float] = field(default_factory=dict)
    # per op: what each element of its unrolled input costs (K x N of the GEMM it runs as: im2col and packing), in
    # MACs at the op's rate; a GEMM runtime pays it, a layer of few output channels the most per MAC
    op_window_cost: Mapping[Op, float] = field(default_factory=dict)
    # per op: what each channel group a layer runs on its own costs (a depthwise layer's channels, or its blocks of
    # channels where the op has a channel block: a kernel call, a GEMM set up per group), in MACs at the op's rate
    op_group_cost: Mapping[Op, float] = field(default_factory=dict)
    # per op: the channels a runtime computes together (SIMD lanes, an NPU's block depth); a layer's channels are
    # rounded up to whole blocks. None given: no rounding
    op_channel_block: Mapping[Op, int] = field(default_factory=dict)
    # per op: the output channels computed in one pass over the unrolled input (a kernel's register tile); a layer
    # of more reads its input once per tile. None given: one pass
    op_channel_tile: Mapping[Op, int] = field(default_factory=dict)
    # per MAC op: the ops the runtime applies inside such a layer when they read its output (an activation clamped
    # in registers, a residual add summed into the accumulators): no time, overhead or traffic of their own
    fused_ops: Mapping[Op, frozenset[Op]] = field(default_factory=dict)
    # where ops run in a blocked channel layout (op_channel_block > 1), each tensor converted between it and the
    # plain one (into a blocked layer, out to an op that does not run blocked or to the caller) costs this many
    # MACs' time an element; `layout_ops` keep whichever layout they read (pools, elementwise ops)
    layout_conversion_cost: float = 0.0
    layout_ops: frozenset[Op] = frozenset()
    # per layout op: the share of peak it reaches where it runs in the blocked layout (another kernel: onnxruntime's
    # NCHWc pool works on a block of channels at once); None given: its op_efficiency
    blocked_op_efficiency: Mapping[Op, float] = field(default_factory=dict)

    def efficiency(self, op: Op, blocked: bool = False) -> float:
        """Share of peak `op` reaches; `blocked`: run in the blocked layout (a layout op after a blocked layer)."""
        if blocked and op in self.blocked_op_efficiency:
            return self.blocked_op_efficiency[op]
        return self.op_efficiency.get(op, self.default_efficiency)

    def half_length(self, op: Op) -> float:
        return self.op_half_length.get(op, 0.0)

    def output_cost(self, op: Op) -> float:
        return self.op_output_cost.get(op, 0.0)

    def window_cost(self, op: Op) -> float:
        return self.op_window_cost.get(op, 0.0)

    def group_cost(self, op: Op) -> float:
        return self.op_group_cost.get(op, 0.0)

    def channel_block(self, op: Op) -> int:
        return self.op_channel_block.get(op, 1)

    def channel_tile(self, op: Op) -> int:
        return self.op_channel_tile.get(op, 0)

    def blocked(self, op: Op) -> bool:
        """Whether layers of `op` run in a blocked channel layout."""
        return self.channel_block(op) > 1

    def fuses(self, mac_op: Op, op: Op) -> bool:
        """Whether a layer of `op` reading a `mac_op` layer's output runs inside it."""
        return op in self.fused_ops.get(mac_op, ())

    def overhead_s(self, op: Op) -> float:
        return self.op_overhead_s.get(op, self.layer_overhead_s)


@dataclass(frozen=True)
class Crossbar:
    """In-memory compute arrays: each tile holds a rows x cols block of a weight matrix."""

    rows: int
    cols: int
    tiles: int

    @property
    def cells(self) -> int:
        return self.rows * self.cols * self.tiles


@dataclass(frozen=True)
class Analog:
    """Analog in-memory compute non-idealities: weight noise as a fraction of each channel's range, converter bits."""

    weight_noise: float
    adc_bits: int | None = None
    dac_bits: int | None = None


@dataclass(frozen=True)
class Calibration:
    """Where a profile's `source: measured` figures came from (written by `edgeopt calibrate`)."""

    runtime: str  # e.g. "onnxruntime 1.23.0, 1 thread", or "board measurements (board.csv)"
    machine: str
    date: str
    samples: int  # measurements the fit used
    fit_error: float  # mean absolute relative error of the fitted latency over those measurements
    within_10pct: float  # share of them the fit predicts within +-10%
    energy_samples: int | None = None  # measured energies the energy figures were fitted to (None: not calibrated)
    energy_fit_error: float | None = None
    # the most elements any one measured layer wrote: past it a latency is extrapolated (caches, memory traffic the
    # measurements never saw), and estimates say so
    max_activation_elements: int | None = None

    def describe(self) -> str:
        text = (f"calibrated on {self.runtime}, {self.machine}, {self.date}: {self.samples} measurements, fit error "
                f"{self.fit_error:.1%}")
        if self.energy_fit_error is not None:
            text += f"; energy from {self.energy_samples} measurements, fit error {self.energy_fit_error:.1%}"
        if self.max_activation_elements is not None:
            text += f"; largest measured layer {self.max_activation_elements:,} elements"
        return text


@dataclass(frozen=True)
class Energy:
    mac_j: Mapping[str, float]  # per MAC, per number format
    static_power_w: float = 0.0


@dataclass(frozen=True)
class Quantization:
    """How integer weights are stored: per-channel or per-tensor scales, zero points, and the bias width."""

    granularity: str = "per-channel"
    scale_bytes: float = 4.0
    zero_point_bytes: float = 0.0
    bias_bits: int = 32


@dataclass(frozen=True)
class Budgets:
    """Limits a model must meet on this device, on top of what its memories can hold. None: no limit."""

    max_params: float | None = None
    max_weight_bytes: float | None = None
    max_activation_bytes: float | None = None
    max_latency_s: float | None = None
    max_energy_j: float | None = None
    max_power_w: float | None = None


@dataclass(frozen=True)
class HardwareProfile:
    name: str
    description: str
    weight_memory: MemoryLevel
    activation_memory: MemoryLevel
    compute: Compute
    energy: Energy
    weight_formats: tuple[str, ...]
    activation_formats: tuple[str, ...]
    weight_format: str  # what a model is stored in by default on this device
    activation_format: str
    quantization: Quantization
    ops: frozenset[Op]
    budgets: Budgets
    crossbar: Crossbar | None = None
    sparse_weights: bool = False  # whether the device skips zero weights (storage and compute)
    analog: Analog | None = None  # set for analog in-memory devices: compression evaluates under this noise
    path: Path | None = None
    sources: Mapping[str, str] = field(default_factory=dict)  # source key -> URL or citation
    figure_sources: Mapping[str, str] = field(default_factory=dict)  # field path -> source key, URL or "estimate"
    calibration: Calibration | None = None  # set when latency figures were fitted to measurements

    @property
    def weight_number_format(self) -> NumberFormat:
        return get_format(self.weight_format)

    @property
    def activation_number_format(self) -> NumberFormat:
        return get_format(self.activation_format)

    def with_budgets(self, **limits: float | None) -> HardwareProfile:
        """A copy whose budgets are replaced field by field, e.g. `with_budgets(max_params=4000)`."""
        return dataclasses.replace(self, budgets=dataclasses.replace(self.budgets, **limits))

    def to_dict(self) -> dict:
        """JSON-ready view: base units, op and format names, figure sources."""
        return _plain(self)


def _plain(value):
    if dataclasses.is_dataclass(value):
        return {f.name: _plain(getattr(value, f.name)) for f in dataclasses.fields(value)}
    if isinstance(value, Mapping):
        return {str(k.value if isinstance(k, Op) else k): _plain(v) for k, v in value.items()}
    if isinstance(value, (frozenset, set)):
        return sorted(_plain(v) for v in value)
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    if isinstance(value, Op):
        return value.value
    if isinstance(value, Path):
        return str(value)
    return value
