"""What `just fpga` does, on the kinds of data labs bring (../shared/datasets): a search for the sequencer FPGA, its
front quantized to the profile's formats, the recommended model exported as Verilog at the fewest lanes that meet the
latency budget, the test split run in Icarus Verilog bit-exact with the integer reference, the engine synthesized for
xc7, and the export gated."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner
from qdq_helpers import SHARED

from edgeopt.cli import main
from edgeopt.deploy.hdl_sim import missing_tools
from edgeopt.deploy.synth import yosys_missing

from toolchain import require_tools

PIPELINE = Path(__file__).resolve().parents[2] / "examples" / "pipelines" / "int8.yaml"


def invoke(*args):
    return CliRunner().invoke(main, [str(a) for a in args])


@pytest.mark.parametrize("name, space, extra", [
    ("basic_motions.npz", "cnn1d", ()),
    ("japanese_vowels.npz", "cnn1d", ()),
    ("breast_cancer.csv", "mlp", ("--label", "malignant")),
])
def test_the_fpga_flow_on_real_data(tmp_path, name, space, extra):
    require_tools(missing_tools("iverilog") + (["yosys"] if yosys_missing() else []), "iverilog yosys")
    data = SHARED / name
    if not data.is_file():
        pytest.skip(f"{data} is not here (the suite's real datasets live in ../shared/datasets)")
    runs = tmp_path / "runs"
    searched = invoke("search", "-p", "sequencer-fpga", "--space", space, "--data", data, *extra, "--trials", 4,
                      "--runs-dir", runs, "--name", "fpga", "--compress", PIPELINE, "--no-report", "--json")
    assert searched.exit_code == 0, searched.output

    out = tmp_path / "verilog"
    exported = invoke("export", runs / "fpga", "-p", "sequencer-fpga", "--format", "verilog", "-o", out, "--data",
                      data, *extra, "--synth", "xc7", "--json")
    assert exported.exit_code == 0, exported.output
    run = json.loads(exported.output)
    deployed = run["deployment"]
    assert deployed["agreement"]["bit_exact_share"] == 1.0 and deployed["device"] == "iverilog"
    assert deployed["clocks_per_inference"] == run["clock_cycles"] and run["latency_s"] <= 20e-6
    assert 0.0 <= deployed["metrics"]["recall"] <= 1.0 and deployed["metrics"]["accuracy"] > 0.5
    fabric = run["fabric"]
    assert fabric["source"] == "measured" and fabric["dsps"] >= run["lanes"] and fabric["luts"] > 0

    gated = invoke("check", out, "-p", "sequencer-fpga", "--json")
    assert gated.exit_code in (0, 1), gated.output
    items = {item["name"]: item for item in json.loads(gated.output)["items"]}
    assert items["max_latency_s"]["passed"] and items["max_params"]["passed"]  # what the search promised
    for key, figure in (("max_luts", "luts"), ("max_ffs", "ffs"), ("max_dsps", "dsps"), ("max_brams", "brams")):
        assert items[key]["actual"] == fabric[figure] and items[key]["source"] == "measured"
