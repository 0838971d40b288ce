"""Latency figures fitted to measurements: every fitted figure of the table (`profiles.compute_figures`: each op's
efficiency and overhead, its cost figures for the ops whose layers have their terms, the blocked efficiencies, the
call overhead, the layout conversion cost), the peak rate of each number format measured and the memories'
bandwidths, chosen so the cost model's latency matches measured latencies in relative terms.

The fit predicts with the cost model's own formula (`cost.layer_cost.roofline_s`, on arrays of every measured layer's
`CostTerms`), so a calibrated profile is used exactly as a hand-written one. Least squares on log(predicted /
measured) (scipy), figures within the table's fit bounds (efficiency in (0, 1], overheads in [1 ns, 1 s]; rates within
1000x of the profile's), a weak pull of the efficiencies, rates and bandwidths towards the profile's own figures so
that what the measurements cannot tell apart keeps its figure (efficiency times peak is what a layer runs at; the pull
splits it), and of the per-op overheads towards their common value, so that a handful of measurements (a board's) fits
a rate and one overhead and many fit each op's own. Overheads start from the smallest measurement (a profile's 0 says
nothing). Measurements of one layer inside a model (`whole` False) pay no per-call overhead. Deterministic: same
measurements, same fit.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from types import MappingProxyType, SimpleNamespace

import numpy as np

from edgeopt.cost.estimate import Estimate
from edgeopt.errors import EdgeoptError
from edgeopt.cost.layer_cost import CostTerms, roofline_s
from edgeopt.graph.ops import VIEW_OPS, Op
from edgeopt.profiles.compute_figures import OP_FIGURE, OP_FIGURES, SCALAR_FIGURE
from edgeopt.profiles.schema import HardwareProfile

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


@dataclass(frozen=True, kw_only=True)
class LatencyFit(FitErrors):
    per_op: Mapping[str, Mapping[Op, float]]  # an `OP_FIGURES` name -> op -> fitted figure, for the ops measured
    layer_overhead_s: float  # ops the measurements did not cover: the median of the fitted overheads
    call_overhead_s: float
    layout_conversion_cost: float | None = None  # MACs' time per element converted; None: no conversions measured
    macs_per_s: dict[str, float]  # peak rate per number format the measured models ran in
    weight_bandwidth: float | None  # bytes/s; None: the profile gives none (never the bottleneck), left so
    activation_bandwidth: float | None
    labels: tuple[str, ...]
    measured_s: tuple[float, ...]
    predicted_s: tuple[float, ...]  # with the fitted (rounded) figures

    def _pairs(self) -> tuple[Sequence[float], Sequence[float]]:
        return self.predicted_s, self.measured_s

    def figure(self, name: str) -> Mapping[Op, float]:
        """Op -> fitted per-op figure `name` (empty where the measurements fitted none)."""
        return self.per_op.get(name, {})

    def per_op_figures(self) -> dict[str, dict[str, float]]:
        """Each fitted per-op figure by its record key, keyed by op name (as a calibrated profile and --json write
        them)."""
        return {spec.key: {str(op): value for op, value in self.figure(spec.name).items()}
                for spec in OP_FIGURES if spec.fit}

    def apply(self, profile: HardwareProfile) -> HardwareProfile:
        """`profile` with the fitted figures in place of its own."""
        compute = profile.compute
        for name, values in self.per_op.items():
            compute = compute.with_figure(name, values, merge=True)
        compute = dataclasses.replace(
            compute, layer_overhead_s=self.layer_overhead_s, call_overhead_s=self.call_overhead_s,
            layout_conversion_cost=compute.layout_conversion_cost if self.layout_conversion_cost is None
            else self.layout_conversion_cost,
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
    layers = _Layers.of(profile, measurements)
    params = _parameters(profile, layers, float(layers.measured.min()))
    _require_enough(layers, measurements)
    if pool_overheads is None:
        pool_overheads = len({m.label for m in measurements}) < sum(
            len(g.keys) for g in params.groups if g.name in OP_FIGURE) + 1
    x0, lower, upper = params.vector("start"), params.vector("low"), params.vector("high")
    anchored = params.indices(lambda g: g.anchored)
    overheads = params.indices(lambda g: g.name == "overhead_s")
    views = np.array([op in VIEW_OPS for op in params.group("overhead_s").keys], dtype=bool)
    view_offset = np.where(views, -np.log(10.0), 0.0)

    def pulls(x: np.ndarray) -> np.ndarray:
        # efficiencies, rates, bandwidths and costs: pulled towards the profile's (or the start's), so what the
        # measurements cannot tell apart keeps its figure; per-op overheads towards their common value (views a
        # tenth of it), so an op seen in one model or none takes the shared overhead, not whatever is left over
        anchor = PRIOR_WEIGHT * (x - x0)[anchored]
        if not (pool_overheads and (~views).any()):
            return anchor
        shared = x[overheads][~views].mean()
        return np.concatenate([anchor, PRIOR_WEIGHT * (x[overheads] - shared - view_offset)])

    def residuals(x: np.ndarray) -> np.ndarray:
        return np.concatenate([np.log(layers.predict(params.unpack(np.exp(x))) / layers.measured), pulls(x)])

    from scipy.optimize import least_squares

    solution = least_squares(residuals, np.clip(x0, lower, upper), bounds=(lower, upper), method="trf",
                             max_nfev=2000)
    fit = _result(profile, measurements, layers, params, params.unpack(np.exp(solution.x)))
    fit.require_agreement("measurements", "latency", "us")
    return fit


@dataclass(frozen=True)
class _Group:
    """One block of the fit's parameter vector: a figure (per op, per format, or one) over `keys`, in logs."""

    name: str  # an OP_FIGURES or SCALAR_FIGURES name, "speed" (per format) or a memory's "..._bandwidth"
    keys: tuple
    start: np.ndarray
    low: float
    high: float
    anchored: bool = True  # pulled towards its start


