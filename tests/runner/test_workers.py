"""Worker processes: trials spread over slots, packs fused, workers killed with SIGKILL replaced and their trials
retried, a pack that runs out of memory split, the store the one source of truth throughout."""

from __future__ import annotations

import dataclasses
import multiprocessing
import os
import signal

import pytest

from edgeopt.runner.coordinator import run_search
from edgeopt.search.settings import SearchSettings
from edgeopt.search.store import TrialState

DONE = (TrialState.COMPLETED, TrialState.STOPPED)


def settings(tmp_path, space, **changes):
    base = SearchSettings(name="w", space=space, profiles=("sequencer-fpga",), data="reads", trials=8,
                          runs_dir=str(tmp_path / "runs"), workers=2)
    return dataclasses.replace(base, **changes)


def _dispatched(event: str) -> tuple[int, list[int]] | None:
    """(slot, trials) of a 'slot S: rung R, trials a, b' event."""
    if not event.startswith("slot ") or ", trials " not in event:
        return None
    slot = int(event.split(":")[0].split()[1])
    return slot, [int(t) for t in event.split(", trials ")[1].split(", ")]


def test_two_workers_share_the_trials_and_every_trial_finishes(tmp_path, tiny_space):
    seen = []
    store = run_search(settings(tmp_path, tiny_space), lambda p: seen.append(p))
    trials = [t for t in store.trials() if t.state is not TrialState.INFEASIBLE]
    assert len(trials) == 8 and all(t.state in DONE for t in trials)
    used = {d[0] for d in (_dispatched(p.event) for p in seen) if d}
    assert used == {0, 1}
    assert any(len(p.slots) == 2 and all(s.trials for s in p.slots) for p in seen)  # both busy at once
    assert seen[-1].rungs_per_min > 0 and seen[-1].slots[0].device == "cpu"
    assert not multiprocessing.active_children()  # the workers are gone


def test_a_pack_trains_several_trials_in_one_worker(tmp_path, tiny_mlp_space):
    seen = []
    store = run_search(settings(tmp_path, tiny_mlp_space, workers=1, trials=12, pack=8), lambda p: seen.append(p))
    packs = [d[1] for d in (_dispatched(p.event) for p in seen) if d]
    assert max(len(p) for p in packs) > 1
    assert all(t.state in DONE for t in store.trials() if t.state is not TrialState.INFEASIBLE)


def test_workers_killed_mid_rung_are_replaced_and_their_trials_retried(tmp_path, tiny_space):
    """SIGKILL to every worker the first time each slot gets work: the search still trains every trial, none is
    recorded as failed, and each trial's results are those of complete rungs."""
    killed = set()
    events = []

    def kill_on_dispatch(progress):
        events.append(progress.event)
        dispatched = _dispatched(progress.event)
        if dispatched and dispatched[0] not in killed:
            killed.add(dispatched[0])
            for child in multiprocessing.active_children():
                if child.name == f"edgeopt-worker-{dispatched[0]}":
                    os.kill(child.pid, signal.SIGKILL)

    store = run_search(settings(tmp_path, tiny_space), kill_on_dispatch)
    assert killed == {0, 1} and any("retrying" in e for e in events)
    trials = [t for t in store.trials() if t.state is not TrialState.INFEASIBLE]
    assert len(trials) == 8 and all(t.state in DONE for t in trials)
    assert all(t.rungs and [r.rung for r in t.rungs] == list(range(len(t.rungs))) for t in trials)


def test_a_trial_that_kills_its_worker_every_time_fails_after_its_retries(tmp_path, tiny_space):
    def kill_trial_zero(progress):
        dispatched = _dispatched(progress.event)
        if dispatched and 0 in dispatched[1]:
            for child in multiprocessing.active_children():
                if child.name == f"edgeopt-worker-{dispatched[0]}":
                    os.kill(child.pid, signal.SIGKILL)

    store = run_search(settings(tmp_path, tiny_space, retries=2), kill_trial_zero)
    zero = store.trial(0)
    assert zero.state is TrialState.FAILED and "died (signal 9)" in zero.error and "tried 3 times" in zero.error
    others = [t for t in store.trials() if t.number != 0 and t.state is not TrialState.INFEASIBLE]
    assert len(others) == 7 and all(t.state in DONE for t in others)


def test_a_pack_out_of_memory_is_split_until_its_trials_fit(tmp_path, tiny_mlp_space, monkeypatch):
    import torch

    import edgeopt.runner.work as work

    real = work.train_pack
    sizes = []

    def small_gpu(specs, data, epochs):
        sizes.append(len(specs))
        if len(specs) > 4:
            raise torch.cuda.OutOfMemoryError("CUDA out of memory. Tried to allocate 2.00 GiB (simulated)")
        return real(specs, data, epochs)

    monkeypatch.setattr(work, "train_pack", small_gpu)
    events = []
    store = run_search(settings(tmp_path, tiny_mlp_space, workers=1, trials=12, pack=8),
                       lambda p: events.append(p.event))
    assert sizes[0] > 4 and all(size <= sizes[0] // 2 for size in sizes[1:])  # halved (small packs train alone)
    assert any("CUDA out of memory" in e and "retrying" in e for e in events)
    assert all(t.state in DONE for t in store.trials() if t.state is not TrialState.INFEASIBLE)


@pytest.mark.gpu
def test_a_search_packs_trials_on_the_gpu(tmp_path, tiny_space):
    seen = []
    store = run_search(settings(tmp_path, tiny_space, workers=None, device="auto", trials=16),
                       lambda p: seen.append(p))
    assert all(s.device.startswith("cuda") for s in seen[-1].slots)
    assert all(t.state in DONE for t in store.trials() if t.state is not TrialState.INFEASIBLE)
