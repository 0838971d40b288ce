"""run_search: the in-process runner, one consumer of the store and the scheduler.

Every sampled config is costed on every profile before training; infeasible ones are recorded and never trained.
Feasible ones are trained rung by rung under MO-ASHA. Ctrl-C leaves the store consistent; running the same search
again continues it without losing or retraining a completed trial.
"""

from __future__ import annotations

import errno
import hashlib
import math
import shutil
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from edgeopt.atomic import OutputError, cannot_write
from edgeopt.errors import EdgeoptError
from edgeopt.search.asha import MOASHA, Decision
from edgeopt.search.lock import RunLock
from edgeopt.search.store import RungResultRecord, Store, TrialRecord, TrialState, rung_history
from edgeopt.space.fit import applies, require_applicable, require_fitting
from edgeopt.train.budget import LEGACY_BUDGET
from edgeopt.train.cv import HOLDOUT, FoldedData, choose_selection, pooled, selection_labels, train_cv
from edgeopt.train.metrics import beats_trivial, best_threshold_f1, trivial_scores

SAMPLERS = ("random", "tpe", "nsga2")
HARDWARE_OBJECTIVES = ("weight_bytes", "params", "latency_s", "peak_activation_bytes", "energy_j")
DEFAULT_EXAMPLE = {"mlp": "reads", "cnn1d": "reads", "cnn2d": "shapes"}


@dataclass(frozen=True)
class SearchSettings:
    name: str = "search"
    space: str = "cnn1d"  # a YAML path or a shipped space's name
    space_json: dict | None = None  # the space itself (as stored by a run), instead of loading `space`
    profiles: tuple[str, ...] = ("sequencer-fpga",)
    data: str | None = None  # None: the bundled example that suits the family
    label_column: str | None = None
    sampler: str = "tpe"
    early_stopping: bool = True  # MO-ASHA; off: every trial trains to the full budget
    trials: int | None = 20  # trials trained (infeasible ones cost nothing and are not counted)
    time_s: float | None = None
    min_epochs: int = 1
    eta: int = 3
    metric: str = "f1"
    hardware_objective: str = "weight_bytes"
    positive_class: int = 1
    seed: int = 0
    runs_dir: str = "runs"
    storage: str | None = None
    study_name: str | None = None  # the study in the run folder's storage (resuming: the one it holds); None: name
    device: str | None = None  # None or "auto": cuda when available, else cpu; "cpu", "cuda", "cuda:N"
    threads: int = 1  # CPU threads for torch; tiny models train fastest on one
    teacher: str | None = None  # every trial trains against this model's soft targets (a compress MODEL spec)
    teacher_weights: str | None = None
    distill_temperature: float = 4.0
    distill_alpha: float = 0.7

    @property
    def run_dir(self) -> Path:
        return Path(self.runs_dir) / self.name

    @property
    def storage_url(self) -> str:
        return self.storage or f"sqlite:///{self.run_dir / 'study.db'}"

    def identity(self, space_json: dict) -> dict:
        """What must not change when a search is resumed (budgets may)."""
        return {"space": space_json, "profiles": list(self.profiles), "data": self.data,
                "label_column": self.label_column, "sampler": self.sampler, "early_stopping": self.early_stopping,
                "min_epochs": self.min_epochs, "eta": self.eta, "metric": self.metric,
                "hardware_objective": self.hardware_objective, "positive_class": self.positive_class,
                "seed": self.seed, "teacher": self.teacher, "teacher_weights": self.teacher_weights,
                "distill_temperature": self.distill_temperature, "distill_alpha": self.distill_alpha}


@dataclass(frozen=True)
class SearchProgress:
    counts: dict[str, int]
    trained: int
    elapsed_s: float
    budget: str
    best: dict[str, str] = field(default_factory=dict)  # profile -> best quality so far (text)
    event: str = ""


class _Budget:
    def __init__(self, settings: SearchSettings):
        self.settings = settings
        self.start = time.monotonic()

    def elapsed(self) -> float:
        return time.monotonic() - self.start

    def time_left(self) -> bool:
        return self.settings.time_s is None or self.elapsed() < self.settings.time_s

    def may_start(self, trained: int) -> bool:
        return self.time_left() and (self.settings.trials is None or trained < self.settings.trials)

    def text(self, trained: int) -> str:
        parts = []
        if self.settings.trials is not None:
            parts.append(f"{trained}/{self.settings.trials} trials")
        if self.settings.time_s is not None:
            parts.append(f"{max(0.0, self.settings.time_s - self.elapsed()):.0f}s left")
        return ", ".join(parts) or "unbounded"


