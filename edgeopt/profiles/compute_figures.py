"""A profile's compute figures, defined once: each one's name, YAML key, unit, default, the ops it may be given for,
its bounds in YAML and in a fit, and where it enters the latency formula (`cost.layer_cost.roofline_s`).

The loader reads, the schema stores (`OpFigures`, one record per op), `edgeopt calibrate` fits and writes, and
`edgeopt profiles show` prints by iterating `OP_FIGURES` and `SCALAR_FIGURES`; adding a figure is one row here plus
its term in the formula.
"""

from __future__ import annotations

from dataclasses import dataclass, field, make_dataclass

from edgeopt.graph.ops import MAC_OPS, SUPPORT_OPS, Op
from edgeopt.profiles.units import Dimension

# which ops a per-op figure may be given for
SUPPORTED = "supported"  # every op a profile can support
MAC = "mac"  # layers with MACs
ANY = "any"  # every op, views too (a runtime that runs views as nodes pays their overhead)
LAYOUT = "layout"  # the profile's `layout_ops` (those that keep a blocked channel layout)
DEVICE = ""  # not per op: one figure for the device (`SCALAR_FIGURES`)


@dataclass(frozen=True)
class FitRange:
    """Bounds of a fitted figure, and where a fit starts when the profile gives none (0 says nothing to a fit)."""

    low: float
    high: float
    start: float | None = None  # None: the profile's own figure (an efficiency), or the measurements' (overheads)


@dataclass(frozen=True, kw_only=True)
class ComputeFigure:
    """One compute figure: per op (`compute.<yaml_key>.<op>`) or one for the device (`compute.<yaml_key>`)."""

    name: str  # its field in `OpFigures` or `Compute`, and its keyword in the latency formula
    yaml_key: str
    dimension: Dimension
    default: float | None  # an op without one: this; None: another figure's (see `falls_back_to`)
    text: str  # how `profiles show` says it: a format of `value` (a number, or a formatted time)
    enters: str  # where it enters the latency formula
    ops: str = MAC
    low: float = 0.0
    low_inclusive: bool = True
    high: float | None = None
    whole: bool = False  # a count of channels
    fit: FitRange | None = None  # None: a runtime's layout, read from it, never fitted
    falls_back_to: str | None = None  # a field of `Compute` or `OpFigures` an op without one takes
    term: str | None = None  # the `CostTerms` time it multiplies: a fit fits it for ops whose layers have some
    record_key: str = ""  # its key in --json and fit records (default: the YAML key)

    @property
    def key(self) -> str:
        return self.record_key or self.yaml_key

    def allowed_ops(self, layout_ops: frozenset[Op] = frozenset()) -> frozenset[Op]:
        return {SUPPORTED: SUPPORT_OPS, MAC: MAC_OPS, LAYOUT: layout_ops,
                ANY: frozenset(op for op in Op if op is not Op.UNKNOWN)}[self.ops]


MIN_EFFICIENCY = 1e-5
COST_RANGE = (1e-3, 1e5)  # MACs' time an output, unrolled input, channel group or converted element costs

