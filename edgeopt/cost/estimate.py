"""estimate(): every cost of a model on a device, per layer and in total, with the budgets it breaks."""

from __future__ import annotations

import math
import os
from dataclasses import dataclass, field, replace

from edgeopt.cost.engine import ENGINE_OPS, EngineEstimate, estimate_engine
from edgeopt.cost.fabric import FabricEstimate, estimate_fabric, fabric_inputs, fabric_model
from edgeopt.cost.layer_cost import CostTerms, layer_cost, weight_bytes
from edgeopt.cost.layout import schedule
from edgeopt.cost.liveness import liveness
from edgeopt.cost.record import Cost, total
from edgeopt.figures import CALIBRATED, CostFigures, Provenance
from edgeopt.graph.ir import Graph
from edgeopt.graph.ops import MAC_OPS, SUPPORT_OPS, Op
from edgeopt.profiles.schema import HardwareProfile


@dataclass(frozen=True)
class Violation:
    """One broken limit: `what` names it (a budget, a memory, an op), with the limit, the actual value and the layer
    that matters most for it."""

    what: str
    limit: float | str
    actual: float | str
    layer: str | None
    message: str

    def to_dict(self) -> dict:
        return {"what": self.what, "limit": self.limit, "actual": self.actual, "layer": self.layer,
                "message": self.message}


@dataclass(frozen=True)
class LayerCost:
    name: str
    op: Op
    source_op: str
    output_shape: tuple[int, ...] | None
    weight_format: str | None  # None for layers without weights
    fused: bool  # folded into its producer or applied in place: no extra buffer, overhead or traffic
    cost: Cost
    terms: CostTerms | None = None  # what its latency and energy are made of (None: folded into its producer)

    def to_dict(self) -> dict:
        return {"name": self.name, "op": self.op.value, "source_op": self.source_op,
                "output_shape": list(self.output_shape) if self.output_shape else None,
                "weight_format": self.weight_format, "fused": self.fused, **self.cost.to_dict()}


@dataclass(frozen=True)
class Estimate:
    model: str
    profile: str
    layers: tuple[LayerCost, ...]
    total: Cost
    peak_activation_bytes: float
    peak_layer: str | None
    violations: tuple[Violation, ...]
    notes: tuple[str, ...] = field(default=())
    crossbar_tiles_available: int | None = None
    # where latency and energy come from: the cost model on a profile's figures (estimated), or on figures fitted
    # to measurements (calibrated, with the fit's error); every other figure is counted from the model itself
    latency_from: Provenance = Provenance()
    energy_from: Provenance = Provenance()
    engine: EngineEstimate | None = None  # an FPGA profile's Verilog engine: its latency is the model's
    fabric: FabricEstimate | None = None  # that engine's cells on the profile's part family

    def figures(self) -> CostFigures:
        """The totals in the shared vocabulary, with their provenance."""
        t = self.total
        provenance = {"latency_s": self.latency_from, "energy_j": self.energy_from}
        engine = {}
        if self.engine is not None and self.fabric is not None:
            f = self.fabric
            engine = {"clock_cycles": self.engine.clocks, "luts": f.luts, "ffs": f.ffs, "dsps": f.dsps,
                      "brams": f.brams}
            provenance |= {"luts": f.luts_from, "ffs": f.ffs_from}
        return CostFigures(t.params, t.weight_bytes, t.macs, self.peak_activation_bytes, t.latency_s, t.energy_j,
                           self.fits, provenance, engine)

    @property
    def fits(self) -> bool:
        return not self.violations

    @property
    def unknown_ops(self) -> tuple[str, ...]:
        return tuple(layer.source_op for layer in self.layers if layer.op is Op.UNKNOWN)

    @property
    def crossbar_tiles_needed(self) -> int:
        """Whole tiles of a perfect packing of every layer's blocks (0 on devices without crossbars)."""
        return math.ceil(round(self.total.crossbar_tiles, 9))

    @property
    def power_w(self) -> float:
        return self.total.energy_j / self.total.latency_s if self.total.latency_s else 0.0

    def to_dict(self) -> dict:
        return {
            "model": self.model,
            "profile": self.profile,
            "fits": self.fits,
            "total": self.total.to_dict(),
            "peak_activation_bytes": self.peak_activation_bytes,
            "peak_layer": self.peak_layer,
            "power_w": self.power_w,
            "crossbar_tiles_needed": self.crossbar_tiles_needed,
            "crossbar_tiles_available": self.crossbar_tiles_available,
            "unknown_ops": list(self.unknown_ops),
            "violations": [v.to_dict() for v in self.violations],
            "notes": list(self.notes),
            "provenance": {"latency_s": self.latency_from.to_dict(), "energy_j": self.energy_from.to_dict()},
            "engine": self.engine.to_dict() if self.engine is not None else None,
            "fabric": self.fabric.to_dict() if self.fabric is not None else None,
            "layers": [layer.to_dict() for layer in self.layers],
        }


