"""The Verilog engine: in Icarus Verilog and Verilator its logits equal the integer reference's on every sample at
any lane count, and it is busy for exactly the clocks its loop nest counts; what it cannot run is one error naming op
and node; its lanes default to the fewest meeting the profile's latency budget; yosys measures its cells, and
`edgeopt check` gates them and its clocks against the profile."""

from __future__ import annotations

import hashlib
import json
import shutil
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner
from hypothesis import given, settings, strategies as st

from edgeopt.cli import main
from edgeopt.calibration.board_micro import board_micro_onnx, board_suite
from edgeopt.cost.engine import estimate_engine
from edgeopt.cost.fabric import chosen_memories, fabric_inputs
from edgeopt.graph.build import build_graph
from edgeopt.profiles.loader import load_profile
from edgeopt.deploy.hdl_sim import missing_tools, simulate
from edgeopt.deploy.lower import lower_onnx
from edgeopt.deploy.verilog import ENGINE_GENERATION, choose_lanes, engine_cycles, verilog_files
from edgeopt.errors import ModelError
from edgeopt.intgrid.fixedpoint import INT32_MAX, INT32_MIN
from edgeopt.intgrid.program import IntLayer, IntProgram, Nonlinear, Pool
from edgeopt.intgrid.reference import run_program

from toolchain import require_tools

HDL = "iverilog verilator g++ make"


def _equal_in(simulator: str, program: IntProgram, q: np.ndarray, lanes: int = 1) -> None:
    require_tools(missing_tools(simulator), HDL)
    sim = simulate(verilog_files(program, "engine", lanes), "engine", q, simulator)
    reference = run_program(program, q)
    assert sim.logits.shape == reference.shape and np.array_equal(sim.logits, reference)
    assert np.all(sim.cycles == engine_cycles(program, lanes))


@pytest.mark.parametrize("name, lanes", [("cnn1d", 1), ("cnn1d", 16), ("mlp", 1), ("cnn1d_relu6_avg", 3),
                                         ("mlp_int16", 4), ("branchy", 2), ("cnn1d_long", 1), ("cnn1d_long", 5)])
def test_the_engine_equals_the_integer_reference_in_iverilog(qdq_models, name, lanes):
    path, x_test = qdq_models[name]
    program = lower_onnx(path)
    _equal_in("iverilog", program, program.quantize_input(x_test[:16]), lanes)


@pytest.mark.parametrize("name, lanes", [("mlp_int16", 2), ("cnn1d_long", 3)])
def test_verilator_runs_the_same_integers_and_clocks(qdq_models, name, lanes):
    path, x_test = qdq_models[name]
    program = lower_onnx(path)
    _equal_in("verilator", program, program.quantize_input(x_test[:8]), lanes)


def test_block_ram_banks_hold_the_same_integers(tmp_path):
    """Memories past the block-RAM threshold are split into banks of one block each: the activations of a
    32-channel input into rows of words, sixteen lanes' weights into columns of bits; the engine still equals the
    reference."""
    micro = next(m for m in board_suite() if m.name == "separable_32_k3")
    path, x = board_micro_onnx(micro, load_profile("sequencer-fpga"), tmp_path)
    program = lower_onnx(path)
    files = verilog_files(program, "engine", 16)
    banks = sorted(name for name in files.roms if name.startswith("engine_weights_"))
    assert len(banks) > 1 and "acts_row" in files.engine and "(* ram_style = \"block\" *)" in files.engine
    _equal_in("iverilog", program, program.quantize_input(x[:3]), 16)


@pytest.fixture(scope="module")
def smooth_mlps(tmp_path_factory) -> dict:
    """The calibration suite's MLPs drawn with tanh and with hardswish, in the sequencer FPGA's int16 activations:
    activation -> (QDQ path, float inputs)."""
    folder = tmp_path_factory.mktemp("smooth")
    profile = load_profile("sequencer-fpga")
    out = {}
    for micro in board_suite():
        activation = dict(micro.config).get("activation")
        if micro.space == "mlp" and activation in ("tanh", "hardswish") and activation not in out:
            out[activation] = board_micro_onnx(micro, profile, folder)
    return out


@pytest.mark.parametrize("activation, lanes, simulator", [("tanh", 1, "iverilog"), ("tanh", 3, "verilator"),
                                                          ("hardswish", 4, "iverilog"),
                                                          ("hardswish", 1, "verilator")])
