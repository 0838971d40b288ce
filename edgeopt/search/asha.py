"""Multi-objective asynchronous successive halving (MO-ASHA) as a pure decision object.

Rungs train for min_epochs * eta**k epochs. At each rung, trials are ordered by non-dominated rank over their
objectives (quality error at that rung, a hardware cost), ties broken by crowding distance; a trial among the best
1/eta of those recorded so far may go on while fewer than 1/eta of them have. The scheduler holds no state and no
handle to the runner: every decision is a function of the rung records passed in (read from the study's storage), so
a resumed study decides exactly as before.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum

from edgeopt.search.pareto import rank_order


class Decision(Enum):
    PROMOTE = "promote"  # train on to the next rung now
    PAUSE = "pause"  # not among the best yet; may be promoted when more results arrive
    STOP = "stop"  # finished: reached the last rung


@dataclass(frozen=True)
class RungRecord:
    trial: int
    rung: int
    objectives: tuple[float, ...]  # minimised


@dataclass(frozen=True)
class RungHistory:
    """An immutable snapshot of what the store holds: every rung result and every promotion made."""

    records: tuple[RungRecord, ...] = ()
    promoted: frozenset[tuple[int, int]] = frozenset()  # (trial, rung it was promoted from)
    closed: frozenset[int] = frozenset()  # trials that can no longer be promoted (failed, stopped)


@dataclass(frozen=True)
class MOASHA:
    min_epochs: int = 1
    max_epochs: int = 9
    eta: int = 3
    # Results no better than this point in every objective add no hypervolume and are never promoted: a classifier
    # with zero F1 is worthless however small it is.
    reference: tuple[float, ...] | None = None

    def __post_init__(self):
        if self.min_epochs < 1 or self.max_epochs < self.min_epochs:
            raise ValueError(f"need 1 <= min_epochs <= max_epochs, got {self.min_epochs} and {self.max_epochs}")
        if self.eta < 2:
            raise ValueError(f"the reduction factor eta must be at least 2, got {self.eta}")

    @property
    def rung_epochs(self) -> tuple[int, ...]:
        """Epochs trained by the end of each rung; the last is max_epochs."""
        rungs = []
        epochs = self.min_epochs
        while epochs < self.max_epochs:
            rungs.append(epochs)
            epochs *= self.eta
        rungs.append(self.max_epochs)
        return tuple(rungs)

    def on_result(self, trial: int, rung: int, history: RungHistory) -> Decision:
        """Decide for `trial`, whose result at `rung` is already among `history.records`."""
        if rung >= len(self.rung_epochs) - 1:
            return Decision.STOP
        return Decision.PROMOTE if trial in self._promotable(rung, history) else Decision.PAUSE

    def next_promotion(self, history: RungHistory, *, draining: bool = False) -> tuple[int, int] | None:
        """A paused (trial, rung) now among the best 1/eta of its rung, highest rung first; None if there is none.

        `draining`: no new trials will come, so each rung passes on ceil(n/eta) instead of floor(n/eta), and the
        best trials of a small search still reach the full budget.
        """
        for rung in reversed(range(len(self.rung_epochs) - 1)):
            for trial in self._promotable(rung, history, draining):
                return trial, rung
        return None

    def _promotable(self, rung: int, history: RungHistory, draining: bool = False) -> list[int]:
        at_rung = [r for r in history.records if r.rung == rung]
        keep = -(-len(at_rung) // self.eta) if draining else len(at_rung) // self.eta
        # Worthless results rank after every useful one. Ranked among them, each front would hold the smallest
        # worthless model left, so half the promotion slots could go to models that are never promoted.
        useful = [r for r in at_rung if self.reference is None
                  or all(value < bound for value, bound in zip(r.objectives, self.reference))]
        if keep == 0 or not useful:
            return []
        # While new trials still come, at most `keep` go on from a rung in all: without this bound, asynchronous
        # promotion sent ~43% of rung 0 on and ~19% of all trials to the full budget (eta 3) on the bundled example,
        # as trials that led early kept their promotion when later ones overtook them. Draining, the best go on.
        slots = keep if draining else keep - sum(1 for _, from_rung in history.promoted if from_rung == rung)
        if slots <= 0:
            return []
        best = rank_order([r.objectives for r in useful], [r.trial for r in useful])[:keep]
        return [t for t in best if (t, rung) not in history.promoted and t not in history.closed][:slots]