def make_sampler(name: str, seed: int):
    import optuna

    if name == "random":
        return optuna.samplers.RandomSampler(seed=seed)
    if name == "tpe":
        return optuna.samplers.TPESampler(seed=seed, n_startup_trials=8, multivariate=True)
    if name == "nsga2":
        return optuna.samplers.NSGAIISampler(seed=seed, population_size=12)
    raise EdgeoptError(f"unknown sampler {name!r}; choose from {', '.join(SAMPLERS)}")


def resolve_device(name: str | None) -> str:
    """The torch device a search trains on: None or "auto" picks cuda when a GPU is visible, else cpu."""
    import torch

    if name in (None, "auto"):
        return "cuda" if torch.cuda.is_available() else "cpu"
    kind, _, index = name.partition(":")
    if kind == "cpu" and not index:
        return "cpu"
    if kind != "cuda" or (index and not index.isdigit()):
        raise EdgeoptError(f"device {name!r}: choose from auto, cpu, cuda, cuda:N")
    count = torch.cuda.device_count() if torch.cuda.is_available() else 0
    if count == 0:
        raise EdgeoptError(f"device {name!r}: no CUDA GPU is visible to torch; use --device cpu (or auto)")
    if index and int(index) >= count:
        raise EdgeoptError(f"device {name!r}: only {count} CUDA GPU(s) visible (cuda:0..cuda:{count - 1})")
    return name


def check_run_name(name: str) -> None:
    """A run's name is one folder inside the runs folder: no separators, not `.` or `..`, nothing hidden."""
    if not name or name in (".", "..") or "/" in name or "\\" in name or name.startswith(".") or "\0" in name:
        raise EdgeoptError(f"--name {name!r}: a run name is one folder name inside --runs-dir (letters, digits, "
                           "'-', '_', '.'; no '/', not '.' or '..', not starting with '.')")


def run_search(settings: SearchSettings, progress: Callable[[SearchProgress], None] | None = None) -> Store:
    """Run (or resume) a search; returns the store holding every trial. The run folder is locked while it runs."""
    runner = _Runner(settings, progress)
    try:
        return runner.run()
    except Exception as exc:
        if out_of_space(exc, settings.run_dir):  # else the storage says "invalid data in the commit" or similar
            raise OutputError(f"{settings.run_dir}: the disk is full ({shutil.disk_usage(settings.run_dir).free:,} "
                              f"bytes free); free some space, then continue with: edgeopt search --resume "
                              f"{settings.run_dir}") from None
        raise
    finally:
        runner.lock.release()


def out_of_space(exc: BaseException, folder: Path) -> bool:
    """Whether `exc` (or what caused it) is a full disk: ENOSPC, SQLite's "disk is full", or under 64 KiB left."""
    seen: BaseException | None = exc
    while seen is not None:
        if isinstance(seen, OSError) and seen.errno == errno.ENOSPC:
            return True
        if "disk is full" in str(seen) or "No space left" in str(seen):
            return True
        seen = seen.__cause__ or seen.__context__
    try:
        return shutil.disk_usage(folder).free < 64 * 1024
    except OSError:
        return False


