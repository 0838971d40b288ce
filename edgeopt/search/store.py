"""The experiment store: every trial's config, hardware costs, rung results, state and checkpoint, kept in Optuna
storage (a SQLite file under runs/<name>/ by default, or any storage URL). Readers get immutable snapshots."""

from __future__ import annotations

import re
import time
import uuid
from dataclasses import dataclass, replace
from enum import Enum
from pathlib import Path

from edgeopt.errors import EdgeoptError
from edgeopt.figures import CostFigures
from edgeopt.search.asha import RungHistory, RungRecord

ATTR = "edgeopt."


class TrialState(Enum):
    QUEUED = "queued"
    RUNNING = "running"
    PAUSED = "paused"
    COMPLETED = "completed"
    STOPPED = "stopped"
    INFEASIBLE = "infeasible"
    FAILED = "failed"


class StoreError(EdgeoptError):
    """A study that cannot be opened or resumed with these settings."""


@dataclass(frozen=True)
class RungResultRecord:
    rung: int
    epochs: int
    metrics: dict
    seconds: float
    finished_at: float


@dataclass(frozen=True)
class TrialRecord:
    number: int
    state: TrialState
    config: dict
    costs: dict  # profile -> CostFigures.to_dict() | {"violations": [...], "violation_score": ...}
    rungs: tuple[RungResultRecord, ...] = ()
    promoted: tuple[int, ...] = ()
    error: str | None = None
    started_at: float = 0.0
    checkpoint: str | None = None
    normalizer: dict | None = None

    def cost(self, profile: str) -> CostFigures:
        """Its cost figures on `profile` (a profile's name)."""
        return CostFigures.from_dict(self.costs[profile])

    @property
    def feasible_on(self) -> tuple[str, ...]:
        return tuple(p for p, c in self.costs.items() if c["fits"])

    @property
    def last(self) -> RungResultRecord | None:
        return self.rungs[-1] if self.rungs else None


