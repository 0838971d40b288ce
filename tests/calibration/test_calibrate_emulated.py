"""`edgeopt calibrate --runtime cortex-m4`: the board microbenchmarks (int8 classifiers exported to C) and the given
int8 models run on QEMU's Cortex-M4, their instruction counts at the profile's clock fitted; the calibrated profile
then predicts a model's emulated latency."""

from __future__ import annotations

import json

import pytest
from click.testing import CliRunner

from edgeopt.cli import main
from edgeopt.cost.estimate import estimate
from edgeopt.calibration.board_micro import BoardMicro, board_suite, write_board_micro
from edgeopt.calibration.board_rows import emulated_rows
from edgeopt.deploy.emulate import missing_tools, run_emulated
from edgeopt.profiles.loader import load_profile
from toolchain import require_tools


def test_the_emulated_board_calibrates_a_profile(tmp_path):
    require_tools(missing_tools())
    profile = load_profile("stm32f746")
    mine = BoardMicro("mine", (6, 48), "conv", 6, 12, 5)  # a model of the user's, not in the suite
    folder, x = write_board_micro(mine, profile, tmp_path / "mine")
    emulated = emulated_rows(folder, run_emulated(folder, x, "cortex-m4"), profile.compute.clock_hz)[0]["latency_s"]
    out = tmp_path / "m4.yaml"
    result = CliRunner().invoke(main, ["calibrate", "-p", "stm32f746", "--runtime", "cortex-m4", "--models",
                                       str(tmp_path / "mine" / "mine.onnx"), "-o", str(out), "--json"])
    assert result.exit_code == 0, result.output
    data = json.loads(result.output)
    assert data["calibration"]["runtime"].startswith("qemu mps2-an386 (cortex-m4) -icount")
    labels = [row["model"] for row in data["measurements"]]
    assert data["calibration"]["samples"] == len(labels)
    whole = [label for label in labels if ":" not in label]  # a layer's row: model:layer
    assert len(whole) == len(board_suite()) + 1
    mine_layers = [label for label in labels if label.startswith(f"{tmp_path / 'mine' / 'mine.onnx'}:")]
    assert len(mine_layers) == 2 and any("node_conv1d" in label for label in mine_layers)  # conv block, dense
    assert data["calibration"]["fit_error"] < 0.3
    before = estimate(folder / "source.onnx", profile).total.latency_s
    after = estimate(folder / "source.onnx", out).total.latency_s
    assert abs(after / emulated - 1) < 0.3 < abs(before / emulated - 1)  # the uncalibrated figures are far off


@pytest.mark.parametrize("args, message", [
    (["-p", "mythic-m1076", "--runtime", "cortex-m4"], "gives no compute.clock"),
    (["-p", "stm32f746", "--runtime", "cortex-m4", "--measurements", "{csv}"], "--measurements reads a board's"),
])
def test_an_emulated_calibration_it_cannot_do_is_one_error(tmp_path, args, message):
    csv = tmp_path / "board.csv"
    csv.write_text("model,latency\n")
    out = tmp_path / "out.yaml"
    result = CliRunner().invoke(main, ["calibrate", *[a.format(csv=csv) for a in args], "-o", str(out)])
    assert result.exit_code == 2 and message in result.output, result.output
    assert "Traceback" not in result.output and not out.exists()