def estimate(model_or_path, profile: HardwareProfile | str | os.PathLike, input_shape=None) -> Estimate:
    """Cost of a model (torch nn.Module, ONNX path, or Graph) on a profile (HardwareProfile, name or YAML path).

    `input_shape` (batch first) is required for torch modules and overrides an ONNX model's input shapes.
    """
    from edgeopt.graph.build import build_graph
    from edgeopt.profiles.loader import load_profile

    if not isinstance(profile, HardwareProfile):
        profile = load_profile(profile)
    return estimate_graph(build_graph(model_or_path, input_shape), profile)


def estimate_graph(graph: Graph, profile: HardwareProfile) -> Estimate:
    """Cost of an IR graph on a profile."""
    act_bytes = profile.activation_number_format.bytes
    live = liveness(graph, act_bytes)
    producer = {layer.output: i for i, layer in enumerate(graph.layers)}
    folded, extra_bias = _folded_batchnorms(graph, live.in_place, producer)
    plan = schedule(graph, profile.compute, {i: producer[graph.layers[i].inputs[0]] for i in folded})

    layers = []
    for i, layer in enumerate(graph.layers):
        fmt = layer.weight_format or profile.weight_format
        stored = weight_bytes(layer, profile, fmt, extra_bias.get(i, 0))
        in_bytes = sum(graph.tensors[t].numel for t in layer.inputs if t in graph.tensors) * act_bytes
        out_bytes = graph.tensors[layer.output].numel * act_bytes if layer.output in graph.tensors else 0.0
        terms = None
        if i in folded:  # folded into the producer's weights: nothing left to run or store
            cost = Cost(params=layer.params)
        else:
            outputs = graph.tensors[layer.output].numel if layer.output in graph.tensors else 0
            cost, terms = layer_cost(layer, profile, fmt=fmt, in_bytes=in_bytes, out_bytes=out_bytes,
                                     outputs=outputs, stored_bytes=stored, fused=i in live.in_place,
                                     converted=plan.converted.get(i, 0), blocked=i in plan.blocked_runs)
            if i in plan.fused:  # run inside the MAC layer before it: its time is that layer's
                cost, terms = replace(cost, latency_s=0.0), None
        shape = graph.tensors[layer.output].shape if layer.output in graph.tensors else None
        layers.append(LayerCost(layer.name, layer.op, layer.source_op, shape, fmt if layer.params else None,
                                i in live.in_place or i in plan.fused, cost, terms))
    engine = estimate_engine(graph, profile)
    fabric = None
    if engine is not None:  # the engine's clocks, not a roofline: each fused layer's time on its weighted layer
        fabric = estimate_fabric(engine, *fabric_inputs(graph, profile), profile.fabric.family,
                                 fabric_model(profile))
        times = engine.layer_latency_s(profile.compute.clock_hz)
        layers = [replace(layer, cost=replace(layer.cost, latency_s=times.get(i, 0.0)))
                  for i, layer in enumerate(layers)]
    summed = total(layer.cost for layer in layers) + Cost(params=graph.unused_params,
                                                          latency_s=profile.compute.call_overhead_s)
    summed = replace(summed, energy_j=summed.energy_j + profile.energy.static_power_w * summed.latency_s)
    peak_layer = graph.layers[live.peak_step].name if live.peak_step >= 0 and graph.layers else None
    notes = list(graph.notes)
    unknown_shapes = [t for t in graph.tensors.values() if t.shape is None]
    if unknown_shapes:
        notes.append(f"{len(unknown_shapes)} tensors have unknown shapes; their activations and MACs are not counted")
    calibration = profile.calibration
    latency_from = energy_from = Provenance()
    if calibration is not None:
        latency_from = Provenance(CALIBRATED, calibration.fit_error, _beyond(layers, calibration))
        if latency_from.beyond:
            notes.append(f"latency extrapolated beyond the calibration: {latency_from.beyond}")
        if calibration.energy_fit_error is not None:
            energy_from = Provenance(CALIBRATED, calibration.energy_fit_error)
    if engine is not None:
        notes.append(f"latency: the Verilog engine's {engine.clocks:,} clocks at {engine.lanes} lane"
                     f"{'s' if engine.lanes != 1 else ''} "
                     f"({'the fewest meeting the budget' if engine.meets_budget else 'the fastest engine'})")
    result = Estimate(graph.name, profile.name, tuple(layers), summed, live.peak_bytes, peak_layer, (),
                      tuple(notes), profile.crossbar.tiles if profile.crossbar else None, latency_from, energy_from,
                      engine, fabric)
    return replace(result, violations=tuple(find_violations(result, profile)))


