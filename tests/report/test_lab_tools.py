"""The lab's own tools beside every report: fitted and scored as the search selects, sized on the device, and the
verdict's comparison with the best of them."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
from click.testing import CliRunner

from edgeopt.cli import main
from edgeopt.data.dataset import Dataset
from edgeopt.figures import CostFigures
from edgeopt.profiles.loader import load_profile
from edgeopt.report.lab_tools import fit_lab_tools, fitted_tree, tree_ladder
from edgeopt.report.search_report import TrialRow, versus
from edgeopt.report.tool_names import LAB_TOOLS, BaselineError, parse_baselines
from edgeopt.train.cv import Selection

FPGA = load_profile("sequencer-fpga")


def _tabular(n: int = 240, seed: int = 0) -> Dataset:
    """Three classes a threshold on two of eight features separates (a tree's home ground), with label noise."""
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(n, 8)).astype(np.float32)
    y = (x[:, 0] > 0).astype(np.int64) + (x[:, 3] > 0.5)
    noisy = rng.random(n) < 0.05
    y[noisy] = rng.integers(0, 3, size=int(noisy.sum()))
    a, b = n // 2, 3 * n // 4
    return Dataset("tab", x[:a], y[:a], x[a:b], y[a:b], x[b:], y[b:], 3)


@pytest.mark.parametrize("selection", [Selection("holdout"), Selection("cv", 3)])
def test_each_tool_is_fitted_scored_and_shaped(selection):
    data = _tabular()
    tools = {t.name: t for t in fit_lab_tools(data, LAB_TOOLS, selection=selection, seed=1)}
    assert list(tools) == list(LAB_TOOLS)
    for tool in tools.values():
        assert 0.0 <= tool.val.get("accuracy") <= 1.0 and tool.test is not None and tool.seconds >= 0
    assert tools["tree"].val.get("accuracy") > 0.75 and tools["forest"].val.get("accuracy") > 0.75
    assert tools["logistic"].module is not None and tools["logistic"].ensemble is None
    forest, tree, boosting = tools["forest"].ensemble, tools["tree"].ensemble, tools["boosting"].ensemble
    assert forest.trees == 200 and forest.nodes > tree.nodes and tree.trees == 1
    assert boosting.leaf_kind == "score" and boosting.trees == 100 * 3  # one regression tree a class a stage
    assert 0 < tree.path_nodes <= tree.internal_nodes


def test_the_sized_tree_is_the_best_that_fits_each_profile():
    data = _tabular(seed=2)
    tiny = dataclasses.replace(FPGA, name="tiny", budgets=dataclasses.replace(FPGA.budgets, max_params=7))
    ladder = tree_ladder(data, [FPGA, tiny])
    assert [t.leaves for t in ladder][:3] == [2, 4, 8]
    sized = fitted_tree(ladder, FPGA, "f1")
    small = fitted_tree(ladder, tiny, "f1")
    assert sized is not None and small is not None and small.ensemble.nodes <= 7
    assert sized.val.get("f1") >= small.val.get("f1") and "fit tiny" in small.fitted
    none = dataclasses.replace(FPGA, name="none", budgets=dataclasses.replace(FPGA.budgets, max_params=2))
    assert fitted_tree(ladder, none, "f1") is None  # not even a stump (1 threshold, 2 leaves)


def test_the_verdict_states_error_and_size_against_a_tool():
    def row(f1, test_f1, weight_bytes, fits=True, tool=None):
        metrics = {"precision": f1, "recall": f1, "f1": f1, "accuracy": f1}
        return TrialRow(-2 if tool else 7, "completed", 9, metrics, dict(metrics, f1=test_f1),
                        CostFigures(10, float(weight_bytes), 0, 1.0, 1e-6, 1e-9, fits), tool=tool)

    text = versus(row(0.95, 0.9, 700), row(0.9, 0.8, 1000, fits=False, tool="forest"), "f1")
    assert text.startswith("error -50% vs random forest (f1 0.900 on validation; on test -50%), 0.7x its weight")
    assert text.endswith("the tool does not fit the device")
    assert versus(row(0.9, 0.8, 10), row(0.9, 0.8, 10, tool="tree"), "f1").startswith("error same vs decision tree")


@pytest.mark.parametrize("text, expected", [("all", LAB_TOOLS), ("none", ()), ("forest, Tree", ("tree", "forest")),
                                            ("logistic,logistic", ("logistic",))])
def test_baselines_choices(text, expected):
    assert parse_baselines(text) == expected


@pytest.mark.parametrize("text", ["", "forrest", "tree,svm", ",", "all,tree", "none,tree"])
def test_unknown_baselines_are_one_clear_error(text, tmp_path):
    with pytest.raises(BaselineError, match="give all, none, or a comma-separated list of logistic, tree"):
        parse_baselines(text)
    result = CliRunner().invoke(main, ["search", "-p", "sequencer-fpga", "--trials", "1", "--baselines", text,
                                       "--runs-dir", str(tmp_path)])
    assert result.exit_code == 2 and "--baselines" in result.output and "Traceback" not in result.output
    assert not any(tmp_path.iterdir())  # refused before anything was written
