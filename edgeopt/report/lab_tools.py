"""The lab's own tools as every report's baselines: logistic regression, a decision tree, a random forest and gradient
boosting (scikit-learn), fitted on the same flattened, normalised features and scored as the trials are (holdout
validation, or pooled out-of-fold predictions and a refit under cross-validation); and per profile the best decision
tree that fits it (its leaves chosen on validation among the sizes the device holds). Trees are costed on the
device by `cost.trees`; logistic regression by the cost model, as a dense layer."""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from functools import partial

import numpy as np

from edgeopt.cost.trees import TreeEnsemble, tree_costs
from edgeopt.data.dataset import Dataset
from edgeopt.data.normalize import Normalizer
from edgeopt.metrics import Metrics, classification_metrics
from edgeopt.profiles.schema import HardwareProfile
from edgeopt.report.baseline import logistic_regression
from edgeopt.report.tool_names import LAB_TOOLS, TOOL_LABELS
from edgeopt.train.cv import HOLDOUT, Selection, fold_datasets, pooled

FOREST_TREES = 200
# Gradient boosting's defaults grow 100 stages x classes trees over every feature: 47 s on PLAID (1,344 steps, 11
# classes) against a search of minutes. Above this many features each split draws sqrt(features) of them (said in the
# report), which keeps it to seconds.
BOOSTING_ALL_FEATURES = 64
LEAF_LADDER = (2, 4, 8, 16, 32, 64, 128, 256, 512, 1024, 2048, 4096)


@dataclass(frozen=True)
class LabTool:
    """One fitted tool: its validation and test metrics, how it was fitted, what it is (a tree ensemble's shape, or
    the logistic regression's torch module, costed as a model), and the seconds it took."""

    name: str
    val: Metrics
    test: Metrics | None
    fitted: str  # how it was fitted, in words
    seconds: float
    ensemble: TreeEnsemble | None = None
    module: object | None = None  # logistic regression: its nn.Module

    @property
    def label(self) -> str:
        return TOOL_LABELS[self.name]


@dataclass(frozen=True)
class _Features:
    """The flattened, normalised features a tool sees: the holdout splits, or the folds and the pool."""

    dataset: Dataset
    normalizer: Normalizer
    selection: Selection
    seed: int
    positive_class: int

    def flat(self, x: np.ndarray) -> np.ndarray:
        return self.normalizer.apply(x).reshape(len(x), -1)

    def score(self, make: Callable[[], object]) -> tuple[object, Metrics, Metrics | None]:
        """(the model trained as the search's selection says, validation metrics, test metrics or None)."""
        d, classes = self.dataset, self.dataset.num_classes
        if self.selection.method == "holdout":
            model = make().fit(self.flat(d.x_train), d.y_train)
            val = self._metrics(model, d.x_val, d.y_val)
        else:
            folds, assignment = fold_datasets(d, self.selection, self.seed)
            y = pooled(d)[1]
            probs = np.zeros((len(y), classes))
            for fold, part in enumerate(folds):
                fitted = make().fit(self.flat(part.x_train), part.y_train)
                probs[assignment == fold] = _proba(fitted, self.flat(part.x_val), classes)
            val = classification_metrics(y, probs, positive_class=self.positive_class)
            x, y = pooled(d)
            model = make().fit(self.flat(x), y)
        test = self._metrics(model, d.x_test, d.y_test) if d.x_test is not None else None
        return model, val, test

    def _metrics(self, model, x: np.ndarray, y: np.ndarray) -> Metrics:
        return classification_metrics(y, _proba(model, self.flat(x), self.dataset.num_classes),
                                      positive_class=self.positive_class)

    @property
    def training_flat(self) -> np.ndarray:
        x = self.dataset.x_train if self.selection.method == "holdout" else pooled(self.dataset)[0]
        return self.flat(x)


