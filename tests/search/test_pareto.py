from hypothesis import given
from hypothesis import strategies as st

from edgeopt.search.pareto import (
    _ranks_general,
    crowding_distances,
    dominates,
    hypervolume_2d,
    non_dominated_ranks,
    pareto_front,
    rank_order,
)

points_2d = st.lists(st.tuples(st.integers(0, 20).map(float), st.integers(0, 20).map(float)), min_size=1,
                     max_size=30)
points_3d = st.lists(st.tuples(*[st.integers(0, 10).map(float)] * 3), min_size=1, max_size=25)


@given(st.one_of(points_2d, points_3d))
def test_front_members_are_mutually_non_dominated_and_dominate_the_rest(points):
    front = pareto_front(points)
    assert front
    for i in front:
        assert not any(dominates(points[j], points[i]) for j in range(len(points)))
    for k in set(range(len(points))) - set(front):
        assert any(dominates(points[i], points[k]) for i in front)


@given(points_2d, st.data())
def test_adding_a_dominated_point_never_changes_the_front(points, data):
    front = pareto_front(points)
    anchor = points[data.draw(st.sampled_from(front))]
    extra = (anchor[0] + data.draw(st.integers(0, 5)), anchor[1] + data.draw(st.integers(1, 5)))
    grown = pareto_front(points + [extra])
    assert [points[i] for i in front] == [(points + [extra])[i] for i in grown]


@given(points_2d)
def test_ranks_layer_the_points(points):
    ranks = non_dominated_ranks(points)
    for i, a in enumerate(points):
        for j, b in enumerate(points):
            if dominates(a, b):
                assert ranks[i] < ranks[j]


@given(points_2d, st.tuples(st.integers(0, 20), st.integers(0, 20)))
def test_hypervolume_grows_with_points_and_is_bounded(points, extra):
    reference = (25.0, 25.0)
    base = hypervolume_2d(points, reference)
    assert 0 <= base <= 25 * 25
    assert hypervolume_2d(points + [tuple(map(float, extra))], reference) >= base


def test_hypervolume_by_hand():
    assert hypervolume_2d([(1.0, 3.0), (2.0, 1.0)], (4.0, 4.0)) == 3 * 1 + 2 * 2
    assert hypervolume_2d([(5.0, 1.0)], (4.0, 4.0)) == 0


def test_crowding_prefers_isolated_points_and_order_is_total():
    points = [(0.0, 10.0), (1.0, 9.0), (1.1, 8.9), (5.0, 5.0), (10.0, 0.0)]
    distance = crowding_distances(points, list(range(5)))
    assert distance[0] == distance[4] == float("inf")
    assert distance[3] > distance[1]
    assert rank_order(points, [10, 11, 12, 13, 14])[:2] == [10, 14]
    assert sorted(rank_order(points, [10, 11, 12, 13, 14])) == [10, 11, 12, 13, 14]


@given(st.lists(st.tuples(st.integers(0, 6).map(float), st.integers(0, 6).map(float)), max_size=40))
def test_fast_two_objective_ranks_equal_the_general_sort(points):
    assert non_dominated_ranks(points) == _ranks_general(points)
