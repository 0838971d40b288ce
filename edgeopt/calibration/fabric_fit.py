"""The fabric model's LUT and flip-flop coefficients fitted to synthesized engines: non-negative least squares on
relative errors (scipy's `nnls`), so a small engine counts as much as a large one and no term can take cells away;
terms no engine exercises keep edgeopt's coefficients (a suite of MLPs says nothing about pooling)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np

from edgeopt.calibration.latency_fit import CalibrationError
from edgeopt.cost.fabric import DEFAULT_FFS, DEFAULT_LUTS, TERMS
from edgeopt.deploy.synth import FabricUse


@dataclass(frozen=True)
class FabricMeasurement:
    """One synthesized engine: the model and lanes, the fabric model's terms for it (from the graph, as the estimate
    sees it before training), the block RAMs and DSP slices the cost model counts, and what yosys made."""

    label: str
    lanes: int
    terms: Mapping[str, float]
    estimated_brams: int
    estimated_dsps: int
    use: FabricUse

    def to_dict(self) -> dict:
        return {"model": self.label, "lanes": self.lanes, "luts": self.use.luts, "ffs": self.use.ffs,
                "dsps": self.use.dsps, "brams": self.use.brams, "estimated_dsps": self.estimated_dsps,
                "estimated_brams": self.estimated_brams}


@dataclass(frozen=True)
class FabricFit:
    """Coefficients per term, each measurement's predicted counts, and the fit's errors (mean absolute relative)."""

    luts: dict[str, float]
    ffs: dict[str, float]
    predicted_luts: tuple[float, ...]
    predicted_ffs: tuple[float, ...]
    luts_fit_error: float
    ffs_fit_error: float
    luts_within_10pct: float
    ffs_within_10pct: float


def fit_fabric(measurements: Sequence[FabricMeasurement]) -> FabricFit:
    """Fit the LUT and flip-flop coefficients to `measurements`: more engines than the terms they exercise; a term
    none of them exercises (no engine pools, say) keeps edgeopt's default coefficient."""
    from scipy.optimize import nnls

    names = list(TERMS)
    rows = np.array([[m.terms[name] for name in names] for m in measurements], dtype=float).reshape(-1, len(names))
    active = np.any(rows != 0, axis=0)
    if len(measurements) <= active.sum():
        raise CalibrationError(f"fitting the fabric model needs more synthesized engines than the {active.sum()} "
                               f"terms they exercise, got {len(measurements)}")
    fitted = {}
    for what, defaults in (("luts", DEFAULT_LUTS), ("ffs", DEFAULT_FFS)):
        actual = np.array([getattr(m.use, what) for m in measurements], dtype=float)
        if np.any(actual <= 0):
            raise CalibrationError(f"a synthesized engine has no {what}: yosys's counts are not an engine's")
        kept = np.array([defaults[name] for name in names])
        rest = actual - rows[:, ~active] @ kept[~active]
        solution, _ = nnls(rows[:, active] / actual[:, None], rest / actual)
        coefficients = kept.copy()
        coefficients[active] = solution
        predicted = rows @ coefficients
        errors = np.abs(predicted / actual - 1)
        fitted[what] = ({name: float(f"{value:.4g}") for name, value in zip(names, coefficients)},
                        tuple(float(p) for p in predicted), float(errors.mean()), float(np.mean(errors <= 0.10)))
    luts, ffs = fitted["luts"], fitted["ffs"]
    return FabricFit(luts[0], ffs[0], luts[1], ffs[1], luts[2], ffs[2], luts[3], ffs[3])


__all__ = ["FabricFit", "FabricMeasurement", "fit_fabric"]