def fit_lab_tools(dataset: Dataset, tools: Sequence[str] = LAB_TOOLS, *, selection: Selection = HOLDOUT,
                  positive_class: int = 1, seed: int = 0) -> tuple[LabTool, ...]:
    """Each tool in `tools` fitted and scored on `dataset` as the search selects (see the module's note)."""
    from sklearn.ensemble import GradientBoostingClassifier, RandomForestClassifier
    from sklearn.tree import DecisionTreeClassifier

    normalizer = Normalizer.fit(dataset.x_train, per_feature=True)
    features = _Features(dataset, normalizer, selection, seed, positive_class)
    n_features = features.training_flat.shape[1]
    out = []
    for name in tools:
        start = time.perf_counter()
        if name == "logistic":
            module, val, test = logistic_regression(dataset, normalizer, positive_class=positive_class, seed=seed,
                                                    selection=selection)
            out.append(LabTool(name, val, test, "L2 1e-3, L-BFGS", time.perf_counter() - start, module=module))
            continue
        if name == "tree":
            make, fitted = partial(DecisionTreeClassifier, random_state=seed), "scikit-learn defaults"
        elif name == "forest":
            make = partial(RandomForestClassifier, FOREST_TREES, random_state=seed, n_jobs=-1)
            fitted = f"{FOREST_TREES} trees, scikit-learn defaults"
        else:
            sqrt = n_features > BOOSTING_ALL_FEATURES
            make = partial(GradientBoostingClassifier, random_state=seed, max_features="sqrt" if sqrt else None)
            fitted = "100 stages" + (f", sqrt of the {n_features:,} features per split" if sqrt else
                                     ", scikit-learn defaults")
        model, val, test = features.score(make)
        out.append(LabTool(name, val, test, fitted, time.perf_counter() - start,
                           ensemble=ensemble_of(model, features.training_flat, dataset.num_classes)))
    return tuple(out)


@dataclass(frozen=True)
class TreeSize:
    """One rung of the ladder of decision-tree sizes: the cap on leaves, the tree's metrics and shape."""

    leaves: int
    val: Metrics
    test: Metrics | None
    ensemble: TreeEnsemble
    seconds: float


def tree_ladder(dataset: Dataset, profiles: Sequence[HardwareProfile], *, selection: Selection = HOLDOUT,
                positive_class: int = 1, seed: int = 0) -> tuple[TreeSize, ...]:
    """Decision trees of at most 2, 4, 8, ... leaves, until one fits none of `profiles` or the tree stops growing:
    fitted once, and `fitted_tree` picks each profile's."""
    from sklearn.tree import DecisionTreeClassifier

    features = _Features(dataset, Normalizer.fit(dataset.x_train, per_feature=True), selection, seed,
                         positive_class)
    x = features.training_flat
    out = []
    for leaves in LEAF_LADDER:
        start = time.perf_counter()
        model, val, test = features.score(partial(DecisionTreeClassifier, max_leaf_nodes=leaves, random_state=seed))
        ensemble = ensemble_of(model, x, dataset.num_classes)
        if not any(tree_costs(ensemble, profile)[0].fits for profile in profiles):
            break
        out.append(TreeSize(leaves, val, test, ensemble, time.perf_counter() - start))
        if ensemble.leaves < leaves:  # the tree stopped growing: larger caps give the same tree
            break
    return tuple(out)


def fitted_tree(ladder: Sequence[TreeSize], profile: HardwareProfile, metric: str) -> LabTool | None:
    """The tree of `ladder` with the best validation `metric` among those that fit `profile` (the smaller on a tie);
    None when not even a stump fits."""
    fitting = [t for t in ladder if tree_costs(t.ensemble, profile)[0].fits]
    if not fitting:
        return None
    best = max(fitting, key=lambda t: (t.val.get(metric), -t.leaves))
    return LabTool("fitted_tree", best.val, best.test, f"at most {best.leaves} leaves, chosen on validation among "
                   f"those that fit {profile.name}", sum(t.seconds for t in ladder), ensemble=best.ensemble)


def ensemble_of(model, x: np.ndarray, classes: int) -> TreeEnsemble:
    """The shape of a fitted scikit-learn tree, forest or gradient boosting, and its mean path on samples `x`."""
    if hasattr(model, "estimators_") and not hasattr(model, "tree_"):
        trees = list(np.asarray(model.estimators_).reshape(-1))
        kind = "score" if hasattr(model, "loss") or hasattr(model, "init_") else "class"
    else:
        trees, kind = [model], "class"
    internal = leaves = 0
    path = 0.0
    for tree in trees:
        t = tree.tree_
        is_leaf = t.children_left == -1
        leaves += int(is_leaf.sum())
        internal += int((~is_leaf).sum())
        path += float(tree.decision_path(x.astype(np.float32)).sum(axis=1).mean()) - 1.0
    return TreeEnsemble(len(trees), internal, leaves, x.shape[1], classes, max(0.0, min(path, internal)), kind)


def _proba(model, x: np.ndarray, classes: int) -> np.ndarray:
    """Class probabilities over every class of the data (a class absent from a fold's training split gets 0)."""
    probs = np.zeros((len(x), classes))
    probs[:, np.asarray(model.classes_, dtype=int)] = model.predict_proba(x)
    return probs


__all__ = ["LAB_TOOLS", "TOOL_LABELS", "LabTool", "TreeSize", "ensemble_of", "fit_lab_tools", "fitted_tree",
           "tree_costs", "tree_ladder"]
