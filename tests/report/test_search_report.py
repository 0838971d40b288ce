"""The front a report shows: non-dominated, one model per set of costs."""

from collections import namedtuple

from hypothesis import given
from hypothesis import strategies as st

from edgeopt.figures import CostFigures
from edgeopt.report.search_report import TrialRow, pareto_members

Trial = namedtuple("Trial", "number")


def _row(number, f1, weight_bytes):
    return TrialRow(number, "completed", 9, {"precision": 0.5, "recall": 0.5, "f1": f1, "accuracy": 0.5}, None,
                    CostFigures(int(weight_bytes), float(weight_bytes), 0, 100.0, 1e-6, 1e-9, True))


@given(st.lists(st.tuples(st.sampled_from([0.5, 0.6, 0.7, 0.8]), st.sampled_from([16, 100, 400, 2000])),
                min_size=1, max_size=40))
def test_the_front_holds_no_duplicates_and_nothing_dominated(points):
    trained = [(Trial(i), _row(i, f1, size)) for i, (f1, size) in enumerate(points)]
    members = pareto_members(trained, "f1")
    costs = [r.cost.weight_bytes for _, r in members]
    assert len(costs) == len(set(costs))  # identical models (same costs, same score) are one
    point = [(r.quality("f1"), r.cost.weight_bytes) for _, r in trained]
    for _, member in members:
        f1, size = member.quality("f1"), member.cost.weight_bytes
        assert not any(q >= f1 and b <= size and (q > f1 or b < size) for q, b in point)
    best = max(f1 for f1, _ in points)
    assert any(r.quality("f1") == best for _, r in members)
    for t, r in members:  # of equal points the earliest trial stays
        assert t.number == min(n for n, p in enumerate(points) if p == (r.quality("f1"), r.cost.weight_bytes))
