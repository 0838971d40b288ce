"""The fabric model: every memory goes into whole block RAM banks by one rule (so the cost model counts the block
RAMs the export's engine takes), and the estimate of an FPGA profile carries the engine's cells, gated against the
profile's fabric budgets."""

from __future__ import annotations

import math

import pytest
from hypothesis import given, strategies as st

from edgeopt.calibration.board_micro import board_micro_onnx, board_suite
from edgeopt.cost.engine import estimate_engine
from edgeopt.cost.estimate import estimate
from edgeopt.cost.fabric import BANK_SHAPES, BLOCK_MIN_BITS, DEFAULT_LUTS, fabric_model, plan_memory
from edgeopt import check
from edgeopt.figures import CALIBRATED, ESTIMATED
from edgeopt.graph.build import build_graph
from edgeopt.profiles.loader import load_profile


@given(st.integers(1, 40000), st.integers(1, 600))
def test_a_memory_is_whole_banks_of_one_block_each_or_logic(depth, width):
    plan = plan_memory(depth, width)
    if depth * width < BLOCK_MIN_BITS:
        assert not plan.block and plan.blocks() == 0 and plan.logic_bits == depth * width
        return
    assert plan.block and plan.logic_bits == 0
    assert any(plan.bank_depth <= d and plan.bank_width <= w for d, w in BANK_SHAPES)
    assert plan.rows * plan.bank_depth >= depth and plan.columns * plan.bank_width >= width
    assert (plan.rows - 1) * plan.bank_depth < depth and (plan.columns - 1) * plan.bank_width < width
    assert plan.bank_depth & (plan.bank_depth - 1) == 0  # a bank is chosen by the address's high bits
    fewest = min(math.ceil(depth / d) * math.ceil(width / w) for d, w in BANK_SHAPES)
    assert plan.blocks("xc7") == fewest >= math.ceil(depth * width / (512 * 36))
    assert plan.blocks("ice40") >= plan.blocks("xc7")  # 4 Kb blocks


@pytest.fixture(scope="module")
def separable(tmp_path_factory):
    micro = next(m for m in board_suite() if m.name == "separable_32_k3")
    return board_micro_onnx(micro, load_profile("sequencer-fpga"), tmp_path_factory.mktemp("micro"))[0]


def test_an_fpga_estimate_carries_the_engines_cells(separable):
    est = estimate(separable, "sequencer-fpga")
    fabric = est.fabric
    assert fabric is not None and fabric.family == "xc7" and fabric.lanes == est.engine.lanes
    assert fabric.dsps == est.engine.dsps and fabric.brams >= 1 and fabric.luts > 500 and fabric.ffs > 200
    assert fabric.luts_from.source == ESTIMATED
    figures = est.figures()
    assert figures.value("luts") == fabric.luts and figures.value("clock_cycles") == est.engine.clocks
    assert figures.to_dict()["provenance"]["luts"]["source"] == ESTIMATED
    assert est.to_dict()["fabric"]["brams"] == fabric.brams
    assert estimate(separable, "stm32f746").fabric is None  # no fabric, no engine
    graph, profile = build_graph(separable), load_profile("sequencer-fpga")
    assert estimate_engine(graph, profile, 64).lanes == 16  # no wider than its widest block: 16 channels
    for lanes in (0, 65):
        with pytest.raises(ValueError, match="outside 1 .. 64"):
            estimate_engine(graph, profile, lanes)


def test_the_fabric_budgets_are_gated(separable, tmp_path):
    roomy = tmp_path / "roomy.yaml"
    roomy.write_text("name: roomy\nextends: sequencer-fpga\nbudgets:\n  max_latency: 10s\n  max_params: 1M\n")
    est = estimate(separable, roomy)
    assert est.fits
    tight = tmp_path / "tight.yaml"
    tight.write_text("name: tight\nextends: roomy.yaml\n"
                     f"fabric:\n  max_luts: {est.fabric.luts - 1:.0f}\n  max_brams: {est.fabric.brams - 1}\n")
    broken = {v.what: v for v in estimate(separable, tight).violations}
    assert set(broken) == {"max_luts", "max_brams"}
    assert "LUTs of the engine (estimated)" in broken["max_luts"].message


def test_a_calibrated_profile_gives_its_coefficients_with_the_fit_error(tmp_path):
    calibrated = tmp_path / "fitted.yaml"
    terms = "".join(f"    {term}: {{value: {value or 1}, source: measured}}\n" for term, value in DEFAULT_LUTS.items())
    calibrated.write_text(
        "name: fitted\nextends: sequencer-fpga\nfabric:\n  luts:\n" + terms + "  ffs:\n" + terms +
        '  fit: {tool: "Yosys 0.23", machine: "here", date: "2026-12-07", samples: 40, luts_fit_error: 0.061, '
        "ffs_fit_error: 0.04, luts_within_10pct: 0.9, ffs_within_10pct: 0.95}\n")
    model = fabric_model(load_profile(calibrated))
    assert model.luts_from.source == CALIBRATED and model.luts_from.fit_error == 0.061
    assert model.ffs_from.fit_error == 0.04 and model.luts["base"] == (DEFAULT_LUTS["base"] or 1)
    assert fabric_model(load_profile("sequencer-fpga")).luts_from.source == ESTIMATED
    micro = next(m for m in board_suite() if m.name == "mlp_32x16")
    model = board_micro_onnx(micro, load_profile("sequencer-fpga"), tmp_path)[0]
    items = {item.name: item for item in check(model, calibrated).items}
    assert items["max_luts"].source == CALIBRATED and items["max_ffs"].source == CALIBRATED
    assert items["max_dsps"].source == ESTIMATED  # counted


def test_an_op_the_engine_lacks_does_not_fit_a_profile_with_a_fabric():
    """A profile with a fabric runs its models on the Verilog engine: an op the engine lacks (a residual add here)
    breaks the estimate even where the profile lists it; the shipped FPGA profile lists only the engine's ops."""
    import dataclasses

    import torch
    from torch import nn

    from edgeopt.cost.engine import ENGINE_OPS
    from edgeopt.graph.ops import Op

    class Residual(nn.Module):
        def __init__(self):
            super().__init__()
            self.conv = nn.Conv1d(4, 4, 3, padding=1)
            self.head = nn.Linear(4 * 16, 2)

        def forward(self, x):
            return self.head(torch.flatten(x + torch.relu(self.conv(x)), 1))

    fpga = load_profile("sequencer-fpga")
    assert fpga.ops <= ENGINE_OPS
    claims_add = dataclasses.replace(fpga, ops=fpga.ops | {Op.ADD})
    est = estimate(Residual(), claims_add, (1, 4, 16))
    engine = [v for v in est.violations if v.limit == "ops of the Verilog engine"]
    assert not est.fits and [v.actual for v in engine] == ["add"]
    assert "the Verilog engine for sequencer-fpga does not run op 'add'" in engine[0].message
    plain = estimate(nn.Sequential(nn.Conv1d(4, 4, 3), nn.ReLU(), nn.Flatten(), nn.Linear(56, 2)), claims_add,
                     (1, 4, 16))
    assert not [v for v in plain.violations if v.what == "op"]
