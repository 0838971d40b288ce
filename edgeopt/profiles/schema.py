"""HardwareProfile: what a target device offers, as frozen records in base units (bytes, seconds, hertz, joules, watts).

Built only by `edgeopt.profiles.loader`, which validates the YAML once; nothing past it sees raw dicts.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from types import MappingProxyType

from edgeopt.graph.ops import Op
from edgeopt.profiles.compute_figures import OP_FIGURE, OP_FIGURES, OpFigures
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


@dataclass(frozen=True, kw_only=True)
class Compute:
    """What the device computes at: peak rates per number format, each op's figures (`OpFigures`, defined with their
    defaults and formula terms in `profiles.compute_figures`) and the device-wide ones."""

    macs_per_s: Mapping[str, float]  # peak MAC/s per number format
    ops: Mapping[Op, OpFigures] = field(default_factory=dict)  # the per-op figures a profile gives
    default_efficiency: float = 1.0  # an op without an efficiency of its own
    layer_overhead_s: float = 0.0  # fixed cost per executed layer (kernel launch, DMA set-up, tile programming)
    call_overhead_s: float = 0.0  # fixed cost per inference (a runtime's call, input and output copies)
    clock_hz: float | None = None
    # per MAC op: the ops the runtime applies inside such a layer when they read its output (an activation clamped
    # in registers, a residual add summed into the accumulators): no time, overhead or traffic of their own
    fused_ops: Mapping[Op, frozenset[Op]] = field(default_factory=dict)
    # where ops run in a blocked channel layout (channel_block > 1), each tensor converted between it and the plain
    # one costs `layout_conversion_cost` MACs' time an element; `layout_ops` keep whichever layout they read
    layout_conversion_cost: float = 0.0
    layout_ops: frozenset[Op] = frozenset()

    def figure(self, op: Op, name: str) -> float:
        """`op`'s figure `name` (an `OP_FIGURES` name): its own, else its fallback, else the figure's default."""
        given = getattr(self.ops[op], name) if op in self.ops else None
        if given is not None:
            return given
        spec = OP_FIGURE[name]
        if spec.falls_back_to in OP_FIGURE:
            return self.figure(op, spec.falls_back_to)
        return getattr(self, spec.falls_back_to) if spec.falls_back_to else spec.default

    def given(self, name: str) -> dict[Op, float]:
        """Op -> figure `name` for the ops the profile gives it for."""
        return {op: getattr(f, name) for op, f in self.ops.items() if getattr(f, name) is not None}

    def with_figure(self, name: str, values: Mapping[Op, float], *, merge: bool = False) -> Compute:
        """A copy with per-op figure `name` set to `values` (no other op keeps one), or, `merge`, updated by them."""
        ops = dict(self.ops)
        for op in set(ops) | set(values):
            kept = getattr(ops.get(op, _NONE), name) if merge else None
            ops[op] = dataclasses.replace(ops.get(op, _NONE), **{name: values.get(op, kept)})
        return dataclasses.replace(self, ops=MappingProxyType(ops))

    def efficiency(self, op: Op, blocked: bool = False) -> float:
        """Share of peak `op` reaches; `blocked`: run in the blocked layout (a layout op after a blocked layer)."""
        return self.figure(op, "blocked_efficiency" if blocked else "efficiency")

    def channel_block(self, op: Op) -> int:
        return int(self.figure(op, "channel_block"))

    def channel_tile(self, op: Op) -> int:
        return int(self.figure(op, "channel_tile"))

    def blocked(self, op: Op) -> bool:
        """Whether layers of `op` run in a blocked channel layout."""
        return self.channel_block(op) > 1

    def fuses(self, mac_op: Op, op: Op) -> bool:
        """Whether a layer of `op` reading a `mac_op` layer's output runs inside it."""
        return op in self.fused_ops.get(mac_op, ())

    def overhead_s(self, op: Op) -> float:
        return self.figure(op, "overhead_s")

    def to_dict(self) -> dict:
        """JSON-ready view: each per-op figure as a map of op -> value under its record key (`op_efficiency`, ...)."""
        per_op = {spec.key: _plain(self.given(spec.name)) for spec in OP_FIGURES}
        plain = {f.name: _plain(getattr(self, f.name)) for f in dataclasses.fields(self) if f.name != "ops"}
        return {"macs_per_s": plain.pop("macs_per_s")} | per_op | plain


_NONE = OpFigures()


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


FABRIC_FAMILIES = ("xc7", "ecp5", "ice40")  # FPGA families yosys synthesizes for (synth_xilinx, synth_ecp5, ...)
# The terms the Verilog engine's LUT and flip-flop counts are linear in (`cost.fabric`), a coefficient each
FABRIC_TERMS = {
    "base": "the controller, the requantization and the interface",
    "lane": "per lane: its multiplier's operands and product",
    "lane_acc_bit": "per lane and accumulator bit: the accumulator and its shift towards lane 0",
    "lane_value_bit": "per lane and value bit, where the layers pool: the lane's pooled value and global sums",
    "layer_bit": "per layer past the first and counter bit: the descriptor's fields that differ between layers",
    "value_bit": "per value bit: the bias add, the clamps, the requantization's input",
    "padding_bit": "per counter bit, where a layer pads: the padding test",
    "group_bit": "per counter bit, where a layer has groups (depthwise): the walk from group to group",
    "max_pool_bit": "per value bit, where a layer takes a window's max",
    "avg_pool_bit": "per value bit, where a layer averages a window: the sum and its rounding",
    "global_bit": "per value bit, where a layer pools globally",
    "divide_bit": "per bit of the sequential divider",
    "logic_rom_bit": "per bit of the ROMs in logic (bias, ceilings, and memories below the block-RAM threshold)",
    "tanh": "where a layer takes tanh: its clamp, table interpolation and requantization to the output",
    "hardswish": "where a layer takes hardswish: its clamp, pieces of x (x + 3) and requantization to the output",
}


@dataclass(frozen=True)
class FabricFit:
    """Where a profile's fabric coefficients came from (written by `edgeopt calibrate --runtime yosys`)."""

    tool: str  # yosys's version line
    machine: str
    date: str
    samples: int  # synthesized engines the fit used
    luts_fit_error: float  # mean absolute relative error over them
    ffs_fit_error: float
    luts_within_10pct: float
    ffs_within_10pct: float


@dataclass(frozen=True)
class Fabric:
    """An FPGA slot's resources for the model's engine: the part family synthesis targets and budgets in its cells
    (LUTs, flip-flops, DSP slices, block RAMs in 18 Kb units on xc7 and ECP5, 4 Kb on iCE40). None: no limit."""

    family: str
    max_luts: float | None = None
    max_ffs: float | None = None
    max_dsps: float | None = None
    max_brams: float | None = None
    # the fabric model's coefficients per FABRIC_TERMS name, fitted to synthesis (None: edgeopt's defaults)
    luts: Mapping[str, float] | None = None
    ffs: Mapping[str, float] | None = None
    fit: FabricFit | None = None


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
    fabric: Fabric | None = None  # set for FPGA slots: what the Verilog engine may use
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
    if isinstance(value, Compute):
        return value.to_dict()
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
