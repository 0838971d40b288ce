import json
import subprocess
import sys
from pathlib import Path
from xml.etree import ElementTree as ET

import pytest
from click.testing import CliRunner

from edgeopt.cli import main

ROOT = Path(__file__).resolve().parent.parent
KWS = str(ROOT / "examples" / "kws_dscnn.onnx")
READS = str(ROOT / "examples" / "read_classifier.onnx")
FACTORY = f"{ROOT / 'examples' / 'models.py'}:read_classifier"


def run(*args):
    return CliRunner().invoke(main, [str(a) for a in args], catch_exceptions=False)


def test_profiles_list_and_json():
    result = run("profiles", "list", "--json")
    assert result.exit_code == 0
    names = {p["name"] for p in json.loads(result.output)}
    assert {"mythic-m1076", "sequencer-fpga", "stm32f746"} <= names
    table = run("profiles", "list")
    assert table.exit_code == 0 and "nrf52840" in table.output


def test_profiles_show_prints_figures_with_sources():
    result = run("profiles", "show", "stm32f746")
    assert result.exit_code == 0
    assert "memory.activations.size" in result.output and "stm32f746ng.pdf" in result.output
    data = json.loads(run("profiles", "show", "stm32f746", "--json").output)
    assert data["activation_memory"]["size_bytes"] == 320 * 1024
    assert data["figure_sources"]["compute.clock"] == "kernel"


def test_profiles_validate(tmp_path):
    good = tmp_path / "good.yaml"
    good.write_text((ROOT / "hwprofiles" / "nrf52840.yaml").read_text())
    result = run("profiles", "validate", good)
    assert result.exit_code == 0 and "ok:" in result.output
    unsourced = tmp_path / "unsourced.yaml"
    unsourced.write_text("extends: nrf52840\nname: mine\nbudgets: {max_params: 10k}\n")
    assert run("profiles", "validate", unsourced).exit_code == 0
    strict = run("profiles", "validate", "--strict", unsourced)
    assert strict.exit_code == 1 and "budgets.max_params cites no source" in strict.output


@pytest.mark.parametrize("content, fragment", [
    ("name: x\nmemory: {weights: {size: 1KB}, activations: {size: 1KB}}\ncompute: {peak: {int8: 1TOPS}}\n"
     "formats: {weights: [int8], activations: [int8]}\nflavour: spicy\n", "bad.yaml:5: flavour: unknown key"),
    ("name: x\nmemory: {weights: {size: 1KG}}\n", "bad.yaml:2: memory.weights.size: unknown unit 'KG'"),
    ("name: x\nmemory: {weights: {size: -1KB}}\n", "memory.weights.size: value '-1KB' is out of range"),
    ("extends: bad\nname: x\n", "extends: cycle"),
    ("name: [\n", "invalid YAML"),
])
def test_bad_profile_is_one_error_line_and_exit_2(tmp_path, content, fragment):
    bad = tmp_path / "bad.yaml"
    bad.write_text(content)
    result = CliRunner().invoke(main, ["profiles", "validate", str(bad)])
    assert result.exit_code == 2
    assert fragment in result.output
    assert "Traceback" not in result.output
    assert result.output.startswith("error: ") and result.output.count("\n") == 1


def test_profile_command_table_and_json():
    result = run("profile", KWS, "--profile", "stm32f746")
    assert result.exit_code == 0
    assert "depthwise_conv2d" in result.output and "fits stm32f746" in result.output
    data = json.loads(run("profile", KWS, "-p", "stm32f746", "--json").output)
    assert data["fits"] is True
    assert data["total"]["macs"] == sum(layer["macs"] for layer in data["layers"])
    assert data["peak_activation_bytes"] > 0
    nrf = json.loads(run("profile", KWS, "-p", "sequencer-fpga", "--json").output)
    assert nrf["fits"] is False and {v["what"] for v in nrf["violations"]} >= {"max_params", "weight_memory"}


