import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from edgeopt.metrics import (
    Metrics,
    beats_trivial,
    best_threshold_f1,
    classification_metrics,
    trivial_scores,
)


def one_hot(pred, classes):
    probs = np.full((len(pred), classes), 0.1 / max(classes - 1, 1))
    probs[np.arange(len(pred)), pred] = 0.9
    return probs


def test_binary_metrics_by_hand():
    y = np.array([1, 1, 1, 0, 0, 0, 0, 0])
    pred = np.array([1, 1, 0, 1, 0, 0, 0, 0])  # tp 2, fn 1, fp 1
    m = classification_metrics(y, one_hot(pred, 2))
    assert m.precision == pytest.approx(2 / 3) and m.recall == pytest.approx(2 / 3)
    assert m.f1 == pytest.approx(2 / 3) and m.accuracy == pytest.approx(6 / 8)
    flipped = classification_metrics(y, one_hot(pred, 2), positive_class=0)
    assert flipped.precision == pytest.approx(4 / 5) and flipped.recall == pytest.approx(4 / 5)


def test_multiclass_is_macro_averaged():
    y = np.array([0, 1, 2, 2])
    pred = np.array([0, 2, 2, 2])
    m = classification_metrics(y, one_hot(pred, 3))
    assert m.per_class_recall == (1.0, 0.0, 1.0)
    assert m.recall == pytest.approx(2 / 3)
    assert m.precision == pytest.approx((1 + 0 + 2 / 3) / 3)


@given(st.lists(st.tuples(st.integers(0, 1), st.floats(0, 1)), min_size=2, max_size=60))
def test_metrics_are_fractions_and_round_trip(pairs):
    y = np.array([p[0] for p in pairs])
    score = np.array([p[1] for p in pairs])
    probs = np.stack([1 - score, score], axis=1)
    m = classification_metrics(y, probs)
    for value in (m.accuracy, m.precision, m.recall, m.f1):
        assert 0 <= value <= 1
    for recall, precision in m.pr_curve:
        assert 0 <= recall <= 1 and 0 <= precision <= 1
    assert Metrics.from_dict(m.to_dict()) == m


@given(st.lists(st.tuples(st.integers(0, 1), st.floats(0.0, 1.0)), min_size=4, max_size=60))
def test_best_threshold_f1_is_at_least_argmax_f1_and_at_most_one(pairs):
    y = np.array([p[0] for p in pairs])
    score = np.array([p[1] for p in pairs])
    metrics = classification_metrics(y, np.stack([1 - score, score], axis=1)).to_dict()
    assert metrics["f1"] <= best_threshold_f1(metrics) <= 1.0


def test_best_threshold_f1_sees_separation_that_argmax_misses():
    # Every positive scores above every negative, but none above 0.5: F1 at argmax is 0, at the best threshold 1.
    y = np.array([0, 0, 0, 1, 1])
    score = np.array([0.1, 0.15, 0.2, 0.3, 0.4])
    metrics = classification_metrics(y, np.stack([1 - score, score], axis=1), curve_points=11).to_dict()
    assert metrics["f1"] == 0.0 and best_threshold_f1(metrics) == 1.0
    three = classification_metrics(np.array([0, 1, 2, 1]), np.eye(3)[[0, 1, 2, 0]]).to_dict()
    assert best_threshold_f1(three) == three["f1"]  # multi-class: the macro F1 itself


def test_trivial_scores_are_those_of_always_the_majority_and_always_positive():
    y = np.array([0] * 6 + [1] * 4)
    trivial = trivial_scores(y, 2)
    assert trivial["accuracy"] == 0.6 and trivial["recall"] == 1.0
    assert trivial["f1"] == pytest.approx(2 * 0.4 / 1.4)  # always positive: 2p / (1 + p)
    assert trivial_scores(np.array([0, 1, 2, 2]), 3)["accuracy"] == 0.5


@given(st.lists(st.integers(0, 1), min_size=4, max_size=80), st.integers(0, 1),
       st.sampled_from(["f1", "precision", "recall", "accuracy"]))
def test_no_constant_predictor_beats_the_trivial_scores(labels, constant, metric):
    y = np.array(labels)
    if len(set(labels)) < 2:
        return
    trivial = trivial_scores(y, 2)
    probs = np.zeros((len(y), 2))
    probs[:, constant] = 1.0
    assert not beats_trivial(classification_metrics(y, probs).to_dict(), metric, trivial)


def test_a_model_that_separates_the_classes_beats_the_trivial_scores():
    y = np.array([0, 0, 0, 1, 1, 0, 1, 0])
    probs = np.stack([1 - y * 0.8 - 0.1, y * 0.8 + 0.1], axis=1)
    for metric in ("f1", "precision", "recall", "accuracy"):
        assert beats_trivial(classification_metrics(y, probs).to_dict(), metric, trivial_scores(y, 2))
