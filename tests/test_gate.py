import json
from xml.etree import ElementTree as ET

import pytest
from torch import nn

from edgeopt import check
from edgeopt.gate import read_baseline
from edgeopt.errors import BaselineError
from models import read_classifier

SHAPE = (1, 1, 256)
# the example on the FPGA's engine takes 74 us (its depthwise layer runs a lane at a time), over the 20 us budget
LATENCY = 100e-6


def test_passes_within_the_profile_budgets():
    result = check(read_classifier(), "sequencer-fpga", input_shape=SHAPE, max_latency_s=LATENCY)
    assert result.passed
    names = [item.name for item in result.items]
    assert names == ["max_params", "weight_memory", "activation_memory", "max_latency_s", "max_luts", "max_ffs",
                     "max_dsps", "max_brams", "supported_ops_and_formats"]
    fabric = result.estimate.fabric
    assert [item.actual for item in result.items[4:8]] == [fabric.luts, fabric.ffs, fabric.dsps, fabric.brams]
    params = result.items[0]
    assert params.limit == 4000 and params.actual == sum(p.numel() for p in read_classifier().parameters())
    engine = result.estimate.engine
    assert result.items[3].actual == pytest.approx(engine.clocks / 250e6) and engine.lanes > 1
    assert not check(read_classifier(), "sequencer-fpga", input_shape=SHAPE).passed


def test_overrides_replace_profile_budgets_and_fail():
    result = check(read_classifier(), "sequencer-fpga", input_shape=SHAPE, max_params=500, max_weight_bytes=100,
                   max_activation_bytes=64, max_latency_s=1e-6, max_energy_j=1e-12)
    assert not result.passed
    failed = {item.name for item in result.failures}
    assert failed == {"max_params", "max_weight_bytes", "max_activation_bytes", "max_latency_s", "max_energy_j"}


def test_baseline_round_trip_and_regression_names_the_layer(tmp_path):
    baseline = tmp_path / "budgets" / "read-classifier.json"
    written = check(read_classifier(), "sequencer-fpga", input_shape=SHAPE, max_latency_s=LATENCY, baseline=baseline,
                    update_baseline=True)
    assert written.baseline_written and written.passed
    recorded = read_baseline(baseline)
    assert recorded["totals"]["params"] == written.estimate.total.params
    assert not list(tmp_path.glob("budgets/.*"))  # no temporary files left behind

    same = check(read_classifier(), "sequencer-fpga", input_shape=SHAPE, max_latency_s=LATENCY, baseline=baseline)
    assert same.passed and {r.delta for r in same.regressions} == {0}

    from models import ReadClassifier, as_if_trained

    bigger = as_if_trained(ReadClassifier(channels=10))
    grown = check(bigger, "sequencer-fpga", input_shape=SHAPE, max_latency_s=LATENCY, baseline=baseline,
                  tolerance=0.02)
    assert not grown.passed
    regression = {r.metric: r for r in grown.regressions}
    assert not regression["params"].passed
    assert regression["params"].delta == grown.estimate.total.params - recorded["totals"]["params"]
    assert regression["weight_bytes"].grew_most == "features.4"  # the 5-tap conv grows quadratically with width
    failure = next(item for item in grown.failures if item.name == "baseline_weight_bytes")
    assert "baseline" in failure.message and "now" in failure.message and "grew most: features.4" in failure.message

    tolerant = check(bigger, "sequencer-fpga", input_shape=SHAPE, max_latency_s=LATENCY, baseline=baseline,
                     tolerance=10.0)
    assert tolerant.passed


def test_tolerance_is_relative(tmp_path):
    baseline = tmp_path / "b.json"
    check(nn.Linear(100, 10), "stm32f746", input_shape=(1, 100), baseline=baseline, update_baseline=True)
    assert check(nn.Linear(100, 10), "stm32f746", input_shape=(1, 100), baseline=baseline, tolerance=0.0).passed
    grown = nn.Sequential(nn.Linear(100, 10), nn.Linear(10, 2))  # 1010 -> 1032 parameters: +2.18%

    def params_regression(tolerance):
        result = check(grown, "stm32f746", input_shape=(1, 100), baseline=baseline, tolerance=tolerance)
        return next(r for r in result.regressions if r.metric == "params")

    assert params_regression(0.025).passed
    failed = params_regression(0.02)
    assert not failed.passed
    assert failed.delta == 22 and failed.delta_ratio == pytest.approx(22 / 1010)


@pytest.mark.parametrize("content, message", [
    ("{not json", "not a readable baseline JSON"),
    ('{"totals": {}}', "not an edgeopt baseline"),
    ('{"edgeopt_baseline": 1, "profile": "stm32f746", "totals": {"params": "many"}}', "totals.params"),
])
def test_bad_baselines(tmp_path, content, message):
    path = tmp_path / "bad.json"
    path.write_text(content)
    with pytest.raises(BaselineError, match=message):
        check(nn.Linear(4, 2), "stm32f746", input_shape=(1, 4), baseline=path)


