"""SearchSettings round-trips through the store; SearchRun loads what a run names once, from wherever it is now."""

from __future__ import annotations

import dataclasses
import shutil

import pytest

from edgeopt.errors import EdgeoptError
from edgeopt.runner.coordinator import run_search
from edgeopt.search.run_record import SearchRun
from edgeopt.search.settings import IDENTITY, SearchSettings


def test_a_run_reopens_with_the_settings_it_was_started_with_from_a_moved_folder(tmp_path, tiny_space):
    settings = SearchSettings(name="first", space=tiny_space, profiles=("sequencer-fpga", "stm32f746"),
                              data="reads", trials=2, runs_dir=str(tmp_path / "runs"), eta=4, metric="recall",
                              seed=3, positive_class=1)
    run_search(settings)
    moved = tmp_path / "elsewhere" / "renamed"
    moved.parent.mkdir()
    shutil.move(str(settings.run_dir), moved)
    run = SearchRun.open(moved, workers=2)
    for name in IDENTITY:
        assert getattr(run.settings, name) == getattr(settings, name), name
    assert run.settings.name == "renamed" and run.settings.run_dir == moved and run.settings.workers == 2
    assert run.space.to_json() == settings.identity(run.space.to_json())["space"]
    assert [p.name for p in run.profiles] == ["sequencer-fpga", "stm32f746"]
    assert run.dataset.sample_shape == (1, 256) and run.store is not None and len(run.store.trials()) >= 2
    resumed = run_search(dataclasses.replace(run.settings, trials=3))  # the stored identity is accepted as is
    assert sum(t.state.value != "infeasible" for t in resumed.trials()) == 3


def test_opening_a_folder_without_a_search_is_one_error(tmp_path):
    with pytest.raises(EdgeoptError, match="no search here"):
        SearchRun.open(tmp_path)
    assert list(tmp_path.iterdir()) == []