class _Parameters:
    """The fit's parameter vector as named groups (the order of `groups`), packed as logs for the solver."""

    def __init__(self, groups: list[_Group]):
        self.groups = [g for g in groups if g.keys]
        self.slices, at = {}, 0
        for g in self.groups:
            self.slices[g.name] = slice(at, at + len(g.keys))
            at += len(g.keys)

    def group(self, name: str) -> _Group:
        return next((g for g in self.groups if g.name == name), _Group(name, (), np.zeros(0), 1.0, 1.0))

    def vector(self, what: str) -> np.ndarray:
        """Logs of every group's start, low or high bound, in order."""
        return np.log(np.concatenate([g.start if what == "start" else np.full(len(g.keys), getattr(g, what))
                                      for g in self.groups]))

    def indices(self, keep) -> np.ndarray:
        return np.concatenate([np.arange(len(g.keys)) + self.slices[g.name].start for g in self.groups if keep(g)]
                              or [np.zeros(0, dtype=np.int64)]).astype(np.int64)

    def unpack(self, values: np.ndarray) -> dict[str, np.ndarray]:
        return {name: values[part] for name, part in self.slices.items()}


def _parameters(profile: HardwareProfile, layers: _Layers, smallest_s: float) -> _Parameters:
    """The figures the measured layers can tell: an efficiency per (op, run blocked) that computes, an overhead per
    op run on its own, the call overhead, a peak-rate multiplier per format, bandwidth multipliers, and each cost
    figure for the ops whose layers have its term. Overheads start from the smallest measurement (a profile's 0
    says nothing); the rest from the profile's own figures or the table's start."""
    compute = profile.compute
    low_o, high_o = OP_FIGURE["overhead_s"].fit.low, OP_FIGURE["overhead_s"].fit.high
    start_o = min(max(smallest_s / 4, low_o), high_o)
    efficiency = OP_FIGURE["efficiency"].fit
    groups = [
        _Group("efficiency", layers.eff_keys, np.array([min(max(compute.efficiency(op, blocked), efficiency.low),
                                                            efficiency.high) for op, blocked in layers.eff_keys]),
               efficiency.low, efficiency.high),
        _Group("overhead_s", layers.overhead_ops, np.array([start_o / 10 if op in VIEW_OPS else start_o
                                                            for op in layers.overhead_ops]), low_o, high_o, False),
        _Group("call_overhead_s", (None,), np.array([start_o]), low_o, high_o, False),
        _Group("speed", layers.formats, np.ones(len(layers.formats)), *MULTIPLIER_RANGE),
        *(_Group(f"{level}_bandwidth", (None,) * fitted, np.ones(fitted), *MULTIPLIER_RANGE)
          for level, fitted in (("weight", layers.fit_weight_bandwidth), ("activation",
                                                                            layers.fit_activation_bandwidth))),
    ]
    for spec in OP_FIGURES:
        if spec.term:
            ops = layers.cost_ops[spec.name]
            groups.append(_Group(spec.name, ops, np.array([compute.figure(op, spec.name) or spec.fit.start
                                                           for op in ops]), spec.fit.low, spec.fit.high))
    conversion = SCALAR_FIGURE["layout_conversion_cost"]
    groups.append(_Group(conversion.name, (None,) * layers.fit_conversion,
                         np.array([compute.layout_conversion_cost or conversion.fit.start] * layers.fit_conversion),
                         conversion.fit.low, conversion.fit.high))
    return _Parameters(groups)
