"""A tree ensemble's cost on a device: storage as deployed arrays, a path's work, the budgets it breaks."""

from __future__ import annotations

import dataclasses

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from edgeopt.cost.trees import NODE_MACS, TreeEnsemble, tree_costs
from edgeopt.profiles.loader import load_profile

FPGA, MCU = load_profile("sequencer-fpga"), load_profile("stm32f746")


def test_a_small_tree_in_bytes_and_work():
    """3 internal nodes (int16 feature, child and child indices, a threshold on the input grid) and 4 class leaves."""
    tree = TreeEnsemble(trees=1, internal_nodes=3, leaves=4, features=30, classes=2, path_nodes=2.0)
    costs, broken = tree_costs(tree, MCU)
    assert costs.params == 7 and costs.weight_bytes == 3 * (6 + 1) + 4 * 1  # int8 input grid, 1-byte class leaves
    assert costs.macs == 2 * NODE_MACS and costs.fits and not broken
    assert costs.peak_activation_bytes == 30 + 2 * 4 and costs.latency_s > 0 and costs.energy_j > 0
    boosted = tree_costs(dataclasses.replace(tree, leaf_kind="score"), FPGA)[0]
    assert boosted.weight_bytes == 3 * (6 + 2) + 4 * 1  # the FPGA: int16 input grid (thresholds), int8 scores


@settings(max_examples=50, deadline=None)
@given(internal=st.integers(0, 5000), extra=st.integers(1, 5000), trees=st.integers(1, 300))
def test_more_nodes_never_cost_less_and_the_budget_decides_fits(internal, extra, trees):
    leaves = internal + trees
    small = TreeEnsemble(trees, internal, leaves, 64, 4, internal / 2)
    large = dataclasses.replace(small, internal_nodes=internal + extra, leaves=leaves + extra)
    a, _ = tree_costs(small, FPGA)
    b, broken = tree_costs(large, FPGA)
    assert b.params > a.params and b.weight_bytes > a.weight_bytes
    assert b.fits == (b.params <= 4000 and b.weight_bytes <= FPGA.weight_memory.usable_bytes and
                      b.latency_s <= FPGA.budgets.max_latency_s) == (not broken)
    assert all("(" in line and ">" in line for line in broken)


@pytest.mark.parametrize("changes", [{"trees": 0}, {"path_nodes": 99.0}, {"leaf_kind": "votes"}, {"leaves": 0}])
def test_shapes_no_tree_has_are_refused(changes):
    with pytest.raises(ValueError):
        dataclasses.replace(TreeEnsemble(1, 3, 4, 2, 2, 2.0), **changes)