def test_profile_a_torch_factory():
    result = run("profile", FACTORY, "-p", "sequencer-fpga", "--input-shape", "1,1,256", "--json")
    assert result.exit_code == 0
    profiled = json.loads(result.output)
    # the reads classifier fits the FPGA's parameters and memories; its engine takes 46 us, over the 20 us budget
    assert [v["what"] for v in profiled["violations"]] == ["max_latency_s"]
    assert profiled["engine"]["lanes"] > 1 and profiled["engine"]["source"] == "estimated"
    missing_shape = CliRunner().invoke(main, ["profile", FACTORY, "-p", "sequencer-fpga"])
    assert missing_shape.exit_code == 2 and "input shape is needed" in missing_shape.output


def test_check_exit_codes_and_junit(tmp_path):
    junit = tmp_path / "reports" / "edgeopt.xml"
    ok = run("check", READS, "-p", "sequencer-fpga", "--max-latency", "100us", "--junit", junit)  # engine: 46 us
    assert ok.exit_code == 0 and "all 9 checks passed" in ok.output  # with the engine's LUTs, FFs, block RAMs
    assert ET.parse(junit).getroot().find("testsuite").get("failures") == "0"
    over = run("check", READS, "-p", "sequencer-fpga", "--max-weight-bytes", "1KiB", "--max-params", "1k",
               "--max-latency", "100us", "--junit", junit, "--json")
    assert over.exit_code == 1
    data = json.loads(over.output)
    assert {i["name"] for i in data["items"] if not i["passed"]} == {"max_params", "max_weight_bytes"}
    failures = [c.get("name") for c in ET.parse(junit).getroot().iter("testcase") if c.find("failure") is not None]
    assert sorted(failures) == ["max_params", "max_weight_bytes"]


def test_check_baseline_workflow(tmp_path):
    baseline = tmp_path / "kws.budget.json"
    written = run("check", KWS, "-p", "stm32f746", "--baseline", baseline, "--update-baseline")
    assert written.exit_code == 0 and baseline.is_file()
    same = run("check", KWS, "-p", "stm32f746", "--baseline", baseline, "--tolerance", "2%", "--json")
    assert same.exit_code == 0
    assert {r["metric"] for r in json.loads(same.output)["regressions"]} >= {"params", "weight_bytes", "latency_s"}
    # The same network checked against a smaller model's baseline: a regression, exit 1, layer named.
    small = tmp_path / "reads.budget.json"
    run("check", READS, "-p", "stm32f746", "--baseline", small, "--update-baseline")
    grown = run("check", KWS, "-p", "stm32f746", "--baseline", small, "--tolerance", "2%")
    assert grown.exit_code == 1
    assert "baseline_weight_bytes" in grown.output and "grew most" in grown.output


@pytest.mark.parametrize("args, fragment", [
    (["check", "missing.onnx", "-p", "stm32f746"], "no such model file"),
    (["check", KWS, "-p", "no-such-board"], "unknown profile 'no-such-board'"),
    (["check", KWS, "-p", "stm32f746", "--max-weight-bytes", "12XB"], "unknown unit 'XB'"),
    (["check", KWS, "-p", "stm32f746", "--max-latency", "-2ms"], "negative"),
    (["check", KWS, "-p", "stm32f746", "--update-baseline"], "--update-baseline needs --baseline"),
    (["check", KWS, "-p", "stm32f746", "--input-shape", "1,a,3"], "expected whole numbers"),
    (["check", KWS, "-p", "stm32f746", "--baseline", "absent.json"], "create it with --update-baseline"),
    (["profile", "model.pt", "-p", "stm32f746"], "no such model file"),
    (["profile", "examples/nowhere.py:make", "-p", "stm32f746"], "no such file"),
    (["profile", "json:dumps", "-p", "stm32f746"], "calling dumps() failed: TypeError"),
    (["profile", "json:JSONDecoder", "-p", "stm32f746"], "not a torch nn.Module"),
    (["profile", "json:nothing_here", "-p", "stm32f746"], "json has no attribute 'nothing_here'"),
    (["profile", "no_such_pkg.models:make", "-p", "stm32f746"], "importing no_such_pkg.models failed"),
    (["check", KWS], "Missing option '--profile'"),
])
def test_bad_input_exits_2_without_traceback(args, fragment):
    result = CliRunner().invoke(main, args)
    assert result.exit_code == 2, result.output
    assert fragment in result.output
    assert "Traceback" not in result.output