class Store:
    """Read and write edgeopt's records in an Optuna study; the runner and the report are its consumers.

    One process writes a study at a time; the Store keeps a write-through copy of the records it has read or written,
    so snapshots cost nothing while every change still reaches storage before the call returns.
    """

    def __init__(self, storage_url: str, name: str | None, sampler=None, directions=("minimize", "minimize"), *,
                 folder: str | Path | None = None, create: bool = True):
        """Open (or, with `create`, make) the study `name` in `storage_url`; name None opens the one study the
        storage holds (a run folder renamed or copied keeps working). `folder`: the run folder, which trial
        checkpoints are stored relative to. `create`: this process is the study's one writer (the search holding the
        run folder's lock), and reads its trials from memory after the first; readers see every change."""
        import optuna

        optuna.logging.set_verbosity(optuna.logging.WARNING)
        self.folder = Path(folder) if folder is not None else None
        shown = masked_url(storage_url)
        try:
            self.storage = _open_storage(storage_url, owned=create)
            if name is None:
                names = [s.study_name for s in self.storage.get_all_studies()]
                if len(names) != 1:
                    raise StoreError(f"{shown} holds {len(names)} studies ({', '.join(names) or 'none'}); "
                                     "name the one to open")
                name = names[0]
            if create:
                self.study = optuna.create_study(storage=self.storage, study_name=name, sampler=sampler,
                                                 directions=list(directions), load_if_exists=True)
            else:
                self.study = optuna.load_study(storage=self.storage, study_name=name, sampler=sampler)
        except StoreError:
            raise
        except Exception as exc:  # bad URL, unwritable folder, foreign database (a corrupt study.db), no such study
            which = f"study {name!r}" if name is not None else "the study"
            reason = (_masked(str(exc), storage_url).splitlines() or [type(exc).__name__])[0][:300]
            raise StoreError(f"cannot open {which} at {shown}: {reason}") from None
        self.study_id = self.storage.get_study_id_from_name(name)
        self._records: dict[int, TrialRecord] = {
            r.number: r for r in (_record(f) for f in self.storage.get_all_trials(self.study_id, deepcopy=False))
            if r is not None}
        self._trial_ids: dict[int, int] = {}
        self._uid: str | None = None

    # -- settings

    def check_settings(self, settings: dict) -> None:
        """Record the settings of a new study; refuse to resume one made with different settings."""
        stored = self.study.user_attrs.get(ATTR + "settings")
        if stored is None:
            self.study.set_user_attr(ATTR + "uid", uuid.uuid4().hex)
            self.study.set_user_attr(ATTR + "settings", settings)
            self.name_objectives()
            return
        different = [k for k in sorted(set(stored) | set(settings)) if stored.get(k) != settings.get(k)]
        if different:
            key = different[0]
            if key == "data_sha256" and stored.get(key):
                raise StoreError("the data file changed since this run started (its content hash differs); resume "
                                 "it with the data it was started on, or pick a new --name")
            raise StoreError(f"this run was started with different settings ({key}: was {stored.get(key)!r}, now "
                             f"{settings.get(key)!r}); resume it with the same settings or pick a new --name")

    def name_objectives(self) -> None:
        """Name the study's two objectives (optuna-dashboard shows them): `1 - <metric>` and the hardware figure."""
        import warnings

        settings = self.settings
        if self.study.metric_names is not None or "metric" not in settings:
            return
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # set_metric_names is marked experimental
            self.study.set_metric_names([f"1 - {settings['metric']}", settings["hardware_objective"]])

    @property
    def uid(self) -> str | None:
        """This study's identity, written into every checkpoint it trains: a study made anew where an old one's
        files remain (study.db deleted) never takes the old checkpoints for its own. None for studies made before."""
        if self._uid is None:  # read once set: every trial sent to train carries it
            self._uid = self.study.user_attrs.get(ATTR + "uid")
        return self._uid

    def checkpoint_path(self, trial: TrialRecord) -> Path | None:
        """Where a trial's checkpoint is now. Stored relative to the run folder; paths stored by earlier versions
        (relative to the working folder they ran in, or absolute) are read from their `trials/...` part on."""
        if trial.checkpoint is None:
            return None
        path = Path(trial.checkpoint)
        if self.folder is None:
            return path
        if "trials" in path.parts[:-1]:
            last = len(path.parts) - 1 - path.parts[::-1].index("trials")
            path = Path(*path.parts[last:])
        return self.folder / path

    @property
    def settings(self) -> dict:
        return self.study.user_attrs.get(ATTR + "settings", {})

    # -- writes

    def ask(self, space, sampler=None):
        """A new Optuna trial and the config its sampler (or `sampler`, for this one draw) suggests.

        What `study.ask()` does, less its look for enqueued trials: edgeopt never enqueues any, and that look reads
        every unfinished trial back from storage (under MO-ASHA, every paused one: ~40 ms per ask at 100 trials,
        growing with the study)."""
        import optuna

        own = self.study.sampler
        if sampler is not None:
            self.study.sampler = sampler
        try:
            trial = optuna.trial.Trial(self.study, self.storage.create_new_trial(self.study_id))
            config = space.suggest(trial)
        finally:
            self.study.sampler = own
        return trial, config

    def _trial_id(self, number: int) -> int:
        if number not in self._trial_ids:
            self._trial_ids[number] = self.storage.get_trial_id_from_study_id_trial_number(self.study_id, number)
        return self._trial_ids[number]

    def _set(self, number: int, key: str, value, **changes) -> None:
        self.storage.set_trial_user_attr(self._trial_id(number), ATTR + key, value)
        self._records[number] = replace(self._records[number], **changes)

    def _create(self, trial, base: dict, state: TrialState) -> None:
        trial.set_user_attr(ATTR + "trial", base)
        trial.set_user_attr(ATTR + "state", state.value)
        self._records[trial.number] = TrialRecord(trial.number, state, base["config"], base["costs"],
                                                  started_at=base["started_at"], checkpoint=base.get("checkpoint"),
                                                  normalizer=base.get("normalizer"))

    def start(self, trial, config: dict, costs: dict, checkpoint: str, normalizer: dict) -> TrialRecord:
        self._create(trial, {"config": config, "costs": costs, "checkpoint": checkpoint, "normalizer": normalizer,
                             "started_at": time.time()}, TrialState.QUEUED)
        return self._records[trial.number]

    def infeasible(self, trial, config: dict, costs: dict, values: tuple[float, float], violation: float) -> None:
        """Never trained: told to the sampler as infeasible through its constraint."""
        self._create(trial, {"config": config, "costs": costs, "started_at": time.time()}, TrialState.INFEASIBLE)
        trial.set_constraint("hardware", violation)
        self.study.tell(trial, list(values))

    def inapplicable(self, trial, config: dict, reason: str) -> None:
        """An architecture that cannot take the data's samples: recorded with the reason and no costs, never built;
        told to the sampler as infeasible."""
        import math

        self._create(trial, {"config": config, "costs": {}, "started_at": time.time()}, TrialState.INFEASIBLE)
        self._set(trial.number, "error", reason, error=reason)
        trial.set_constraint("hardware", 10.0)
        self.study.tell(trial, [1.0, math.inf])

    def set_state(self, number: int, state: TrialState, error: str | None = None) -> None:
        if error is not None:
            self._set(number, "error", error, error=error)
        self._set(number, "state", state.value, state=state)

    def add_rung(self, number: int, record: RungResultRecord) -> None:
        self._set(number, f"rung.{record.rung}", {"epochs": record.epochs, "metrics": record.metrics,
                                                 "seconds": record.seconds, "finished_at": record.finished_at},
                  rungs=tuple(sorted((*self._records[number].rungs, record), key=lambda r: r.rung)))

    def promote(self, number: int, rung: int) -> None:
        promoted = tuple(sorted({*self._records[number].promoted, rung}))
        self._set(number, "promoted", list(promoted), promoted=promoted)

    def finish(self, number: int, state: TrialState, values: tuple[float, float] | None,
               error: str | None = None) -> None:
        """Completed, stopped or failed (with its error): told to the sampler, never trained again."""
        import optuna

        self.set_state(number, state, error)
        if state is TrialState.FAILED or values is None:
            self.study.tell(number, state=optuna.trial.TrialState.FAIL)
        else:
            optuna.trial.Trial(self.study, self._trial_id(number)).set_constraint("hardware", 0.0)  # trained: feasible
            self.study.tell(number, list(values))

    # -- reads

    def trials(self) -> tuple[TrialRecord, ...]:
        """Every recorded trial, by number."""
        return tuple(self._records[n] for n in sorted(self._records))

    def trial(self, number: int) -> TrialRecord:
        return self._records[number]


