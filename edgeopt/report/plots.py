"""PNG plots of a search report (matplotlib, Agg backend: no display needed)."""

from __future__ import annotations

from contextlib import contextmanager
from pathlib import Path

from edgeopt.report.search_report import SearchReport


@contextmanager
def _axes(path: Path, size: tuple[float, float], title: str, xlabel: str, ylabel: str):
    """A figure with one grid-lined axes, saved to `path` and closed when the block ends."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=size, dpi=110)
    try:
        yield ax
        ax.set_title(title)
        ax.set_xlabel(xlabel)
        ax.set_ylabel(ylabel)
        ax.grid(alpha=0.3)
        fig.tight_layout()
        fig.savefig(path)
    finally:
        plt.close(fig)


def tradeoff_plot(report: SearchReport, profile_index: int, path: Path) -> None:
    """Quality vs weight bytes: trained trials, infeasible ones (never trained), the front, the limit."""
    profile = report.profiles[profile_index]
    rows = report.trials[profile.profile]
    metric = report.metric
    with _axes(path, (7, 4.5), f"{report.name}: {metric} vs size on {profile.profile}", "weight bytes on device",
               f"validation {metric}") as ax:
        _tradeoff(ax, profile, rows, metric)


def _tradeoff(ax, profile, rows, metric: str) -> None:
    trained = [r for r in rows if r.quality(metric) is not None and r.fits]
    unfit = [r for r in rows if r.quality(metric) is not None and not r.fits]
    infeasible = [r for r in rows if r.state == "infeasible"]
    ax.scatter([r.cost.weight_bytes for r in trained], [r.quality(metric) for r in trained], s=18, c="#4878d0",
               alpha=0.6, label=f"trained ({len(trained)})")
    if unfit:
        ax.scatter([r.cost.weight_bytes for r in unfit], [r.quality(metric) for r in unfit], s=18, c="#aaaaaa",
                   label=f"trained, does not fit this profile ({len(unfit)})")
    if infeasible:
        ax.scatter([r.cost.weight_bytes for r in infeasible], [0.0] * len(infeasible), marker="x", c="#d65f5f",
                   s=20, label=f"infeasible, not trained ({len(infeasible)})")
    front = profile.front
    if front:
        ax.plot([r.cost.weight_bytes for r in front], [r.quality(metric) for r in front], "-o", c="#ee854a", ms=6,
                label="Pareto front")
    for marker, tool in zip("sD^vP", profile.baselines):
        ax.scatter([tool.cost.weight_bytes], [tool.quality(metric)], marker=marker, c="k" if tool.fits else "#999",
                   s=40, label=tool.name + ("" if tool.fits else " (does not fit)"))
    ax.axvline(profile.limit_bytes, ls="--", c="#6acc64", label="profile limit")
    ax.set_xscale("log")
    ax.legend(fontsize=7, loc="best", framealpha=0.6)


def pr_curves_plot(report: SearchReport, path: Path) -> None:
    """Validation precision-recall curves of the first profile's front members."""
    sizes = {f"trial {r.trial}": r.cost.weight_bytes for r in report.profiles[0].front} if report.profiles else {}
    with _axes(path, (5.5, 4.5), "precision-recall of the front (validation)", "recall", "precision") as ax:
        for label, points in report.pr_curves.items():
            if points:
                recall, precision = zip(*sorted(points))
                ax.plot(recall, precision, label=f"{label} ({sizes.get(label, 0):.0f} B)")
        ax.set_xlim(0, 1.02)
        ax.set_ylim(0, 1.02)
        if report.pr_curves:
            ax.legend(fontsize=7)


def hypervolume_plot(report: SearchReport, path: Path) -> None:
    """Hypervolume of (1 - metric, weight bytes / limit) as the search went on."""
    with _axes(path, (5.5, 3.5), "search progress", "seconds since the search started", "hypervolume") as ax:
        if report.hypervolume:
            seconds, hv = zip(*report.hypervolume)
            ax.step(seconds, hv, where="post")
