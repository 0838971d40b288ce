"""The Verilog engine's clocks and DSP slices from the shapes it walks: one formula for the export's exact count
(`deploy.verilog`, from the integer program) and the cost model's estimate (from the graph, before training), so the
search never trains a model the engine cannot run within the budget.

The engine runs one fused layer (a weighted layer with its activation, pooling and global pooling) at a time: per
block of output channels (a lane each, all in one group), per pooled position, per pool-window position, its taps a
clock, then a pass over the lanes it fills, a clock each, into the lane pipeline; a mean over other than a power of
two goes through a sequential divider, a lane at a time; a layer's end waits for the lane and requantization
pipelines to drain."""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from edgeopt.graph.ir import Graph
from edgeopt.graph.ops import DEPTHWISE_OPS, VIEW_OPS, Op
from edgeopt.intgrid.program import HARDSWISH_GRID_BITS
from edgeopt.profiles.schema import HardwareProfile

REQUANT_DEPTH = 9  # clocks from a value entering the requantization to its output written
# clocks from a lane's accumulator leaving for the lane pipeline (bias, clamps, pooling, a mean's shift) to its value
# entering the requantization or its channel's global sums
LANE_DEPTH = 4
# clocks a fine-grid value takes through tanh or hardswish and the requantization to the output after it, in an
# engine with such layers (its other layers wait for them too: one depth for the whole engine)
NONLINEAR_DEPTH = 9
NONLINEAR_OPS = {Op.TANH: "tanh", Op.HARDSWISH: "hardswish"}
TANH_LIMIT = 32767  # tanh's fine grid: int16
# hardswish's fine grid: at most 2^HARDSWISH_GRID_BITS steps over its range (one more for the ceiling's rounding)
HARDSWISH_LIMIT = 2 ** HARDSWISH_GRID_BITS + 1
MAX_LANES = 64  # the widest engine generated (a profile's MACs a clock may allow fewer)
ENGINE_MAC_OPS = frozenset({Op.CONV1D, Op.CONV2D, Op.DENSE, *DEPTHWISE_OPS})
# read through to the pooling a layer's output meets: the engine's clamps, folded scales, and a concatenation (each
# of its parts is pooled and clamped on its own, into its place in the concatenation)
PASS_THROUGH = frozenset({Op.RELU, Op.RELU6, Op.BATCHNORM, Op.CONCAT, *NONLINEAR_OPS, *VIEW_OPS})
# every op the engine runs: a profile with a fabric runs no other (residual adds, generated kernels and their
# proportions of positive values, sigmoid, ... are not in the engine)
ENGINE_OPS = frozenset({*ENGINE_MAC_OPS, *PASS_THROUGH, Op.MAXPOOL, Op.AVGPOOL, Op.GLOBAL_AVGPOOL,
                        Op.GLOBAL_MAXPOOL})