@pytest.mark.parametrize("name", ["a\nb.pt", "a\rerror: forged.pt", "a\x1b[2Jb.pt", "a\u2028b.pt"])
def test_an_error_is_one_line_whatever_the_input_holds(tmp_path, name):
    """A path from the command line comes back in the error with its control characters escaped: it cannot split
    the error into lines, forge another one or send the terminal escape codes."""
    result = CliRunner().invoke(main, ["profile", str(tmp_path / name), "-p", "stm32f746"])
    assert result.exit_code == 2
    assert result.output.count("\n") == 1 and result.output.startswith("error: ")
    assert "no such model file" in result.output
    assert result.output[:-1].isprintable()


def test_bad_model_files_exit_2(tmp_path):
    text = tmp_path / "readme.onnx"
    text.write_text("not a model at all\n" * 10)
    truncated = tmp_path / "cut.onnx"
    truncated.write_bytes(Path(KWS).read_bytes()[:5000])
    for path in (text, truncated):
        result = CliRunner().invoke(main, ["check", str(path), "-p", "stm32f746"])
        assert result.exit_code == 2 and "not a valid ONNX" in result.output


def test_nothing_half_written_when_the_check_fails_on_input(tmp_path):
    junit = tmp_path / "out.xml"
    result = CliRunner().invoke(main, ["check", str(tmp_path / "absent.onnx"), "-p", "stm32f746", "--junit",
                                       str(junit)])
    assert result.exit_code == 2
    assert list(tmp_path.iterdir()) == []


def test_console_script_runs_as_a_process():
    result = subprocess.run([sys.executable, "-m", "edgeopt.cli", "check", READS, "-p", "sequencer-fpga",
                             "--max-latency", "100us", "--json"], capture_output=True, text=True, cwd=ROOT)
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout)["passed"] is True


def _onnx_graph(nodes, path):
    import numpy as np
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    weight = numpy_helper.from_array(np.ones((4, 4), np.float32), "w")
    graph = helper.make_graph(nodes, "g", [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 4])],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 4])], [weight])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    onnx.save(model, path)
    return path


@pytest.mark.parametrize("case, fragment", [
    ("cycle", "node 0 (MatMul) reads 'b' before any node makes it (a cycle"),
    ("unproduced-weight", "reads 'nothing_makes_this', which no input, initializer or node provides"),
])
def test_the_gate_refuses_graphs_onnx_and_onnxruntime_refuse(tmp_path, case, fragment):
    from onnx import helper

    nodes = {
        "cycle": [helper.make_node("MatMul", ["x", "b"], ["a"]), helper.make_node("Relu", ["a"], ["b"]),
                  helper.make_node("Identity", ["a"], ["y"])],
        "unproduced-weight": [helper.make_node("MatMul", ["x", "nothing_makes_this"], ["y"])],
    }[case]
    model = _onnx_graph(nodes, tmp_path / f"{case}.onnx")
    for args in (["check", model, "-p", "stm32f746", "--junit", tmp_path / "j.xml"], ["profile", model, "-p",
                                                                                     "stm32f746"]):
        result = CliRunner().invoke(main, [str(a) for a in args])
        assert result.exit_code == 2, result.output
        assert fragment in result.output and "Traceback" not in result.output
    assert not (tmp_path / "j.xml").exists()
    good = _onnx_graph([helper.make_node("MatMul", ["x", "w"], ["y"])], tmp_path / "good.onnx")
    assert CliRunner().invoke(main, ["check", str(good), "-p", "stm32f746"]).exit_code == 0