def test_tanh_and_hardswish_layers_are_bit_exact(smooth_mlps, activation, lanes, simulator):
    """The mlp space's smooth activations: each layer's unit (tanh's table, hardswish's product) and the
    requantization after it give the reference's integers, in the clocks counted."""
    path, x = smooth_mlps[activation]
    program = lower_onnx(path)
    assert any(layer.nonlinear is not None and layer.nonlinear.kind == activation for layer in program.layers)
    _equal_in(simulator, program, program.quantize_input(x), lanes)


def test_the_cost_model_counts_the_tanh_and_hardswish_units(smooth_mlps):
    """The estimate reads tanh and hardswish from the graph: the same clocks as the engine (its pipeline deeper by
    the units'), their DSP slices and tanh's table in block RAM."""
    profile = load_profile("sequencer-fpga")
    for activation, (path, _) in smooth_mlps.items():
        graph = build_graph(path)
        program = lower_onnx(path)
        plain = estimate_engine(graph, profile, 2)
        assert all(e.nonlinear == activation for e in plain.layers[:-1]) and plain.layers[-1].nonlinear is None
        assert plain.clocks == engine_cycles(program, 2)
        memories = chosen_memories(plain, fabric_inputs(graph, profile)[0])
        assert (memories.tanh is not None) == (activation == "tanh")
        files = verilog_files(program, "engine", 2)
        assert ("engine_tanh.hex" in files.roms) == (activation == "tanh")


def test_lanes_divide_the_clocks_of_wide_layers(qdq_models):
    """A block of lanes shares each input read: the MLP's clocks fall nearly by the lane count."""
    program = lower_onnx(qdq_models["mlp_int16"][0])
    one, four = engine_cycles(program, 1), engine_cycles(program, 4)
    assert one / four > 3


@pytest.mark.parametrize("name", ["cnn1d", "mlp_int16", "cnn1d_relu6_avg", "cnn1d_long", "branchy"])
def test_the_cost_model_counts_the_engine_clocks_before_training(qdq_models, name):
    """The estimate reads the graph, the export the integer program: the same clocks, at the lanes the estimate
    takes (the fewest meeting the budget, or the fastest engine); its latency is those clocks at the clock."""
    from edgeopt.cost.estimate import estimate

    path = qdq_models[name][0]
    est = estimate(path, "sequencer-fpga")
    program = lower_onnx(path)
    assert est.engine.clocks == engine_cycles(program, est.engine.lanes)
    assert est.total.latency_s == pytest.approx(est.engine.clocks / 250e6)
    fastest = min(engine_cycles(program, lanes) for lanes in range(1, 33))
    assert est.engine.meets_budget == (fastest <= 5000)
    if est.engine.meets_budget:
        assert est.engine.lanes == choose_lanes(program, 32, 250e6, 20e-6)


def test_the_default_lanes_are_the_fewest_meeting_the_budget(qdq_models):
    program = lower_onnx(qdq_models["cnn1d_long"][0])
    clock = 250e6
    budget = engine_cycles(program, 6) / clock
    lanes = choose_lanes(program, 32, clock, budget)
    assert engine_cycles(program, lanes) / clock <= budget
    assert all(engine_cycles(program, fewer) / clock > budget for fewer in range(1, lanes))
    assert choose_lanes(program, 32, clock, None) == 1 and choose_lanes(program, 32, clock, budget, 7) == 7
    with pytest.raises(ModelError, match=r"no lane count up to 32 meets the latency budget .* needs [\d,]+ clocks"):
        choose_lanes(program, 32, clock, 1e-9)
    with pytest.raises(ModelError, match=r"--lanes 33: the engine takes 1 .. 32"):
        choose_lanes(program, 32, clock, budget, 33)


def test_what_the_engine_cannot_run_is_one_error_naming_op_and_node(qdq_models):
    program = lower_onnx(qdq_models["rocket"][0])
    with pytest.raises(ModelError, match=r"node .*: generated kernels is not in the Verilog engine yet"):
        verilog_files(program, "engine")


def test_the_same_program_gives_the_same_files(qdq_models):
    program = lower_onnx(qdq_models["cnn1d_long"][0])
    first, second = verilog_files(program, "engine"), verilog_files(lower_onnx(qdq_models["cnn1d_long"][0]), "engine")
    assert first == second and "module engine (" in first.engine and "$readmemh(\"engine_weights.hex\"" in first.engine


