"""TrialBudget: a search's trial count and wall-clock budget, as the coordinator spends them."""

from __future__ import annotations

import time

from edgeopt.search.settings import SearchSettings


class TrialBudget:
    """Started when the search starts: how long it has run, whether time is left, whether a trial may start."""

    def __init__(self, settings: SearchSettings):
        self.settings = settings
        self.start = time.monotonic()

    def elapsed(self) -> float:
        return time.monotonic() - self.start

    def time_left(self) -> bool:
        return self.settings.time_s is None or self.elapsed() < self.settings.time_s

    def may_start(self, trained: int) -> bool:
        return self.time_left() and (self.settings.trials is None or trained < self.settings.trials)

    def text(self, trained: int) -> str:
        parts = []
        if self.settings.trials is not None:
            parts.append(f"{trained}/{self.settings.trials} trials")
        if self.settings.time_s is not None:
            parts.append(f"{max(0.0, self.settings.time_s - self.elapsed()):.0f}s left")
        return ", ".join(parts) or "unbounded"
