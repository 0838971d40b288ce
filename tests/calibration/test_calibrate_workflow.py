"""`edgeopt calibrate`: a board's measurements file or this machine's onnxruntime in, a profile that extends the
original with every fitted figure `source: measured` out; the same measurements give the same bytes; a bad file is
one error and nothing written."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from edgeopt.cli import main
from edgeopt.cost.estimate import estimate
from edgeopt.calibration.microbench import SPACE_SAMPLES, micro_suite, write_micro
from edgeopt.calibration.ort_layout import nchwc_layout
from edgeopt.graph.ops import Op
from edgeopt.profiles.loader import load_profile


@pytest.fixture(scope="module")
def board(tmp_path_factory):
    """A board's measurements: the microbenchmarks' latencies on a device 3x slower than stm32f746 says, with 40 us
    of call overhead, in a CSV beside the model files."""
    folder = tmp_path_factory.mktemp("board")
    rows = ["model,latency"]
    for micro in micro_suite():
        path = write_micro(micro, folder / f"{micro.name}.onnx")
        latency_us = estimate(path, "stm32f746").total.latency_s * 3e6 + 40
        rows.append(f"{path.name},{latency_us:.3f}us")
    (folder / "board.csv").write_text("\n".join(rows) + "\n")
    return folder


def test_a_board_measurements_file_calibrates_a_profile(board, tmp_path):
    out = tmp_path / "stm32-calibrated.yaml"
    result = CliRunner().invoke(main, ["calibrate", "-p", "stm32f746", "--measurements", str(board / "board.csv"),
                                       "-o", str(out), "--json"])
    assert result.exit_code == 0, result.output
    data = json.loads(result.output)
    assert data["calibration"]["samples"] == len(micro_suite())
    assert data["calibration"]["fit_error"] < 0.05 and data["figures"]["source"] == "measured"
    assert data["figures"]["call_overhead_s"] == pytest.approx(40e-6, rel=0.15)
    profile = load_profile(out)
    assert profile.name == "stm32f746-calibrated" and profile.calibration.samples == len(micro_suite())
    assert profile.figure_sources["compute.call_overhead"] == "measured"
    fitted = [f for f in profile.figure_sources if f.startswith(("compute.op_efficiency.", "compute.op_overhead."))
              and not f.endswith(".default")]
    assert len(fitted) > 10 and all(profile.figure_sources[f] == "measured" for f in fitted)
    # untouched figures are the original's, with their own sources
    assert profile.weight_memory.size_bytes == load_profile("stm32f746").weight_memory.size_bytes
    model = board / "conv1d_16x16_L256_k7.onnx"
    measured = estimate(model, "stm32f746").total.latency_s * 3 + 40e-6
    assert estimate(model, profile).total.latency_s == pytest.approx(measured, rel=0.1)
    again = tmp_path / "again.yaml"
    CliRunner().invoke(main, ["calibrate", "-p", "stm32f746", "--measurements", str(board / "board.csv"), "-o",
                              str(again)])
    assert again.read_bytes() == out.read_bytes()  # reproducible: same measurements, same profile bytes
    assert data["caution"] is None


def test_measurements_that_disagree_are_flagged(board, tmp_path):
    """Latencies taken on a busy machine (every other one 40% slow, the rest 25% fast): the profile is still
    written, and the output and --json say the fit is off and to measure again."""
    lines = (board / "board.csv").read_text().splitlines()
    noisy = [lines[0]] + [f"{name},{float(value[:-2]) * (1.4 if i % 2 else 0.75):.3f}us"
                          for i, (name, value) in enumerate(line.split(",") for line in lines[1:])]
    (board / "noisy.csv").write_text("\n".join(noisy) + "\n")
    out = tmp_path / "noisy.yaml"
    runner = CliRunner()
    result = runner.invoke(main, ["calibrate", "-p", "stm32f746", "--measurements", str(board / "noisy.csv"), "-o",
                                  str(out), "--json"])
    assert result.exit_code == 0, result.output
    data = json.loads(result.output)
    assert data["calibration"]["fit_error"] > 0.1 and "measure again" in data["caution"]
    shown = runner.invoke(main, ["calibrate", "-p", "stm32f746", "--measurements", str(board / "noisy.csv"), "-o",
                                 str(out)])
    assert "caution: the fit is off by" in " ".join(shown.output.split()) and "[yellow]" not in shown.output
    assert out.exists()


def test_a_profile_file_is_extended_by_its_path(board, tmp_path):
    """A profile given as a file is the parent by its path relative to the calibrated file: both can move together."""
    source = load_profile("stm32f746").path
    mine = tmp_path / "profiles" / "my-board.yaml"
    mine.parent.mkdir()
    mine.write_text(Path(source).read_text().replace("name: stm32f746", "name: my-board"))
    out = tmp_path / "out" / "calibrated.yaml"
    result = CliRunner().invoke(main, ["calibrate", "-p", str(mine), "--measurements", str(board / "board.csv"),
                                       "-o", str(out)])
    assert result.exit_code == 0, result.output
    assert 'extends: "../profiles/my-board.yaml"' in out.read_text()
    assert load_profile(out).name == "my-board-calibrated" and "fit error" in result.output


@pytest.mark.parametrize("content, message", [
    ("model,latency\nnope.onnx,1ms\n", "board.csv:2: model: .*nope.onnx is not an ONNX file"),
    ("model,latency\n{model},fast\n", r"board.csv:2: latency: 'fast' is not a time"),
    ("model,latency\n{model},-1ms\n", "board.csv:2: latency"),
    ("name,time\n{model},1ms\n", "expected a header with 'model' and one of latency"),
    ("model,latency\n", "no measurements"),
    ("model,latency\n{model},1ms\n{model},1ms\n", "1 distinct measurement cannot fit even 3 pooled figures"),
])
def test_a_bad_measurements_file_is_one_error_and_nothing_written(board, tmp_path, content, message):
    (tmp_path / "board.csv").write_text(content.format(model=board / "dense_8x8.onnx"))
    out = tmp_path / "out.yaml"
    result = CliRunner().invoke(main, ["calibrate", "-p", "stm32f746", "--measurements", str(tmp_path / "board.csv"),
                                       "-o", str(out)])
    assert result.exit_code == 2, result.output
    assert result.output.count("error:") == 1 and "Traceback" not in result.output
    assert __import__("re").search(message, result.output), result.output
    assert not out.exists() and list(tmp_path.iterdir()) == [tmp_path / "board.csv"]


def test_onnxruntime_on_this_machine(tmp_path):
    """The microbenchmarks and a given model timed here; every figure physical, the run-to-run spread reported; the
    channel layout onnxruntime uses here replaces the profile's (a profile claiming blocks of 4 gets the runtime's)."""
    out = tmp_path / "host.yaml"
    claimed = tmp_path / "claimed.yaml"
    claimed.write_text("name: claimed\nextends: host-cpu\n"
                       "compute:\n  op_channel_block: {conv2d: 4, depthwise_conv2d: 4}\n")
    model = Path(__file__).resolve().parents[2] / "examples" / "read_classifier.onnx"
    result = CliRunner().invoke(main, ["calibrate", "-p", str(claimed), "--models", str(model), "-o", str(out),
                                       "--json"])
    assert result.exit_code == 0, result.output
    data = json.loads(result.output)
    assert data["calibration"]["runtime"].startswith("onnxruntime")
    rows = {row["model"]: row for row in data["measurements"]}
    drawn = sum(count for _, _, count in SPACE_SAMPLES)  # architectures drawn from the shipped spaces
    assert str(model) in rows and len(rows) == len(micro_suite()) + drawn + 1
    assert {"cnn1d_0", "mlp_0", "cnn2d_0", "cnn2d_9"} <= set(rows)
    assert all(row["measured_latency_s"] > 0 and row["spread"] >= 0 for row in rows.values())
    assert all(0 < e <= 1 for e in data["figures"]["op_efficiency"].values())
    assert load_profile(out).calibration.runtime == data["calibration"]["runtime"]
    layout = nchwc_layout()
    calibrated = load_profile(out)
    for op, (block, tile) in layout.items():
        assert calibrated.compute.channel_block(op) == block == data["figures"]["op_channel_block"][str(op)]
        assert calibrated.compute.channel_tile(op) == tile
        assert calibrated.figure_sources[f"compute.op_channel_block.{op}"] == "measured"
    conversion = data["figures"]["layout_conversion_cost"]  # fitted where onnxruntime blocks (None: nothing to fit)
    assert (conversion is None) == (layout[Op.CONV2D][0] == 1)
    if conversion is not None:
        assert calibrated.compute.layout_conversion_cost == conversion > 0
        assert calibrated.figure_sources["compute.layout_conversion_cost"] == "measured"
    # pools after a blocked convolution run blocked: their own efficiency, fitted where onnxruntime blocks
    blocked = data["figures"]["blocked_op_efficiency"]
    assert set(blocked) == (set() if conversion is None else {"maxpool", "avgpool"})
    for op, efficiency in blocked.items():
        assert calibrated.compute.efficiency(Op(op), blocked=True) == efficiency
        assert calibrated.figure_sources[f"compute.blocked_op_efficiency.{op}"] == "measured"


def test_latency_says_whether_it_was_estimated_or_calibrated(board, tmp_path):
    out = tmp_path / "cal.yaml"
    CliRunner().invoke(main, ["calibrate", "-p", "stm32f746", "--measurements", str(board / "board.csv"), "-o",
                              str(out)])
    model = str(board / "conv1d_16x16_L256_k7.onnx")
    runner = CliRunner()
    for profile, source, words in (("stm32f746", "estimated", "checked against an estimate"),
                                   (str(out), "calibrated", "calibrated (fit error")):
        result = runner.invoke(main, ["check", model, "-p", profile, "--max-latency", "1s", "--json"])
        assert result.exit_code == 0, result.output
        item = next(i for i in json.loads(result.output)["items"] if i["name"] == "max_latency_s")
        assert item["source"] == source and words in item["message"], item
        shown = runner.invoke(main, ["profile", model, "-p", profile, "--json"])
        provenance = json.loads(shown.output)["provenance"]
        assert provenance["latency_s"]["source"] == source
        assert (provenance["latency_s"]["fit_error"] is not None) == (source == "calibrated")
        assert provenance["energy_j"] == {"source": "estimated", "fit_error": None}  # no energy was measured
        assert f"({source}" in runner.invoke(main, ["profile", model, "-p", profile]).output


def test_a_model_onnxruntime_cannot_run_is_one_error(tmp_path):
    """Two inputs (the timing feeds one): one error naming the file, nothing written."""
    import onnx
    from onnx import TensorProto, helper

    graph = helper.make_graph([helper.make_node("Add", ["a", "b"], ["c"])], "two",
                              [helper.make_tensor_value_info("a", TensorProto.FLOAT, [1, 4]),
                               helper.make_tensor_value_info("b", TensorProto.FLOAT, [1, 4])],
                              [helper.make_tensor_value_info("c", TensorProto.FLOAT, [1, 4])])
    model = tmp_path / "two.onnx"
    onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 21)]), str(model))
    out = tmp_path / "out.yaml"
    result = CliRunner().invoke(main, ["calibrate", "-p", "host-cpu", "--models", str(model), "-o", str(out)])
    assert result.exit_code == 2 and "two.onnx: onnxruntime cannot time it" in result.output, result.output
    assert "Traceback" not in result.output and not out.exists()



def test_a_float_model_for_a_cortex_m_runtime_is_refused_before_anything_is_built(tmp_path):
    from click.testing import CliRunner

    from edgeopt.cli import main

    result = CliRunner().invoke(main, ["calibrate", "-p", "stm32f746", "--runtime", "cortex-m4", "--models",
                                       "examples/kws_dscnn.onnx", "-o", str(tmp_path / "m4.yaml")])
    assert result.exit_code == 2 and "int8 QDQ" in result.output and "Traceback" not in result.output
    assert not (tmp_path / "m4.yaml").exists()
