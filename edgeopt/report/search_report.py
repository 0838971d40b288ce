"""The trade-off answer of a search: per profile, the Pareto front of quality against size, the best precision and
recall under a ladder of size budgets, the lab's own tools as baselines (`report.lab_tools`), and every trial. Test
metrics are computed here only."""

from __future__ import annotations

import time
from dataclasses import dataclass, field

from edgeopt.errors import EdgeoptError
from edgeopt.figures import FIGURE_NAMES, QUALITY_METRICS, CostFigures, quality
from edgeopt.report.lab_tools import (LAB_TOOLS, TOOL_LABELS, LabTool, fit_lab_tools, fitted_tree, tree_costs,
                                      tree_ladder)
from edgeopt.search.pareto import hypervolume_2d, pareto_front
from edgeopt.search.store import Store, TrialRecord, TrialState
from edgeopt.space.families import FAMILIES
from edgeopt.train.cv import Selection
from edgeopt.metrics import beats_trivial

TRAINED = (TrialState.COMPLETED, TrialState.STOPPED, TrialState.PAUSED)
BUDGET_FRACTIONS = (1.0, 0.5, 0.25, 0.125)


@dataclass(frozen=True)
class TrialRow:
    """One trial on one profile: its quality on validation (and test, where evaluated) and its cost figures."""

    trial: int
    state: str
    epochs: int
    metrics: dict  # validation: each quality metric (None: not trained)
    test_metrics: dict | None  # the same on test (None: not evaluated)
    cost: CostFigures
    fold_spread: dict | None = None  # cross-validation: {metric: [mean, std] over the folds}; None on a holdout
    tool: str | None = None  # a lab tool's name (report.lab_tools.LAB_TOOLS, or fitted_tree); None: a trial
    detail: dict | None = None  # a lab tool's: how it was fitted, its seconds, a tree ensemble's nodes and trees
    family: str | None = None  # a trial of a union of spaces: its member's family

    @property
    def name(self) -> str:
        """How tables and the verdict call the row: the trial's number, or the tool's name."""
        if self.tool:
            return TOOL_LABELS[self.tool]
        return f"{self.family} trial {self.trial}" if self.family else f"trial {self.trial}"

    @property
    def label(self) -> str:
        """A trial's number, with its family in a union's search: "316 (rocket)"."""
        return f"{self.trial}" + (f" ({self.family})" if self.family else "")

    @property
    def fits(self) -> bool:
        return self.cost.fits

    def quality(self, metric: str, *, test: bool = False) -> float | None:
        """A validation metric (or, with `test`, the test one); None where it was not evaluated."""
        return (self.test_metrics or {}).get(metric) if test else self.metrics.get(metric)

    def to_dict(self) -> dict:
        """Flat JSON: the metrics by name, test ones as test_<name>, then the cost figures with their provenance."""
        out = {"trial": self.trial, "state": self.state, "epochs": self.epochs, **self.metrics,
               **{f"test_{m}": self.quality(m, test=True) for m in QUALITY_METRICS}, **self.cost.to_dict(),
               "fold_spread": self.fold_spread}
        out |= {"family": self.family} if self.family else {}
        return out | ({"tool": self.tool, "tool_label": self.name, **(self.detail or {})} if self.tool else {})

    def flat(self) -> dict:
        """One level, for CSV rows."""
        return {k: v for k, v in self.to_dict().items() if k not in ("provenance", "fold_spread")} \
            | self.cost.flat() | {"fold_spread": self.fold_spread}


@dataclass(frozen=True)
class BudgetRow:
    label: str
    weight_bytes: float
    best: TrialRow | None
    beats_baseline: bool | None = None  # on validation; None without a baseline or a model

    def to_dict(self) -> dict:
        return {"label": self.label, "weight_bytes": self.weight_bytes,
                "best": self.best.to_dict() if self.best else None, "beats_baseline": self.beats_baseline}