def _beyond(layers, calibration) -> str | None:
    """How a model lies outside what `calibration` measured (a layer writing more elements than any measured one
    did), or None."""
    limit = calibration.max_activation_elements
    sizes = [(math.prod(layer.output_shape), layer.name) for layer in layers if layer.output_shape]
    if limit is None or not sizes or max(sizes)[0] <= limit:
        return None
    elements, name = max(sizes)
    return f"layer {name} writes {elements:,} elements; the largest measured layer wrote {limit:,}"


def _folded_batchnorms(graph: Graph, in_place: frozenset[int], producer: dict[str, int]):
    """Batchnorms applied in place right after a conv/dense fold into its weights; the producer gains a bias."""
    folded: set[int] = set()
    extra_bias: dict[int, int] = {}
    for i, layer in enumerate(graph.layers):
        if layer.op is not Op.BATCHNORM or i not in in_place:
            continue
        source = producer.get(layer.inputs[0])
        if source is None or graph.layers[source].op not in MAC_OPS:
            continue
        folded.add(i)
        if graph.layers[source].bias_params == 0:
            extra_bias[source] = graph.layers[source].out_channels
    return folded, extra_bias


@dataclass(frozen=True)
class LimitCheck:
    """One numeric limit (a budget or a memory's capacity) against the estimate; `limit` None means not set."""

    what: str
    label: str
    limit: float | None
    actual: float
    layer: str | None  # the layer that contributes most

    @property
    def passed(self) -> bool:
        return self.limit is None or self.actual <= self.limit

    def violation(self) -> Violation:
        where = f" (layer: {self.layer})" if self.layer else ""
        return Violation(self.what, self.limit, self.actual, self.layer,
                         f"{self.label}: {self.actual:.6g} exceeds {self.what} {self.limit:.6g}{where}")


