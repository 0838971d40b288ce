"""Classification metrics from labels and predicted probabilities (numpy only)."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from edgeopt.figures import QUALITY_METRICS



@dataclass(frozen=True)
class Metrics:
    """Binary: precision/recall/F1 of `positive_class`. Multi-class: macro averages; per-class values always."""

    accuracy: float
    precision: float
    recall: float
    f1: float
    loss: float
    per_class_precision: tuple[float, ...]
    per_class_recall: tuple[float, ...]
    per_class_f1: tuple[float, ...]
    pr_curve: tuple[tuple[float, float], ...] = field(default=())  # (recall, precision) of the positive class

    def get(self, name: str) -> float:
        if name not in QUALITY_METRICS and name != "loss":
            raise ValueError(f"unknown metric {name!r}; choose from {', '.join(QUALITY_METRICS)}")
        return float(getattr(self, name))

    def to_dict(self) -> dict:
        return {"accuracy": self.accuracy, "precision": self.precision, "recall": self.recall, "f1": self.f1,
                "loss": self.loss, "per_class_precision": list(self.per_class_precision),
                "per_class_recall": list(self.per_class_recall), "per_class_f1": list(self.per_class_f1),
                "pr_curve": [list(p) for p in self.pr_curve]}

    @classmethod
    def from_dict(cls, data: dict) -> Metrics:
        return cls(data["accuracy"], data["precision"], data["recall"], data["f1"], data["loss"],
                   tuple(data["per_class_precision"]), tuple(data["per_class_recall"]), tuple(data["per_class_f1"]),
                   tuple(tuple(p) for p in data.get("pr_curve", ())))


def best_threshold_f1(metrics: dict) -> float:
    """A binary model's F1 at the best decision threshold on its PR curve (at least its F1 at argmax); the macro F1
    of a multi-class one. Early in training most models do not yet score any positive above 0.5, so F1 at argmax is
    0 for all of them and cannot tell them apart; how well they already separate the classes can."""
    if len(metrics["per_class_f1"]) != 2:
        return float(metrics["f1"])
    return max([float(metrics["f1"])] + [2 * r * p / (r + p) for r, p in metrics.get("pr_curve", ()) if r + p > 0])


def classification_metrics(y_true: np.ndarray, probs: np.ndarray, *, positive_class: int = 1, loss: float = 0.0,
                           curve_points: int = 41) -> Metrics:
    """Metrics of argmax predictions; the PR curve sweeps a threshold on the positive class's probability."""
    num_classes = probs.shape[1]
    y_pred = probs.argmax(axis=1)
    precision, recall, f1 = [], [], []
    for c in range(num_classes):
        tp = float(np.sum((y_pred == c) & (y_true == c)))
        fp = float(np.sum((y_pred == c) & (y_true != c)))
        fn = float(np.sum((y_pred != c) & (y_true == c)))
        p = tp / (tp + fp) if tp + fp else 0.0
        r = tp / (tp + fn) if tp + fn else 0.0
        precision.append(p)
        recall.append(r)
        f1.append(2 * p * r / (p + r) if p + r else 0.0)
    if num_classes == 2:
        summary = precision[positive_class], recall[positive_class], f1[positive_class]
    else:
        summary = float(np.mean(precision)), float(np.mean(recall)), float(np.mean(f1))
    accuracy = float(np.mean(y_pred == y_true))
    curve = pr_curve(y_true == positive_class, probs[:, positive_class], curve_points)
    return Metrics(accuracy, *summary, float(loss), tuple(precision), tuple(recall), tuple(f1), curve)


def pr_curve(is_positive: np.ndarray, scores: np.ndarray, points: int) -> tuple[tuple[float, float], ...]:
    """(recall, precision) at `points` thresholds spread over the score quantiles."""
    total = int(is_positive.sum())
    if total == 0:
        return ()
    out = []
    for threshold in np.unique(np.quantile(scores, np.linspace(0, 1, points))):
        predicted = scores >= threshold
        tp = int(np.sum(predicted & is_positive))
        n = int(predicted.sum())
        out.append((tp / total, tp / n if n else 1.0))
    return tuple(out)


def trivial_scores(y_true: np.ndarray, num_classes: int, positive_class: int = 1) -> dict[str, float]:
    """The best each quality metric reaches without looking at the input: always the majority class, and for two
    classes always the positive one (F1 = 2p / (1 + p) at positive share p, recall 1). A model must beat these."""
    counts = np.bincount(y_true, minlength=num_classes)
    constants = [int(np.argmax(counts))] + ([positive_class] if num_classes == 2 else [])
    best: dict[str, float] = {}
    for label in constants:
        probs = np.zeros((len(y_true), num_classes))
        probs[:, label] = 1.0
        metrics = classification_metrics(y_true, probs, positive_class=positive_class, curve_points=2)
        for name in QUALITY_METRICS:
            best[name] = max(best.get(name, 0.0), metrics.get(name))
    return best


def beats_trivial(metrics: dict, metric: str, trivial: dict[str, float], *, f1: float | None = None) -> bool:
    """Whether a result beats every constant predictor: in `metric` (where a constant can be beaten at all: always
    positive has recall 1) and in F1, so a model that answers always positive is no result under any objective.
    `f1`: the F1 to judge instead of the result's F1 at argmax (MO-ASHA's F1 at the best threshold)."""
    margin = 1e-9  # rounding: a constant predictor's own score computed along another path
    f1 = float(metrics["f1"]) if f1 is None else f1
    value = f1 if metric == "f1" else float(metrics[metric])
    if trivial[metric] < 1.0 and value <= trivial[metric] + margin:
        return False
    return f1 > trivial["f1"] + margin