@dataclass(frozen=True)
class ProfileReport:
    profile: str
    limit_bytes: float
    front: tuple[TrialRow, ...]
    budgets: tuple[BudgetRow, ...]
    feasible: int
    infeasible: int
    baseline: TrialRow | None  # the best of the lab's tools on validation: the one to beat
    recommended: TrialRow | None = None  # the best validation quality under the profile's limit
    inapplicable: int = 0  # sampled architectures that cannot take the data's samples (in `infeasible` too)
    verdict: str = ""  # one plain line: what to deploy, and whether it beats the lab's tools
    baselines: tuple[TrialRow, ...] = ()  # every lab tool fitted, and the decision tree sized to fit the profile

    def to_dict(self) -> dict:
        return {"profile": self.profile, "limit_bytes": self.limit_bytes, "front": [r.to_dict() for r in self.front],
                "budgets": [b.to_dict() for b in self.budgets], "feasible": self.feasible,
                "infeasible": self.infeasible, "baseline": self.baseline.to_dict() if self.baseline else None,
                "recommended": self.recommended.to_dict() if self.recommended else None,
                "inapplicable": self.inapplicable, "verdict": self.verdict,
                "baselines": [r.to_dict() for r in self.baselines]}


@dataclass(frozen=True)
class SearchReport:
    name: str
    metric: str
    settings: dict
    dataset: dict
    profiles: tuple[ProfileReport, ...]
    trials: dict[str, tuple[TrialRow, ...]]  # profile -> every trial's row on that profile
    hypervolume: tuple[tuple[float, float], ...]  # (seconds since the first trial, hypervolume), primary profile
    pr_curves: dict[str, list]  # "trial N" -> (recall, precision) points on validation, for the front members
    compressed: dict[str, list] = field(default_factory=dict)  # profile -> front members before/after --compress
    trivial: dict[str, float] = field(default_factory=dict)  # what a constant predictor scores on validation
    baseline_seconds: float = 0.0  # fitting the lab's tools (all profiles), beside the search's own time

    def to_dict(self) -> dict:
        return {"name": self.name, "metric": self.metric, "settings": self.settings, "dataset": self.dataset,
                "profiles": [p.to_dict() for p in self.profiles],
                "trials": {name: [r.to_dict() for r in rows] for name, rows in self.trials.items()},
                "hypervolume": [list(p) for p in self.hypervolume], "pr_curves": self.pr_curves,
                "compressed": self.compressed, "trivial": self.trivial, "baseline_seconds": self.baseline_seconds}


def build_report(store: Store, *, evaluate_test: bool = True, baselines: tuple[str, ...] = LAB_TOOLS) -> SearchReport:
    """Collect the report from the store; with `evaluate_test`, front members and budget winners are evaluated on
    the test split (loading their checkpoints weights-only); `baselines`: the lab tools to fit beside them."""
    from edgeopt.search.run_record import SearchRun

    settings = store.settings
    if not settings:
        raise EdgeoptError("this study holds no edgeopt settings; was it made by `edgeopt search`?")
    metric = settings["metric"]
    run = SearchRun.from_store(store)
    space, dataset = run.space, run.dataset
    trials = store.trials()
    tester = _Tester(store, space, dataset, settings) if evaluate_test and dataset.x_test is not None else None

    selection = Selection.from_dict(settings.get("selection"))
    trivial = run.trivial(selection)
    rows_by_profile: dict[str, tuple[TrialRow, ...]] = {}
    reports = []
    start = time.perf_counter()
    tool_args = {"selection": selection, "positive_class": settings["positive_class"], "seed": settings["seed"]}
    tools = fit_lab_tools(dataset, baselines, **tool_args) if trials and baselines else ()
    ladder = tree_ladder(dataset, run.profiles, **tool_args) if trials and "tree" in baselines else ()
    tools_s = time.perf_counter() - start
    for profile in run.profiles:
        limit = weight_limit_bytes(profile)
        costed = [t for t in trials if profile.name in t.costs]  # not those that cannot take the data's samples
        rows = tuple(_row(t, profile.name, None) for t in costed)
        fitting = [(t, r) for t, r in zip(costed, rows) if t.state in TRAINED and t.rungs and r.fits]
        # A model no better than a constant predictor is on no useful front however small it is.
        trained = [(t, r) for t, r in fitting if beats_trivial(t.last.metrics, metric, trivial)]
        front = pareto_members(trained, metric)
        front_rows = tuple(_row(t, profile.name, tester) for t, _ in front)
        sized = fitted_tree(ladder, profile, metric)
        tool_rows = tuple(_tool_row(tool, dataset, profile) for tool in (*tools, *([sized] if sized else ())))
        base_row = max(tool_rows, key=lambda r: r.quality(metric), default=None)
        budgets = []
        for fraction in BUDGET_FRACTIONS:
            cap = limit * fraction
            eligible = [(t, r) for t, r in trained if r.cost.weight_bytes <= cap]
            best = max(eligible, key=lambda tr: (tr[1].quality(metric), -tr[1].cost.weight_bytes), default=None)
            label = "profile limit" if fraction == 1.0 else f"1/{round(1 / fraction)} of limit"
            beats = None if best is None or base_row is None else best[1].quality(metric) > base_row.quality(metric)
            budgets.append(BudgetRow(label, cap, _row(best[0], profile.name, tester) if best else None, beats))
        recommended = budgets[0].best
        rows_by_profile[profile.name] = rows
        reports.append(ProfileReport(profile.name, limit, front_rows, tuple(budgets),
                                     len(fitting), sum(t.state is TrialState.INFEASIBLE for t in trials),
                                     base_row, recommended, len(trials) - len(costed),
                                     _verdict(profile.name, metric, recommended, budgets[0].beats_baseline, base_row,
                                              len(fitting)), tool_rows))
    primary = reports[0].profile if reports else ""  # the profile's own name, which keys the costs (not its path)
    curves = {f"trial {row.trial}": next(t for t in trials if t.number == row.trial).last.metrics.get("pr_curve", [])
              for row in (reports[0].front if reports else ())}
    return SearchReport(store.study.study_name, metric, settings, dataset.summary(), tuple(reports), rows_by_profile,
                        _hypervolume(trials, primary, metric, reports[0].limit_bytes if reports else 1.0, trivial),
                        curves, trivial=trivial, baseline_seconds=tools_s)