def _random_program(seed: int) -> IntProgram:
    """A convolution (any stride, padding, dilation, groups, zero points, ReLU or not, an activation ceiling or not,
    tanh or hardswish or neither, max or average pooling over 2 or 3 or none, any global pooling or none; int8 or
    int16 in and out) and a dense layer to int32 logits, with integers small enough that no accumulator leaves its
    register."""
    rng = np.random.default_rng(seed)
    groups = int(rng.choice([1, 2]))
    c_in, c_out = groups * int(rng.integers(1, 3)), groups * int(rng.integers(1, 4))
    length, kernel, stride, dilation = int(rng.integers(6, 20)), int(rng.integers(1, 5)), int(rng.integers(1, 3)), \
        int(rng.integers(1, 3))
    length = max(length, dilation * (kernel - 1) + 1)  # at least one output position
    pad = int(rng.integers(0, dilation * (kernel // 2) + 1))
    out_len = (length + 2 * pad - dilation * (kernel - 1) - 1) // stride + 1
    pool, window = None, int(rng.integers(2, 4))  # an average over 3 goes through the divider
    if rng.random() < 0.5 and out_len >= window:
        pool = Pool(str(rng.choice(["max", "avg"])), (1, window), (1, int(rng.integers(1, 3))))
    pooled = (out_len - window) // pool.stride[1] + 1 if pool else out_len
    global_pool = rng.choice([None, "avg", "max", "avgmax"])
    in_bits, mid_bits = int(rng.choice([8, 16])), int(rng.choice([8, 16]))
    in_top, mid_top = 2 ** (in_bits - 1) - 1, 2 ** (mid_bits - 1) - 1
    out_channels = c_out * (2 if global_pool == "avgmax" else 1)
    out_shape = (out_channels, 1, 1) if global_pool else (c_out, 1, pooled)
    m = rng.integers(2 ** 22, 2 ** 23, c_out)
    n = rng.integers(20, 30, c_out) + (8 if in_bits == 16 else 0)
    relu = bool(rng.random() < 0.6)
    nonlinear = _random_nonlinear(rng, mid_bits) if rng.random() < 0.4 else None
    if nonlinear is not None:  # the requantization goes to the unit's fine grid, spanning it or past its clamp
        relu, n = False, rng.integers(12, 30, c_out) + (8 if in_bits == 16 else 0)
    conv = IntLayer(
        "conv/node", "conv", (c_in, 1, length), out_shape, (c_out, 1, out_len), (1, kernel), (1, stride), (0, pad),
        groups, rng.integers(-127, 128, (c_out, c_in // groups, 1, kernel)).astype(np.int8),
        rng.integers(-5000, 5000, c_out).astype(np.int32), int(rng.integers(-20, 20)), relu,
        (int(rng.integers(2 ** 22, 2 ** 23)), int(rng.integers(10, 18))) if relu and rng.random() < 0.5 else None,
        nonlinear, pool, global_pool, m, n, int(rng.integers(-10, 10)), -mid_top - 1, mid_top, mid_bits,
        input_bits=in_bits)
    features = int(np.prod(out_shape))
    head = IntLayer(
        "head/node", "dense", (features, 1, 1), (3, 1, 1), (3, 1, 1), (1, 1), (1, 1), (0, 0), 1,
        rng.integers(-127, 128, (3, features, 1, 1)).astype(np.int8), rng.integers(-9000, 9000, 3).astype(np.int32),
        conv.output_zero_point, False, None, None, None, None, np.full(3, 2 ** 22 + 12345), np.full(3, 12),
        0, INT32_MIN, INT32_MAX, 32, source=1, input_bits=mid_bits)
    program = IntProgram((c_in, length), 0.01, int(rng.integers(-3, 3)), (conv, head), 0.001)
    return program, rng.integers(-in_top - 1, in_top + 1, (4, c_in, length)).astype(program.input_dtype)


def _random_nonlinear(rng, out_bits: int) -> Nonlinear:
    """tanh on its int16 grid, or hardswish on a grid of up to 2^18 steps, requantized to the output so that the
    largest values saturate it now and then."""
    top = 2 ** (out_bits - 1) - 1
    if rng.random() < 0.5:
        return Nonlinear("tanh", (int(rng.integers(2 ** 22, 2 ** 23)), 23 + 15 - top.bit_length() + int(
            rng.integers(-1, 3))), 32767)
    limit = int(rng.integers(2 ** 8, 2 ** 18 + 1))
    three = int(rng.integers(1, limit + 1))
    largest = 2 * three * limit
    return Nonlinear("hardswish", (int(rng.integers(2 ** 22, 2 ** 23)), 23 + largest.bit_length() - top.bit_length()
                                   + int(rng.integers(-1, 3))), limit, three)


@settings(max_examples=16, deadline=None)
@given(seed=st.integers(0, 2 ** 32 - 1), lanes=st.integers(1, 12))
def test_random_layers_are_bit_exact_and_take_the_clocks_counted(seed, lanes):
    """Any convolution: with ReLU, an activation ceiling, tanh or hardswish (see `_random_program`)."""
    program, q = _random_program(seed)
    _equal_in("iverilog", program, q, lanes)


# the text the export writes for fixed programs at ENGINE_GENERATION: a change to it fails here until the generation
# is raised (so `check` tells an engine from an earlier edgeopt from an edited one) and this digest recorded
GENERATED_SHA256 = "3eceabb2f0a0e302dad529e0de1e38fc21183a2a7a8506d59108e3f8aad84684"


def test_what_the_export_writes_changes_only_with_the_engine_generation():
    digest = hashlib.sha256()
    for seed in range(8):
        program, _ = _random_program(seed)
        for lanes in (1, 3):
            files = verilog_files(program, "engine", lanes)
            digest.update(files.engine.encode())
            for name, text in sorted(files.roms.items()):
                digest.update(name.encode() + text.encode())
    assert (ENGINE_GENERATION, digest.hexdigest()) == (2, GENERATED_SHA256), \
        "the generated engine changed: raise deploy.verilog.ENGINE_GENERATION and record the new digest here"


def _small_data(tmp_path, reads_small) -> str:
    path = tmp_path / "few.npz"
    np.savez(path, x_train=reads_small.x_train[:60], y_train=reads_small.y_train[:60],
             x_test=reads_small.x_test[:24], y_test=reads_small.y_test[:24])
    return str(path)


def test_export_writes_the_engine_and_runs_it_on_the_data(qdq_models, reads_small, tmp_path):
    require_tools(missing_tools("iverilog"), HDL)
    path, _ = qdq_models["mlp_int16"]
    out = tmp_path / "fpga"
    result = CliRunner().invoke(main, ["export", str(path), "-p", "sequencer-fpga", "--format", "verilog", "-o",
                                       str(out), "--name", "reads_mlp", "--data", _small_data(tmp_path, reads_small),
                                       "--json"])
    assert result.exit_code == 0, result.output
    run = json.loads(result.output)
    program = lower_onnx(path)
    assert run["format"] == "verilog" and run["clock_cycles"] == engine_cycles(program, run["lanes"])
    assert run["latency_s"] <= 20e-6 and (run["lanes"] == 1 or engine_cycles(program, run["lanes"] - 1) > 5000)
    assert run["latency_s"] == pytest.approx(run["clock_cycles"] / 250e6)
    deployed = run["deployment"]
    assert deployed["device"] == "iverilog" and deployed["agreement"]["bit_exact_share"] == 1.0
    assert deployed["agreement"]["samples"] == 24 and deployed["clocks_per_inference"] == run["clock_cycles"]
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["format"] == "verilog" and all((out / f).is_file() for f in manifest["files"])
    assert "module reads_mlp (" in (out / "reads_mlp.v").read_text()


@pytest.mark.parametrize("args, message", [
    (["--name", "wire"], "reserved word of Verilog"),
    (["--name", "logic"], "reserved word of Verilog"),
    (["--emulate", "cortex-m4"], "--emulate runs the C on a Cortex-M"),
    (["--simulate", "verilator"], "--simulate runs the test split of --data"),
    (["--lanes", "33"], "--lanes 33: the engine takes 1 .. 32"),  # int16 activations: 32 MACs a clock
    (["--lanes", "0"], "0 is not in the range 1<=x<=64"),
    (["--synth", "virtex2"], "'virtex2' is not one of 'xc7', 'ecp5', 'ice40'"),
])
def test_hostile_verilog_exports_are_one_line_and_exit_2_with_nothing_written(qdq_models, tmp_path, args, message):
    out = tmp_path / "fpga"
    result = CliRunner().invoke(main, ["export", str(qdq_models["mlp_int16"][0]), "-p", "sequencer-fpga",
                                       "--format", "verilog", "-o", str(out), *args])
    assert result.exit_code == 2 and message in result.output and "Traceback" not in result.output
    assert not out.exists()


def test_an_op_the_engine_lacks_is_exit_2_naming_the_node_with_nothing_written(qdq_models, tmp_path):
    out = tmp_path / "fpga"
    result = CliRunner().invoke(main, ["export", str(qdq_models["rocket"][0]), "-p", "stm32f746", "--format",
                                       "verilog", "-o", str(out)])
    assert result.exit_code == 2 and "generated kernels is not in the Verilog engine yet" in result.output
    assert not out.exists()


def test_simulate_belongs_to_the_verilog_export(qdq_models, tmp_path):
    result = CliRunner().invoke(main, ["export", str(qdq_models["mlp"][0]), "-p", "stm32f746", "-o",
                                       str(tmp_path / "c"), "--simulate", "iverilog"])
    assert result.exit_code == 2 and "give --format verilog" in result.output


def test_lanes_and_synthesis_belong_to_the_verilog_export(qdq_models, tmp_path):
    for option in (["--lanes", "2"], ["--synth", "xc7"]):
        out = tmp_path / "c"
        result = CliRunner().invoke(main, ["export", str(qdq_models["mlp"][0]), "-p", "stm32f746", "-o", str(out),
                                           *option])
        assert result.exit_code == 2 and f"{option[0]} belongs to the Verilog engine" in result.output
        assert not out.exists()


def _fpga_profile(tmp_path, family: str = "xc7", **fabric) -> str:
    """sequencer-fpga with another fabric."""
    from edgeopt.profiles import resolve_profile

    text = Path(resolve_profile("sequencer-fpga")).read_text()
    text = text[:text.index("fabric:")] + f"fabric: {{family: {family}, " + ", ".join(f"{k}: {v}" for k, v in
                                                                              fabric.items()) + "}\n"
    path = tmp_path / "fpga.yaml"
    path.write_text(text.replace("name: sequencer-fpga", "name: tight-fpga"))
    return str(path)


def test_synthesis_measures_the_cells_and_check_gates_them_with_the_clocks(qdq_models, tmp_path):
    """`--synth xc7` records what yosys maps the engine to; `edgeopt check` of the folder gates those cells against
    the fabric's budgets and the engine's clocks against the latency budget (exit 1, a JUnit failure, where one is
    over), and refuses an engine edited after export."""
    require_tools(["yosys"] if shutil.which("yosys") is None else [], "yosys")
    out = tmp_path / "fpga"
    result = CliRunner().invoke(main, ["export", str(qdq_models["mlp_int16"][0]), "-p", "sequencer-fpga", "--format",
                                       "verilog", "-o", str(out), "--lanes", "2", "--synth", "xc7", "--json"])
    assert result.exit_code == 0, result.output
    fabric = json.loads(result.output)["fabric"]
    assert fabric["source"] == "measured" and fabric["family"] == "xc7" and "Yosys" in fabric["tool"]
    assert fabric["dsps"] >= 2 and fabric["luts"] > 100 and fabric["ffs"] > 100 and fabric["brams"] >= 1
    assert json.loads((out / "manifest.json").read_text())["fabric"] == fabric
    # the cost model counts the same block RAMs and DSP slices from the graph, before training
    profile = load_profile("sequencer-fpga")
    graph = build_graph(qdq_models["mlp_int16"][0])
    engine = estimate_engine(graph, profile, 2)
    assert chosen_memories(engine, fabric_inputs(graph, profile)[0]).blocks("xc7") == fabric["brams"]
    assert engine.dsps == fabric["dsps"]

    # the tests' MLP has more than the instrument's 4,000 parameters: the budget is lifted for it
    gate = CliRunner().invoke(main, ["check", str(out), "-p", "sequencer-fpga", "--max-params", "1M", "--json"])
    assert gate.exit_code == 0, gate.output
    items = {item["name"]: item for item in json.loads(gate.output)["items"]}
    assert items["max_dsps"]["actual"] == fabric["dsps"] and items["max_dsps"]["source"] == "measured"
    assert items["max_luts"]["actual"] == fabric["luts"] and "recorded by export" in items["max_luts"]["message"]
    clocks = engine_cycles(lower_onnx(qdq_models["mlp_int16"][0]), 2)
    assert items["max_latency_s"]["actual"] == pytest.approx(clocks / 250e6)

    junit = tmp_path / "gate.xml"
    tight = _fpga_profile(tmp_path, max_dsps=1, max_luts=100000)
    gate = CliRunner().invoke(main, ["check", str(out), "-p", tight, "--max-params", "1M", "--junit", str(junit)])
    assert gate.exit_code == 1 and "max_dsps" in gate.output
    assert 'name="max_dsps"' in junit.read_text() and "<failure" in junit.read_text()

    engine = out / "model.v"
    engine.write_text(engine.read_text().replace("acc0 <= acc0 + product0;", "acc0 <= acc0 - product0;"))
    gate = CliRunner().invoke(main, ["check", str(out), "-p", "sequencer-fpga"])
    assert gate.exit_code == 2 and "not the engine edgeopt generates" in gate.output
    assert "Traceback" not in gate.output

    # the same engine from an earlier edgeopt (its manifest names an earlier generation, or none): said so
    manifest = json.loads((out / "manifest.json").read_text())
    for earlier, said in ((ENGINE_GENERATION - 1, f"generation {ENGINE_GENERATION - 1}"), (None, "earlier generation"),
                          ("9\n9", "earlier generation")):
        (out / "manifest.json").write_text(json.dumps(manifest | {"engine_generation": earlier}))
        gate = CliRunner().invoke(main, ["check", str(out), "-p", "sequencer-fpga"])
        assert gate.exit_code == 2 and "made by an earlier edgeopt's engine generator" in gate.output
        assert said in gate.output and gate.output.count("\n") == 1


@pytest.mark.parametrize("activation", ["tanh", "hardswish"])
def test_the_units_cells_are_counted_before_synthesis(smooth_mlps, tmp_path, activation):
    """yosys maps tanh's table to one block RAM and each of the units' 17-bit product pieces to one DSP slice: the
    cost model's counts from the graph."""
    require_tools(["yosys"] if shutil.which("yosys") is None else [], "yosys")
    path = smooth_mlps[activation][0]
    out = tmp_path / "fpga"
    result = CliRunner().invoke(main, ["export", str(path), "-p", "sequencer-fpga", "--format", "verilog", "-o",
                                       str(out), "--lanes", "2", "--synth", "xc7", "--json"])
    assert result.exit_code == 0, result.output
    fabric = json.loads(result.output)["fabric"]
    profile = load_profile("sequencer-fpga")
    graph = build_graph(path)
    engine = estimate_engine(graph, profile, 2)
    assert engine.dsps == fabric["dsps"] > 2 + 2  # lanes and requantization, and the unit's
    assert chosen_memories(engine, fabric_inputs(graph, profile)[0]).blocks("xc7") == fabric["brams"]


def test_check_synthesizes_an_engine_exported_without_synthesis(qdq_models, tmp_path):
    require_tools(["yosys"] if shutil.which("yosys") is None else [], "yosys")
    out = tmp_path / "fpga"
    result = CliRunner().invoke(main, ["export", str(qdq_models["mlp"][0]), "-p", "sequencer-fpga", "--format",
                                       "verilog", "-o", str(out)])
    assert result.exit_code == 0, result.output
    gate = CliRunner().invoke(main, ["check", str(out), "-p", "sequencer-fpga", "--max-params", "1M", "--json"])
    assert gate.exit_code == 0, gate.output
    checked = json.loads(gate.output)
    assert "cells synthesized now for xc7" in " ".join(checked["notes"])
    assert {"max_luts", "max_ffs", "max_dsps", "max_brams", "max_latency_s"} <= {i["name"] for i in checked["items"]}
    luts = next(i["actual"] for i in checked["items"] if i["name"] == "max_luts")

    # cells a manifest claims that are not this engine's, or not numbers, are measured again, never believed
    manifest = json.loads((out / "manifest.json").read_text())
    manifest["fabric"] = {"family": "xc7", "luts": "lots", "lut_ram": 0, "ffs": 1, "dsps": 0, "brams": 0,
                          "tool": "yosys", "engine_sha256": "0" * 64}
    (out / "manifest.json").write_text(json.dumps(manifest))
    gate = CliRunner().invoke(main, ["check", str(out), "-p", "sequencer-fpga", "--max-params", "1M", "--json"])
    again = json.loads(gate.output)
    assert "cells synthesized now" in " ".join(again["notes"])
    assert next(i["actual"] for i in again["items"] if i["name"] == "max_luts") == luts


def test_synthesis_without_yosys_is_one_line_before_any_work(qdq_models, tmp_path, monkeypatch):
    monkeypatch.setenv("PATH", str(tmp_path))
    out = tmp_path / "fpga"
    result = CliRunner().invoke(main, ["export", str(qdq_models["mlp"][0]), "-p", "sequencer-fpga", "--format",
                                       "verilog", "-o", str(out), "--synth", "ecp5"])
    assert result.exit_code == 2 and "--synth runs yosys, which is not installed" in result.output
    assert not out.exists()


def test_ecp5_place_and_route_measures_the_clock_reached(qdq_models, tmp_path):
    """With nextpnr-ecp5 on PATH (extra edgeopt[ecp5]), --synth ecp5 also places and routes the engine: the clock it
    reaches goes into the manifest, and the gate holds it against the profile's clock."""
    from edgeopt.deploy.synth import nextpnr

    require_tools(["yosys"] if shutil.which("yosys") is None else [], "yosys")
    if nextpnr() is None:
        pytest.skip("nextpnr-ecp5 is an optional extra (pip install edgeopt[ecp5])")
    out = tmp_path / "fpga"
    result = CliRunner().invoke(main, ["export", str(qdq_models["mlp"][0]), "-p", "sequencer-fpga", "--format",
                                       "verilog", "-o", str(out), "--synth", "ecp5", "--json"])
    assert result.exit_code == 0, result.output
    fabric = json.loads(result.output)["fabric"]
    assert fabric["family"] == "ecp5" and 10e6 < fabric["fmax_hz"] < 1e9 and "LFE5U" in fabric["place_route"]
    profile = _fpga_profile(tmp_path, "ecp5", max_luts=100000)
    gate = CliRunner().invoke(main, ["check", str(out), "-p", profile, "--max-params", "1M", "--json"])
    items = {i["name"]: i for i in json.loads(gate.output)["items"]}
    assert items["clock_hz"]["actual"] == fabric["fmax_hz"] and items["clock_hz"]["passed"] is False  # < 250 MHz


def test_a_run_exports_its_best_quantized_member(qdq_models, tmp_path):
    """A member whose pipeline stopped before quantizing kept a float model no device runs: a run folder's export
    takes the best quantized member instead, and says so; with none quantized, one error saying what to do."""
    import shutil as copy

    from edgeopt.errors import EdgeoptError
    from edgeopt.workflow.export import _best_quantized
    from edgeopt.workflow.search_compress import CompressedMember, FrontSummary

    def member(trial, onnx, f1):
        folder = tmp_path / f"trial-{trial}"
        folder.mkdir()
        copy.copyfile(onnx, folder / "model.onnx")
        return CompressedMember(trial=trial, before={}, after={"val": {"f1": f1}, "status": "stopped",
                                                               "reason": "quantize lost"}, output=str(folder))

    import torch

    float_onnx = tmp_path / "float.onnx"
    torch.onnx.export(torch.nn.Linear(4, 2), (torch.zeros(1, 4),), str(float_onnx), dynamo=False)
    said = []
    front = FrontSummary(pipeline="p", metric="f1", profiles={"sequencer-fpga": (
        member(1, float_onnx, 0.9), member(2, qdq_models["mlp"][0], 0.8))})
    assert _best_quantized(front, "sequencer-fpga", said.append).endswith("trial-2")
    assert "trial 1 scores best but its pipeline kept a float model" in said[0]
    only_float = FrontSummary(pipeline="p", metric="f1", profiles={"sequencer-fpga": (member(3, float_onnx, 0.9),)})
    with pytest.raises(EdgeoptError, match="no compressed model for sequencer-fpga is quantized"):
        _best_quantized(only_float, "sequencer-fpga", None)
