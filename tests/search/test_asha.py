import math
import random

import pytest
from hypothesis import given
from hypothesis import strategies as st

from edgeopt.search.asha import MOASHA, Decision, RungHistory, RungRecord


def curve(quality: float, epochs: int) -> float:
    """A synthetic learning curve: error falls towards 1 - quality."""
    return (1 - quality) + 0.5 * math.exp(-epochs / 3)


def test_rung_budgets():
    assert MOASHA(1, 9, 3).rung_epochs == (1, 3, 9)
    assert MOASHA(1, 10, 3).rung_epochs == (1, 3, 9, 10)
    assert MOASHA(9, 9, 3).rung_epochs == (9,)
    assert MOASHA(2, 16, 2).rung_epochs == (2, 4, 8, 16)
    with pytest.raises(ValueError):
        MOASHA(5, 3)
    with pytest.raises(ValueError):
        MOASHA(1, 9, 1)


def test_top_third_is_promoted_and_the_rest_wait():
    scheduler = MOASHA(1, 9, 3)
    records = tuple(RungRecord(t, 0, (err, 100.0)) for t, err in enumerate([0.5, 0.2, 0.9, 0.4, 0.3, 0.8]))
    history = RungHistory(records)
    decisions = {t: scheduler.on_result(t, 0, history) for t in range(6)}
    # Equal hardware cost: the ranking is by error; 6 // 3 = 2 promoted.
    assert {t for t, d in decisions.items() if d is Decision.PROMOTE} == {1, 4}
    assert {t for t, d in decisions.items() if d is Decision.PAUSE} == {0, 2, 3, 5}
    assert scheduler.on_result(1, 2, RungHistory(records + (RungRecord(1, 2, (0.1, 100.0)),))) is Decision.STOP


def test_hardware_objective_keeps_small_models_alive():
    scheduler = MOASHA(1, 9, 3)
    # trial 2 is worse than 0 and 1 in error but far smaller: it is non-dominated.
    records = (RungRecord(0, 0, (0.20, 4000.0)), RungRecord(1, 0, (0.25, 3000.0)), RungRecord(2, 0, (0.40, 100.0)),
               RungRecord(3, 0, (0.50, 5000.0)), RungRecord(4, 0, (0.45, 4500.0)), RungRecord(5, 0, (0.60, 900.0)))
    promoted = {t for t in range(6) if scheduler.on_result(t, 0, RungHistory(records)) is Decision.PROMOTE}
    assert promoted == {0, 2}  # the two ends of the front (infinite crowding), the better error first


def test_next_promotion_walks_paused_trials_and_respects_records_of_promotions():
    scheduler = MOASHA(1, 9, 3)
    records = tuple(RungRecord(t, 0, (0.1 * t, 1.0)) for t in range(3))
    history = RungHistory(records)
    assert scheduler.next_promotion(history) == (0, 0)
    assert scheduler.next_promotion(RungHistory(records, frozenset({(0, 0)}))) is None
    assert scheduler.next_promotion(RungHistory(records, frozenset(), frozenset({0}))) is None
    # Draining: with no new trials coming, ceil(n / eta) pass on.
    assert scheduler.next_promotion(RungHistory(records[:2]), draining=True) == (0, 0)
    assert scheduler.next_promotion(RungHistory(records[:2])) is None


def simulate(qualities, scheduler, order_seed=0, draining_after=None, order=None, moves=None):
    """Run ASHA over synthetic curves with one worker; returns (history, epochs trained per trial).

    Trials arrive in `order` (default: shuffled with `order_seed`); each promotion is appended to `moves` as
    (trial, rung, number of records then, draining)."""
    records, promoted = [], set()
    pending = list(order) if order is not None else list(range(len(qualities)))
    if order is None:
        random.Random(order_seed).shuffle(pending)
    spent = {}
    moves = [] if moves is None else moves
    while True:
        history = RungHistory(tuple(records), frozenset(promoted))
        move = scheduler.next_promotion(history, draining=not pending)
        if move is not None:
            trial, rung = move
            moves.append((trial, rung, len(records), not pending))
            promoted.add((trial, rung))
            rung += 1
        elif pending:
            trial, rung = pending.pop(0), 0
        else:
            return RungHistory(tuple(records), frozenset(promoted)), spent
        while True:
            epochs = scheduler.rung_epochs[rung]
            spent[trial] = epochs
            records.append(RungRecord(trial, rung, (curve(qualities[trial], epochs), 1.0)))
            decision = scheduler.on_result(trial, rung, RungHistory(tuple(records), frozenset(promoted)))
            if decision is not Decision.PROMOTE:
                break
            moves.append((trial, rung, len(records), False))
            promoted.add((trial, rung))
            rung += 1


