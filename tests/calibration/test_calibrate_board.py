"""`edgeopt calibrate --measurements` beyond whole-model latencies: measured energies fit the energy figures (and
the profile then says its energy is calibrated), and rows timing one layer inside a model fit without the per-call
overhead."""

from __future__ import annotations

import json

import pytest
from click.testing import CliRunner

from edgeopt.cli import main
from edgeopt.cost.estimate import estimate
from edgeopt.calibration.microbench import micro_suite, write_micro
from edgeopt.profiles.loader import load_profile

DEVICE = """name: metered-device
extends: stm32f746
memory:
  weights:
    energy_per_byte: {value: 60pJ, source: measured}
  activations:
    energy_per_byte: {value: 9pJ, source: measured}
energy:
  per_mac:
    int8: {value: 210pJ, source: measured}
  static_power: {value: 0.02W, source: measured}
"""


@pytest.fixture(scope="module")
def metered(tmp_path_factory):
    """A board whose energies differ from stm32f746's figures (its latencies are the profile's own): per model,
    the latency and the energy per inference, as a power meter and a stopwatch give them."""
    folder = tmp_path_factory.mktemp("metered")
    (folder / "device.yaml").write_text(DEVICE)
    device = load_profile(folder / "device.yaml")
    rows = ["model,latency,energy_uj"]
    for micro in micro_suite():
        path = write_micro(micro, folder / f"{micro.name}.onnx")
        est = estimate(path, device)
        rows.append(f"{path.name},{est.total.latency_s * 1e6:.4f}us,{est.total.energy_j * 1e6:.6g}")
    (folder / "board.csv").write_text("\n".join(rows) + "\n")
    return folder


def test_measured_energies_calibrate_the_energy_figures(metered, tmp_path):
    out = tmp_path / "cal.yaml"
    result = CliRunner().invoke(main, ["calibrate", "-p", "stm32f746", "--measurements",
                                       str(metered / "board.csv"), "-o", str(out), "--json"])
    assert result.exit_code == 0, result.output
    data = json.loads(result.output)
    assert data["energy"]["fit_error"] < 0.01
    figures = data["energy"]["figures"]
    assert figures["mac_j"]["int8"] == pytest.approx(210e-12, rel=0.02)
    assert figures["static_power_w"] == pytest.approx(0.02, rel=0.05)
    # activation traffic is a small share of these models' energy: the weak pull keeps it between the profile's
    # 5 pJ and the board's 9 pJ rather than letting noise-free but barely informative data set it alone
    assert 5e-12 < figures["activation_energy_per_byte_j"] <= 9.5e-12
    profile = load_profile(out)
    assert profile.figure_sources["energy.per_mac.int8"] == "measured"
    assert profile.figure_sources["energy.static_power"] == "measured"
    assert profile.calibration.energy_samples == len(micro_suite())
    model = metered / "conv1d_16x16_L256_k7.onnx"
    truth = estimate(model, load_profile(metered / "device.yaml")).total.energy_j
    calibrated = estimate(model, profile)
    assert calibrated.total.energy_j == pytest.approx(truth, rel=0.02)
    assert calibrated.energy_from.source == "calibrated"
    checked = CliRunner().invoke(main, ["check", str(model), "-p", str(out), "--max-energy", "1J", "--json"])
    item = next(i for i in json.loads(checked.output)["items"] if i["name"] == "max_energy_j")
    assert item["source"] == "calibrated" and "fit error" in item["message"], item
    shown = CliRunner().invoke(main, ["profiles", "show", str(out)])
    assert shown.exit_code == 0 and "calibrated on" in shown.output and "energy from" in shown.output, shown.output
    compute = json.loads(CliRunner().invoke(main, ["profiles", "show", str(out), "--json"]).output)["compute"]
    assert compute["op_half_length"] and compute["call_overhead_s"] > 0


def test_without_energies_the_energy_stays_an_estimate(metered, tmp_path):
    csv = tmp_path / "latency-only.csv"
    lines = (metered / "board.csv").read_text().splitlines()
    csv.write_text("model,latency\n" + "".join(f"{metered / line.split(',')[0]},{line.split(',')[1]}\n"
                                               for line in lines[1:]))
    out = tmp_path / "cal.yaml"
    result = CliRunner().invoke(main, ["calibrate", "-p", "stm32f746", "--measurements", str(csv), "-o", str(out)])
    assert result.exit_code == 0, result.output
    assert "energy figures stay estimates" in result.output
    profile = load_profile(out)
    assert profile.calibration.energy_fit_error is None and "energy:" not in out.read_text()
    est = estimate(metered / "conv1d_16x16_L256_k7.onnx", profile)
    assert est.latency_from.source == "calibrated" and est.energy_from.source == "estimated"


def test_rows_for_single_layers_fit_without_the_call_overhead(tmp_path):
    """A board timing layers inside models (as a profiler does): a layer row pays no per-call overhead, so the
    per-call overhead is what whole-model rows add beyond their layers."""
    rows = ["model,layer,latency_us"]
    for micro in micro_suite():
        path = write_micro(micro, tmp_path / f"{micro.name}.onnx")
        est = estimate(path, "stm32f746")
        rows.append(f"{path.name},,{est.total.latency_s * 2e6 + 30:.4f}")
        for layer in est.layers:
            if layer.terms is not None and layer.cost.latency_s > 0:
                rows.append(f"{path.name},{layer.name},{layer.cost.latency_s * 2e6:.4f}")
    (tmp_path / "board.csv").write_text("\n".join(rows) + "\n")
    out = tmp_path / "cal.yaml"
    result = CliRunner().invoke(main, ["calibrate", "-p", "stm32f746", "--measurements", str(tmp_path / "board.csv"),
                                       "-o", str(out), "--json"])
    assert result.exit_code == 0, result.output
    data = json.loads(result.output)
    assert data["calibration"]["fit_error"] < 0.05
    assert data["figures"]["call_overhead_s"] == pytest.approx(30e-6, rel=0.15)
    assert any(":" in row["model"] for row in data["measurements"])  # model:layer labels


@pytest.mark.parametrize("content, message", [
    ("model,layer,latency\n{model},Nope_9,1ms\n", r"board.csv:2: layer: 'Nope_9' is no layer of .*its layers: Conv_0"),
    ("model,latency,energy\n{model},1ms,lots\n", r"board.csv:2: energy: 'lots' is not an energy \(with a unit"),
    ("model,latency,energy_uj\n{model},1ms,-3\n", r"board.csv:2: energy_uj: '-3': a measured energy must be positive"),
    ("model,latency,energy,energy_j\n{model},1ms,1uJ,1e-6\n", r"two energy columns"),
])
def test_bad_layer_or_energy_cells_are_one_error(tmp_path, content, message):
    import re

    model = write_micro(micro_suite()[3], tmp_path / "m.onnx")
    (tmp_path / "board.csv").write_text(content.format(model=model.name))
    out = tmp_path / "out.yaml"
    result = CliRunner().invoke(main, ["calibrate", "-p", "stm32f746", "--measurements", str(tmp_path / "board.csv"),
                                       "-o", str(out)])
    assert result.exit_code == 2 and re.search(message, result.output), result.output
    assert "Traceback" not in result.output and not out.exists()
