"""run_search: the coordinator, the one consumer of the store and the scheduler that hands work to slots.

Every sampled config is costed on every profile before training; infeasible ones are recorded and never trained.
Feasible ones are trained rung by rung under MO-ASHA, in packs of trials on worker slots (edgeopt/runner/slots.py):
whenever a slot frees, it gets the oldest queued work (promotions first, as they are queued when decided), else new
trials. The coordinator alone writes the store, so concurrent workers never contend for SQLite. Ctrl-C or a killed
coordinator leaves the store consistent; running the same search again continues it without losing or retraining a
completed trial. A worker that dies, or a pack that runs out of memory, is split and retried up to `retries` times.
"""

from __future__ import annotations

import errno
import math
import shutil
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path

from edgeopt.atomic import OutputError, cannot_write
from edgeopt.cost.estimate import misfit
from edgeopt.errors import EdgeoptError
from edgeopt.runner.local import InlineBackend, ProcessBackend
from edgeopt.runner.pack import choose_members, pack_key, trains_alone
from edgeopt.runner.ray_backend import require_ray
from edgeopt.runner.slots import plan_slots
from edgeopt.runner.time_budget import TrialBudget
from edgeopt.runner.work import Failure, Work, WorkerSetup, training_bytes
from edgeopt.search.asha import MOASHA, Decision
from edgeopt.search.lock import RunLock
from edgeopt.search.run_record import SearchRun
from edgeopt.search.settings import (SearchProgress, SearchSettings,
                                     SlotStatus, make_sampler, resolve_device)
from edgeopt.search.store import RungResultRecord, Store, TrialRecord, TrialState, rung_history
from edgeopt.space.fit import applies
from edgeopt.train.loop import TrialSpec
from edgeopt.metrics import beats_trivial, best_threshold_f1

ASK_SLICE_S = 0.5  # most time one fill of a slot spends asking for new trials once one fits
UNIFORM_AFTER = 16  # infeasible draws in a row after which every other draw is uniform


def run_search(settings: SearchSettings, progress: Callable[[SearchProgress], None] | None = None) -> Store:
    """Run (or resume) a search; returns the store holding every trial. The run folder is locked while it runs."""
    runner = _Coordinator(settings, progress)
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


