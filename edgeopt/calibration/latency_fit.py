"""Latency figures fitted to measurements: each op kind's efficiency, the innermost-loop length at which it halves
(`op_half_length`: short kernels and narrow layers run slower per MAC), what finishing one output element costs
(`op_output_cost`: bias, requantization, activation and store), what each element of a layer's unrolled input
costs (`op_window_cost`: im2col and packing, K x N of the GEMM it runs as), what a depthwise channel group and a
converted element cost, the efficiency of a layout op run in the blocked layout (`blocked_op_efficiency`: another
kernel), per-layer overhead, a per-call overhead, the peak rate of each number format measured and the memories'
bandwidths, chosen so the cost model's latency matches measured latencies in relative terms.

The fit keeps the cost model's own form (roofline per layer plus overheads, `CostTerms`), so a calibrated profile
is used exactly as a hand-written one. Least squares on log(predicted / measured) (scipy), figures bounded to
physical ranges (efficiency in (0, 1], overheads in [1 ns, 1 s], rates within 1000x of the profile's), a weak pull
of the efficiencies, rates and bandwidths towards the profile's own figures so that what the measurements cannot tell
apart keeps its figure (efficiency times peak is what a layer runs at; the pull splits it), and of the per-op
overheads towards their common value, so that a handful of measurements (a board's) fits a rate and one overhead and
many fit each op's own. Overheads start from the smallest measurement (a profile's 0 says nothing). Measurements of
one layer inside a model (`whole` False) pay no per-call overhead. Deterministic: same measurements, same fit.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from dataclasses import dataclass, field
from types import MappingProxyType

import numpy as np

from edgeopt.cost.estimate import Estimate
from edgeopt.errors import EdgeoptError
from edgeopt.graph.ops import VIEW_OPS, Op
from edgeopt.profiles.schema import HardwareProfile

MIN_EFFICIENCY = 1e-5
HALF_LENGTH_RANGE = (1e-3, 1e5)  # MACs of an innermost loop at which an op runs at half its efficiency
START_HALF_LENGTH = 1.0  # where a profile gives none: a little (a start the fit can move from; 0 it cannot)
OUTPUT_COST_RANGE = (1e-3, 1e5)  # MACs' time an output, unrolled input, channel group or converted element costs
START_OUTPUT_COST = 1.0
START_GROUP_COST = 100.0  # a GEMM set up per group: a start whose pull the data can move (1 it barely can)
OVERHEAD_RANGE_S = (1e-9, 1.0)
MULTIPLIER_RANGE = (1e-3, 1e3)  # a fitted peak rate or bandwidth against the profile's own
PRIOR_WEIGHT = 0.03  # in log units, against residuals of log(predicted / measured)
MAX_FIT_ERROR = 0.5  # a mean relative error beyond this: the measurements contradict each other or the model
DUPLICATE_SPREAD = 1.5  # one model measured twice this far apart: contradictory measurements
SIGNIFICANT = 4  # digits the fitted figures keep (written to YAML; the fit error is of the rounded figures)


MIN_LATENCY_S, MAX_LATENCY_S = 1e-12, 1e6  # a picosecond to eleven days: beyond either, a unit was lost


class CalibrationError(EdgeoptError):
    """Measurements that cannot calibrate a profile: too few, contradictory, or not positive."""


@dataclass(frozen=True)
class Measurement:
    """A model's measured latency, with its estimate on the profile being calibrated (for its layers' terms)."""

    label: str  # the model file or name (a layer: file:layer)
    estimate: Estimate  # of the whole model, or of one layer of it (`whole` False)
    latency_s: float
    whole: bool = True  # a whole call of the model (pays the per-call overhead), not one layer inside it


class FitErrors:
    """How far a fit's predictions are from the measurements it used (a fit names the two with `_pairs`)."""

    def _pairs(self) -> tuple[Sequence[float], Sequence[float]]:  # (predicted, measured)
        raise NotImplementedError

    @property
    def errors(self) -> np.ndarray:
        """Relative error of each fitted prediction, (predicted - measured) / measured."""
        predicted, measured = self._pairs()
        return np.array(predicted) / np.array(measured) - 1.0

    @property
    def fit_error(self) -> float:
        """Mean absolute relative error over the measurements the fit used."""
        return float(np.mean(np.abs(self.errors)))

    @property
    def within_10pct(self) -> float:
        return float(np.mean(np.abs(self.errors) <= 0.1))

    def require_agreement(self, measured_what: str, model: str, unit: str) -> None:
        """A CalibrationError naming the worst measurement when the fit is off by more than MAX_FIT_ERROR on
        average (`unit`: 'us' or 'uJ', the measurements being in seconds or joules)."""
        if self.fit_error <= MAX_FIT_ERROR:
            return
        predicted, measured = self._pairs()
        worst = int(np.argmax(np.abs(self.errors)))
        raise CalibrationError(
            f"the {measured_what} contradict each other or the {model} model: the best fit is off by "
            f"{self.fit_error:.0%} on average (worst: {self.labels[worst]}, measured {measured[worst] * 1e6:.4g} "
            f"{unit}, fitted {predicted[worst] * 1e6:.4g} {unit}); check the units and that every model ran on the "
            "same device")


