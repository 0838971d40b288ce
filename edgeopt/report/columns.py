"""How reports show the shared vocabulary (`edgeopt.figures`): a cost figure's column heading, which for latency and
energy says where the figures come from, and its value with a unit."""

from __future__ import annotations

from collections.abc import Sequence

from edgeopt.figures import FIGURES, METRIC_LABELS, CostFigures
from edgeopt.profiles.units import format_bytes, format_joules, format_seconds

HEADLINE_METRICS = ("precision", "recall", "f1")  # the ones tables also show on test
REPORTED = ("params", "weight_bytes", "peak_activation_bytes", "latency_s", "energy_j")  # MACs: `profile` shows them
_FORMAT = {"count": lambda n: f"{int(n):,}", "bytes": format_bytes, "time": format_seconds, "energy": format_joules}


def heading(name: str, costs: Sequence[CostFigures] = ()) -> str:
    """'weights', or 'latency (calibrated (fit error 7.1%))': a sourced figure says where the rows' values come
    from (rows of one profile share it; rows that differ say 'mixed')."""
    figure = FIGURES[name]
    if not figure.sourced:
        return figure.label
    sources = {str(c.source(name)) for c in costs}
    return f"{figure.label} ({sources.pop() if len(sources) == 1 else 'mixed' if sources else 'estimated'})"


def cell(name: str, costs: CostFigures, heading_text: str | None = None) -> str:
    """The figure with its unit: '1,234', '3.1 KiB', '45.6 us'; where `heading_text` (the column's `heading`) names
    another source than this row's, the row's own after it: '1.2 us (estimated)'."""
    text = _FORMAT[FIGURES[name].dimension](costs.value(name))
    if heading_text is not None and FIGURES[name].sourced and not heading_text.endswith(f"({costs.source(name)})"):
        text += f" ({costs.source(name)})"
    return text


def row_heading(name: str, rows) -> str:
    """The heading of a table of trials and lab tools: the trials' source (a tool row that differs says its own)."""
    trials = [r.cost for r in rows if not getattr(r, "tool", None)]
    return heading(name, trials or [r.cost for r in rows])


def metric_label(name: str) -> str:
    return METRIC_LABELS[name]