OP_FIGURES = (
    ComputeFigure(name="efficiency", yaml_key="op_efficiency", dimension=Dimension.FRACTION, default=None,
                  falls_back_to="default_efficiency", ops=SUPPORTED, low_inclusive=False, high=1.0,
                  fit=FitRange(MIN_EFFICIENCY, 1.0), text="{value:.2f}",
                  enters="divides the compute time (share of the format's peak rate)"),
    ComputeFigure(name="overhead_s", yaml_key="op_overhead", dimension=Dimension.TIME, default=None,
                  falls_back_to="layer_overhead_s", ops=ANY, fit=FitRange(1e-9, 1.0), text="{value}",
                  record_key="op_overhead_s",
                  enters="added once per layer run on its own (not fused)"),
    ComputeFigure(name="half_length", yaml_key="op_half_length", dimension=Dimension.COUNT, default=0.0,
                  term="loop_s",
                  fit=FitRange(1e-3, 1e5, 1.0), text="half efficiency at {value:.3g}-MAC loops",
                  enters="MACs added per innermost loop: efficiency falls as L / (L + half_length)"),
    ComputeFigure(name="output_cost", yaml_key="op_output_cost", dimension=Dimension.COUNT, default=0.0,
                  term="output_s",
                  fit=FitRange(*COST_RANGE, 1.0), text="{value:.3g} MACs' time per output element",
                  enters="MACs added per output element (bias, requantization, store)"),
    ComputeFigure(name="window_cost", yaml_key="op_window_cost", dimension=Dimension.COUNT, default=0.0,
                  term="window_s",
                  fit=FitRange(*COST_RANGE, 1.0), text="{value:.3g} MACs' time per unrolled input element",
                  enters="MACs added per element of the unrolled input, once per channel tile"),
    ComputeFigure(name="group_cost", yaml_key="op_group_cost", dimension=Dimension.COUNT, default=0.0,
                  term="group_s",
                  fit=FitRange(*COST_RANGE, 100.0), text="{value:.3g} MACs' time per channel group run on its own",
                  enters="MACs added per channel group a depthwise layer runs on its own"),
    ComputeFigure(name="channel_block", yaml_key="op_channel_block", dimension=Dimension.COUNT, default=1,
                  low=1, whole=True, text="channels in blocks of {value:g}",
                  enters="channels rounded up to whole blocks (padding multiplies the work)"),
    ComputeFigure(name="channel_tile", yaml_key="op_channel_tile", dimension=Dimension.COUNT, default=0,
                  whole=True, text="{value:g} output channels a pass over the input",
                  enters="the unrolled input is read once per tile of output channels (0: one pass)"),
    ComputeFigure(name="blocked_efficiency", yaml_key="blocked_op_efficiency", dimension=Dimension.FRACTION,
                  default=None, falls_back_to="efficiency", ops=LAYOUT, low_inclusive=False, high=1.0,
                  fit=FitRange(MIN_EFFICIENCY, 1.0), text="{value:.2f} where it runs in the blocked layout",
                  enters="in place of the efficiency for a layout op run in the blocked layout"),
)

SCALAR_FIGURES = (
    ComputeFigure(name="layer_overhead_s", yaml_key="layer_overhead", dimension=Dimension.TIME, default=0.0,
                  ops=DEVICE, fit=FitRange(1e-9, 1.0), text="{value}",
                  enters="the overhead of an op without its own (fitted: the median of the fitted ones)"),
    ComputeFigure(name="call_overhead_s", yaml_key="call_overhead", dimension=Dimension.TIME, default=0.0, ops=DEVICE,
                  fit=FitRange(1e-9, 1.0), text="{value}", enters="added once per inference"),
    ComputeFigure(name="layout_conversion_cost", yaml_key="layout_conversion_cost", dimension=Dimension.COUNT,
                  default=0.0, ops=DEVICE, term="convert_s", fit=FitRange(*COST_RANGE, 1.0),
                  text="{value:.3g} MACs' time per element converted between channel layouts",
                  enters="MACs' time added per element converted between channel layouts"),
)

OP_FIGURE = {f.name: f for f in OP_FIGURES}
SCALAR_FIGURE = {f.name: f for f in SCALAR_FIGURES}

# One op's figures, each None where the profile gives none (the figure's default or fallback applies).
OpFigures = make_dataclass("OpFigures", [(f.name, "float | None", field(default=None)) for f in OP_FIGURES],
                           frozen=True, kw_only=True, namespace={"__doc__": "One op's per-op compute figures "
                                                                 "(None: not given; see OP_FIGURES)."})
OpFigures.__module__ = __name__  # pickled with the profile it belongs to (worker processes receive profiles)
