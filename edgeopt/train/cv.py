"""Selection on small data: stratified k-fold cross-validation over train + validation.

A validation split of fewer than SMALL_VALIDATION samples ranks models by noise (ten samples score accuracy in steps of
0.1, and most models tie). Then every trial trains one model per fold, each scored on the fold it did not see; a
rung's metrics are those of the pooled out-of-fold predictions (every sample scored once, by a model that never
trained on it), with the per-fold mean and spread beside them. The trial's own checkpoint is a model refit on all of
train + validation with the same configuration and budget: the model the report tests, and compression and export
take (BENCHMARKS.md compares it with the fold models on the test split).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, replace
from pathlib import Path

import numpy as np

from edgeopt.data.dataset import Dataset
from edgeopt.data.normalize import Normalizer
from edgeopt.train.loop import DeviceData, RungResult, TrialSpec, train_trial
from edgeopt.figures import QUALITY_METRICS
from edgeopt.metrics import classification_metrics

SMALL_VALIDATION = 100  # validation samples under which a holdout cannot rank models
MAX_FOLDS = 5


@dataclass(frozen=True)
class Selection:
    """How trials are ranked: "holdout" (the validation split) or "cv" (k folds over train + validation)."""

    method: str
    folds: int = 1

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict | None) -> Selection:
        return HOLDOUT if not data else cls(str(data["method"]), int(data["folds"]))


HOLDOUT = Selection("holdout", 1)


def choose_selection(dataset: Dataset) -> Selection:
    """Cross-validation when the validation split is small, with as many folds (at most 5) as every class can fill."""
    if len(dataset.y_val) >= SMALL_VALIDATION:
        return HOLDOUT
    counts = np.bincount(np.concatenate([dataset.y_train, dataset.y_val]), minlength=dataset.num_classes)
    folds = int(min(MAX_FOLDS, counts.min()))
    return Selection("cv", folds) if folds >= 2 else HOLDOUT


def pooled(dataset: Dataset) -> tuple[np.ndarray, np.ndarray]:
    """Train and validation together: what cross-validation splits."""
    return np.concatenate([dataset.x_train, dataset.x_val]), np.concatenate([dataset.y_train, dataset.y_val])


def selection_labels(dataset: Dataset, selection: Selection) -> np.ndarray:
    """The labels that trials are scored on: the validation split, or every pooled sample under cross-validation."""
    return dataset.y_val if selection.method == "holdout" else pooled(dataset)[1]


def fold_assignment(y: np.ndarray, folds: int, seed: int) -> np.ndarray:
    """Each sample's fold: every class dealt round-robin over the folds after a seeded shuffle (stratified)."""
    rng = np.random.default_rng(seed)
    assignment = np.empty(len(y), np.int64)
    offset = 0
    for label in np.unique(y):
        members = np.flatnonzero(y == label)
        rng.shuffle(members)
        assignment[members] = (np.arange(len(members)) + offset) % folds
        offset += len(members)  # the next class starts where this one stopped, so folds stay equal in size
    return assignment


def fold_datasets(dataset: Dataset, selection: Selection, seed: int) -> tuple[list[Dataset], np.ndarray]:
    """One dataset per fold (train on the others, validate on it) and each pooled sample's fold."""
    x, y = pooled(dataset)
    assignment = fold_assignment(y, selection.folds, seed)
    out = []
    for fold in range(selection.folds):
        held, kept = assignment == fold, assignment != fold
        out.append(Dataset(f"{dataset.name}/fold{fold}", x[kept], y[kept], x[held], y[held], None, None,
                           dataset.num_classes, dataset.class_names))
    return out, assignment


class FoldedData:
    """Cross-validation's tensors on one device: each fold's split, and train + validation whole for the refit."""

    def __init__(self, dataset: Dataset, normalizer: Normalizer, selection: Selection, device: str = "cpu",
                 seed: int = 0):
        folds, self.assignment = fold_datasets(dataset, selection, seed)
        self.device = device
        self.folds = [DeviceData(d, normalizer, device) for d in folds]
        x, y = pooled(dataset)
        whole = Dataset(dataset.name, x, y, x[:1], y[:1], None, None, dataset.num_classes, dataset.class_names)
        self.whole = DeviceData(whole, normalizer, device)  # its "validation" is a token: the refit is not scored
        self.y = y

    def set_teacher_logits(self, logits) -> None:
        """The teacher's logits on the pooled samples, handed to each fold's training split."""
        self.whole.teacher_logits = logits
        for fold, data in enumerate(self.folds):
            index = np.flatnonzero(self.assignment != fold)
            data.teacher_logits = logits[index]


def fold_checkpoint(checkpoint: str, fold: int) -> str:
    path = Path(checkpoint)
    return str(path.with_name(f"{path.stem}.fold{fold}{path.suffix}"))


def train_cv(spec: TrialSpec, data: FoldedData, target_epochs: int) -> RungResult:
    """Train every fold model and the refit to `target_epochs`; metrics of the pooled out-of-fold predictions."""
    results = [train_trial(replace(spec, checkpoint=fold_checkpoint(spec.checkpoint, fold)), fold_data, target_epochs)
               for fold, fold_data in enumerate(data.folds)]
    kept = [r.kept_epoch for r in results if r.kept_epoch is not None]
    # early stopping: the refit has no validation of its own, so it keeps the epoch the folds kept (their median)
    refit_spec = replace(spec, keep_epoch=int(np.median(kept))) if kept else spec
    refit = train_trial(refit_spec, data.whole, target_epochs)
    probs = np.zeros((len(data.y), spec.num_classes))
    for fold, result in enumerate(results):
        probs[data.assignment == fold] = result.probs
    losses = np.array([r.metrics.loss for r in results])
    sizes = np.array([len(r.probs) for r in results])
    metrics = classification_metrics(data.y, probs, positive_class=spec.positive_class,
                                     loss=float((losses * sizes).sum() / sizes.sum()))
    spread = {f"{name}_mean": float(np.mean([r.metrics.get(name) for r in results])) for name in QUALITY_METRICS}
    spread |= {f"{name}_std": float(np.std([r.metrics.get(name) for r in results])) for name in QUALITY_METRICS}
    return RungResult(refit.epochs, metrics, refit.train_loss, sum(r.seconds for r in results) + refit.seconds,
                      probs, {"cv": {"folds": len(results), **spread}})


__all__ = ["HOLDOUT", "MAX_FOLDS", "SMALL_VALIDATION", "FoldedData", "Selection", "choose_selection",
           "fold_assignment", "fold_checkpoint", "fold_datasets", "pooled", "selection_labels", "train_cv"]