def open_store(run_dir: str | Path, storage: str | None = None) -> Store:
    """The search in a run folder, wherever the folder is now and whatever it is called; opening creates nothing."""
    run_dir = Path(run_dir)
    url = storage or f"sqlite:///{run_dir / 'study.db'}"
    database = run_dir / "study.db"
    if storage is None and not database.is_file():
        raise EdgeoptError(f"{run_dir}: no search here (no study.db); run `edgeopt search --name {run_dir.name}`")
    if storage is None and database.stat().st_size == 0:
        raise EdgeoptError(f"{database}: empty (0 bytes): not a search's study; the run's records are lost")
    if storage is not None and storage.startswith("sqlite:///") and not Path(storage[len("sqlite:///"):]).is_file():
        raise EdgeoptError(f"{storage}: no such database; opening a run creates nothing")
    store = Store(url, None if storage is None else run_dir.name, folder=run_dir, create=False)
    if not store.settings:
        raise EdgeoptError(f"{database}: this study holds no edgeopt settings; was it made by `edgeopt search`?")
    return store


def masked_url(url: str) -> str:
    """A storage URL fit to print: its password replaced by ***."""
    try:
        from sqlalchemy.engine import make_url

        return make_url(url).render_as_string(hide_password=True)
    except Exception:  # not a URL SQLAlchemy reads: hide whatever stands between ':' and '@'
        return re.sub(r"(//[^/:@]*:)[^@/]*@", r"\1***@", url)


def _masked(text: str, url: str) -> str:
    """`text` (a driver's error) with the URL's password, wherever it appears, replaced by ***."""
    try:
        from sqlalchemy.engine import make_url

        password = make_url(url).password
    except Exception:
        password = None
    return text.replace(url, masked_url(url)).replace(password, "***") if password else text


def _open_storage(url: str, owned: bool):
    import optuna

    from edgeopt.search.owned_storage import OwnedStorage

    if not url.startswith("sqlite:"):
        return OwnedStorage(optuna.storages.RDBStorage(url)) if owned else optuna.storages.get_storage(url)
    from sqlalchemy import event

    database = optuna.storages.RDBStorage(url)

    # Write-ahead logging without a sync per commit: a killed process loses nothing committed, and each of the small
    # writes a trial makes costs a fraction of what it does with the default journal.
    @event.listens_for(database.engine, "connect")
    def _pragmas(connection, _record):
        cursor = connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.close()

    database.engine.dispose()  # pooled connections were opened before the pragmas were set
    return OwnedStorage(database) if owned else optuna.storages.get_storage(database)


def _record(frozen) -> TrialRecord | None:
    attrs = frozen.user_attrs
    base = attrs.get(ATTR + "trial")
    if base is None:
        return None  # asked but never recorded (the process died in between): nothing to resume
    rungs = sorted((int(key.rsplit(".", 1)[1]), value) for key, value in attrs.items()
                   if key.startswith(ATTR + "rung."))
    return TrialRecord(
        number=frozen.number,
        state=TrialState(attrs.get(ATTR + "state", TrialState.QUEUED.value)),
        config=base["config"],
        costs=base["costs"],
        rungs=tuple(RungResultRecord(r, v["epochs"], v["metrics"], v["seconds"], v["finished_at"]) for r, v in rungs),
        promoted=tuple(attrs.get(ATTR + "promoted", ())),
        error=attrs.get(ATTR + "error"),
        started_at=base.get("started_at", 0.0),
        checkpoint=base.get("checkpoint"),
        normalizer=base.get("normalizer"),
    )


def rung_history(trials: tuple[TrialRecord, ...], objectives) -> RungHistory:
    """The scheduler's view of the store: rung records, promotions, and trials that can no longer move."""
    records = tuple(RungRecord(t.number, r.rung, objectives(t, r)) for t in trials for r in t.rungs)
    promoted = frozenset((t.number, rung) for t in trials for rung in t.promoted)
    closed = frozenset(t.number for t in trials
                       if t.state in (TrialState.FAILED, TrialState.COMPLETED, TrialState.STOPPED))
    return RungHistory(records, promoted, closed)
