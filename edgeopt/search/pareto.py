"""Pareto utilities over points to minimise: dominance, non-dominated sorting, crowding, 2-D hypervolume."""

from __future__ import annotations

import math
from bisect import bisect_right
from collections.abc import Sequence

Point = Sequence[float]


def dominates(a: Point, b: Point) -> bool:
    """a is no worse than b everywhere and better somewhere (all objectives minimised)."""
    return all(x <= y for x, y in zip(a, b)) and any(x < y for x, y in zip(a, b))


def non_dominated_ranks(points: Sequence[Point]) -> list[int]:
    """Rank of each point: 0 for the Pareto front, 1 for the front of the rest, and so on.

    Two objectives take O(n log n) (the scheduler ranks every rung on every decision, so this is its hot path);
    more take the O(n^2) general sort.
    """
    if points and all(len(p) == 2 for p in points):
        return _ranks_2d(points)
    return _ranks_general(points)


def _ranks_2d(points: Sequence[Point]) -> list[int]:
    # In (f1, f2) order, a distinct earlier point dominates a later one exactly when its f2 is no larger. Each front
    # keeps its smallest f2 so far; those minima grow with the front index, so a point's rank is the number of fronts
    # whose minimum is <= its f2. Identical points share a rank.
    order = sorted(range(len(points)), key=lambda i: (points[i][0], points[i][1]))
    front_min: list[float] = []
    ranks = [0] * len(points)
    previous, previous_rank = None, 0
    for i in order:
        point = (points[i][0], points[i][1])
        if point == previous:
            ranks[i] = previous_rank
            continue
        rank = bisect_right(front_min, point[1])
        if rank == len(front_min):
            front_min.append(point[1])
        else:
            front_min[rank] = point[1]
        ranks[i] = previous_rank = rank
        previous = point
    return ranks


def _ranks_general(points: Sequence[Point]) -> list[int]:
    n = len(points)
    dominated_by = [0] * n
    dominating: list[list[int]] = [[] for _ in range(n)]
    for i in range(n):
        for j in range(i + 1, n):
            if dominates(points[i], points[j]):
                dominating[i].append(j)
                dominated_by[j] += 1
            elif dominates(points[j], points[i]):
                dominating[j].append(i)
                dominated_by[i] += 1
    ranks = [0] * n
    current = [i for i in range(n) if dominated_by[i] == 0]
    rank = 0
    while current:
        following = []
        for i in current:
            ranks[i] = rank
            for j in dominating[i]:
                dominated_by[j] -= 1
                if dominated_by[j] == 0:
                    following.append(j)
        current = following
        rank += 1
    return ranks


def pareto_front(points: Sequence[Point]) -> list[int]:
    """Indices of the non-dominated points (duplicates all kept)."""
    return [i for i, rank in enumerate(non_dominated_ranks(points)) if rank == 0]


def crowding_distances(points: Sequence[Point], members: Sequence[int]) -> dict[int, float]:
    """NSGA-II crowding distance of each member within its front: boundary points get infinity."""
    distance = {i: 0.0 for i in members}
    if len(members) <= 2:
        return {i: math.inf for i in members}
    for k in range(len(points[members[0]])):
        ordered = sorted(members, key=lambda i: (points[i][k], i))
        low, high = points[ordered[0]][k], points[ordered[-1]][k]
        distance[ordered[0]] = distance[ordered[-1]] = math.inf
        if high == low:
            continue
        for before, here, after in zip(ordered, ordered[1:], ordered[2:]):
            distance[here] += (points[after][k] - points[before][k]) / (high - low)
    return distance


def rank_order(points: Sequence[Point], ids: Sequence[int]) -> list[int]:
    """`ids` (one per point) best first: by non-dominated rank, then larger crowding distance, then the first
    objective (boundary points all have infinite crowding), then id."""
    ranks = non_dominated_ranks(points)
    crowding: dict[int, float] = {}
    for rank in set(ranks):
        crowding.update(crowding_distances(points, [i for i, r in enumerate(ranks) if r == rank]))
    order = sorted(range(len(points)), key=lambda i: (ranks[i], -crowding[i], points[i][0], ids[i]))
    return [ids[i] for i in order]


def hypervolume_2d(points: Sequence[Point], reference: Point) -> float:
    """Area dominated by `points` and bounded by `reference` (both objectives minimised)."""
    inside = sorted((p[0], p[1]) for p in points if p[0] < reference[0] and p[1] < reference[1])
    area, best_y = 0.0, reference[1]
    for x, y in inside:
        if y < best_y:
            area += (reference[0] - x) * (best_y - y)
            best_y = y
    return area
