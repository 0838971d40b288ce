"""Fault injection: a search killed (SIGKILL) at random moments and resumed from other folders loses nothing
completed, retrains nothing completed, and reports every metric from the weights that earned it."""

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import torch

from edgeopt.data import Normalizer, example_dataset
from edgeopt.report.search_report import build_report
from edgeopt.search.store import open_store
from edgeopt.search.store import TrialState
from edgeopt.train.loop import DeviceData, TrialSpec, evaluate, load_trained

ROOT = Path(__file__).resolve().parents[2]


def _start(args, cwd):
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    return subprocess.Popen([sys.executable, "-m", "edgeopt.cli", *args], cwd=cwd, env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)


def _finished(run_dir):
    """Completed and stopped trials with their rung records, read while the search may still run."""
    if not (run_dir / "study.db").is_file():
        return {}
    try:
        store = open_store(run_dir)
    except Exception:  # the first process died before it recorded its settings
        return {}
    return {t.number: t.rungs for t in store.trials() if t.state in (TrialState.COMPLETED, TrialState.STOPPED)}


def _recorded(run_dir) -> bool:
    """Whether the search got as far as recording its settings (else the first command starts it again)."""
    try:
        return bool(open_store(run_dir).settings)
    except Exception:
        return False


def test_sigkill_at_random_moments_then_resume_from_other_folders(tmp_path, tiny_space):
    rng = np.random.default_rng(7)
    run_dir = tmp_path / "runs" / "faults"
    first = ["search", "-p", "sequencer-fpga", "--space", tiny_space, "--trials", "8", "--runs-dir",
             str(tmp_path / "runs"), "--name", "faults", "--no-report"]
    resume = ["search", "--resume", str(run_dir), "--trials", "8", "--no-report"]
    seen: dict[int, tuple] = {}
    for cycle in range(4):
        cwd = tmp_path / f"cwd{cycle}"
        cwd.mkdir()
        process = _start(resume if _recorded(run_dir) else first, cwd)
        deadline = time.monotonic() + 120
        while not (run_dir / "study.db").is_file() and time.monotonic() < deadline and process.poll() is None:
            time.sleep(0.1)  # past the imports and the data: the search has begun
        time.sleep(float(rng.uniform(0.5, 3.0)))  # somewhere in the trials
        before_kill = _finished(run_dir)
        process.send_signal(signal.SIGKILL)
        process.wait()
        seen |= before_kill
    final = _start(resume if _recorded(run_dir) else first, tmp_path)
    _, err = final.communicate(timeout=300)
    assert final.returncode == 0, err.decode()
    for cwd in (tmp_path / f"cwd{c}" for c in range(4)):
        assert not (cwd / "runs").exists()  # nothing written relative to the folder a process ran in

    store = open_store(run_dir)
    trials = store.trials()
    assert not [t for t in trials if t.state is TrialState.FAILED]
    assert sum(t.state is not TrialState.INFEASIBLE for t in trials) == 8
    for number, rungs in seen.items():  # completed before a kill: still there, never trained again
        assert store.trial(number).rungs == rungs
    dataset = example_dataset("reads")
    for t in trials:
        if t.state not in (TrialState.COMPLETED, TrialState.STOPPED):
            continue
        path = store.checkpoint_path(t)
        assert torch.load(path, weights_only=True)["epoch"] == t.last.epochs  # the weights of the last rung
        spec = TrialSpec(t.number, store.settings["space"], t.config, dataset.sample_shape, dataset.num_classes, 0,
                         str(path), study=store.uid)
        data = DeviceData(dataset, Normalizer.from_dict(t.normalizer))
        metrics = evaluate(load_trained(spec), data.x_eval, data.y_eval)
        assert metrics.loss == pytest.approx(t.last.metrics["loss"], abs=1e-5)
    report = build_report(store)  # from yet another folder than any search ran in
    assert report.profiles[0].verdict and all(row.test_f1 is not None for row in report.profiles[0].front)