def test_baseline_for_another_profile_is_refused(tmp_path):
    path = tmp_path / "b.json"
    check(nn.Linear(4, 2), "stm32f746", input_shape=(1, 4), baseline=path, update_baseline=True)
    with pytest.raises(BaselineError, match="recorded for profile 'stm32f746'.*'nrf52840'"):
        check(nn.Linear(4, 2), "nrf52840", input_shape=(1, 4), baseline=path)


def test_missing_baseline_says_how_to_create_it(tmp_path):
    with pytest.raises(BaselineError, match="no such baseline file; create it with --update-baseline"):
        check(nn.Linear(4, 2), "stm32f746", input_shape=(1, 4), baseline=tmp_path / "absent.json")


def test_junit_has_one_testcase_per_check():
    result = check(read_classifier(), "sequencer-fpga", input_shape=SHAPE, max_latency_s=LATENCY, max_params=100)
    root = ET.fromstring(result.to_junit_xml())
    suite = root.find("testsuite")
    cases = suite.findall("testcase")
    assert [c.get("name") for c in cases] == [item.name for item in result.items]
    failed = [c.get("name") for c in cases if c.find("failure") is not None]
    assert failed == ["max_params"]
    assert suite.get("failures") == "1" and suite.get("tests") == str(len(cases))
    failure = suite.find("testcase/failure")
    assert json.loads(failure.text)["limit"] == 100


def test_to_dict_is_json_ready():
    result = check(read_classifier(), "sequencer-fpga", input_shape=SHAPE, max_latency_s=LATENCY)
    data = json.loads(json.dumps(result.to_dict()))
    assert data["passed"] is True and data["profile"] == "sequencer-fpga"
    assert data["estimate"]["total"]["params"] == result.estimate.total.params


# -- the gate measures what the user asked -------------------------------------------------------------------------

def _invoke(*args):
    from click.testing import CliRunner

    from edgeopt.cli import main

    return CliRunner().invoke(main, [str(a) for a in args])


def test_input_shape_overrides_the_shapes_an_onnx_file_states():
    """torch exports write value_info for their own input shape; --input-shape must be what is costed."""
    asked = _invoke("check", "examples/kws_dscnn.onnx", "-p", "stm32f746", "--input-shape", "1,1,490,100",
                    "--max-latency", "20ms", "--json")
    own = _invoke("check", "examples/kws_dscnn.onnx", "-p", "stm32f746", "--max-latency", "20ms", "--json")
    assert own.exit_code == 0 and asked.exit_code == 1
    macs = [json.loads(r.output)["estimate"]["total"]["macs"] for r in (own, asked)]
    assert macs[1] > 50 * macs[0]


def test_a_graph_onnxruntime_refuses_is_exit_2(tmp_path):
    import onnx

    model = onnx.load("examples/kws_dscnn.onnx")
    model.opset_import[0].version = 99
    onnx.save(model, tmp_path / "opset99.onnx")
    model = onnx.load("examples/kws_dscnn.onnx")
    weight = next(t for t in model.graph.initializer if len(t.dims) == 4 and t.raw_data)
    weight.raw_data = weight.raw_data[: len(weight.raw_data) // 2]
    onnx.save(model, tmp_path / "corrupt.onnx")
    for name, message in (("opset99.onnx", "opset 99"), ("corrupt.onnx", "is corrupt")):
        result = _invoke("check", tmp_path / name, "-p", "stm32f746")
        assert result.exit_code == 2 and message in result.output and "Traceback" not in result.output, name


def test_an_images_flash_counts_every_allocated_section_with_contents(tmp_path):
    """600 KB of weights in a section of the firmware's own name is flash, and the output lists the sections."""
    import os
    import shutil
    import subprocess

    missing = [tool for tool in ("arm-none-eabi-gcc", "arm-none-eabi-objdump") if shutil.which(tool) is None]
    if missing:  # .ci/run installs them: there their absence is a failure
        (pytest.fail if os.environ.get("EDGEOPT_CI") else pytest.skip)(f"needs {', '.join(missing)}")
    (tmp_path / "fw.c").write_text('__attribute__((section(".model_weights"), used)) const unsigned char '
                                   "w[600000] = {1};\nint counter;\nint main(void) { return w[0] + counter; }\n")
    subprocess.run(["arm-none-eabi-gcc", "-mcpu=cortex-m4", "-mthumb", "-nostdlib", "-Wl,--entry=main", "-o",
                    str(tmp_path / "fw.elf"), str(tmp_path / "fw.c")], check=True)
    result = _invoke("check", tmp_path / "fw.elf", "-p", "stm32f746", "--max-weight-bytes", "100KiB", "--json")
    assert result.exit_code == 1, result.output
    items = {item["name"]: item for item in json.loads(result.output)["items"]}
    assert items["max_weight_bytes"]["actual"] >= 600_000 and ".model_weights 600000" in \
        items["max_weight_bytes"]["message"]
    assert ".bss" in items["activation_memory"]["message"]