class _Runner:
    def __init__(self, settings: SearchSettings, progress):
        from edgeopt.data.loading import load_dataset
        from edgeopt.profiles.loader import load_profile
        from edgeopt.space.families import FAMILIES
        from edgeopt.space.spec import SearchSpace, load_space

        if settings.metric not in ("f1", "precision", "recall", "accuracy"):
            raise EdgeoptError(f"unknown metric {settings.metric!r}; choose from f1, precision, recall, accuracy")
        if settings.hardware_objective not in HARDWARE_OBJECTIVES:
            raise EdgeoptError(f"unknown hardware objective {settings.hardware_objective!r}; "
                               f"choose from {', '.join(HARDWARE_OBJECTIVES)}")
        if not settings.profiles:
            raise EdgeoptError("give at least one --profile")
        check_run_name(settings.name)
        device = resolve_device(settings.device)  # a bad device fails before the data is loaded
        self.settings = settings
        self.progress = progress
        self.space = SearchSpace.from_json(settings.space_json) if settings.space_json else load_space(settings.space)
        self.profiles = [load_profile(p) for p in settings.profiles]
        family = FAMILIES[self.space.family]
        self.dataset = load_dataset(settings.data, label_column=settings.label_column, seed=settings.seed,
                                    example=DEFAULT_EXAMPLE[self.space.family])
        rank = len(self.dataset.sample_shape)
        if rank not in family.sample_ranks:
            from edgeopt.data.dataset import DataError

            raise DataError(f"{self.dataset.name}: samples of shape {self.dataset.sample_shape} (rank {rank}) do not "
                            f"suit family {family.name}, which takes ranks {family.sample_ranks}")
        if not 0 <= settings.positive_class < self.dataset.num_classes:
            raise EdgeoptError(f"positive class {settings.positive_class} is not a class of {self.dataset.name} "
                               f"(0..{self.dataset.num_classes - 1})")
        require_applicable(self.space, self.dataset.sample_shape, self.dataset.name)
        require_fitting(self.space, self.dataset.sample_shape, self.dataset.num_classes, self.profiles)
        try:
            settings.run_dir.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise cannot_write(settings.run_dir, exc) from None
        self.lock = RunLock(settings.run_dir).acquire()  # before anything in the folder is read or written
        try:
            self._open(settings, device)
        except BaseException:
            self.lock.release()
            raise

    def _open(self, settings: SearchSettings, device: str) -> None:
        import torch

        from edgeopt.data.normalize import Normalizer
        from edgeopt.train.loop import DeviceData

        self.store = Store(settings.storage_url, settings.study_name or settings.name,
                           make_sampler(settings.sampler, settings.seed), folder=settings.run_dir)
        identity = {**settings.identity(self.space.to_json()), "dataset": self.dataset.summary()}
        if self.store.settings and "training_budget" not in self.store.settings:
            # A search stored before the small-data rules resumes as it trained: sampled batches, holdout selection.
            self.budget_plan, self.selection = LEGACY_BUDGET, HOLDOUT
        else:
            self.selection = choose_selection(self.dataset)
            n_train = len(self.dataset.y_train) if self.selection.method == "holdout" else \
                len(selection_labels(self.dataset, self.selection)) * (self.selection.folds - 1) // self.selection.folds
            self.budget_plan = self.space.training_budget(n_train)
            identity |= {"training_budget": self.budget_plan.to_dict(), "selection": self.selection.to_dict(),
                         "data_sha256": _file_sha256(settings.data)}
        self.store.check_settings(identity)
        # Tabular columns have unrelated scales: an MLP gets each feature standardised; convolutions share weights
        # across positions, so they get one scale per channel. Under cross-validation the refit trains on train +
        # validation, so the statistics come from both.
        x_fit = self.dataset.x_train if self.selection.method == "holdout" else pooled(self.dataset)[0]
        self.normalizer = Normalizer.fit(x_fit, per_feature=self.space.family == "mlp")
        self.trivial = trivial_scores(selection_labels(self.dataset, self.selection), self.dataset.num_classes,
                                      settings.positive_class)
        if device == "cpu":
            torch.set_num_threads(settings.threads)
        if self.selection.method == "holdout":
            self.data = DeviceData(self.dataset, self.normalizer, device)
            if settings.teacher:
                self.data.teacher_logits = _teacher_logits(settings, self.dataset.x_train, self.dataset, device)
        else:
            self.data = FoldedData(self.dataset, self.normalizer, self.selection, device, settings.seed)
            if settings.teacher:
                self.data.set_teacher_logits(_teacher_logits(settings, x_fit, self.dataset, device))
        self.scheduler = MOASHA(settings.min_epochs if settings.early_stopping else self.space.max_epochs,
                                self.space.max_epochs, settings.eta, reference=(1.0, math.inf))
        self.budget: _Budget | None = None

    # -- objectives

    def quality(self, metrics: dict) -> float:
        """The metric, or 0 for a result no better than a constant predictor: it is told to the sampler as worthless,
        so the sampler is not drawn back to the smallest models by results that only look good (F1 = 2p / (1 + p)
        for always positive)."""
        return float(metrics[self.settings.metric]) if beats_trivial(metrics, self.settings.metric,
                                                                      self.trivial) else 0.0

    def hardware(self, trial: TrialRecord | dict) -> float:
        costs = trial.costs if isinstance(trial, TrialRecord) else trial
        return float(costs[self.profiles[0].name][self.settings.hardware_objective])

    def objectives(self, trial: TrialRecord, rung: RungResultRecord) -> tuple[float, float]:
        return 1.0 - self.quality(rung.metrics), self.hardware(trial)

    def promotion_objectives(self, trial: TrialRecord, rung: RungResultRecord) -> tuple[float, float]:
        """What MO-ASHA ranks a rung on: binary F1 at its best threshold, which predicts the trained model's F1 where
        F1 at argmax is still 0 (BENCHMARKS.md: search efficiency); the metric itself otherwise. A result that
        separates the classes no better than a constant predictor ranks as worthless (never promoted)."""
        metrics, metric = rung.metrics, self.settings.metric
        separation = best_threshold_f1(metrics)
        quality = separation if metric == "f1" else float(metrics[metric])
        useful = beats_trivial(metrics, metric, self.trivial, f1=separation)
        return 1.0 - (quality if useful else 0.0), self.hardware(trial)

    # -- main loop

    def run(self) -> Store:
        trials = self._recover()
        self.budget = _Budget(self.settings)
        self._emit(trials, "started")
        while True:
            trials = self.store.trials()
            queued = [t for t in trials if t.state is TrialState.QUEUED]
            if not self.budget.time_left():
                break
            if queued:
                self._train(queued[0], len(queued[0].rungs))  # the rung after its last finished one
                continue
            draining = not self.budget.may_start(self._trained(trials))
            history = rung_history(trials, self.promotion_objectives)
            promotion = self.scheduler.next_promotion(history, draining=draining)
            if promotion is not None:
                number, rung = promotion
                self.store.promote(number, rung)
                self._train(self.store.trial(number), rung + 1)
                continue
            if draining:
                break
            self._new_trial(trials)
        self._finish_paused()
        self._emit(self.store.trials(), "finished")
        return self.store

    def _recover(self) -> tuple[TrialRecord, ...]:
        """A trial left running by an interrupted process goes on from its last finished rung: queued again when it
        was training its first rung or a rung it had been promoted to, paused otherwise."""
        for trial in self.store.trials():
            if trial.state is TrialState.RUNNING:
                mid_rung = not trial.rungs or (trial.promoted and max(trial.promoted) >= trial.last.rung)
                self.store.set_state(trial.number, TrialState.QUEUED if mid_rung else TrialState.PAUSED)
        return self.store.trials()

    @staticmethod
    def _trained(trials) -> int:
        return sum(t.state is not TrialState.INFEASIBLE for t in trials)

    def _new_trial(self, trials) -> None:
        infeasible_run = 0
        for t in reversed(trials):
            if t.state is not TrialState.INFEASIBLE:
                break
            infeasible_run += 1
        if infeasible_run >= 500:
            raise EdgeoptError(f"the last {infeasible_run} sampled configurations fit none of the profiles "
                               f"({', '.join(p.name for p in self.profiles)}); shrink the search space")
        optuna_trial, config = self.store.ask(self.space)
        reason = applies(self.space, config, self.dataset.sample_shape)
        if reason is not None:  # cannot take the data's samples: never built, never trained
            self.store.inapplicable(optuna_trial, config, f"does not apply to the data: {reason}")
            self._emit(self.store.trials(), f"trial {optuna_trial.number} does not apply: {reason}")
            return
        costs = self._costs(config)
        if not any(c["fits"] for c in costs.values()):
            self.store.infeasible(optuna_trial, config, costs, (1.0, self.hardware(costs)), _violation_score(costs))
            self._emit(self.store.trials(), f"trial {optuna_trial.number} infeasible")
            return
        checkpoint = f"trials/{optuna_trial.number:05d}/checkpoint.pt"  # relative to the run folder, wherever it is
        self._train(self.store.start(optuna_trial, config, costs, checkpoint, self.normalizer.to_dict()), 0)

    def _costs(self, config: dict) -> dict:
        from edgeopt.cost.estimate import estimate_graph

        graph = self.space.graph(config, self.dataset.sample_shape, self.dataset.num_classes)
        out = {}
        for profile in self.profiles:
            est = estimate_graph(graph, profile)
            out[profile.name] = {"params": est.total.params, "weight_bytes": est.total.weight_bytes,
                                 "peak_activation_bytes": est.peak_activation_bytes, "macs": est.total.macs,
                                 "latency_s": est.total.latency_s, "energy_j": est.total.energy_j, "fits": est.fits,
                                 "violations": [v.message for v in est.violations],
                                 "violation_score": _score(est)}
        return out

    def _train(self, trial: TrialRecord, rung: int) -> None:
        from edgeopt.train.loop import TrainingError, TrialSpec, train_trial

        spec = TrialSpec(trial.number, self.space.to_json(), trial.config, self.dataset.sample_shape,
                         self.dataset.num_classes, self.settings.seed * 1000 + trial.number,
                         str(self.store.checkpoint_path(trial)), self.settings.positive_class, trial.normalizer,
                         (self.settings.distill_temperature, self.settings.distill_alpha)
                         if self.settings.teacher else None, self.budget_plan.to_dict(), self.store.uid)
        while True:
            self.store.set_state(trial.number, TrialState.RUNNING)
            self._emit(self.store.trials(), f"trial {trial.number}: rung {rung}")
            try:
                train = train_trial if self.selection.method == "holdout" else train_cv
                result = train(spec, self.data, self.scheduler.rung_epochs[rung])
            except (TrainingError, RuntimeError, ValueError) as exc:
                if out_of_space(exc, self.settings.run_dir):  # the disk, not the trial: nothing to record as failed
                    raise
                self.store.finish(trial.number, TrialState.FAILED, None, error=f"{type(exc).__name__}: {exc}")
                self._emit(self.store.trials(), f"trial {trial.number} failed")
                return
            record = RungResultRecord(rung, result.epochs, result.metrics.to_dict() | (result.extra or {}),
                                      result.seconds, time.time())
            self.store.add_rung(trial.number, record)
            trial = self.store.trial(trial.number)
            history = rung_history(self.store.trials(), self.promotion_objectives)
            decision = self.scheduler.on_result(trial.number, rung, history)
            if decision is Decision.STOP:
                self.store.finish(trial.number, TrialState.COMPLETED, self.objectives(trial, record))
                return
            if decision is Decision.PAUSE or not self.budget.time_left():
                self.store.set_state(trial.number, TrialState.PAUSED)
                return
            self.store.promote(trial.number, rung)
            rung += 1

    def _finish_paused(self) -> None:
        """When the budget is spent, paused trials stop where they are, told with their last rung's results."""
        for trial in self.store.trials():
            if trial.state is TrialState.PAUSED and trial.rungs:
                self.store.finish(trial.number, TrialState.STOPPED, self.objectives(trial, trial.last))

    def _emit(self, trials, event: str) -> None:
        if self.progress is None:
            return
        counts = {state.value: 0 for state in TrialState}
        for t in trials:
            counts[t.state.value] += 1
        best = {}
        for profile in self.profiles:
            scored = [(q, t) for q, t in ((self.quality(t.last.metrics), t) for t in trials
                                          if t.last and t.costs[profile.name]["fits"]) if q > 0]
            if scored:
                value, t = max(scored, key=lambda s: s[0])
                best[profile.name] = (f"{self.settings.metric} {value:.3f} at "
                                      f"{t.costs[profile.name]['weight_bytes']:.0f} B (trial {t.number})")
        trained = self._trained(trials)
        self.progress(SearchProgress(counts, trained, self.budget.elapsed(), self.budget.text(trained), best, event))


