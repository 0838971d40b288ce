import dataclasses

import optuna
import pytest

from edgeopt.runner.coordinator import run_search
from edgeopt.search.settings import SearchSettings
from edgeopt.search.store import Store, StoreError, TrialState


def settings(tmp_path, space, profiles=("sequencer-fpga",), **changes):
    base = SearchSettings(name="t", space=space, profiles=tuple(profiles), data="reads", trials=6,
                          runs_dir=str(tmp_path / "runs"))
    return dataclasses.replace(base, **changes)


def test_infeasible_configs_are_recorded_and_never_trained(tmp_path, tiny_space, tight_profile):
    store = run_search(settings(tmp_path, tiny_space, (tight_profile,), trials=4))
    trials = store.trials()
    infeasible = [t for t in trials if t.state is TrialState.INFEASIBLE]
    trained = [t for t in trials if t.state is not TrialState.INFEASIBLE]
    assert infeasible, "the tight budget should rule some configs out"
    assert len(trained) == 4
    for t in infeasible:
        assert not t.rungs and t.checkpoint is None
        assert t.costs["fpga-tight"]["params"] > 35
        assert any("max_params" in v for v in t.costs["fpga-tight"]["violations"])
    for t in trained:
        assert t.costs["fpga-tight"]["fits"] and store.checkpoint_path(t).is_file()
        assert t.checkpoint == f"trials/{t.number:05d}/checkpoint.pt"  # relative to the run folder
    frozen = {f.number: f for f in store.study.get_trials(deepcopy=False)}
    for t in infeasible:
        assert frozen[t.number].system_attrs["constraints:hardware"] > 0
    assert all(t.state in (TrialState.COMPLETED, TrialState.STOPPED) for t in trained)
    assert any(t.state is TrialState.COMPLETED and t.last.epochs == 3 for t in trained)


def test_asha_stops_most_trials_early(tmp_path, tiny_space):
    store = run_search(settings(tmp_path, tiny_space, trials=6))
    epochs = sorted(t.last.epochs for t in store.trials())
    assert epochs.count(1) >= 3 and epochs[-1] == 3
    no_asha = run_search(settings(tmp_path, tiny_space, trials=3, early_stopping=False, name="full"))
    assert all(t.last.epochs == 3 and len(t.rungs) == 1 for t in no_asha.trials())


def test_several_profiles_each_get_costs(tmp_path, tiny_space):
    store = run_search(settings(tmp_path, tiny_space, ("sequencer-fpga", "stm32f746"), trials=2))
    for t in store.trials():
        assert set(t.costs) == {"sequencer-fpga", "stm32f746"}
        assert t.costs["stm32f746"]["latency_s"] != t.costs["sequencer-fpga"]["latency_s"]


def test_interrupted_search_resumes_without_losing_or_retraining(tmp_path, tiny_space):
    events = []

    def interrupt_late(progress):
        events.append(progress.event)
        if sum("rung" in e for e in events) == 6:
            raise KeyboardInterrupt

    s = settings(tmp_path, tiny_space, trials=6)
    with pytest.raises(KeyboardInterrupt):
        run_search(s, interrupt_late)
    before = {t.number: t for t in Store(s.storage_url, s.name).trials()}
    finished_before = {n: t.rungs for n, t in before.items() if t.rungs}
    assert finished_before
    store = run_search(s)
    after = {t.number: t for t in store.trials()}
    for number, rungs in finished_before.items():
        assert after[number].rungs[:len(rungs)] == rungs  # no result lost or recomputed
    assert sum(t.state is not TrialState.INFEASIBLE for t in after.values()) == 6
    assert all(t.state in (TrialState.COMPLETED, TrialState.STOPPED) for t in after.values())
    assert len({t.number for t in after.values()}) == len(after)


def test_a_trial_interrupted_in_a_promoted_rung_trains_that_rung_on_resume(tmp_path, tiny_space):
    def interrupt_first_promotion(progress):
        if ": rung 1, trials" in progress.event:  # a pack of promoted trials was just handed to a slot
            raise KeyboardInterrupt

    s = settings(tmp_path, tiny_space, trials=6)
    with pytest.raises(KeyboardInterrupt):
        run_search(s, interrupt_first_promotion)
    stuck = [t for t in Store(s.storage_url, s.name).trials() if t.state is TrialState.RUNNING]
    assert stuck and all(t.promoted == (0,) and len(t.rungs) == 1 for t in stuck)
    after = {t.number: t for t in run_search(s).trials()}
    for trial in stuck:
        resumed = after[trial.number]
        assert [r.rung for r in resumed.rungs][:2] == [0, 1] and resumed.rungs[0] == trial.rungs[0]
        assert resumed.state in (TrialState.COMPLETED, TrialState.STOPPED)