@dataclass(frozen=True)
class _Layers:
    """Every measured layer's `CostTerms` as arrays (the formula's inputs), which measurement each belongs to, and
    which figures they can tell (the keys of each parameter group)."""

    terms: SimpleNamespace  # `CostTerms` fields as arrays, one entry a layer
    sample: np.ndarray  # the measurement each layer belongs to
    measured: np.ndarray
    calls: np.ndarray  # 1.0 where a measurement is a whole call (pays the per-call overhead)
    eff_keys: tuple  # (op, run blocked): a layout op run in the blocked layout is another kernel
    overhead_ops: tuple
    formats: tuple
    cost_ops: dict[str, tuple]  # a cost figure's name -> the ops fitted
    fit_weight_bandwidth: int
    fit_activation_bandwidth: int
    fit_conversion: int
    blocking: dict[str, np.ndarray]  # pad_out, pad_in, passes, group_runs: the profile's layout, not fitted
    indices: dict[str, np.ndarray]  # a group's name -> each layer's position in its keys (-1: none)

    @staticmethod
    def of(profile: HardwareProfile, measurements: Sequence[Measurement]) -> _Layers:
        compute = profile.compute
        pairs = [(i, t) for i, m in enumerate(measurements) for t in (layer.terms for layer in m.estimate.layers)
                 if t is not None]
        rows = [t for _, t in pairs]
        eff_keys = tuple(sorted({(t.op, t.blocked) for t in rows if t.peak_compute_s > 0},
                                key=lambda k: (str(k[0]), k[1])))
        eff_ops = {op for op, _ in eff_keys}
        cost_ops = {spec.name: _ops(t for t in rows if getattr(t, spec.term) > 0 and t.op in eff_ops)
                    for spec in OP_FIGURES if spec.term}
        # an output cost only where some layer runs several innermost loops an output: a dense or depthwise layer
        # runs one, so its output cost and its half length are one figure (the half length's)
        cost_ops["output_cost"] = _ops(t for t in rows if 0 < t.output_s < t.loop_s * (1 - 1e-9)
                                       and t.op in cost_ops["half_length"])
        blocking = np.array([t.blocking(compute.channel_block(t.op), compute.channel_tile(t.op)) for t in rows],
                            dtype=np.float64).reshape(-1, 3).T
        numbers = [f.name for f in dataclasses.fields(CostTerms) if f.name not in ("op", "fmt", "energy_fmt")]
        ops = [t.op for t in rows]
        formats = tuple(sorted({t.fmt for t in rows if t.peak_compute_s > 0}))
        overhead_ops = _ops(t for t in rows if t.pays_overhead)
        indices = {name: _index(cost_ops[name], ops) for name in cost_ops} | {
            "efficiency": _index(eff_keys, [(t.op, t.blocked) for t in rows]),
            "overhead_s": _index(overhead_ops, [t.op if t.pays_overhead else None for t in rows]),
            "speed": _index(formats, [t.fmt for t in rows])}
        return _Layers(
            terms=SimpleNamespace(**{name: np.array([getattr(t, name) for t in rows], dtype=np.float64)
                                     for name in numbers},
                                  op=ops),
            sample=np.array([i for i, _ in pairs], dtype=np.int64),
            measured=np.array([m.latency_s for m in measurements]),
            calls=np.array([m.whole for m in measurements], dtype=np.float64),
            eff_keys=eff_keys, overhead_ops=overhead_ops, formats=formats, cost_ops=cost_ops, indices=indices,
            fit_weight_bandwidth=int(profile.weight_memory.bandwidth_bytes_per_s is not None
                                     and any(t.weight_memory_s for t in rows)),
            fit_activation_bandwidth=int(profile.activation_memory.bandwidth_bytes_per_s is not None
                                         and any(t.activation_memory_s for t in rows)),
            fit_conversion=int(any(t.convert_s > 0 for t in rows)),
            blocking={"pad_out": blocking[0], "pad_in": blocking[1], "passes": blocking[2],
                      "group_runs": np.array([t.group_runs(compute.channel_block(t.op)) for t in rows])})

    def predict(self, values: dict[str, np.ndarray]) -> np.ndarray:
        """Each measurement's latency under `values` (group name -> figures): `roofline_s` on every layer."""

        def per_layer(name: str, neutral: float) -> np.ndarray:
            return np.append(values.get(name, np.zeros(0)), neutral)[self.indices[name]]

        latency = roofline_s(
            self.terms, efficiency=per_layer("efficiency", 1.0), overhead_s=per_layer("overhead_s", 0.0),
            speed=per_layer("speed", 1.0), weight_bandwidth=values.get("weight_bandwidth", np.ones(1))[0],
            activation_bandwidth=values.get("activation_bandwidth", np.ones(1))[0],
            layout_conversion_cost=values.get("layout_conversion_cost", np.zeros(1))[0],
            **{spec.name: per_layer(spec.name, 0.0) for spec in OP_FIGURES if spec.term}, **self.blocking)
        per_call = values.get("call_overhead_s", np.zeros(1))[0]
        return np.bincount(self.sample, weights=latency, minlength=len(self.measured)) + per_call * self.calls