def limit_checks(est: Estimate, profile: HardwareProfile) -> list[LimitCheck]:
    """Every budget and capacity of the profile, with the estimate's value beside it."""
    def top(key) -> str | None:
        layer = max(est.layers, key=key, default=None)
        return layer.name if layer is not None and key(layer) > 0 else None

    t, b = est.total, profile.budgets
    biggest = top(lambda layer: layer.cost.weight_bytes)
    checks = [
        LimitCheck("max_params", "parameters", b.max_params, t.params, top(lambda layer: layer.cost.params)),
        LimitCheck("max_weight_bytes", "weight bytes", b.max_weight_bytes, t.weight_bytes, biggest),
        LimitCheck("weight_memory", f"weight bytes in {profile.weight_memory.kind}",
                   profile.weight_memory.usable_bytes, t.weight_bytes, biggest),
        LimitCheck("max_activation_bytes", "peak activation bytes", b.max_activation_bytes,
                   est.peak_activation_bytes, est.peak_layer),
        LimitCheck("activation_memory", f"peak activation bytes in {profile.activation_memory.kind}",
                   profile.activation_memory.usable_bytes, est.peak_activation_bytes, est.peak_layer),
        LimitCheck("max_latency_s", "latency (s)", b.max_latency_s, t.latency_s, top(lambda x: x.cost.latency_s)),
        LimitCheck("max_energy_j", "energy per inference (J)", b.max_energy_j, t.energy_j,
                   top(lambda layer: layer.cost.energy_j)),
        LimitCheck("max_power_w", "average power (W)", b.max_power_w, est.power_w, None),
    ]
    if profile.crossbar:
        checks.append(LimitCheck("crossbar_tiles", "crossbar tiles", profile.crossbar.tiles,
                                 est.crossbar_tiles_needed, top(lambda layer: layer.cost.crossbar_tiles)))
    if profile.fabric is not None and est.fabric is not None:
        fabric, cells = profile.fabric, est.fabric
        checks += [LimitCheck("max_luts", f"LUTs of the engine ({cells.luts_from})", fabric.max_luts, cells.luts,
                              None),
                   LimitCheck("max_ffs", f"flip-flops of the engine ({cells.ffs_from})", fabric.max_ffs, cells.ffs,
                              None),
                   LimitCheck("max_dsps", "DSP slices of the engine", fabric.max_dsps, cells.dsps, None),
                   LimitCheck("max_brams", "block RAMs of the engine", fabric.max_brams, cells.brams, None)]
    return checks


def legality_violations(est: Estimate, profile: HardwareProfile) -> list[Violation]:
    """Layers whose op or weight format the profile cannot run."""
    out: list[Violation] = []
    for layer in est.layers:
        if layer.op is Op.UNKNOWN:
            out.append(Violation("op", "known ops", layer.source_op, layer.name,
                                 f"{layer.name}: op {layer.source_op!r} is unknown to edgeopt; whether "
                                 f"{profile.name} runs it is not known, and its cost is not counted"))
        elif layer.op in SUPPORT_OPS and layer.op not in profile.ops:
            out.append(Violation("op", "supported ops", layer.op.value, layer.name,
                                 f"{layer.name}: {profile.name} does not support op {layer.op.value!r}"))
        elif profile.fabric is not None and layer.op not in ENGINE_OPS:
            out.append(Violation("op", "ops of the Verilog engine", layer.op.value, layer.name,
                                 f"{layer.name}: the Verilog engine for {profile.name} does not run op "
                                 f"{layer.op.value!r}"))
        if layer.weight_format and layer.weight_format not in profile.weight_formats:
            out.append(Violation("format", ",".join(profile.weight_formats), layer.weight_format, layer.name,
                                 f"{layer.name}: weights in {layer.weight_format}, but {profile.name} stores only "
                                 f"{', '.join(profile.weight_formats)}"))
    return out


def find_violations(est: Estimate, profile: HardwareProfile) -> list[Violation]:
    """Every budget, capacity, op and format the estimate breaks on the profile."""
    broken = [c.violation() for c in limit_checks(est, profile) if not c.passed]
    return broken + legality_violations(est, profile)


def misfit(est: Estimate) -> float:
    """How far a model is from fitting: 0 when it fits; its relative excess over each limit, 1 per illegal op or
    format (what a search tells its sampler for a model it never trains)."""
    if est.fits:
        return 0.0
    score = 0.0
    for v in est.violations:
        if isinstance(v.limit, (int, float)) and isinstance(v.actual, (int, float)) and v.limit > 0:
            score += max(0.0, v.actual / v.limit - 1.0)
        else:
            score += 1.0
    return max(score, 1e-6)
