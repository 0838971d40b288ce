"""Fitting energy figures: a device's energies give back its figures, which `EnergyFit.apply` puts in a profile
that then predicts them; measured energies that no figures explain are one error."""

from __future__ import annotations

import dataclasses
from types import MappingProxyType

import pytest

from edgeopt.calibration.latency_fit import CalibrationError
from edgeopt.calibration.energy_fit import EnergyMeasurement, fit_energy
from edgeopt.cost.estimate import estimate
from edgeopt.calibration.microbench import micro_suite, write_micro
from edgeopt.profiles.loader import load_profile


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    folder = tmp_path_factory.mktemp("micro")
    return [(m.name, write_micro(m, folder / f"{m.name}.onnx")) for m in micro_suite()[::3]]


def test_a_device_energy_is_recovered_and_applied(files):
    start = load_profile("stm32f746")
    true = dataclasses.replace(
        start, energy=dataclasses.replace(start.energy, mac_j=MappingProxyType({"int8": 180e-12}),
                                          static_power_w=0.03),
        weight_memory=dataclasses.replace(start.weight_memory, energy_per_byte_j=70e-12))
    rows = [EnergyMeasurement(name, estimate(path, start), estimate(path, start).total.latency_s,
                              estimate(path, true).total.energy_j) for name, path in files]
    fit = fit_energy(start, rows)
    assert fit.fit_error < 0.01 and fit.within_10pct == 1.0
    assert fit.mac_j["int8"] == pytest.approx(180e-12, rel=0.05)
    assert fit.static_power_w == pytest.approx(0.03, rel=0.05)
    calibrated = fit.apply(start)
    assert calibrated.weight_memory.energy_per_byte_j == fit.weight_energy_per_byte_j
    assert calibrated.weight_memory.size_bytes == start.weight_memory.size_bytes  # the rest of the memory kept
    for name, path in files[:4]:
        assert estimate(path, calibrated).total.energy_j == pytest.approx(estimate(path, true).total.energy_j,
                                                                          rel=0.02), name


def test_contradictory_or_non_positive_energies_are_one_error(files):
    start = load_profile("stm32f746")
    rows = [EnergyMeasurement(name, estimate(path, start), 1e-3, 1e-6) for name, path in files]
    # each model three times under other names, 50x and 2500x apart: no figures explain all three
    twins = [dataclasses.replace(r, label=f"{r.label}-{k}", energy_j=r.energy_j * k) for r in rows for k in (50, 2500)]
    with pytest.raises(CalibrationError, match="measured energies contradict each other"):
        fit_energy(start, rows + twins)
    with pytest.raises(CalibrationError, match="must be positive"):
        fit_energy(start, [dataclasses.replace(rows[0], energy_j=0.0)])