def pareto_members(trained: list, metric: str) -> list:
    """Non-dominated (quality, weight bytes) members, smallest first; of members with the same costs, one (the best,
    then the earliest) stays: a front of identical models tells a user nothing more than one."""
    points = [(1 - r.quality(metric), r.cost.weight_bytes) for _, r in trained]
    members = sorted((trained[i] for i in pareto_front(points)),
                     key=lambda tr: (tr[1].cost.weight_bytes, -tr[1].quality(metric), tr[0].number))
    kept, seen = [], set()
    for trial, row in members:
        costs = tuple(row.cost.value(name) for name in FIGURE_NAMES)
        if costs not in seen:
            seen.add(costs)
            kept.append((trial, row))
    return kept


def _verdict(profile: str, metric: str, best: TrialRow | None, beats: bool | None, baseline: TrialRow | None,
             fitting: int) -> str:
    """What a user should take away for a profile, in one line: the recommended model, and its error and size
    against the best of the lab's tools on validation."""
    if best is None:
        return (f"{profile}: no trained model beats a constant predictor ({fitting} trained models fit); "
                "nothing to deploy from this search" + (f"; the best of the lab's tools, {baseline.name}, scores "
                                                         f"{metric} {baseline.quality(metric):.3f} on validation"
                                                         if baseline else ""))
    test = best.quality(metric, test=True)
    text = (f"{profile}: recommended {best.name} ({metric} {best.quality(metric):.3f} on validation"
            + (f", {test:.3f} on test" if test is not None else "")
            + f"; {best.cost.params:,} params, {best.cost.weight_bytes:,.0f} weight bytes)")
    if baseline is None:
        return text
    return text + "; " + versus(best, baseline, metric) + ("" if beats else "; NO trained model beats it under "
                                                                          "the profile limit")


def versus(model: TrialRow, tool: TrialRow, metric: str) -> str:
    """"error -46% vs random forest (validation f1 0.930), 0.7x its weight bytes; does not fit": the model's error
    (1 - metric) relative to the tool's, on validation and, where both have one, on test."""
    def change(a: float | None, b: float | None) -> str:
        if a is None or b is None:
            return "n/a"
        return "same" if abs(a - b) < 1e-12 else f"{(1 - a) / (1 - b) - 1:+.0%}" if b < 1 else "worse (tool error 0)"

    ratio = model.cost.weight_bytes / tool.cost.weight_bytes if tool.cost.weight_bytes else float("inf")
    test = change(model.quality(metric, test=True), tool.quality(metric, test=True))
    return (f"error {change(model.quality(metric), tool.quality(metric))} vs {tool.name} ({metric} "
            f"{tool.quality(metric):.3f} on validation{'' if test == 'n/a' else f'; on test {test}'}), "
            f"{ratio:.2g}x its weight bytes{'' if tool.fits else '; the tool does not fit the device'}")


