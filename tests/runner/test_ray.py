"""--backend ray: a real small search on a local Ray instance (CI installs the extra: this never skips there)."""

from __future__ import annotations

import pytest

from edgeopt.errors import EdgeoptError
from edgeopt.runner.coordinator import run_search
from edgeopt.search.settings import SearchSettings
from edgeopt.search.store import TrialState


def test_a_search_runs_on_ray_actors_and_leaves_ray_as_it_found_it(tmp_path, tiny_space, monkeypatch):
    import ray  # imported here, so a GPU run selecting `-m gpu` collects this file without the extra

    monkeypatch.setenv("RAY_AUTH_MODE", "disabled")  # else Ray writes a token under $HOME/.ray

    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False, configure_logging=False)
    try:
        seen = []
        settings = SearchSettings(name="ray", space=tiny_space, profiles=("sequencer-fpga",), data="reads",
                                  trials=6, runs_dir=str(tmp_path), backend="ray", workers=None)
        store = run_search(settings, lambda p: seen.append(p))
        trials = [t for t in store.trials() if t.state is not TrialState.INFEASIBLE]
        assert len(trials) == 6
        assert all(t.state in (TrialState.COMPLETED, TrialState.STOPPED) and t.rungs for t in trials)
        assert len(seen[-1].slots) == 2  # one actor per CPU Ray was given
        assert all((tmp_path / "ray" / t.checkpoint).is_file() for t in trials)
        assert ray.is_initialized()  # a Ray instance the caller started stays up
    finally:
        ray.shutdown()


def test_an_unreachable_cluster_is_one_clear_error(tmp_path, tiny_space, monkeypatch):
    import ray

    monkeypatch.setenv("RAY_AUTH_MODE", "disabled")

    settings = SearchSettings(name="ray", space=tiny_space, profiles=("sequencer-fpga",), data="reads", trials=2,
                              runs_dir=str(tmp_path), backend="ray", address="ray://127.0.0.1:9")
    with pytest.raises(EdgeoptError, match="--backend ray: cannot reach Ray at ray://127.0.0.1:9"):
        run_search(settings)
    assert not ray.is_initialized()