# Qualities a thousandth apart at least: values that differ only below float resolution (1e-39 beside 0) become equal
# errors once on the curve, and then there is no single best curve to follow.
qualities_strategy = st.lists(st.integers(0, 990), min_size=3, max_size=40, unique=True).map(
    lambda v: [q / 1000 for q in v])


@given(qualities_strategy)
def test_the_best_curve_reaches_the_full_budget_and_every_promotion_was_earned(qualities):
    scheduler = MOASHA(1, 9, 3)
    moves = []
    history, spent = simulate(qualities, scheduler, moves=moves)
    best = max(range(len(qualities)), key=qualities.__getitem__)
    assert spent[best] == 9
    assert sum(spent.values()) < 9 * len(qualities)
    # Asynchronous: a trial goes on when it is among the best 1/eta of the results its rung holds at that moment
    # (ceil when draining). When later arrivals keep beating earlier ones, more than 1/eta may go on in the end.
    for trial, rung, seen, draining in moves:
        at_rung = sorted((r.objectives[0], r.trial) for r in history.records[:seen] if r.rung == rung)
        keep = -(-len(at_rung) // 3) if draining else len(at_rung) // 3
        assert trial in [t for _, t in at_rung[:keep]]


@given(qualities_strategy)
def test_when_the_best_arrive_first_at_most_one_in_eta_goes_on(qualities):
    best_first = sorted(range(len(qualities)), key=lambda i: -qualities[i])
    _, spent = simulate(qualities, MOASHA(1, 9, 3), order=best_first)
    assert sum(1 for e in spent.values() if e >= 3) <= math.ceil(len(qualities) / 3)
    assert sum(1 for e in spent.values() if e == 9) <= math.ceil(math.ceil(len(qualities) / 3) / 3)


def test_decisions_depend_only_on_the_records():
    scheduler = MOASHA(1, 9, 3)
    qualities = [0.1 * i for i in range(9)]
    history, _ = simulate(qualities, scheduler)
    # The same records, handed over in another order (as a resumed study reads them), decide the same.
    shuffled = list(history.records)
    random.Random(5).shuffle(shuffled)
    other = RungHistory(tuple(shuffled), history.promoted)
    for record in history.records:
        assert scheduler.on_result(record.trial, record.rung, history) is \
            scheduler.on_result(record.trial, record.rung, other)
    assert scheduler.next_promotion(history) == scheduler.next_promotion(other)


def test_results_no_better_than_the_reference_are_never_promoted():
    scheduler = MOASHA(1, 9, 3, reference=(1.0, float("inf")))
    # Trial 0 is the smallest (on the front by size) but has zero quality: error 1.0.
    records = (RungRecord(0, 0, (1.0, 10.0)), RungRecord(1, 0, (0.3, 500.0)), RungRecord(2, 0, (0.5, 900.0)),
               RungRecord(3, 0, (0.6, 800.0)), RungRecord(4, 0, (0.2, 2000.0)), RungRecord(5, 0, (0.9, 700.0)))
    history = RungHistory(records)
    assert scheduler.on_result(0, 0, history) is Decision.PAUSE
    assert MOASHA(1, 9, 3).on_result(0, 0, history) is Decision.PROMOTE  # without a reference it would go on
    assert scheduler.next_promotion(history, draining=True) != (0, 0)


def test_worthless_results_take_no_promotion_slots():
    scheduler = MOASHA(1, 9, 3, reference=(1.0, float("inf")))
    # Three useful trials, mutually non-dominated, and three with zero quality that are smaller than all of them.
    # Ranked together, the smallest worthless one would sit on the front and take one of the two slots.
    records = (RungRecord(0, 0, (0.3, 500.0)), RungRecord(1, 0, (0.4, 400.0)), RungRecord(2, 0, (0.5, 300.0)),
               RungRecord(3, 0, (1.0, 10.0)), RungRecord(4, 0, (1.0, 20.0)), RungRecord(5, 0, (1.0, 30.0)))
    history = RungHistory(records)
    promoted = {t for t in range(6) if scheduler.on_result(t, 0, history) is Decision.PROMOTE}
    assert promoted == {0, 2}  # 6 // 3 slots, both to useful trials: the two ends of their front


@given(qualities_strategy, st.integers(0, 10_000))
def test_while_trials_still_come_at_most_one_in_eta_of_a_rung_goes_on(qualities, order_seed):
    moves = []
    history, _ = simulate(qualities, MOASHA(1, 9, 3), order_seed=order_seed, moves=moves)
    gone_on = {}
    for _, rung, seen, draining in moves:
        gone_on[rung] = gone_on.get(rung, 0) + 1
        if not draining:
            at_rung = sum(1 for r in history.records[:seen] if r.rung == rung)
            assert gone_on[rung] <= at_rung // 3