def test_names_with_rich_markup_print_as_text_and_yaml_alias_tricks_are_one_error(tmp_path):
    profile = tmp_path / "markup.yaml"
    profile.write_text('name: markup\nextends: stm32f746\ndescription: "[/x] [bold red]not a style[/]"\n')
    model = tmp_path / "[bold]kws.onnx"  # the model's name is printed
    model.write_bytes((ROOT / "examples" / "kws_dscnn.onnx").read_bytes())
    for args, shown in ((["check", model, "-p", profile], "[bold]kws"),
                        (["profile", model, "-p", profile], "[bold]kws"), (["profiles", "show", profile], "[/x]")):
        result = CliRunner().invoke(main, [str(a) for a in args])
        assert result.exit_code == 0, result.output
        assert shown in result.output and "Traceback" not in result.output
    search = CliRunner().invoke(main, ["search", "-p", str(profile), "--trials", "1", "--no-early-stopping",
                                       "--runs-dir", str(tmp_path / "runs"), "--no-report"])
    assert search.exit_code == 0, search.output
    (tmp_path / "loop.yaml").write_text("name: loop\nextends: stm32f746\nbudgets: &x {a: *x}\n")
    lines = "\n".join(f"l{i}: &l{i} [{', '.join([f'*l{i - 1}'] * 9)}]" for i in range(1, 9))
    (tmp_path / "bomb.yaml").write_text(f"l0: &l0 [1, 2, 3, 4, 5, 6, 7, 8, 9]\n{lines}\nname: bomb\n")
    for name, fragment in (("loop", "an alias that contains itself"), ("bomb", "once aliases are expanded")):
        result = CliRunner().invoke(main, ["check", str(model), "-p", str(tmp_path / f"{name}.yaml")])
        assert result.exit_code == 2 and fragment in result.output, result.output


def test_outputs_that_cannot_be_written_are_found_before_the_work(tmp_path):
    blocked = tmp_path / "file"
    blocked.write_text("a file where a folder should be")
    model = ROOT / "examples" / "kws_dscnn.onnx"
    cases = [["check", model, "-p", "stm32f746", "--junit", blocked / "j.xml"],
             ["check", model, "-p", "stm32f746", "--baseline", blocked / "b.json", "--update-baseline"],
             ["search", "-p", "sequencer-fpga", "--runs-dir", blocked / "runs"],
             ["compress", "examples/models.py:reads_teacher", "-p", "sequencer-fpga", "--auto", "-o", blocked / "o"]]
    for args in cases:
        result = CliRunner().invoke(main, [str(a) for a in args])
        assert result.exit_code == 2, (args, result.output)
        assert "cannot be written" in result.output and "Traceback" not in result.output


def test_control_characters_never_reach_the_terminal_or_break_junit(tmp_path):
    import shutil

    profile = tmp_path / "ansi.yaml"
    profile.write_text('name: ansi\nextends: stm32f746\ndescription: "red \\e[31m text"\n')
    result = CliRunner().invoke(main, ["profiles", "show", str(profile)])
    assert result.exit_code == 2 and "description: control characters are not allowed" in result.output
    odd = tmp_path / "odd\x01name.onnx"
    shutil.copy(ROOT / "examples" / "kws_dscnn.onnx", odd)
    junit = tmp_path / "j.xml"
    result = CliRunner().invoke(main, ["check", str(odd), "-p", "stm32f746", "--max-params", "1", "--junit",
                                       str(junit)])
    assert result.exit_code == 1, result.output  # a real budget failure
    suite = ET.parse(junit).getroot().find("testsuite")
    assert "odd\\x01name" in suite.get("name")


def test_ctrl_c_in_compress_exits_130(tmp_path, monkeypatch):
    import edgeopt.workflow.compress as workflow

    def interrupted(*args, **kwargs):
        raise KeyboardInterrupt

    import torch
    from models import reads_teacher  # examples/models.py

    torch.save(reads_teacher().state_dict(), tmp_path / "w.pt")
    monkeypatch.setattr(workflow, "run_pipeline", interrupted)  # in the middle of the pipeline
    model = ROOT / "examples" / "models.py"
    result = CliRunner().invoke(main, ["compress", f"{model}:reads_teacher", "--weights", str(tmp_path / "w.pt"),
                                       "-p", "sequencer-fpga", "--auto", "-o", str(tmp_path / "o")])
    assert result.exit_code == 130 and "interrupted" in result.output, result.output
    assert not (tmp_path / "o").exists()


def test_a_model_that_cannot_take_the_input_shape_is_one_line():
    model = ROOT / "examples" / "models.py"
    result = CliRunner().invoke(main, ["profile", f"{model}:reads_teacher", "--input-shape", "1,1,2", "-p",
                                       "stm32f746"])
    assert result.exit_code == 2
    assert result.output.strip().count("\n") == 0, result.output  # one line, no fx node dump
    assert "failed: RuntimeError: max_pool1d() Invalid computed output size: 0" in result.output