@dataclass(frozen=True)
class EngineLayer:
    """One fused layer as the engine walks it."""

    out_channels: int
    groups: int
    taps: int  # MACs of one output: input channels of its group x kernel taps
    positions: int  # pooled output positions
    window: int = 1  # pool-window positions per pooled position
    pool_divides: bool = False  # an average pool over other than a power of two
    global_outputs: int = 0  # a channel's global outputs: 0 none, 1 mean or max, 2 both
    global_divides: bool = False  # a global mean over other than a power of two
    graph_layer: int | None = None  # the graph layer it stands for (estimates only)
    padded: bool = False  # reads past the input's edges (zero-point padding)
    average: bool = False  # its window pooling is an average (else a max)
    ceiling: bool = False  # clamps at an activation ceiling (ReLU6)
    nonlinear: str | None = None  # tanh | hardswish on a fine grid before the output's requantization

    @property
    def output_elements(self) -> int:
        """Values it writes: a channel's pooled positions, or its global outputs."""
        return self.out_channels * (self.global_outputs or self.positions)

    def lanes_used(self, lanes: int) -> int:
        """Lanes a block of this layer fills: its channels of one group share the input."""
        return min(lanes, max(1, self.out_channels // self.groups))


def pipeline_depth(layers: Sequence[EngineLayer]) -> int:
    """Clocks from a value entering the requantization to its output written, in the engine for `layers`."""
    return REQUANT_DEPTH + (NONLINEAR_DEPTH if any(layer.nonlinear for layer in layers) else 0)


def layer_clocks(layer: EngineLayer, lanes: int, divide_clocks: int, depth: int = REQUANT_DEPTH) -> int:
    """Clocks of one fused layer with `lanes` lanes (`divide_clocks`: one sequential divide; `depth`: the engine's
    `pipeline_depth`)."""
    ocg = max(1, layer.out_channels // layer.groups)
    used = layer.lanes_used(lanes)
    total = 2 + LANE_DEPTH + depth  # its descriptor read, its start and the lane and requantization pipelines' drain
    for first in range(0, ocg, used):
        valid = min(used, ocg - first)
        block = 1 + layer.positions * (2 + layer.window * (4 + layer.taps + used))
        if layer.pool_divides:  # each lane in use waits for its pooled sum, then for the divider
            block += layer.positions * valid * (LANE_DEPTH - 1 + divide_clocks)
        if layer.global_outputs:  # once the lane pipeline has drained
            block += LANE_DEPTH + used * layer.global_outputs + (valid * divide_clocks if layer.global_divides else 0)
        total += block * layer.groups
    return total


def engine_clocks(layers: Sequence[EngineLayer], lanes: int, divide_clocks: int) -> int:
    """Clocks the engine is busy for one inference."""
    depth = pipeline_depth(layers)
    return sum(layer_clocks(layer, lanes, divide_clocks, depth) for layer in layers)


def requant_dsps(value_bits: int) -> int:
    """DSP slices of the requantization: one per 17-bit piece of the value it multiplies."""
    return math.ceil(value_bits / 17)


@dataclass(frozen=True)
class NonlinearWidths:
    """Bits (the sign included) of a tanh or hardswish unit's registers: the clamped fine-grid value, hardswish's
    second factor (x + 3, or 2 x 3 above 3) and the function's value."""

    x_bits: int
    factor_bits: int
    value_bits: int


def nonlinear_widths(kind: str, limit: int = 0, three: int = 0) -> NonlinearWidths:
    """The registers of `kind` for a fine grid clamped at +-`limit` (hardswish: its 3 at `three`), never narrower
    than the formats bound them (so the estimate before training counts the DSP slices the export builds)."""
    if kind == "tanh":  # int16 in, the Q15 table out (an interpolation stays between two entries)
        bits = (TANH_LIMIT + 1).bit_length() + 1
        return NonlinearWidths(bits, bits, bits)
    limit, three = max(limit, HARDSWISH_LIMIT), max(three, HARDSWISH_LIMIT)
    factor = max(2 * three, limit + three)
    return NonlinearWidths((limit + 1).bit_length() + 1, factor.bit_length() + 1,
                           (2 * three * max(limit, three)).bit_length() + 1)


def nonlinear_dsps(kinds: Iterable[str]) -> int:
    """DSP slices of the engine's tanh and hardswish units, one per kind (`kinds`) shared by its layers: each unit's
    product (tanh's interpolation; hardswish's x (x + 3), a 17-bit piece of x a slice) and the one requantization
    of their values to the output."""
    widths = {kind: nonlinear_widths(kind) for kind in set(kinds)}
    if not widths:
        return 0
    own = sum(1 if kind == "tanh" else requant_dsps(w.x_bits) for kind, w in widths.items())
    return own + requant_dsps(max(w.value_bits for w in widths.values()))


def format_value_bits(max_taps: int, input_bits: int) -> int:
    """Bits of any value a layer of `max_taps` taps makes, bounded from the formats alone (int8 weights,
    `input_bits` activations): a sum of products, a bias as large, and the sign."""
    return (max_taps * 127 * 2 ** input_bits).bit_length() + 2


def divide_bits(max_taps: int, max_divisor: int) -> int:
    """Bits of the engine's sequential divider (0: no mean divides but by powers of two), bounded from the widest
    formats (int16 activations), so that the estimate before training counts the clocks the export will, whatever
    the activations turn out to be."""
    if max_divisor <= 1:
        return 0
    return format_value_bits(max_taps, 16) + max_divisor.bit_length() + 1


def divide_clocks(bits: int) -> int:
    """Clocks one sequential divide of `bits` bits takes: one to take the value, one to form the numerator, a
    quotient bit a clock, one to hand the result on."""
    return bits + 3


def profile_lanes(profile: HardwareProfile, fmt: str) -> int:
    """The most lanes `profile` allows: its MACs a clock in `fmt` (MAX_LANES where it states no clock or rate)."""
    clock = profile.compute.clock_hz
    rate = profile.compute.macs_per_s.get(fmt)
    return max(1, min(MAX_LANES, int(rate / clock))) if clock and rate else MAX_LANES


def power_of_two(divisor: int) -> bool:
    return divisor > 0 and divisor & (divisor - 1) == 0


@dataclass(frozen=True)
class EngineEstimate:
    """The engine a profile with a fabric would run the model on, before training (source: estimated): the fewest
    lanes meeting the latency budget at the clock (the fastest engine where none does), its clocks and DSP slices."""

    lanes: int
    clocks: int
    latency_s: float
    dsps: int
    meets_budget: bool
    layers: tuple[EngineLayer, ...]
    divide_clocks: int
    divide_bits: int

    def layer_latency_s(self, clock_hz: float) -> dict[int, float]:
        """Graph layer index -> its fused layer's time (the layers fused into it take none of their own)."""
        depth = pipeline_depth(self.layers)
        return {e.graph_layer: layer_clocks(e, self.lanes, self.divide_clocks, depth) / clock_hz
                for e in self.layers}

    def to_dict(self) -> dict:
        return {"lanes": self.lanes, "clock_cycles": self.clocks, "latency_s": self.latency_s, "dsps": self.dsps,
                "meets_budget": self.meets_budget, "source": "estimated"}


def estimate_engine(graph: Graph, profile: HardwareProfile, lanes: int | None = None) -> EngineEstimate | None:
    """The engine estimate for a profile with a fabric and a clock (None otherwise), at `lanes` lanes (no more than
    the widest block of channels fills, as the export builds it) or by default the fewest meeting the budget. The
    value widths are bounded from the formats (int8 weights, the profile's activations), as the export bounds them
    from the weights."""
    clock = profile.compute.clock_hz
    if lanes is not None and not 1 <= lanes <= MAX_LANES:
        raise ValueError(f"lanes: {lanes} is outside 1 .. {MAX_LANES}")
    if profile.fabric is None or not clock:
        return None
    layers = graph_engine_layers(graph)
    fmt = profile.activation_format
    taps = max((e.taps for e in layers), default=1)
    value_bits = format_value_bits(taps, 16 if fmt == "int16" else 8)
    divider_bits = divide_bits(taps, max_divisor(layers))
    divide = divide_clocks(divider_bits)
    budget = profile.budgets.max_latency_s
    widest = max((layer.lanes_used(MAX_LANES) for layer in layers), default=1)  # more lanes than that stay idle
    candidates = [min(lanes, widest)] if lanes is not None else range(1, min(profile_lanes(profile, fmt), widest) + 1)
    best = None
    for count in candidates:
        clocks = engine_clocks(layers, count, divide)
        if budget is not None and clocks / clock <= budget:
            best = (clocks, count)
            break
        best = min(best or (clocks, count), (clocks, count))
        if budget is None:
            break
    clocks, count = best
    dsps = count + requant_dsps(value_bits) + nonlinear_dsps(e.nonlinear for e in layers if e.nonlinear)
    return EngineEstimate(count, clocks, clocks / clock, dsps,
                          budget is None or clocks / clock <= budget, tuple(layers), divide, divider_bits)


def max_divisor(layers: Sequence[EngineLayer]) -> int:
    """The largest count a mean divides by with the sequential divider (1: none)."""
    return max([e.window for e in layers if e.pool_divides] + [e.positions for e in layers if e.global_divides]
               + [1])


def graph_engine_layers(graph: Graph) -> list[EngineLayer]:
    """The fused layers the engine would run for `graph`: each weighted layer with the activations, pooling and
    global pooling that read its output (as `deploy.lower` fuses them)."""
    readers: dict[str, list[int]] = {}
    for i, layer in enumerate(graph.layers):
        for name in layer.inputs:
            readers.setdefault(name, []).append(i)
    out = []
    for i, layer in enumerate(graph.layers):
        if layer.op not in ENGINE_MAC_OPS or not layer.macs:
            continue
        shape = graph.tensors[layer.output].shape if layer.output in graph.tensors else None
        channels = layer.out_channels or (shape[1] if shape and len(shape) > 1 else 1)
        positions = max(1, math.prod(shape[2:])) if shape and len(shape) > 2 else 1
        taps = max(1, round(layer.macs / (channels * positions)))
        if layer.matrix is not None:
            groups = max(1, layer.matrix.groups)
        else:
            groups = max(1, layer.in_channels) if layer.op in DEPTHWISE_OPS else 1
        window, pool_divides, global_outputs, global_divides, average = 1, False, 0, False, False
        chain = _chain(graph, readers, layer.output)
        tensor = graph.layers[chain[-1]].output if chain else layer.output
        ceiling = any(graph.layers[j].op is Op.RELU6 for j in chain)
        nonlinear = next((NONLINEAR_OPS[graph.layers[j].op] for j in chain if graph.layers[j].op in NONLINEAR_OPS),
                         None)
        pool = _only_reader(graph, readers, tensor)
        if pool is not None and pool.op in (Op.MAXPOOL, Op.AVGPOOL):
            pooled_shape = graph.tensors[pool.output].shape if pool.output in graph.tensors else None
            pooled = graph.tensors[pool.output].numel if pooled_shape else 0
            if pooled:
                window = max(1, round(pool.vector_ops / pooled))
                positions = max(1, math.prod(pooled_shape[2:]))  # of a concatenation too: its parts' own
                average = pool.op is Op.AVGPOOL
                pool_divides = average and not power_of_two(window)
            tensor = _through(graph, readers, pool.output)
        ops = {graph.layers[j].op for j in readers.get(tensor, ())}
        if ops & {Op.GLOBAL_AVGPOOL, Op.GLOBAL_MAXPOOL}:
            global_outputs = len(ops & {Op.GLOBAL_AVGPOOL, Op.GLOBAL_MAXPOOL})
            global_divides = Op.GLOBAL_AVGPOOL in ops and not power_of_two(positions)
        kernel = taps // max(1, layer.in_channels // groups)
        out.append(EngineLayer(channels, groups, taps, positions, window, pool_divides, global_outputs,
                               global_divides, graph_layer=i, padded=_padded(graph, layer, shape, kernel),
                               average=average, ceiling=ceiling, nonlinear=nonlinear))
    return out


def _padded(graph: Graph, layer, shape, kernel: int) -> bool:
    """Whether a convolution reads past its input's edges: it gives more outputs than an unpadded one at the stride
    its input and output lengths imply (1-D and 2-D alike, by the last axis)."""
    source = graph.tensors.get(layer.inputs[0]) if layer.inputs else None
    if layer.op is Op.DENSE or source is None or not source.shape or not shape or len(shape) < 3:
        return False
    length, out = source.shape[-1], shape[-1]
    width = kernel if len(shape) == 3 else round(kernel ** 0.5)
    stride = max(1, round(length / out)) if out else 1
    return out > max(0, (length - width) // stride + 1)


def _chain(graph: Graph, readers: dict[str, list[int]], tensor: str) -> list[int]:
    """The activations and views that alone read `tensor`, one after another (fused into the layer before)."""
    out = []
    while True:
        found = readers.get(tensor, ())
        if len(found) != 1 or graph.layers[found[0]].op not in PASS_THROUGH:
            return out
        out.append(found[0])
        tensor = graph.layers[found[0]].output


def _only_reader(graph: Graph, readers: dict[str, list[int]], tensor: str):
    found = readers.get(tensor, ())
    return graph.layers[found[0]] if len(found) == 1 else None


def _through(graph: Graph, readers: dict[str, list[int]], tensor: str) -> str:
    """The tensor after the activations and views that alone read `tensor` (fused into the layer before)."""
    chain = _chain(graph, readers, tensor)
    return graph.layers[chain[-1]].output if chain else tensor


__all__ = ["ENGINE_OPS", "EngineEstimate", "EngineLayer", "LANE_DEPTH", "MAX_LANES", "NONLINEAR_DEPTH",
           "NonlinearWidths", "REQUANT_DEPTH", "divide_bits", "divide_clocks", "engine_clocks", "estimate_engine",
           "format_value_bits", "graph_engine_layers", "layer_clocks", "max_divisor", "nonlinear_dsps",
           "nonlinear_widths", "pipeline_depth", "power_of_two", "profile_lanes", "requant_dsps"]
