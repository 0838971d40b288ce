"""Optuna storage for the one process that writes a study: writes reach the database before each call returns; reads
come from memory.

Optuna's own cache re-reads every unfinished trial from the database on each read, since other processes may write
them. Under MO-ASHA most trials are paused, hence unfinished, and the sampler reads the study on every ask: a search's
coordinator spent 0.29 s a read at 400 trials, growing with the study (BENCHMARKS.md, "The runner"). edgeopt's
coordinator is the only writer of its study (the run folder's lock), so nothing can change under it and nothing needs
re-reading. Readers (the report, the dashboard) keep Optuna's storage and see every change.
"""

from __future__ import annotations

import copy
from collections.abc import Container, Sequence
from typing import Any

from optuna.distributions import BaseDistribution
from optuna.storages import BaseStorage
from optuna.study._frozen import FrozenStudy
from optuna.study._study_direction import StudyDirection
from optuna.trial import FrozenTrial, TrialState


class OwnedStorage(BaseStorage):
    """Write-through over `backend` (an RDBStorage); each study's trials are read from it once, then kept."""

    def __init__(self, backend: BaseStorage):
        self.backend = backend
        self._trials: dict[int, dict[int, FrozenTrial]] = {}  # study id -> number -> trial, numbers ascending
        self._where: dict[int, tuple[int, int]] = {}  # trial id -> (study id, number)
        self._directions: dict[int, list[StudyDirection]] = {}

    # -- studies: rare, passed through

    def create_new_study(self, directions: Sequence[StudyDirection], study_name: str | None = None) -> int:
        return self.backend.create_new_study(directions, study_name)

    def delete_study(self, study_id: int) -> None:
        self.backend.delete_study(study_id)
        for trial in self._trials.pop(study_id, {}).values():
            self._where.pop(trial._trial_id, None)

    def set_study_user_attr(self, study_id: int, key: str, value: Any) -> None:
        self.backend.set_study_user_attr(study_id, key, value)

    def set_study_system_attr(self, study_id: int, key: str, value: Any) -> None:
        self.backend.set_study_system_attr(study_id, key, value)

    def get_study_id_from_name(self, study_name: str) -> int:
        return self.backend.get_study_id_from_name(study_name)

    def get_study_name_from_id(self, study_id: int) -> str:
        return self.backend.get_study_name_from_id(study_id)

    def get_study_directions(self, study_id: int) -> list[StudyDirection]:
        if study_id not in self._directions:  # fixed when the study is made; the sampler asks on every draw
            self._directions[study_id] = self.backend.get_study_directions(study_id)
        return self._directions[study_id]

    def get_study_user_attrs(self, study_id: int) -> dict[str, Any]:
        return self.backend.get_study_user_attrs(study_id)

    def get_study_system_attrs(self, study_id: int) -> dict[str, Any]:
        return self.backend.get_study_system_attrs(study_id)

    def get_all_studies(self) -> list[FrozenStudy]:
        return self.backend.get_all_studies()

    # -- trials: written through, read from memory

    def create_new_trial(self, study_id: int, template_trial: FrozenTrial | None = None) -> int:
        trials = self._study(study_id)
        trial_id = self.backend.create_new_trial(study_id, template_trial)
        trial = self.backend.get_trial(trial_id)
        self._where[trial_id] = (study_id, trial.number)
        trials[trial.number] = trial  # numbers only grow: the dict stays in order
        return trial_id

    def set_trial_param(self, trial_id: int, param_name: str, param_value_internal: float,
                        distribution: BaseDistribution) -> None:
        self.backend.set_trial_param(trial_id, param_name, param_value_internal, distribution)
        trial = self._copy(trial_id)
        trial.params = {**trial.params, param_name: distribution.to_external_repr(param_value_internal)}
        trial.distributions = {**trial.distributions, param_name: distribution}
        self._put(trial_id, trial)

    def set_trial_state_values(self, trial_id: int, state: TrialState, values: Sequence[float] | None = None) -> bool:
        changed = self.backend.set_trial_state_values(trial_id, state, values)
        if changed:  # once a trial: read back whole, with the database's own timestamps
            self._put(trial_id, self.backend.get_trial(trial_id))
        return changed

    def set_trial_intermediate_value(self, trial_id: int, step: int, intermediate_value: float) -> None:
        self.backend.set_trial_intermediate_value(trial_id, step, intermediate_value)
        trial = self._copy(trial_id)
        trial.intermediate_values = {**trial.intermediate_values, step: intermediate_value}
        self._put(trial_id, trial)

    def set_trial_user_attr(self, trial_id: int, key: str, value: Any) -> None:
        self.backend.set_trial_user_attr(trial_id, key, value)
        trial = self._copy(trial_id)
        trial.user_attrs = {**trial.user_attrs, key: copy.deepcopy(value)}
        self._put(trial_id, trial)

    def set_trial_system_attr(self, trial_id: int, key: str, value: Any) -> None:
        self.backend.set_trial_system_attr(trial_id, key, value)
        trial = self._copy(trial_id)
        trial.system_attrs = {**trial.system_attrs, key: copy.deepcopy(value)}
        self._put(trial_id, trial)

    def get_trial_id_from_study_id_trial_number(self, study_id: int, trial_number: int) -> int:
        trials = self._study(study_id)
        if trial_number in trials:
            return trials[trial_number]._trial_id
        return self.backend.get_trial_id_from_study_id_trial_number(study_id, trial_number)  # raises its own error

    def get_trial_number_from_id(self, trial_id: int) -> int:
        return self._locate(trial_id)[1]

    def get_trial(self, trial_id: int) -> FrozenTrial:
        study_id, number = self._locate(trial_id)
        return self._trials[study_id][number]

    def get_all_trials(self, study_id: int, deepcopy: bool = True,
                       states: Container[TrialState] | None = None) -> list[FrozenTrial]:
        trials = self._study(study_id)
        chosen = [t for t in trials.values() if states is None or t.state in states]
        return copy.deepcopy(chosen) if deepcopy else chosen

    def remove_session(self) -> None:
        self.backend.remove_session()

    # -- the copy in memory

    def _study(self, study_id: int) -> dict[int, FrozenTrial]:
        if study_id not in self._trials:
            trials = sorted(self.backend.get_all_trials(study_id, deepcopy=False), key=lambda t: t.number)
            self._trials[study_id] = {t.number: t for t in trials}
            self._where.update({t._trial_id: (study_id, t.number) for t in trials})
        return self._trials[study_id]

    def _locate(self, trial_id: int) -> tuple[int, int]:
        if trial_id not in self._where:  # a trial of a study not read yet
            for study in self.backend.get_all_studies():
                self._study(study._study_id)
        if trial_id not in self._where:
            self.backend.get_trial(trial_id)  # raises Optuna's own error for an unknown trial
        return self._where[trial_id]

    def _copy(self, trial_id: int) -> FrozenTrial:
        return copy.copy(self.get_trial(trial_id))

    def _put(self, trial_id: int, trial: FrozenTrial) -> None:
        study_id, number = self._locate(trial_id)
        self._trials[study_id][number] = trial
