"""The writer's storage: whatever sequence of writes it takes, what it reads back from memory is what the database
holds (read by a fresh connection), and what the sampler asks for never costs a read of the database."""

from __future__ import annotations

import optuna
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from optuna.trial import TrialState

from edgeopt.search.owned_storage import OwnedStorage

WRITE = st.one_of(
    st.tuples(st.just("user"), st.sampled_from(["a", "b", "edgeopt.rung.0"]),
              st.one_of(st.integers(-5, 5), st.text(max_size=3), st.lists(st.integers(0, 3), max_size=3),
                        st.dictionaries(st.sampled_from("xy"), st.floats(0, 1), max_size=2))),
    st.tuples(st.just("system"), st.sampled_from(["constraints", "c"]), st.lists(st.floats(-1, 1), max_size=2)),
    st.tuples(st.just("intermediate"), st.integers(0, 3), st.floats(-1, 1)),
    st.tuples(st.just("finish"), st.sampled_from(["complete", "fail"]), st.floats(0, 1)),
)


def _frozen_view(trial) -> tuple:
    return (trial.number, trial.state, trial.values, trial.params, trial.distributions, trial.user_attrs,
            trial.system_attrs, trial.intermediate_values, trial.datetime_complete is None)


@settings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(plan=st.lists(st.tuples(st.integers(0, 3), WRITE), max_size=25), new=st.integers(1, 4))
def test_memory_matches_the_database(tmp_path_factory, plan, new):
    url = f"sqlite:///{tmp_path_factory.mktemp('owned') / 'study.db'}"
    owned = OwnedStorage(optuna.storages.RDBStorage(url))
    study = optuna.create_study(storage=owned, study_name="s", directions=["minimize", "minimize"])
    for _ in range(new):
        trial = optuna.trial.Trial(study, owned.create_new_trial(study._study_id))
        trial.suggest_float("lr", 1e-3, 1e-1, log=True)
        trial.suggest_int("width", 1, 8)
    for number, (kind, key, value) in plan:
        if number >= new:
            continue
        trial_id = owned.get_trial_id_from_study_id_trial_number(study._study_id, number)
        if owned.get_trial(trial_id).state.is_finished():
            with pytest.raises(RuntimeError):  # Optuna's own rule, kept: a finished trial is not written
                owned.set_trial_user_attr(trial_id, "late", 1)
            continue
        if kind == "user":
            owned.set_trial_user_attr(trial_id, key, value)
        elif kind == "system":
            owned.set_trial_system_attr(trial_id, key, value)
        elif kind == "intermediate":
            owned.set_trial_intermediate_value(trial_id, key, value)
        elif key == "complete":
            owned.set_trial_state_values(trial_id, TrialState.COMPLETE, [value, 1.0 - value])
        else:
            owned.set_trial_state_values(trial_id, TrialState.FAIL)
    fresh = optuna.storages.RDBStorage(url)
    expected = [_frozen_view(t) for t in fresh.get_all_trials(study._study_id)]
    assert [_frozen_view(t) for t in owned.get_all_trials(study._study_id)] == expected
    assert owned.get_n_trials(study._study_id) == new


def test_asking_reads_nothing_back(tmp_path, monkeypatch):
    """The point of the class: once the study is read, the sampler's reads never read the study back."""
    owned = OwnedStorage(optuna.storages.RDBStorage(f"sqlite:///{tmp_path / 'study.db'}"))
    study = optuna.create_study(storage=owned, study_name="s", sampler=optuna.samplers.TPESampler(seed=0,
                                                                                                   n_startup_trials=2))
    for _ in range(6):  # a mix of finished and still running (paused) trials
        trial = study.ask()
        x = trial.suggest_float("x", 0, 1)
        if trial.number % 2:
            study.tell(trial, x)

    read = []
    monkeypatch.setattr(owned.backend, "get_all_trials", lambda *a, **k: pytest.fail("read every trial back"))
    monkeypatch.setattr(owned.backend, "get_trial", lambda trial_id, get=owned.backend.get_trial: (
        read.append(trial_id), get(trial_id))[1])
    for _ in range(3):
        trial = study.ask()
        trial.suggest_float("x", 0, 1)
        study.tell(trial, 0.5)
        assert owned.get_trial(trial._trial_id).params.keys() == {"x"}
    # the only reads: each new trial once as it is made, and once as it is told (the database's timestamps)
    assert len(read) == 6 and len(set(read)) == 3


def test_other_studies_and_unknown_trials(tmp_path):
    url = f"sqlite:///{tmp_path / 'study.db'}"
    backend = optuna.storages.RDBStorage(url)
    first = optuna.create_study(storage=backend, study_name="first")
    first.tell(first.ask(), 1.0)
    owned = OwnedStorage(optuna.storages.RDBStorage(url))
    trial_id = backend.get_trial_id_from_study_id_trial_number(first._study_id, 0)
    assert owned.get_trial(trial_id).values == [1.0]  # a study not read yet is read when one of its trials is asked
    with pytest.raises(KeyError):
        owned.get_trial(trial_id + 100)
    with pytest.raises(KeyError):
        owned.get_trial_id_from_study_id_trial_number(first._study_id, 7)