def test_failed_trials_are_recorded_and_the_search_goes_on(tmp_path, tiny_space, monkeypatch):
    import edgeopt.runner.work as work

    real = work.train_trial

    def flaky(spec, data, epochs):
        if spec.number % 2:
            raise RuntimeError("a bug in the model (simulated)")
        return real(spec, data, epochs)

    monkeypatch.setattr(work, "train_trial", flaky)
    store = run_search(settings(tmp_path, tiny_space, trials=4))
    trials = store.trials()
    failed = [t for t in trials if t.state is TrialState.FAILED]
    assert [t.number for t in failed] == [1, 3]
    assert all(t.error == "RuntimeError: a bug in the model (simulated)" for t in failed)
    assert all(t.state in (TrialState.COMPLETED, TrialState.STOPPED) for t in trials if t.number % 2 == 0)
    states = {f.number: f.state for f in store.study.get_trials(deepcopy=False)}
    assert states[1] is states[3] is optuna.trial.TrialState.FAIL


def test_resuming_with_other_settings_is_refused(tmp_path, tiny_space):
    s = settings(tmp_path, tiny_space, trials=1)
    run_search(s)
    with pytest.raises(StoreError, match="different settings .*metric: was 'f1', now 'recall'"):
        run_search(dataclasses.replace(s, metric="recall"))
    grown = run_search(dataclasses.replace(s, trials=2))  # budgets may change
    assert sum(t.state is not TrialState.INFEASIBLE for t in grown.trials()) == 2


def test_time_budget_ends_the_search(tmp_path, tiny_space):
    store = run_search(settings(tmp_path, tiny_space, trials=None, time_s=3.0, workers=2, pack=4))
    trials = store.trials()
    assert trials and all(t.state is not TrialState.RUNNING for t in trials)
    # a trial with a result is closed (promoted ones no slot took in time included); only trials asked just
    # before the end, never trained, stay queued for a resume
    assert all(t.state is not TrialState.QUEUED for t in trials if t.rungs)
    assert all(not t.rungs for t in trials if t.state is TrialState.QUEUED)


def test_an_unknown_or_absent_device_is_refused_before_anything_is_written(tmp_path, tiny_space):
    from edgeopt.errors import EdgeoptError

    for device, fragment in (("tpu", "choose from auto, cpu, cuda, cuda:N"), ("cuda:x", "choose from"),
                             ("cuda:99", "'cuda:99'")):
        with pytest.raises(EdgeoptError, match=fragment):
            run_search(settings(tmp_path, tiny_space, device=device))
    assert not (tmp_path / "runs").exists()


@pytest.mark.gpu
def test_a_search_trains_on_the_gpu_by_default_and_its_models_run_on_the_cpu(tmp_path, tiny_space):
    import torch

    from edgeopt.data import Normalizer, example_dataset
    from edgeopt.report.search_report import build_report
    from edgeopt.search.store import open_store
    from edgeopt.search.settings import resolve_device
    from edgeopt.train.loop import DeviceData, TrialSpec, evaluate, load_trained

    assert resolve_device(None) == resolve_device("auto") == "cuda" and resolve_device("cuda:0") == "cuda:0"
    s = settings(tmp_path, tiny_space, trials=4)
    store = run_search(s)
    trained = [t for t in store.trials() if t.state is not TrialState.INFEASIBLE]
    assert len(trained) == 4 and all(t.state in (TrialState.COMPLETED, TrialState.STOPPED) for t in trained)
    dataset = example_dataset("reads")
    cpu_data = DeviceData(dataset, Normalizer.from_dict(trained[0].normalizer), "cpu")
    for t in trained:  # each checkpoint was trained on the GPU and, loaded on the CPU, is the model it evaluated
        path = store.checkpoint_path(t)
        assert all(v.is_cuda for v in torch.load(path, weights_only=True)["model"].values())
        spec = TrialSpec(t.number, store.settings["space"], t.config, dataset.sample_shape, dataset.num_classes,
                         0, str(path), study=store.uid)
        metrics = evaluate(load_trained(spec), cpu_data.x_eval, cpu_data.y_eval)
        assert metrics.loss == pytest.approx(t.last.metrics["loss"], abs=1e-4)
    report = build_report(open_store(s.run_dir))
    assert sum(len(rows) for rows in report.trials.values()) >= 4


def test_each_trial_trains_and_is_stored_with_the_normalisation_its_config_chose(tmp_path, tiny_space):
    """`normalization: [channel, series]` is a search choice: trials of both kinds train in one search (in packs of
    one kind), each stored with its own normalizer, which its checkpoint carries to compression and export."""
    from edgeopt.models.source import load_source

    space = tmp_path / "norm.yaml"
    tiny = open(tiny_space).read()
    extra = "  normalization: [channel, series]\n  global_pool: [max, avgmax]\n  dilation: [1, 2]\n"
    space.write_text(tiny.replace("  pooling: [max, avg]\n", "  pooling: [max, avg]\n" + extra))
    store = run_search(settings(tmp_path, str(space), trials=8, workers=2, seed=3))
    trials = [t for t in store.trials() if t.rungs]
    kinds = {t.config["normalization"] for t in trials}
    assert kinds == {"channel", "series"}, kinds
    for t in trials:
        assert t.normalizer["per_series"] == (t.config["normalization"] == "series")
        source = load_source(store.checkpoint_path(t))
        assert source.normalizer.per_series == t.normalizer["per_series"]
        assert t.last.metrics["accuracy"] > 0
