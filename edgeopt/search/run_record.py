"""SearchRun: a search's settings with what they name loaded once (the space, the profiles, the data) and what is
decided from them before any training (the data checked against the space and profiles, the selection, the training
budget, the input normalisation, the teacher's logits): built once, used by the coordinator, the report and
`search --compress`."""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from edgeopt.data.dataset import DataError, Dataset
from edgeopt.data.loading import load_dataset
from edgeopt.data.normalize import Normalizer
from edgeopt.errors import EdgeoptError, ModelError
from edgeopt.figures import ENGINE_FIGURES
from edgeopt.metrics import trivial_scores
from edgeopt.profiles.loader import load_profile
from edgeopt.models.source import load_source
from edgeopt.profiles.schema import HardwareProfile
from edgeopt.search.settings import DEFAULT_EXAMPLE, SearchSettings, SettingsError
from edgeopt.search.store import Store, open_store
from edgeopt.space.families import FAMILIES
from edgeopt.space.fit import require_applicable, require_fitting
from edgeopt.space.union import Space, load_space, space_from_json
from edgeopt.train.budget import LEGACY_BUDGET, TrainingBudget, space_budget
from edgeopt.train.cv import HOLDOUT, Selection, choose_selection, pooled, selection_labels
from edgeopt.train.fit import logits_of


@dataclass(frozen=True)
class SearchRun:
    settings: SearchSettings
    space: Space  # one family's, or a union of them
    profiles: tuple[HardwareProfile, ...]
    dataset: Dataset
    store: Store | None = None  # the run's study, when opened from one

    @classmethod
    def load(cls, settings: SearchSettings, store: Store | None = None) -> SearchRun:
        """Load what `settings` name (errors name the file and field, exit 2 in the CLI)."""
        space = space_from_json(settings.space_json) if settings.space_json else load_space(settings.space)
        profiles = tuple(load_profile(p) for p in settings.profiles)
        if settings.hardware_objective in ENGINE_FIGURES and (profiles[0].fabric is None
                                                              or not profiles[0].compute.clock_hz):
            raise SettingsError(f"--objective {settings.hardware_objective}: the FPGA engine's "
                                f"{ENGINE_FIGURES[settings.hardware_objective]} need a first profile with a fabric "
                                f"and a clock; {profiles[0].name} has "
                                f"{'no fabric' if profiles[0].fabric is None else 'no clock'}")
        dataset = load_dataset(settings.data, label_column=settings.label_column, seed=settings.seed,
                               example=DEFAULT_EXAMPLE[space.families[0]])
        return cls(settings, space, profiles, dataset, store)

    @classmethod
    def from_store(cls, store: Store, **changes) -> SearchRun:
        """The run a store records (its settings as stored, with `changes`), loaded."""
        folder = store.folder or Path(store.study.study_name)
        settings = SearchSettings.from_stored(store.settings, Path(folder), store.study.study_name, **changes)
        return cls.load(settings, store)

    @classmethod
    def open(cls, run_dir: str | Path, storage: str | None = None, **changes) -> SearchRun:
        """The search in a run folder (wherever it is now, whatever it is called); opening creates nothing."""
        return cls.from_store(open_store(run_dir, storage), storage=storage, **changes)

    def check_data(self) -> None:
        """The data suits the space's family, the positive class is one of its classes, and some of the space applies
        to its samples and fits a profile: one error before anything is written."""
        data = self.dataset
        rank = len(data.sample_shape)
        for family in (FAMILIES[name] for name in self.space.families):
            if rank not in family.sample_ranks:
                raise DataError(f"{data.name}: samples of shape {data.sample_shape} (rank {rank}) do not suit family "
                                f"{family.name}, which takes ranks {family.sample_ranks}")
        if not 0 <= self.settings.positive_class < data.num_classes:
            raise EdgeoptError(f"positive class {self.settings.positive_class} is not a class of {data.name} "
                               f"(0..{data.num_classes - 1})")
        require_applicable(self.space, data.sample_shape, data.name)
        require_fitting(self.space, data.sample_shape, data.num_classes, self.profiles)

    def plan(self, stored: dict | None) -> tuple[Selection, TrainingBudget, dict]:
        """(selection, training budget, what the study records of them): a study stored before the small-data rules
        keeps training as it did (sampled batches, holdout selection)."""
        if stored and "training_budget" not in stored:
            return HOLDOUT, LEGACY_BUDGET, {}
        selection = choose_selection(self.dataset)
        n_train = len(self.dataset.y_train) if selection.method == "holdout" else \
            len(selection_labels(self.dataset, selection)) * (selection.folds - 1) // selection.folds
        budget = space_budget(self.space, n_train)
        return selection, budget, {"training_budget": budget.to_dict(), "selection": selection.to_dict(),
                                   "data_sha256": file_sha256(self.settings.data)}

    def training_inputs(self, selection: Selection):
        """The samples trials fit on: the training split, or under cross-validation train + validation (the refit's)."""
        return self.dataset.x_train if selection.method == "holdout" else pooled(self.dataset)[0]

    def normalizer(self, selection: Selection, config: Mapping | None = None) -> Normalizer:
        """Tabular columns have unrelated scales: an MLP gets each feature standardised; convolutions share weights
        across positions, so they get one scale per channel, or, where the trial's config chooses
        `normalization: series`, each series its own. Statistics of what the trials fit on."""
        per_series = config is not None and config.get("normalization") == "series"
        return Normalizer.fit(self.training_inputs(selection), per_feature=self.space.families == ("mlp",),
                              per_series=per_series)

    def trivial(self, selection: Selection) -> dict:
        """What constant predictors score on the labels the search selects by."""
        return trivial_scores(selection_labels(self.dataset, selection), self.dataset.num_classes,
                              self.settings.positive_class)

    def teacher_logits(self, selection: Selection):
        """The teacher's logits on the samples trials fit on, normalised as the teacher expects (a search
        checkpoint's own statistics, else as given); None without a teacher."""
        settings = self.settings
        if not settings.teacher:
            return None
        import torch

        x = self.training_inputs(selection)
        source = load_source(settings.teacher, settings.teacher_weights)
        normalizer = source.normalizer or Normalizer.identity(x)
        try:
            logits = logits_of(source.module, torch.from_numpy(normalizer.apply(x)))
        except Exception as exc:  # the teacher rejects the data's shape
            raise ModelError(f"--teacher {settings.teacher}: does not accept the data's samples of shape "
                             f"{self.dataset.sample_shape}: {type(exc).__name__}: {str(exc).strip()[:160]}") from None
        if logits.dim() != 2 or logits.shape[1] != self.dataset.num_classes:
            raise ModelError(f"--teacher {settings.teacher}: predicts {tuple(logits.shape[1:])} outputs per sample, "
                             f"but the data has {self.dataset.num_classes} classes")
        return logits.detach().numpy()


def file_sha256(path: str | None) -> str | None:
    """The data file's content hash: a file edited in place between runs is a different search (None: bundled)."""
    if path is None or not Path(path).is_file():
        return None
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


__all__ = ["SearchRun", "file_sha256"]