@pytest.mark.parametrize("case", ["300-digits", "huge-shape", "time-0", "empty-checkpoint"])
def test_more_bad_input_is_exit_2_or_a_result_never_a_traceback(tmp_path, case):
    model = ROOT / "examples" / "kws_dscnn.onnx"
    if case == "300-digits":
        profile = tmp_path / "big.yaml"
        profile.write_text(f"name: big\nextends: stm32f746\nbudgets: {{max_params: {'9' * 300}}}\n")
        args, codes = ["check", model, "-p", profile], (0, 2)
    elif case == "huge-shape":
        args, codes = ["profile", f"{ROOT / 'examples' / 'models.py'}:reads_teacher", "--input-shape",
                       "100000000,100000,1000", "-p", "stm32f746"], (2,)
    elif case == "time-0":
        args, codes = ["search", "-p", "sequencer-fpga", "--time", "0", "--runs-dir", tmp_path / "r"], (2,)
    else:
        (tmp_path / "empty.pt").write_bytes(b"")
        args, codes = ["compress", tmp_path / "empty.pt", "-p", "stm32f746", "--auto", "-o", tmp_path / "o"], (2,)
    result = CliRunner().invoke(main, [str(a) for a in args])
    assert result.exit_code in codes, result.output
    assert "Traceback" not in result.output and not isinstance(result.exception, (KeyError, TypeError, OSError))
    assert not (tmp_path / "r").exists() and not (tmp_path / "o").exists()


def _hostile_inputs(tmp_path):
    """(args, fragment) per hostile number or name, each through the command a user would give it to."""
    from hostile_files import forged_npz

    profile = tmp_path / "p.yaml"
    profile.write_text("name: p\nextends: stm32f746\nquantization: {bias_bits: 100}\n")
    clock = tmp_path / "clock.yaml"
    clock.write_text("name: clock\nextends: stm32f746\ncompute: {clock: 5e-324}\n")
    huge = tmp_path / "huge.yaml"
    huge.write_text("name: huge\nextends: stm32f746\nbudgets: {max_params: " + "9" * 300 + "}\n")
    step = tmp_path / "step.yaml"
    step.write_text("family: mlp\narchitecture:\n  depth: {int: [1, 4], step: 0}\n")
    wide = tmp_path / "wide.yaml"
    wide.write_text("family: cnn1d\narchitecture:\n  channels: 1000000000\n")
    pipeline = tmp_path / "pipe.yaml"
    pipeline.write_text("steps:\n  - distill: {batch_size: 0}\n  - quantize: {}\n")
    forged_npz(tmp_path / "forged.npz")
    model = ROOT / "examples" / "kws_dscnn.onnx"
    return [
        (["profiles", "validate", profile], "bias_bits"),
        (["profile", model, "-p", clock], "subnormal"),
        (["check", model, "-p", huge], "too large"),
        (["check", model, "-p", "stm32f746", "--max-params", "9" * 300], "too large"),
        (["space", "show", step], "step"),
        (["space", "show", wide], "channels"),
        (["search", "-p", "stm32f746", "--data", tmp_path / "forged.npz", "--runs-dir", tmp_path / "runs"],
         "declares shape"),
        (["compress", "examples/models.py:reads_teacher", "-p", "sequencer-fpga", "--pipeline", pipeline, "-o",
          tmp_path / "c"], "batch_size"),
        (["export", model, "-p", "stm32f746", "--name", "stdint", "-o", tmp_path / "e"], "standard header"),
        (["search", "-p", "stm32f746", "--seed", "-1", "--runs-dir", tmp_path / "runs"], "--seed"),
    ]


def test_hostile_numbers_and_names_are_one_line_and_exit_2_at_the_command_line(tmp_path):
    for args, fragment in _hostile_inputs(tmp_path):
        result = CliRunner().invoke(main, [str(a) for a in args])
        assert result.exit_code == 2, (args, result.output)
        assert fragment in result.output and "Traceback" not in result.output, (args, result.output)
    assert not (tmp_path / "c").exists() and not (tmp_path / "e").exists() and not (tmp_path / "runs").exists()
