"""What one layer costs on a device: weight storage, latency by roofline, energy."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from edgeopt.cost.crossbar import tile_share
from edgeopt.cost.record import Cost
from edgeopt.graph.ir import Layer
from edgeopt.graph.ops import DEPTHWISE_OPS, VIEW_OPS, Op
from edgeopt.profiles.compute_figures import OP_FIGURES
from edgeopt.profiles.formats import get_format
from edgeopt.profiles.schema import Compute, HardwareProfile


def weight_bytes(layer: Layer, profile: HardwareProfile, fmt: str, extra_bias: int = 0) -> float:
    """Bytes to store the layer's parameters in `fmt`, with integer formats' scales, zero points and wide biases."""
    number = get_format(fmt)
    bias = layer.bias_params + extra_bias
    weights = multiplier_bytes(layer, profile, number.bytes)
    if not number.integer:
        return weights + (bias + layer.other_params) * number.bytes
    q = profile.quantization
    stored = weights + layer.other_params * number.bytes + bias * q.bias_bits / 8
    if layer.weight_params:
        scales = layer.out_channels if q.granularity == "per-channel" and layer.out_channels else 1
        stored += scales * (q.scale_bytes + q.zero_point_bytes)
    return stored


def multiplier_bytes(layer: Layer, profile: HardwareProfile, bytes_per_weight: float) -> float:
    """Multiplicative weights as stored: all of them on dense hardware; on hardware that declares sparse support, the
    non-zeros plus a one-bit occupancy mask per weight, when that is smaller (a toolchain keeps a nearly dense layer
    dense). Zeros save nothing on a dense device."""
    dense = layer.weight_params * bytes_per_weight
    if not (profile.sparse_weights and layer.zero_weights):
        return dense
    return min(dense, (layer.weight_params - layer.zero_weights) * bytes_per_weight + layer.weight_params / 8)


@dataclass(frozen=True)
class CostTerms:
    """A layer's latency and energy before the profile's efficiency, overhead and energy figures apply: what
    calibration fits those figures to."""

    op: Op
    fmt: str  # the number format its MACs run in (the peak rate's key)
    peak_compute_s: float  # its work (MACs, vector ops) at the device's peak rate for its format
    weight_memory_s: float  # weight traffic at the weight memory's bandwidth
    activation_memory_s: float  # activation traffic at the activation memory's bandwidth
    pays_overhead: bool  # run as a layer of its own (not fused into its producer)
    work: float = 0.0  # MACs (those a sparse device runs) plus vector ops
    energy_fmt: str = ""  # the format its per-MAC energy is looked up in (the layer's own)
    moved_weight_bytes: float = 0.0
    moved_activation_bytes: float = 0.0
    loop_s: float = 0.0  # one MAC per innermost loop started, at peak: what a half length costs per MAC of it
    output_s: float = 0.0  # one MAC per output element of a MAC layer, at peak: what an output cost costs per MAC
    window_s: float = 0.0  # one MAC per unrolled input element (MACs / output columns), at peak: what a window
    # cost costs per MAC of it
    out_lanes: int = 0  # the channels a MAC layer computes (a group's outputs; a depthwise layer's channels)
    in_lanes: int = 0  # the channels each output reads (a group's inputs; 0 for a depthwise layer)
    group_s: float = 0.0  # one MAC per channel group of a depthwise layer, at peak: what a group cost costs per MAC
    convert_s: float = 0.0  # one MAC per element it converts between channel layouts, at peak
    blocked: bool = False  # a layout op run in the blocked layout (its efficiency is the blocked kernel's)

    @property
    def memory_s(self) -> float:
        return self.weight_memory_s + self.activation_memory_s

    def latency_s(self, *, efficiency: float, overhead_s: float, channel_block: int = 1, channel_tile: int = 0,
                  half_length: float = 0.0, output_cost: float = 0.0, window_cost: float = 0.0,
                  group_cost: float = 0.0, layout_conversion_cost: float = 0.0, **_: float) -> float:
        """This layer's latency under a profile's figures for its op (`profiles.compute_figures` names them; a
        blocked efficiency comes in as `efficiency`): `roofline_s` with channels blocked and tiled as given."""
        pad_out, pad_in, passes = self.blocking(channel_block, channel_tile)
        return float(roofline_s(self, efficiency=efficiency, overhead_s=overhead_s, half_length=half_length,
                                output_cost=output_cost, window_cost=window_cost, group_cost=group_cost,
                                layout_conversion_cost=layout_conversion_cost, pad_out=pad_out, pad_in=pad_in,
                                passes=passes, group_runs=self.group_runs(channel_block)))

    def blocking(self, channel_block: int, channel_tile: int) -> tuple[float, float, int]:
        """(output padding, input padding, passes over the unrolled input): the work a device that computes
        channels in blocks of `channel_block` does beyond the layer's own (input channels fewer than a block are
        read as they are: a first layer's one to three), and how many tiles of `channel_tile` output channels it
        computes (0: all in one pass)."""
        if not self.out_lanes:
            return 1.0, 1.0, 1
        out_padded = -(-self.out_lanes // channel_block) * channel_block
        pad_in = -(-self.in_lanes // channel_block) * channel_block / self.in_lanes \
            if self.in_lanes >= channel_block else 1.0
        return out_padded / self.out_lanes, pad_in, -(-out_padded // channel_tile) if channel_tile else 1

    def group_runs(self, channel_block: int) -> float:
        """Share of a depthwise layer's channel groups run on their own: one a block of channels."""
        if not (self.group_s and self.out_lanes):
            return 1.0
        return -(-self.out_lanes // channel_block) / self.out_lanes

    def energy_j(self, mac_j: float, weight_j_per_byte: float, activation_j_per_byte: float) -> float:
        """Dynamic energy: its work at `mac_j` a MAC, plus its weight and activation traffic (static power is the
        model's, over its whole latency)."""
        return (self.work * mac_j + self.moved_weight_bytes * weight_j_per_byte
                + self.moved_activation_bytes * activation_j_per_byte)


def roofline_s(t, *, efficiency, overhead_s, half_length, output_cost, window_cost, group_cost,
               layout_conversion_cost, pad_out, pad_in, passes, group_runs, speed=1.0, weight_bandwidth=1.0,
               activation_bandwidth=1.0):
    """The latency formula, for one layer's `CostTerms` and figures, or for arrays of both (the fit evaluates it on
    every measured layer at once): max(compute at `efficiency` x `speed` of peak, memory traffic at the bandwidths'
    multiples), plus the overhead of a layer run on its own, plus layout conversions. Compute is the layer's work
    padded to whole channel blocks (`pad_out`, `pad_in`), with each innermost loop adding `half_length` MACs, each
    output element `output_cost`, each unrolled input element `window_cost` once per channel tile (`passes`) and each
    channel group run on its own (`group_runs` of them a depthwise group) `group_cost`."""
    compute_s = (pad_out * pad_in * (t.peak_compute_s + t.loop_s * half_length)
                 + pad_out * t.output_s * output_cost + pad_in * passes * t.window_s * window_cost
                 + group_runs * t.group_s * group_cost) / (efficiency * speed)
    memory_s = t.weight_memory_s / weight_bandwidth + t.activation_memory_s / activation_bandwidth
    return np.maximum(compute_s, memory_s) + overhead_s * t.pays_overhead \
        + t.convert_s * layout_conversion_cost / speed


def layer_cost(
    layer: Layer,
    profile: HardwareProfile,
    *,
    fmt: str,
    in_bytes: float,
    out_bytes: float,
    outputs: int,
    stored_bytes: float,
    fused: bool,
    converted: int = 0,
    blocked: bool = False,
) -> tuple[Cost, CostTerms | None]:
    """(Cost, CostTerms): roofline latency, max(compute, memory traffic), plus the per-layer overhead a runtime
    pays for each layer it runs; fused layers (folded batchnorm, activations applied in place) pay neither overhead
    nor traffic, views no traffic and an overhead only where the profile gives one for their op; `converted`
    elements of tensors changing channel layout are the layer's to pay; a `blocked` layer (a layout op run in the
    blocked layout) runs at the profile's blocked efficiency for its op."""
    compute = profile.compute
    rate = compute.macs_per_s.get(fmt) or compute.macs_per_s[profile.weight_format]
    if layer.op in VIEW_OPS:  # no data moves; a runtime that runs views as nodes pays a calibrated overhead
        terms = CostTerms(layer.op, fmt if fmt in compute.macs_per_s else profile.weight_format, 0.0, 0.0, 0.0,
                          not fused, convert_s=converted / rate)
        own = compute.ops.get(layer.op)
        latency_s = terms.latency_s(efficiency=1.0, overhead_s=(own and own.overhead_s) or 0.0,
                                    layout_conversion_cost=compute.layout_conversion_cost)
        return Cost(params=layer.params, weight_bytes=stored_bytes, latency_s=latency_s), terms
    run_macs = layer.macs * _density(layer, profile)  # the MACs a sparse device does not skip
    work = run_macs + layer.vector_ops

    weights_move = profile.weight_memory.kind != "crossbar"  # in-memory arrays compute where the weights sit
    moved_weight_bytes = stored_bytes if weights_move else 0.0
    moved_activation_bytes = 0.0 if fused else in_bytes + out_bytes
    loops = run_macs / layer.loop_length if layer.loop_length else 0.0
    finished = outputs if layer.macs else 0  # a MAC layer's outputs; other layers' work is per element already
    # its unrolled input, K x N of the GEMM: a depthwise layer (one output column a group) has none apart from its MACs
    unrolled = run_macs / layer.matrix.cols if layer.matrix and layer.matrix.cols > 1 else 0.0
    terms = CostTerms(layer.op, fmt if fmt in compute.macs_per_s else profile.weight_format, work / rate,
                      _transfer_s(moved_weight_bytes, profile.weight_memory.bandwidth_bytes_per_s),
                      _transfer_s(moved_activation_bytes, profile.activation_memory.bandwidth_bytes_per_s),
                      not fused, work, fmt, moved_weight_bytes, moved_activation_bytes, loops / rate, finished / rate,
                      unrolled / rate, *_lanes(layer), _groups(layer) / rate, converted / rate, blocked)
    latency_s = terms.latency_s(**op_figures(compute, layer.op, blocked),
                                layout_conversion_cost=compute.layout_conversion_cost)
    energy_j = terms.energy_j(profile.energy.mac_j.get(fmt, 0.0), profile.weight_memory.energy_per_byte_j,
                              profile.activation_memory.energy_per_byte_j)
    tiles = tile_share(layer.matrix, profile.crossbar) if profile.crossbar and layer.matrix else 0.0
    return Cost(
        params=layer.params,
        weight_bytes=stored_bytes,
        macs=layer.macs,
        vector_ops=layer.vector_ops,
        activation_bytes=0.0 if fused else out_bytes,
        latency_s=latency_s,
        energy_j=energy_j,
        crossbar_tiles=tiles,
    ), terms


def op_figures(compute: Compute, op: Op, blocked: bool = False) -> dict[str, float]:
    """Every per-op figure of `op` on `compute` by name, the blocked efficiency as `efficiency` where `blocked`."""
    figures = {spec.name: compute.figure(op, spec.name) for spec in OP_FIGURES}
    figures["efficiency"] = compute.efficiency(op, blocked)
    return figures


def _lanes(layer: Layer) -> tuple[int, int]:
    """(out_lanes, in_lanes) of a MAC layer with a weight matrix; (0, 0) for any other."""
    matrix = layer.matrix
    if not (layer.macs and matrix):
        return 0, 0
    if layer.op in DEPTHWISE_OPS:
        return matrix.groups * matrix.cols, 0
    return matrix.cols, (layer.in_channels // matrix.groups if layer.in_channels else matrix.rows)


def _groups(layer: Layer) -> int:
    """Channel groups a depthwise layer runs (its channels); 0 for any other layer."""
    if layer.op in DEPTHWISE_OPS and layer.macs and layer.matrix:
        return layer.matrix.groups
    return 0


def _density(layer: Layer, profile: HardwareProfile) -> float:
    """Share of MACs a sparse device runs: zero weights are skipped only where the layer is stored sparse."""
    if not (profile.sparse_weights and layer.zero_weights and layer.weight_params):
        return 1.0
    bytes_per_weight = get_format(layer.weight_format or profile.weight_format).bytes
    if multiplier_bytes(layer, profile, bytes_per_weight) >= layer.weight_params * bytes_per_weight:
        return 1.0
    return 1.0 - layer.zero_weights / layer.weight_params


def _transfer_s(n_bytes: float, bandwidth: float | None) -> float:
    return n_bytes / bandwidth if bandwidth else 0.0