class _Coordinator:
    def __init__(self, settings: SearchSettings, progress):
        if settings.backend == "ray":
            require_ray()  # before a study is made in the run folder
        device = resolve_device(settings.device)  # a bad device fails before the data is loaded
        self.settings = settings
        self.progress = progress
        self.search_run = SearchRun.load(settings)
        run = self.search_run
        self.space, self.profiles, self.dataset = run.space, list(run.profiles), run.dataset
        self.slots = plan_slots(device if device == "cpu" else settings.device, settings.workers, settings.gpus,
                                settings.pack, families=self.space.families)
        # worker processes start now and load torch while this process checks, costs and opens the study
        self.prestarted = ProcessBackend(self.slots) if _in_processes(settings, self.slots) else None
        try:
            self._prepare(settings)
        except BaseException:
            if self.prestarted is not None:
                self.prestarted.close()
            raise

    def _prepare(self, settings: SearchSettings) -> None:
        self.search_run.check_data()
        try:
            settings.run_dir.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise cannot_write(settings.run_dir, exc) from None
        self.lock = RunLock(settings.run_dir).acquire()  # before anything in the folder is read or written
        try:
            self._open(settings)
        except BaseException:
            self.lock.release()
            raise

    def _open(self, settings: SearchSettings) -> None:
        self.store = Store(settings.storage_url, settings.study_name or settings.name,
                           make_sampler(settings.sampler, settings.seed), folder=settings.run_dir)
        self.selection, self.budget_plan, planned = self.search_run.plan(self.store.settings)
        self.store.check_settings({**settings.identity(self.space.to_json()), "dataset": self.dataset.summary(),
                                   **planned})
        self.normalizer = self.search_run.normalizer(self.selection)
        self.trivial = self.search_run.trivial(self.selection)
        self.setup = WorkerSetup(self.dataset, self.normalizer.to_dict(), self.selection.to_dict(), settings.seed,
                                 settings.threads, self.search_run.teacher_logits(self.selection))
        self._uniform = make_sampler("random", settings.seed + 1)
        self.scheduler = MOASHA(settings.min_epochs if settings.early_stopping else self.space.max_epochs,
                                self.space.max_epochs, settings.eta, reference=(1.0, math.inf))
        self.budget: TrialBudget | None = None

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

    def history(self):
        """The scheduler's snapshot of the store. A rung's result never changes once recorded, so what it ranks on is
        worked out once (recomputed per result, it made each decision cost time in proportion to the study)."""
        def ranked(trial: TrialRecord, rung: RungResultRecord) -> tuple[float, float]:
            key = (trial.number, rung.rung)
            if key not in self._ranked:
                self._ranked[key] = self.promotion_objectives(trial, rung)
            return self._ranked[key]

        return rung_history(self.store.trials(), ranked)

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
        try:
            self._recover()
            self.budget = TrialBudget(self.settings)
            self.backend = _backend(self.settings, self.slots, self.setup, self.space.families, self.prestarted)
        except BaseException:
            if self.prestarted is not None:
                self.prestarted.close()
            raise
        if self.selection.method != "holdout":  # fold models and a refit per trial: trained alone
            self.slots = [replace(slot, max_pack=1) for slot in self.backend.slots]
        else:
            self.slots = list(self.backend.slots)
        self.busy: dict[int, Work] = {}
        self.attempts: Counter[int] = Counter()  # worker losses and out-of-memory per trial, this session
        self.solo: set[int] = set()  # trials of a pack whose worker died: retried alone, to find the culprit
        self.pack_limit = max(slot.max_pack for slot in self.slots)  # halved when a pack runs out of memory
        self._memory: dict[int, int] = {}
        self._ranked: dict[tuple[int, int], tuple[float, float]] = {}  # (trial, rung) -> what MO-ASHA ranks it on
        self.finished_rungs = 0
        self._emit(self.store.trials(), "started")
        try:
            self._loop()
        finally:
            self.backend.close()
        self._finish_paused()
        self._emit(self.store.trials(), "finished")
        return self.store

    def _loop(self) -> None:
        while True:
            if self.budget.time_left():
                for slot in self.slots:
                    if slot.index in self.busy:
                        continue
                    work = self._next_work(slot)
                    if work is None:
                        break
                    self._dispatch(slot, work)
            if not self.busy:
                return  # nothing to train and nothing more to start (or the time is up)
            for slot_index, outcomes in self.backend.poll(timeout=1.0):
                work = self.busy.pop(slot_index)
                self._record(work, outcomes)

    def _in_flight(self) -> set[int]:
        return {n for work in self.busy.values() for n in work.trials}

    def _next_work(self, slot) -> Work | None:
        """The oldest queued trial and the queued trials that can share its pack; else promotions the scheduler
        allows now (queued, then taken the same way); else new trials."""
        work = self._take_queued(slot)
        if work is not None:
            return work
        while True:  # every promotion the records allow now, so they can share packs
            trials = self.store.trials()
            draining = not self.budget.may_start(self._trained(trials))
            promotion = self.scheduler.next_promotion(self.history(), draining=draining)
            if promotion is None:
                break
            number, rung = promotion
            self.store.promote(number, rung)
            self.store.set_state(number, TrialState.QUEUED)
        work = self._take_queued(slot)
        if work is not None:
            return work
        if self._in_flight() and draining:
            return None
        self._new_trials(slot)
        return self._take_queued(slot)

    def _take_queued(self, slot) -> Work | None:
        flying = self._in_flight()
        queued = [t for t in self.store.trials() if t.state is TrialState.QUEUED and t.number not in flying]
        if not queued:
            return None
        first = min(queued, key=lambda t: (-len(t.rungs), t.number))  # the furthest along first, then the oldest
        key = self._pack_key(first)
        alone = first.number in self.solo or slot.max_pack == 1 or trains_alone(self._family(first), first.config)
        mates = [] if alone else \
            [t for t in queued if t is not first and t.number not in self.solo and self._pack_key(t) == key]
        idle = sum(1 for s in self.slots if s.index not in self.busy)
        # Queued work is shared among the idle slots rather than packed into the first.
        limit = min(self.pack_limit, slot.max_pack, max(1, -(-(len(mates) + 1) // max(idle, 1))))
        profile = self.profiles[0].name

        def params(trial: TrialRecord) -> int:
            return int(trial.costs[profile]["params"])

        members = choose_members(first, mates, params, limit)
        if not slot.worth_packing([params(t) for t in members]):
            members = [first]
        if slot.memory_bytes is not None:
            members = members[:slot.pack_size(max(self._training_bytes(t) for t in members))]
        rung = len(first.rungs)
        return Work(tuple(self._spec(t) for t in members), rung, self.scheduler.rung_epochs[rung])

    def _family(self, trial: TrialRecord) -> str:
        return self.space.member(trial.config).family

    def _pack_key(self, trial: TrialRecord) -> tuple:
        """Trials share a pack when their architectures pad into one and they start at the same epoch."""
        return (pack_key(self._family(trial), trial.config), len(trial.rungs),
                trial.last.epochs if trial.last else 0)

    def _training_bytes(self, trial: TrialRecord) -> int:
        """Kept from when the trial was costed; traced again only for trials of an earlier session."""
        if trial.number not in self._memory:
            self._remember_memory(trial.number, trial.config, self._graph(trial.config))
        return self._memory[trial.number]

    def _remember_memory(self, number: int, config: dict, graph) -> None:
        self._memory[number] = training_bytes(graph, self.budget_plan.batch_size(int(config["batch_size"])))

    def _graph(self, config: dict):
        return self.space.graph(config, self.dataset.sample_shape, self.dataset.num_classes)

    def _spec(self, trial: TrialRecord) -> TrialSpec:
        # the member's space alone: workers and checkpoints see one family, whether or not the search is a union
        return TrialSpec(trial.number, self.space.member(trial.config).to_json(), trial.config,
                         self.dataset.sample_shape, self.dataset.num_classes, self.settings.seed * 1000 + trial.number,
                         str(self.store.checkpoint_path(trial)), self.settings.positive_class, trial.normalizer,
                         (self.settings.distill_temperature, self.settings.distill_alpha)
                         if self.settings.teacher else None, self.budget_plan.to_dict(), self.store.uid)

    def _dispatch(self, slot, work: Work) -> None:
        for number in work.trials:
            self.store.set_state(number, TrialState.RUNNING)
        self.busy[slot.index] = work
        self.backend.submit(slot.index, work)
        self._emit(self.store.trials(), f"slot {slot.index}: rung {work.rung}, trials "
                                        f"{', '.join(map(str, work.trials))}")

    def _record(self, work: Work, outcomes: list) -> None:
        """Each trial's outcome into the store, and the scheduler's decision on it."""
        for spec, outcome in zip(work.specs, outcomes):
            number, rung = spec.number, work.rung
            if isinstance(outcome, Failure):
                self._failed(number, outcome, len(work.specs))
                continue
            record = RungResultRecord(rung, outcome.epochs, outcome.metrics.to_dict() | (outcome.extra or {}),
                                      outcome.seconds, time.time())
            self.store.add_rung(number, record)
            self.finished_rungs += 1
            trial = self.store.trial(number)
            decision = self.scheduler.on_result(number, rung, self.history())
            if decision is Decision.STOP:
                self.store.finish(number, TrialState.COMPLETED, self.objectives(trial, record))
            elif decision is Decision.PAUSE or not self.budget.time_left():
                self.store.set_state(number, TrialState.PAUSED)
            else:
                self.store.promote(number, rung)
                self.store.set_state(number, TrialState.QUEUED)
        self._emit(self.store.trials(), f"rung {work.rung} of trials {', '.join(map(str, work.trials))} done")

    def _failed(self, number: int, failure: Failure, pack_size: int) -> None:
        """A trial's own failure (NaN loss) is final. A lost worker or a full GPU is the pack's: its trials go back
        to the queue (a pack that ran out of memory is retried smaller) until a trial has used up its retries. A full
        disk is no trial's failure: it ends the search (run_search says so, with the command to continue)."""
        if out_of_space(RuntimeError(failure.message), self.settings.run_dir):
            raise OSError(errno.ENOSPC, failure.message)
        if failure.kind in ("worker_lost", "out_of_memory"):
            if pack_size > 1 and failure.kind == "out_of_memory":
                self.pack_limit = min(self.pack_limit, max(1, pack_size // 2))
            elif pack_size > 1:
                self.solo.add(number)
            else:
                self.attempts[number] += 1
            if self.attempts[number] <= self.settings.retries:
                self.store.set_state(number, TrialState.QUEUED)
                self._emit(self.store.trials(), f"trial {number}: {failure.message}; retrying")
                return
        error = failure.message if failure.kind in ("training", "error") else \
            f"{failure.message} (tried {self.attempts[number]} times)"
        self.store.finish(number, TrialState.FAILED, None, error=error)
        self._emit(self.store.trials(), f"trial {number} failed")

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

    def _new_trials(self, slot) -> None:
        """Ask the sampler for up to a pack's worth of trials (within the trial budget), cost them, and queue those
        that fit a profile."""
        trials = self.store.trials()
        room = slot.max_pack if self.settings.trials is None else \
            min(slot.max_pack, self.settings.trials - self._trained(trials))
        if not self.budget.may_start(self._trained(trials)):
            return
        started = 0
        began = time.monotonic()
        # Until one fits (the run of infeasible draws is bounded in _new_trial); then up to a pack's worth while asking
        # stays short: each ask (sampler, then costing on every profile) takes 20-150 ms here, and the slots wait for
        # the coordinator meanwhile (asking 32 at a time left the workers idle for seconds on digits, BENCHMARKS.md).
        while started < room and self.budget.time_left() and (started == 0 or time.monotonic() - began < ASK_SLICE_S):
            started += self._new_trial(self.store.trials())

    def _new_trial(self, trials) -> bool:
        infeasible_run = 0
        for t in reversed(trials):
            if t.state is not TrialState.INFEASIBLE:
                break
            infeasible_run += 1
        if infeasible_run >= 500:
            raise EdgeoptError(f"the last {infeasible_run} sampled configurations fit none of the profiles "
                               f"({', '.join(p.name for p in self.profiles)}); shrink the search space")
        # A model-based sampler whose told results are all infeasible (feasible ones are paused, not yet told) can
        # keep proposing near its least-violating draws; every other draw after a run of them is uniform instead
        # (digits on the FPGA, TPE seed 2: 4 trials trained of 273 drawn in 30 s, BENCHMARKS.md).
        fallback = self._uniform if infeasible_run >= UNIFORM_AFTER and infeasible_run % 2 else None
        optuna_trial, config = self.store.ask(self.space, fallback)
        reason = applies(self.space, config, self.dataset.sample_shape)
        if reason is not None:  # cannot take the data's samples: never built, never trained
            self.store.inapplicable(optuna_trial, config, f"does not apply to the data: {reason}")
            self._emit(self.store.trials(), f"trial {optuna_trial.number} does not apply: {reason}")
            return False
        graph = self._graph(config)  # traced once: costs on every profile, and training memory for GPU packs
        costs = self._costs(graph)
        if not any(c["fits"] for c in costs.values()):
            self.store.infeasible(optuna_trial, config, costs, (1.0, self.hardware(costs)), _violation_score(costs))
            self._emit(self.store.trials(), f"trial {optuna_trial.number} infeasible")
            return False
        checkpoint = f"trials/{optuna_trial.number:05d}/checkpoint.pt"  # relative to the run folder, wherever it is
        normalizer = self.normalizer if config.get("normalization", "channel") == "channel" else \
            self.search_run.normalizer(self.selection, config)
        self.store.start(optuna_trial, config, costs, checkpoint, normalizer.to_dict())
        self._remember_memory(optuna_trial.number, config, graph)
        return True

    def _costs(self, graph) -> dict:
        from edgeopt.cost.estimate import estimate_graph

        out = {}
        for profile in self.profiles:
            est = estimate_graph(graph, profile)
            out[profile.name] = est.figures().to_dict() | {"violations": [v.message for v in est.violations],
                                                            "violation_score": misfit(est)}
        return out

    def _finish_paused(self) -> None:
        """When the budget is spent, paused trials, and promoted ones no slot took before the time ran out, stop where
        they are, told with their last rung's results. (Queued trials without a result, asked just before the end,
        stay queued: a resumed search trains them.)"""
        for trial in self.store.trials():
            if trial.state in (TrialState.PAUSED, TrialState.QUEUED) and trial.rungs:
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
        slots = tuple(SlotStatus(slot.index, slot.device, self.busy[slot.index].trials, self.busy[slot.index].rung)
                      if slot.index in self.busy else SlotStatus(slot.index, slot.device) for slot in self.slots)
        elapsed = self.budget.elapsed()
        rate = 60.0 * self.finished_rungs / elapsed if elapsed > 0 else 0.0
        self.progress(SearchProgress(counts, trained, elapsed, self.budget.text(trained), best, event, slots, rate))


def _in_processes(settings: SearchSettings, slots) -> bool:
    """Whether the work runs in local worker processes (not Ray actors, not this process's one CPU slot)."""
    return settings.backend == "local" and not (len(slots) == 1 and slots[0].device == "cpu")


def _backend(settings: SearchSettings, slots, setup: WorkerSetup, families: tuple[str, ...], prestarted=None):
    """Where the work runs: Ray actors, worker processes (`prestarted` ones, given their setup now), or (one CPU
    slot) this process."""
    if prestarted is not None:
        prestarted.begin(setup)
        return prestarted
    if settings.backend == "ray":
        from edgeopt.runner.ray_backend import RayBackend

        return RayBackend(slots, setup, settings.address, settings.workers, settings.pack, families)
    if len(slots) == 1 and slots[0].device == "cpu":
        return InlineBackend(slots, setup)
    return ProcessBackend(slots, setup)


def _violation_score(costs: dict) -> float:
    return min(c["violation_score"] for c in costs.values())


__all__ = ["out_of_space", "run_search"]
