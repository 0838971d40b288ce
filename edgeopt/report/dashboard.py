"""A live view of a search: optuna-dashboard serving the run's study, with the objectives named."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from edgeopt.errors import EdgeoptError
from edgeopt.search.store import open_store


def serve_dashboard(run_dir: str | Path, storage: str | None = None, host: str = "127.0.0.1",
                    port: int = 8080, announce: Callable[[], None] | None = None) -> None:
    """Serve optuna-dashboard on the search in `run_dir` (while it runs or after) until interrupted; `announce` is
    called once the extra is there and the study open, just before serving. Each trial's edgeopt records are its
    `edgeopt.*` user attributes (state, config and costs, one entry per rung)."""
    try:
        import optuna_dashboard
    except ImportError:
        raise EdgeoptError("edgeopt dashboard needs optuna-dashboard: pip install 'edgeopt[dashboard]'") from None
    store = open_store(run_dir, storage)
    store.name_objectives()
    if announce is not None:
        announce()
    optuna_dashboard.run_server(store.storage, host=host, port=port)


__all__ = ["serve_dashboard"]