def _teacher_logits(settings: SearchSettings, x, dataset, device: str):
    """The teacher's logits on the samples `x` trials train on, each normalised as the teacher expects (a search
    checkpoint's own statistics, else as given)."""
    import torch

    from edgeopt.data.normalize import Normalizer
    from edgeopt.models.source import load_source
    from edgeopt.errors import ModelError
    from edgeopt.train.fit import logits_of

    source = load_source(settings.teacher, settings.teacher_weights)
    normalizer = source.normalizer or Normalizer.identity(x)
    try:
        logits = logits_of(source.module, torch.from_numpy(normalizer.apply(x)))
    except Exception as exc:  # the teacher rejects the data's shape
        raise ModelError(f"--teacher {settings.teacher}: does not accept the data's samples of shape "
                         f"{dataset.sample_shape}: {type(exc).__name__}: {str(exc).strip()[:160]}") from None
    if logits.dim() != 2 or logits.shape[1] != dataset.num_classes:
        raise ModelError(f"--teacher {settings.teacher}: predicts {tuple(logits.shape[1:])} outputs per sample, "
                         f"but the data has {dataset.num_classes} classes")
    return logits.detach().to(device)


def _file_sha256(path: str | None) -> str | None:
    """The data file's content hash: a file edited in place between runs is a different search (None: bundled)."""
    if path is None or not Path(path).is_file():
        return None
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _score(est) -> float:
    """How far a model is from fitting: 0 when it fits; relative excess per limit, 1 per illegal op or format."""
    if est.fits:
        return 0.0
    score = 0.0
    for v in est.violations:
        if isinstance(v.limit, (int, float)) and isinstance(v.actual, (int, float)) and v.limit > 0:
            score += max(0.0, v.actual / v.limit - 1.0)
        else:
            score += 1.0
    return max(score, 1e-6)


def _violation_score(costs: dict) -> float:
    return min(c["violation_score"] for c in costs.values())


__all__ = ["SearchProgress", "SearchSettings", "resolve_device", "run_search"]