@dataclass(frozen=True)
class LatencyFit(FitErrors):
    op_efficiency: dict[Op, float]
    op_overhead_s: dict[Op, float]
    layer_overhead_s: float  # ops the measurements did not cover: the median of the fitted overheads
    call_overhead_s: float
    macs_per_s: dict[str, float]  # peak rate per number format the measured models ran in
    weight_bandwidth: float | None  # bytes/s; None: the profile gives none (never the bottleneck), left so
    activation_bandwidth: float | None
    labels: tuple[str, ...]
    measured_s: tuple[float, ...]
    predicted_s: tuple[float, ...]  # with the fitted (rounded) figures
    op_half_length: dict[Op, float] = field(default_factory=dict)  # MACs: efficiency falls with short loops
    op_output_cost: dict[Op, float] = field(default_factory=dict)  # MACs' time per output element
    op_window_cost: dict[Op, float] = field(default_factory=dict)  # MACs' time per unrolled input element
    op_group_cost: dict[Op, float] = field(default_factory=dict)  # MACs' time per depthwise channel group
    layout_conversion_cost: float | None = None  # MACs' time per element converted; None: no conversions measured
    blocked_op_efficiency: dict[Op, float] = field(default_factory=dict)  # layout ops measured run blocked

    def _pairs(self) -> tuple[Sequence[float], Sequence[float]]:
        return self.predicted_s, self.measured_s

    def per_op_figures(self) -> dict[str, dict[str, float]]:
        """Each per-op figure by its field name, keyed by op name (as a calibrated profile and --json write them)."""
        return {name: {str(op): value for op, value in getattr(self, name).items()}
                for name in ("op_efficiency", "op_overhead_s", "op_half_length", "op_output_cost", "op_window_cost",
                             "op_group_cost", "blocked_op_efficiency")}

    def apply(self, profile: HardwareProfile) -> HardwareProfile:
        """`profile` with the fitted figures in place of its own."""
        compute = profile.compute
        compute = dataclasses.replace(
            compute, op_efficiency=MappingProxyType(dict(compute.op_efficiency) | self.op_efficiency),
            op_overhead_s=MappingProxyType(dict(compute.op_overhead_s) | self.op_overhead_s),
            op_half_length=MappingProxyType(dict(compute.op_half_length) | self.op_half_length),
            op_output_cost=MappingProxyType(dict(compute.op_output_cost) | self.op_output_cost),
            op_window_cost=MappingProxyType(dict(compute.op_window_cost) | self.op_window_cost),
            op_group_cost=MappingProxyType(dict(compute.op_group_cost) | self.op_group_cost),
            layout_conversion_cost=compute.layout_conversion_cost if self.layout_conversion_cost is None
            else self.layout_conversion_cost,
            blocked_op_efficiency=MappingProxyType(dict(compute.blocked_op_efficiency) | self.blocked_op_efficiency),
            layer_overhead_s=self.layer_overhead_s, call_overhead_s=self.call_overhead_s,
            macs_per_s=MappingProxyType(dict(compute.macs_per_s) | self.macs_per_s))
        return with_memory_figure(dataclasses.replace(profile, compute=compute), "bandwidth_bytes_per_s",
                                  self.weight_bandwidth, self.activation_bandwidth)


def with_memory_figure(profile: HardwareProfile, name: str, weights: float | None,
                       activations: float | None) -> HardwareProfile:
    """`profile` with field `name` of its weight and activation memories set where a fit gave one (not None)."""
    levels = {"weight_memory": (profile.weight_memory, weights),
              "activation_memory": (profile.activation_memory, activations)}
    return dataclasses.replace(profile, **{level: dataclasses.replace(memory, **{name: value})
                                           for level, (memory, value) in levels.items() if value is not None})