def _index(keys: tuple, of: list) -> np.ndarray:
    """Each entry of `of`'s position in `keys` (-1: none; the group's neutral value applies)."""
    position = {key: i for i, key in enumerate(keys)}
    return np.array([position.get(key, -1) for key in of], dtype=np.int64)


def _ops(terms) -> tuple:
    return tuple(sorted({t.op for t in terms}, key=str))


def _require_enough(layers: _Layers, measurements: Sequence[Measurement]) -> None:
    """With the pulls, what few measurements must fix is a rate, a per-layer overhead and the per-call one; each op's
    own figures come from the data as far as it tells them apart."""
    overhead_ops = layers.overhead_ops
    pooled = 1 + int(bool(overhead_ops)) + int(any(m.whole for m in measurements))
    distinct = len({m.label for m in measurements})  # a model listed three times is one measurement, repeated
    if distinct < pooled:
        raise CalibrationError(
            f"{distinct} distinct measurement{'s' if distinct != 1 else ''} cannot fit even {pooled} pooled figures "
            "(a compute rate"
            + (", a per-layer overhead" if overhead_ops else "") + (" and the per-call overhead" if pooled == 3 else "")
            + f"); give at least {pooled}, and one per op kind ({', '.join(map(str, overhead_ops))}) for per-op "
            "figures")


def _result(profile: HardwareProfile, measurements: Sequence[Measurement], layers: _Layers, params: _Parameters,
            fitted: dict[str, np.ndarray]) -> LatencyFit:
    """The fitted figures rounded to the digits a calibrated profile keeps, and the fit's predictions with them."""
    compute = profile.compute
    rates = {fmt: round_figure(compute.macs_per_s[fmt] * m) for fmt, m in zip(layers.formats, fitted["speed"])}
    bandwidths = {level: round_figure(memory.bandwidth_bytes_per_s * fitted[f"{level}_bandwidth"][0])
                  if f"{level}_bandwidth" in fitted else None
                  for level, memory in (("weight", profile.weight_memory), ("activation", profile.activation_memory))}
    rounded = {name: np.array([round_figure(v) for v in values]) for name, values in fitted.items()}
    rounded["efficiency"] = np.minimum(1.0, rounded.get("efficiency", np.zeros(0)))
    rounded["speed"] = np.array([rates[fmt] / compute.macs_per_s[fmt] for fmt in layers.formats])
    for level, memory in (("weight", profile.weight_memory), ("activation", profile.activation_memory)):
        if bandwidths[level] is not None:
            rounded[f"{level}_bandwidth"] = np.array([bandwidths[level] / memory.bandwidth_bytes_per_s])
    efficiencies = dict(zip(layers.eff_keys, rounded["efficiency"].tolist()))
    per_op = {spec.name: dict(zip(params.group(spec.name).keys, rounded[spec.name].tolist()))
              for spec in OP_FIGURES if spec.name in rounded and spec.name != "efficiency"}
    per_op["efficiency"] = {op: v for (op, blocked), v in efficiencies.items() if not blocked}
    per_op["blocked_efficiency"] = {op: v for (op, blocked), v in efficiencies.items() if blocked}
    overheads = per_op.get("overhead_s", {})
    computing = [v for op, v in overheads.items() if op not in VIEW_OPS]
    return LatencyFit(
        per_op={name: per_op.get(name, {}) for name in OP_FIGURE if OP_FIGURE[name].fit},
        layer_overhead_s=round_figure(float(np.median(computing))) if computing else compute.layer_overhead_s,
        call_overhead_s=float(rounded["call_overhead_s"][0]),
        layout_conversion_cost=float(rounded["layout_conversion_cost"][0]) if "layout_conversion_cost" in rounded
        else None,
        macs_per_s=rates, weight_bandwidth=bandwidths["weight"], activation_bandwidth=bandwidths["activation"],
        labels=tuple(m.label for m in measurements), measured_s=tuple(layers.measured),
        predicted_s=tuple(float(p) for p in layers.predict(rounded)))


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
