"""SearchRun: a search's settings with what they name loaded once: the space, the profiles and the data."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from edgeopt.data.dataset import Dataset
from edgeopt.profiles.schema import HardwareProfile
from edgeopt.search.settings import DEFAULT_EXAMPLE, SearchSettings
from edgeopt.search.store import Store, open_store
from edgeopt.space.spec import SearchSpace


@dataclass(frozen=True)
class SearchRun:
    settings: SearchSettings
    space: SearchSpace
    profiles: tuple[HardwareProfile, ...]
    dataset: Dataset
    store: Store | None = None  # the run's study, when opened from one

    @classmethod
    def load(cls, settings: SearchSettings, store: Store | None = None) -> SearchRun:
        """Load what `settings` name (errors name the file and field, exit 2 in the CLI)."""
        from edgeopt.data.loading import load_dataset
        from edgeopt.profiles.loader import load_profile
        from edgeopt.space.spec import load_space

        space = SearchSpace.from_json(settings.space_json) if settings.space_json else load_space(settings.space)
        profiles = tuple(load_profile(p) for p in settings.profiles)
        dataset = load_dataset(settings.data, label_column=settings.label_column, seed=settings.seed,
                               example=DEFAULT_EXAMPLE[space.family])
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


__all__ = ["SearchRun"]
