"""Energy figures fitted to measured energies: the energy of a MAC per number format, of a byte moved from each
memory, and the static power, chosen so the cost model's energy matches a board's metered energy per inference.

The cost model's energy is linear in those figures (each layer's work and traffic, plus static power over the
latency), so the fit is non-negative least squares on relative errors (scipy's `nnls`), with a weak pull towards the
profile's own figures where the measurements cannot tell them apart. Static power multiplies the latency the
calibrated profile predicts, so a calibrated profile reproduces the fitted energies exactly.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Sequence
from dataclasses import dataclass
from types import MappingProxyType

import numpy as np

from edgeopt.calibration.latency_fit import PRIOR_WEIGHT, CalibrationError, FitErrors, round_figure, with_memory_figure
from edgeopt.cost.estimate import Estimate
from edgeopt.profiles.schema import HardwareProfile


@dataclass(frozen=True)
class EnergyMeasurement:
    """A model's measured energy per inference, its estimate on the profile and its (calibrated) latency."""

    label: str
    estimate: Estimate
    latency_s: float  # the latency the calibrated profile predicts for it (static power runs over this)
    energy_j: float


@dataclass(frozen=True)
class EnergyFit(FitErrors):
    mac_j: dict[str, float]  # per number format the measured models computed in
    weight_energy_per_byte_j: float | None  # None: no measured model moved weights (left as the profile's)
    activation_energy_per_byte_j: float | None
    static_power_w: float
    labels: tuple[str, ...]
    measured_j: tuple[float, ...]
    predicted_j: tuple[float, ...]  # with the fitted (rounded) figures

    def _pairs(self) -> tuple[Sequence[float], Sequence[float]]:
        return self.predicted_j, self.measured_j

    def apply(self, profile: HardwareProfile) -> HardwareProfile:
        """`profile` with the fitted energy figures in place of its own."""
        energy = dataclasses.replace(profile.energy, mac_j=MappingProxyType(dict(profile.energy.mac_j) | self.mac_j),
                                     static_power_w=self.static_power_w)
        return with_memory_figure(dataclasses.replace(profile, energy=energy), "energy_per_byte_j",
                                  self.weight_energy_per_byte_j, self.activation_energy_per_byte_j)


def fit_energy(profile: HardwareProfile, measurements: Sequence[EnergyMeasurement]) -> EnergyFit:
    """Fit `profile`'s energy figures to `measurements` (estimates made on `profile`)."""
    for m in measurements:
        if not (m.energy_j > 0 and math.isfinite(m.energy_j)):
            raise CalibrationError(f"{m.label}: a measured energy must be positive and finite, got {m.energy_j!r}")
    terms = [[t for t in (layer.terms for layer in m.estimate.layers) if t is not None] for m in measurements]
    formats = sorted({t.energy_fmt for ts in terms for t in ts if t.work > 0})
    # columns: J per MAC of each format, J per weight byte, J per activation byte, static W
    a = np.array([[sum(t.work for t in ts if t.energy_fmt == fmt) for fmt in formats]
                  + [sum(t.moved_weight_bytes for t in ts), sum(t.moved_activation_bytes for t in ts), m.latency_s]
                  for ts, m in zip(terms, measurements)], dtype=np.float64).reshape(len(measurements), -1)
    prior = np.array([profile.energy.mac_j.get(fmt, 0.0) for fmt in formats]
                     + [profile.weight_memory.energy_per_byte_j, profile.activation_memory.energy_per_byte_j,
                        profile.energy.static_power_w])
    used = np.flatnonzero(a.any(axis=0))
    if len(measurements) < len(used):
        names = [f"J per {fmt} MAC" for fmt in formats] + ["J per weight byte", "J per activation byte",
                                                           "static power"]
        raise CalibrationError(f"{len(measurements)} measured energies cannot fit {len(used)} figures "
                               f"({', '.join(names[i] for i in used)}); give at least {len(used)}")
    measured = np.array([m.energy_j for m in measurements])
    # unknowns in units of each column's share of a typical measurement, so the prior and the fit see one scale
    scale = np.where(prior[used] > 0, prior[used], np.median(measured) / np.maximum(a[:, used].max(axis=0), 1e-30))
    rows = a[:, used] * scale / measured[:, None]
    anchored = np.flatnonzero(prior[used] > 0)
    pull = np.zeros((len(anchored), len(used)))
    pull[np.arange(len(anchored)), anchored] = PRIOR_WEIGHT
    from scipy.optimize import nnls

    solution, _ = nnls(np.vstack([rows, pull]), np.concatenate([np.ones(len(measurements)),
                                                               np.full(len(anchored), PRIOR_WEIGHT)]))
    figures = prior.copy()
    figures[used] = [round_figure(v) for v in solution * scale]
    predicted = a @ figures
    fitted = set(used.tolist())
    k = len(formats)
    fit = EnergyFit({fmt: float(figures[i]) for i, fmt in enumerate(formats)},
                    float(figures[k]) if k in fitted else None, float(figures[k + 1]) if k + 1 in fitted else None,
                    float(figures[k + 2]), tuple(m.label for m in measurements), tuple(measured.tolist()),
                    tuple(float(p) for p in predicted))
    fit.require_agreement("measured energies", "energy", "uJ")
    return fit
