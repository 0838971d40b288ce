"""`edgeopt calibrate --runtime yosys`: the fabric model's LUT and flip-flop coefficients fitted to yosys's synthesis
of the engine, written as a profile that extends the original; the cost model's block RAMs and DSP slices equal
yosys's on every engine synthesized."""

from __future__ import annotations

import shutil

import numpy as np
import pytest
from click.testing import CliRunner

from edgeopt.calibration.board_micro import BoardMicro, board_micro_onnx, board_suite
from edgeopt.calibration.fabric_calibrate import calibrate_fabric
from edgeopt.calibration.fabric_fit import FabricMeasurement, fit_fabric
from edgeopt.calibration.latency_fit import CalibrationError
from edgeopt.cli import main
from edgeopt.cost.estimate import estimate
from edgeopt.cost.fabric import DEFAULT_LUTS, TERMS
from edgeopt.deploy.synth import FabricUse
from edgeopt.figures import CALIBRATED
from edgeopt.profiles.loader import load_profile
from edgeopt.space.families import FAMILIES

from toolchain import require_tools


def _measurement(terms: dict, luts: float, ffs: float) -> FabricMeasurement:
    return FabricMeasurement("m", 1, terms, 0, 0, FabricUse("xc7", round(luts), 0, round(ffs), 0, 0, "yosys", "", 1.0))


def test_the_fit_recovers_the_coefficients_of_linear_cells():
    rng = np.random.default_rng(0)
    truth = {name: float(v) for name, v in zip(TERMS, rng.uniform(0.5, 20, len(TERMS)))}
    rows = []
    for _ in range(40):
        terms = {name: float(rng.integers(0, 400)) for name in TERMS} | {"base": 1.0}
        rows.append(_measurement(terms, sum(truth[n] * terms[n] for n in TERMS) * 100,
                                 sum(truth[n] * terms[n] for n in TERMS) * 50))
    fit = fit_fabric(rows)
    assert fit.luts_fit_error < 0.002 and fit.luts_within_10pct == 1.0
    assert all(fit.luts[name] == pytest.approx(truth[name] * 100, rel=0.02) for name in TERMS)
    assert all(value >= 0 for value in fit.ffs.values())
    with pytest.raises(CalibrationError, match=f"more synthesized engines than the {len(TERMS)} terms they exercise"):
        fit_fabric(rows[:len(TERMS)])
    # engines that never pool say nothing about pooling: its coefficient stays edgeopt's
    flat = [_measurement(m.terms | {"max_pool_bit": 0.0}, m.use.luts, m.use.ffs) for m in rows]
    assert fit_fabric(flat).luts["max_pool_bit"] == DEFAULT_LUTS["max_pool_bit"]


def test_the_engine_of_the_mlps_calibrates_the_profile(tmp_path):
    require_tools(["yosys"] if shutil.which("yosys") is None else [], "yosys")
    micros = [m for m in board_suite() if m.kind == "mlp" or m.space == "mlp"][:6]
    out = tmp_path / "fpga-calibrated.yaml"
    result = calibrate_fabric("sequencer-fpga", out, micros=micros, lanes=(1, 4))
    data = result.to_dict()
    assert len(result.measurements) >= 8 and data["dsps_exact"] and data["brams_exact"]
    assert result.fit.luts["max_pool_bit"] == DEFAULT_LUTS["max_pool_bit"]  # no MLP pools
    assert data["luts_fit_error"] < 0.25 and data["source"] == "measured"
    profile = load_profile(out)
    assert profile.fabric.family == "xc7" and profile.fabric.max_luts == 4000  # the rest is the original's
    assert profile.fabric.fit.samples == len(result.measurements)
    assert profile.figure_sources["fabric.luts.base"] == "measured"
    model = board_micro_onnx(micros[1], profile, tmp_path / "model")[0]
    fabric = estimate(model, profile).fabric
    assert fabric.luts_from.source == CALIBRATED
    assert fabric.luts_from.fit_error == pytest.approx(profile.fabric.fit.luts_fit_error)
    row = next(m for m in result.measurements if m.label == micros[1].name and m.lanes == fabric.lanes)
    assert fabric.luts == pytest.approx(row.use.luts, rel=0.5)  # the fitted model, not the default


def test_bad_input_is_one_line(tmp_path, monkeypatch):
    profile = tmp_path / "mine.yaml"
    profile.write_text("name: mine\nextends: sequencer-fpga\n")
    cases = [
        (["-p", "stm32f746", "--runtime", "yosys", "-o", tmp_path / "a.yaml"], "stm32f746 has no fabric"),
        (["-p", "sequencer-fpga", "--runtime", "yosys", "--measurements", profile, "-o", tmp_path / "b.yaml"],
         "--runtime yosys times here; --measurements reads a board's"),
        (["-p", profile, "--runtime", "yosys", "-o", profile], "mine.yaml"),
        (["-p", "sequencer-fpga", "--runtime", "yosys", "--models", profile, "-o", tmp_path / "c.yaml"],
         "is not an ONNX file"),
    ]
    # cnn2d's inverted residual blocks (int8: the C export's residual add), which the engine lacks
    residual = BoardMicro("residual", (3, 8, 8), "space", space="cnn2d",
                          config=tuple(sorted(FAMILIES["cnn2d"].defaults.items())))
    model = board_micro_onnx(residual, load_profile("stm32f746"), tmp_path / "models")[0]
    cases.append((["-p", "sequencer-fpga", "--runtime", "yosys", "--models", model, "-o", tmp_path / "e.yaml"],
                  "is not in the Verilog engine yet"))
    for args, fragment in cases:
        result = CliRunner().invoke(main, ["calibrate", *map(str, args)])
        assert result.exit_code == 2 and fragment in result.output, (args, result.output)
        assert "Traceback" not in result.output
    monkeypatch.setenv("PATH", str(tmp_path))
    result = CliRunner().invoke(main, ["calibrate", "-p", "sequencer-fpga", "--runtime", "yosys", "-o",
                                       str(tmp_path / "d.yaml"), "--json"])
    assert result.exit_code == 2 and "needs yosys" in result.output
    assert not any(tmp_path.glob("[abcde].yaml"))  # nothing written
