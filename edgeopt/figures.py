"""One vocabulary for what edgeopt says about a model: its cost figures on a device and its quality metrics.

Records (`CostFigures` inside the search report's `TrialRow` and compression's `StepRecord`, baselines), CLI choices,
prune targets and report columns derive from the definitions here. Latency and energy also carry where they come
from (`Provenance`): the cost model on a profile's figures, on figures fitted to measurements, or a measurement.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, fields

ESTIMATED = "estimated"  # the cost model on a profile's hand-written figures
CALIBRATED = "calibrated"  # the cost model on figures fitted to measurements (with the fit's error)
MEASURED = "measured"  # timed or metered on the artifact itself
SOURCES = (ESTIMATED, CALIBRATED, MEASURED)


@dataclass(frozen=True)
class CostFigure:
    """One cost figure: its key in records, JSON and CLI choices, how tables head it, and how YAML limits it."""

    name: str
    label: str
    unit: str  # "", "B", "s", "J"
    dimension: str  # a `profiles.units.Dimension` value: how a limit on it is written (4KiB, 2ms)
    target_key: str  # its key in a prune step's `target:` (with units)
    objective: bool = True  # a search can minimise it
    sourced: bool = False  # latency and energy: estimated, calibrated or measured; the rest is counted from the model


COST_FIGURES = (
    CostFigure("params", "params", "", "count", "params"),
    CostFigure("weight_bytes", "weights", "B", "bytes", "weight_bytes"),
    CostFigure("macs", "MACs", "", "count", "macs", objective=False),
    CostFigure("peak_activation_bytes", "peak activations", "B", "bytes", "peak_activation_bytes"),
    CostFigure("latency_s", "latency", "s", "time", "latency", sourced=True),
    CostFigure("energy_j", "energy", "J", "energy", "energy", sourced=True),
)
FIGURES = {f.name: f for f in COST_FIGURES}
FIGURE_NAMES = tuple(FIGURES)
# an FPGA profile's engine (`cost.engine`, `cost.fabric`): its clocks and cells; LUTs and flip-flops are estimated
# or calibrated, the rest counted
ENGINE_FIGURES = {"clock_cycles": "clocks", "luts": "LUTs", "ffs": "flip-flops", "dsps": "DSP slices",
                  "brams": "block RAMs"}
ENGINE_SOURCED = ("luts", "ffs")
# what `search --objective` may minimise (an engine figure on a profile with a fabric)
OBJECTIVES = tuple(f.name for f in COST_FIGURES if f.objective) + tuple(ENGINE_FIGURES)

QUALITY_METRICS = ("precision", "recall", "f1", "accuracy")  # binary: of the positive class
METRIC_LABELS = {"f1": "F1", "precision": "precision", "recall": "recall", "accuracy": "accuracy"}


def quality(metrics) -> dict[str, float | None] | None:
    """The quality metrics out of a metrics record or mapping (anything with `.get`; None: not evaluated)."""
    if metrics is None:
        return None
    values = {name: metrics.get(name) for name in QUALITY_METRICS}
    return {name: None if value is None else float(value) for name, value in values.items()}


def cost_figure(name: str) -> CostFigure:
    """The figure called `name`; an unknown name is an error listing the valid ones."""
    if name not in FIGURES:
        raise ValueError(f"unknown cost figure {name!r}; choose from {', '.join(FIGURE_NAMES)}")
    return FIGURES[name]


@dataclass(frozen=True)
class Provenance:
    """Where a latency or energy figure comes from, and for a calibrated one how well the fit matched."""

    source: str = ESTIMATED
    fit_error: float | None = None  # calibrated: the fit's mean absolute relative error over its measurements
    beyond: str | None = None  # calibrated: how the model lies outside what the calibration measured, if it does

    def __post_init__(self) -> None:
        if self.source not in SOURCES:
            raise ValueError(f"unknown source {self.source!r}; choose from {', '.join(SOURCES)}")

    def __str__(self) -> str:
        if self.source == CALIBRATED and self.fit_error is not None:
            return f"{CALIBRATED} (fit error {self.fit_error:.1%}{', extrapolated' if self.beyond else ''})"
        return self.source

    def to_dict(self) -> dict:
        data = {"source": self.source, "fit_error": self.fit_error}
        return data | {"beyond_calibration": self.beyond} if self.beyond else data

    @classmethod
    def from_dict(cls, data: object) -> Provenance:
        if isinstance(data, Mapping) and data.get("source") in SOURCES:
            beyond = data.get("beyond_calibration")
            return cls(str(data["source"]), data.get("fit_error"), beyond if isinstance(beyond, str) else None)
        return cls()


@dataclass(frozen=True)
class CostFigures:
    """A model's cost figures on one profile, whether it fits there, and where its latency and energy come from."""

    params: int = 0
    weight_bytes: float = 0.0
    macs: int = 0
    peak_activation_bytes: float = 0.0
    latency_s: float = 0.0
    energy_j: float = 0.0
    fits: bool = True
    provenance: Mapping[str, Provenance] = field(default_factory=dict)  # sourced figure -> its provenance
    engine: Mapping[str, float] = field(default_factory=dict)  # ENGINE_FIGURES on a profile with a fabric

    def value(self, name: str) -> float:
        if name in ENGINE_FIGURES:
            return float(self.engine.get(name, 0.0))
        return getattr(self, cost_figure(name).name)

    def source(self, name: str) -> Provenance:
        """Where figure `name` comes from (counted figures: the cost model's count, `estimated`)."""
        return self.provenance.get(name if name in ENGINE_FIGURES else cost_figure(name).name, Provenance())

    def to_dict(self) -> dict:
        """Every figure and `fits` by name, and `provenance` (sourced figure -> source, fit error)."""
        out = {f.name: getattr(self, f.name) for f in fields(self) if f.name not in ("provenance", "engine")}
        out["provenance"] = {f.name: self.source(f.name).to_dict() for f in COST_FIGURES if f.sourced}
        if self.engine:
            out |= dict(self.engine)
            out["provenance"] |= {name: self.provenance.get(name, Provenance()).to_dict() for name in ENGINE_SOURCED}
        return out

    def flat(self) -> dict:
        """One level, for CSV rows: every figure, `fits`, and `<figure>_source` for latency and energy."""
        out = {f.name: getattr(self, f.name) for f in fields(self) if f.name not in ("provenance", "engine")}
        out |= dict(self.engine)
        return out | {f"{f.name}_source": str(self.source(f.name)) for f in COST_FIGURES if f.sourced}

    @classmethod
    def from_dict(cls, data: Mapping) -> CostFigures:
        """The record `to_dict` wrote (a store's costs); figures a record lacks (older runs) are 0."""
        kinds = {"params": int, "macs": int, "fits": bool}
        values = {f.name: kinds.get(f.name, float)(data[f.name]) for f in fields(cls)
                  if f.name not in ("provenance", "engine") and f.name in data}
        provenance = data.get("provenance") or {}
        engine = {name: float(data[name]) for name in ENGINE_FIGURES if isinstance(data.get(name), (int, float))}
        sourced = [name for name in FIGURE_NAMES if FIGURES[name].sourced] + list(ENGINE_SOURCED)
        return cls(**values, provenance={name: Provenance.from_dict(provenance.get(name))
                                         for name in sourced if name in provenance}, engine=engine)