class _Tester:
    """Evaluates trials on the test split, once each."""

    def __init__(self, store, space, dataset, settings):
        self.store, self.space, self.dataset, self.settings = store, space, dataset, settings
        self.cache: dict[int, dict] = {}

    def __call__(self, trial: TrialRecord) -> dict | None:
        if trial.number in self.cache:
            return self.cache[trial.number]
        path = self.store.checkpoint_path(trial)
        if path is None or not path.is_file() or trial.normalizer is None:
            return None
        import torch

        from edgeopt.data.normalize import Normalizer
        from edgeopt.train.loop import TrialSpec, evaluate, load_trained

        spec = TrialSpec(trial.number, self.space.member(trial.config).to_json(), trial.config,
                         self.dataset.sample_shape, self.dataset.num_classes, 0, str(path),
                         self.settings["positive_class"], study=self.store.uid)
        normalizer = Normalizer.from_dict(trial.normalizer)
        model = load_trained(spec)  # another study's or trial's weights, or a broken file: one error, no figures
        metrics = evaluate(model, torch.from_numpy(normalizer.apply(self.dataset.x_test)),
                           torch.from_numpy(self.dataset.y_test), self.settings["positive_class"])
        self.cache[trial.number] = metrics.to_dict()
        return self.cache[trial.number]


def _row(trial: TrialRecord, profile: str, tester) -> TrialRow:
    val = trial.last.metrics if trial.last else {}
    test = tester(trial) if tester is not None and trial.last else None
    return TrialRow(trial.number, trial.state.value, trial.last.epochs if trial.last else 0, quality(val),
                    quality(test), trial.cost(profile), _spread(val.get("cv")), family=_family(trial.config))


def _family(config: dict) -> str | None:
    """A union's trial's family, as a known family name only (a study is data: its text reaches tables and HTML)."""
    family = config.get("family")
    return family if isinstance(family, str) and family in FAMILIES else None


def _spread(cv: dict | None) -> dict | None:
    if not cv:
        return None
    return {name: [cv[f"{name}_mean"], cv[f"{name}_std"]] for name in QUALITY_METRICS}


def _tool_row(tool: LabTool, dataset, profile) -> TrialRow:
    """A lab tool as a row beside the trials: its metrics and its cost figures on `profile` (trees counted by
    `cost.trees`, logistic regression by the cost model)."""
    from edgeopt.cost.estimate import estimate

    detail = {"fitted": tool.fitted, "seconds": tool.seconds}
    if tool.ensemble is not None:
        costs, broken = tree_costs(tool.ensemble, profile)
        e = tool.ensemble
        detail |= {"trees": e.trees, "nodes": e.nodes, "leaves": e.leaves, "path_nodes": e.path_nodes,
                   "violations": "; ".join(broken)}
    else:
        costs = estimate(tool.module, profile, (1, *dataset.sample_shape)).figures()
    index = -1 - (list(TOOL_LABELS).index(tool.name))
    return TrialRow(index, "baseline", 0, quality(tool.val), quality(tool.test), costs, tool=tool.name, detail=detail)


def weight_limit_bytes(profile) -> float:
    """The weight bytes a profile allows: its budget, else its weight memory (the hypervolume's size scale)."""
    return min(x for x in (profile.budgets.max_weight_bytes, profile.weight_memory.usable_bytes) if x)


def _hypervolume(trials, profile: str, metric: str, limit_bytes: float,
                 trivial: dict[str, float]) -> tuple[tuple[float, float], ...]:
    """Hypervolume of (1 - metric, weight bytes / limit) with reference (1, 1), after each finished rung. A trial
    counts with its latest rung (the checkpoint that exists), so the value can fall when longer training scores
    lower."""
    events = sorted((r.finished_at, t, r) for t in trials for r in t.rungs if t.costs[profile]["fits"])
    worth = {id(r): beats_trivial(r.metrics, metric, trivial) for _, _, r in events}
    if not events:
        return ()
    start = min(t.started_at for t in trials)
    latest: dict[int, tuple[float, float]] = {}
    out = []
    for finished, trial, rung in events:
        quality = rung.metrics[metric] if worth[id(rung)] else 0.0  # a constant predictor adds no hypervolume
        latest[trial.number] = (1 - quality, trial.costs[profile]["weight_bytes"] / limit_bytes)
        out.append((finished - start, hypervolume_2d(list(latest.values()), (1.0, 1.0))))
    return tuple(out)