def fit_latency(profile: HardwareProfile, measurements: Sequence[Measurement], *,
                pool_overheads: bool | None = None) -> LatencyFit:
    """Fit `profile`'s latency figures to `measurements` (estimates made on `profile`). Per-op overheads are pulled
    towards their common value when the measurements are fewer than the per-op figures (`pool_overheads` None), or
    as `pool_overheads` says."""
    _check(measurements)
    layers = [(i, t) for i, m in enumerate(measurements) for t in (layer.terms for layer in m.estimate.layers)
              if t is not None]
    # efficiencies by (op, run blocked): a layout op run in the blocked layout is another kernel
    eff_keys = sorted({(t.op, t.blocked) for _, t in layers if t.peak_compute_s > 0}, key=lambda k: (str(k[0]), k[1]))
    eff_ops = sorted({op for op, _ in eff_keys}, key=str)
    ovh_ops = sorted({t.op for _, t in layers if t.pays_overhead}, key=str)
    views = [op for op in ovh_ops if op in VIEW_OPS]  # free unless measured (a runtime running them as nodes)
    formats = sorted({t.fmt for _, t in layers if t.peak_compute_s > 0})
    half_ops = sorted({t.op for _, t in layers if t.loop_s > 0 and t.op in eff_ops}, key=str)
    # an output cost only where some layer runs several innermost loops an output: a dense or depthwise layer runs
    # one, so its output cost and its half length are one figure (the half length's)
    out_ops = sorted({t.op for _, t in layers if 0 < t.output_s < t.loop_s * (1 - 1e-9) and t.op in half_ops},
                     key=str)
    window_ops = sorted({t.op for _, t in layers if t.window_s > 0 and t.op in eff_ops}, key=str)
    group_ops = sorted({t.op for _, t in layers if t.group_s > 0 and t.op in eff_ops}, key=str)
    fit_c = any(t.convert_s > 0 for _, t in layers)
    fit_w = profile.weight_memory.bandwidth_bytes_per_s is not None and any(t.weight_memory_s for _, t in layers)
    fit_a = profile.activation_memory.bandwidth_bytes_per_s is not None and any(
        t.activation_memory_s for _, t in layers)
    # x (logs): efficiencies, overheads, the call overhead, peak and bandwidth multipliers, half lengths, output
    # costs, window costs, group costs, the layout conversion cost
    sizes = [len(eff_keys), len(ovh_ops), 1, len(formats), int(fit_w), int(fit_a), len(half_ops), len(out_ops),
             len(window_ops), len(group_ops), int(fit_c)]
    cut = np.cumsum([0, *sizes])
    # With the pulls below, what few measurements must fix is a rate, a per-layer overhead and the per-call one;
    # each op's own figures come from the data as far as it tells them apart.
    pooled = 1 + int(bool(ovh_ops)) + int(any(m.whole for m in measurements))
    distinct = len({m.label for m in measurements})  # a model listed three times is one measurement, repeated
    if pool_overheads is None:
        pool_overheads = distinct < sum(map(len, (eff_keys, ovh_ops, half_ops, out_ops, window_ops,
                                                                   group_ops))) + 1
    if distinct < pooled:
        raise CalibrationError(
            f"{distinct} distinct measurement{'s' if distinct != 1 else ''} cannot fit even {pooled} pooled figures "
            "(a compute rate"
            + (", a per-layer overhead" if ovh_ops else "") + (" and the per-call overhead" if pooled == 3 else "")
            + f"); give at least {pooled}, and one per op kind ({', '.join(map(str, ovh_ops))}) for per-op figures")
    sample = np.array([i for i, _ in layers], dtype=np.int64)
    peak = np.array([t.peak_compute_s for _, t in layers])
    w_s = np.array([t.weight_memory_s for _, t in layers])
    a_s = np.array([t.activation_memory_s for _, t in layers])
    eff_index = np.array([eff_keys.index((t.op, t.blocked)) if (t.op, t.blocked) in eff_keys else -1
                          for _, t in layers])
    ovh_index = np.array([ovh_ops.index(t.op) if t.pays_overhead else -1 for _, t in layers])
    fmt_index = np.array([formats.index(t.fmt) if t.fmt in formats else -1 for _, t in layers])
    half_index = np.array([half_ops.index(t.op) if t.op in half_ops else -1 for _, t in layers])
    loop_s = np.array([t.loop_s for _, t in layers])
    out_index = np.array([out_ops.index(t.op) if t.op in out_ops else -1 for _, t in layers])
    output_s = np.array([t.output_s for _, t in layers])
    window_index = np.array([window_ops.index(t.op) if t.op in window_ops else -1 for _, t in layers])
    window_s = np.array([t.window_s for _, t in layers])
    group_index = np.array([group_ops.index(t.op) if t.op in group_ops else -1 for _, t in layers])
    group_s = np.array([t.group_s * t.group_runs(profile.compute.channel_block(t.op)) for _, t in layers])
    convert_s = np.array([t.convert_s for _, t in layers])
    # the profile's channel blocks and tiles are the runtime's layout, not fitted: they scale the terms
    blocking = [t.blocking(profile.compute.channel_block(t.op), profile.compute.channel_tile(t.op)) for _, t in layers]
    pad_out, pad_in, passes = np.array(blocking, dtype=np.float64).reshape(-1, 3).T
    measured = np.array([m.latency_s for m in measurements])
    calls = np.array([m.whole for m in measurements], dtype=np.float64)
    n = len(measurements)

    def predict(e: np.ndarray) -> np.ndarray:
        eff, ovh, call, speed = e[cut[0]:cut[1]], e[cut[1]:cut[2]], e[cut[2]], e[cut[3]:cut[4]]
        bw_w = e[cut[4]] if fit_w else 1.0
        bw_a = e[cut[5]] if fit_a else 1.0
        half = np.append(e[cut[6]:cut[7]], 0.0)[half_index]
        finish = np.append(e[cut[7]:cut[8]], 0.0)[out_index]
        unroll = np.append(e[cut[8]:cut[9]], 0.0)[window_index]
        per_group = np.append(e[cut[9]:cut[10]], 0.0)[group_index]
        faster = np.append(speed, 1.0)[fmt_index]
        rate = np.append(eff, 1.0)[eff_index] * faster
        convert = convert_s * e[cut[10]] / faster if fit_c else 0.0
        per_layer = np.maximum((pad_out * pad_in * (peak + loop_s * half) + pad_out * output_s * finish
                                + pad_in * passes * window_s * unroll + group_s * per_group) / rate,
                               w_s / bw_w + a_s / bw_a) \
            + np.where(ovh_index >= 0, np.append(ovh, 0.0)[ovh_index], 0.0) + convert
        return np.bincount(sample, weights=per_layer, minlength=n) + call * calls

    compute = profile.compute
    low_o, high_o = OVERHEAD_RANGE_S
    start_o = min(max(float(measured.min()) / 4, low_o), high_o)
    x0 = np.log(np.concatenate([
        [min(max(compute.efficiency(op, blocked), MIN_EFFICIENCY), 1.0) for op, blocked in eff_keys],
        [start_o / 10 if op in views else start_o for op in ovh_ops], [start_o],
        np.ones(sizes[3] + sizes[4] + sizes[5]),
        [compute.half_length(op) or START_HALF_LENGTH for op in half_ops],
        [compute.output_cost(op) or START_OUTPUT_COST for op in out_ops],
        [compute.window_cost(op) or START_OUTPUT_COST for op in window_ops],
        [compute.group_cost(op) or START_GROUP_COST for op in group_ops],
        [compute.layout_conversion_cost or START_OUTPUT_COST] * sizes[10]]))
    # efficiencies, multipliers, half lengths, output, window, group and conversion costs: pulled towards the
    # profile's (or the start's)
    anchored = np.r_[cut[0]:cut[1], cut[3]:cut[11]]
    # per-op overheads: pulled towards their common value (views a tenth of it), so an op seen in one model or none
    # on its own takes the shared overhead rather than whatever is left over
    overheads = np.arange(cut[1], cut[2])
    computing = np.array([op not in views for op in ovh_ops], dtype=bool)
    view_offset = np.where(computing, 0.0, -np.log(10.0))

    def pulls(x: np.ndarray) -> np.ndarray:
        anchor = PRIOR_WEIGHT * (x - x0)[anchored]
        if not (pool_overheads and computing.any()):
            return anchor
        shared = x[overheads][computing].mean()
        return np.concatenate([anchor, PRIOR_WEIGHT * (x[overheads] - shared - view_offset)])

    def residuals(x: np.ndarray) -> np.ndarray:
        return np.concatenate([np.log(predict(np.exp(x)) / measured), pulls(x)])

    from scipy.optimize import least_squares

    lower = np.log(np.concatenate([[MIN_EFFICIENCY] * sizes[0], [low_o] * (sizes[1] + 1),
                                   [MULTIPLIER_RANGE[0]] * (sizes[3] + sizes[4] + sizes[5]),
                                   [HALF_LENGTH_RANGE[0]] * sizes[6], [OUTPUT_COST_RANGE[0]] * sum(sizes[7:11])]))
    upper = np.log(np.concatenate([[1.0] * sizes[0], [high_o] * (sizes[1] + 1),
                                   [MULTIPLIER_RANGE[1]] * (sizes[3] + sizes[4] + sizes[5]),
                                   [HALF_LENGTH_RANGE[1]] * sizes[6], [OUTPUT_COST_RANGE[1]] * sum(sizes[7:11])]))
    solution = least_squares(residuals, np.clip(x0, lower, upper), bounds=(lower, upper), method="trf",
                             max_nfev=2000)
    e = np.exp(solution.x)
    rates = {fmt: round_figure(compute.macs_per_s[fmt] * m) for fmt, m in zip(formats, e[cut[3]:cut[4]])}
    bandwidth_w = round_figure(profile.weight_memory.bandwidth_bytes_per_s * e[cut[4]]) if fit_w else None
    bandwidth_a = round_figure(profile.activation_memory.bandwidth_bytes_per_s * e[cut[5]]) if fit_a else None
    rounded = np.concatenate([
        [min(1.0, round_figure(v)) for v in e[cut[0]:cut[1]]], [round_figure(v) for v in e[cut[1]:cut[3]]],
        [rates[fmt] / compute.macs_per_s[fmt] for fmt in formats],
        [bandwidth_w / profile.weight_memory.bandwidth_bytes_per_s] if fit_w else [],
        [bandwidth_a / profile.activation_memory.bandwidth_bytes_per_s] if fit_a else [],
        [round_figure(v) for v in e[cut[6]:cut[11]]]])
    predicted = predict(rounded)
    fitted_eff = dict(zip(eff_keys, rounded[cut[0]:cut[1]].tolist()))
    eff = {op: v for (op, blocked), v in fitted_eff.items() if not blocked}
    blocked_eff = {op: v for (op, blocked), v in fitted_eff.items() if blocked}
    ovh = dict(zip(ovh_ops, rounded[cut[1]:cut[2]].tolist()))
    computing = [v for op, v in ovh.items() if op not in views]
    layer_overhead = round_figure(float(np.median(computing))) if computing else compute.layer_overhead_s
    fit = LatencyFit(eff, ovh, layer_overhead, float(rounded[cut[2]]), rates, bandwidth_w, bandwidth_a,
                     tuple(m.label for m in measurements), tuple(measured), tuple(float(p) for p in predicted),
                     dict(zip(half_ops, rounded[cut[6]:cut[7]].tolist())),
                     dict(zip(out_ops, rounded[cut[7]:cut[8]].tolist())),
                     dict(zip(window_ops, rounded[cut[8]:cut[9]].tolist())),
                     dict(zip(group_ops, rounded[cut[9]:cut[10]].tolist())),
                     float(rounded[cut[10]]) if fit_c else None, blocked_eff)
    fit.require_agreement("measurements", "latency", "us")
    return fit


def _check(measurements: Sequence[Measurement]) -> None:
    if not measurements:
        raise CalibrationError("no measurements to calibrate from")
    seen: dict[str, float] = {}
    for m in measurements:
        if not (MIN_LATENCY_S <= m.latency_s <= MAX_LATENCY_S):
            raise CalibrationError(f"{m.label}: a measured latency must be positive, from {MIN_LATENCY_S:g} s to "
                                   f"{MAX_LATENCY_S:g} s; got {m.latency_s!r}")
        if m.label in seen:
            a, b = sorted((seen[m.label], m.latency_s))
            if b > DUPLICATE_SPREAD * a:
                raise CalibrationError(f"{m.label} was measured twice, {a * 1e6:.4g} us and {b * 1e6:.4g} us: "
                                       "contradictory measurements (more than 1.5x apart)")
        seen[m.label] = m.latency_s


def round_figure(value: float) -> float:
    """`value` to the digits a calibrated profile keeps."""
    return float(f"{value:.{SIGNIFICANT}g}")
