"""`edgeopt report` and `edgeopt dashboard`: a search's results as files, or live in optuna-dashboard."""

from __future__ import annotations

import click

from edgeopt.cli.common import baselines_option, console, emit_json
from edgeopt.report.dashboard import serve_dashboard
from edgeopt.report.tables import render_search_report
from edgeopt.workflow.search import report_run


@click.command("report")
@click.argument("run_dir", type=click.Path(file_okay=False))
@click.option("--out", default=None, help="Folder for the report files (default: RUN_DIR/report).")
@click.option("--storage", default=None, help="Optuna storage URL, if not the run folder's SQLite file.")
@baselines_option
@click.option("--json", "as_json", is_flag=True, help="Print the report as JSON.")
def report_cmd(run_dir: str, out: str | None, storage: str | None, baselines: tuple[str, ...], as_json: bool) -> None:
    """Tables, plots and an HTML page of a search: the Pareto front per profile, the best precision and recall under
    size budgets, the lab's own tools (logistic regression, trees, a forest, gradient boosting) beside them, and
    every trial as JSON and CSV."""
    outcome = report_run(run_dir, out, storage, baselines)
    if as_json:
        emit_json(outcome.report.to_dict())
        return
    shown = console()
    render_search_report(outcome.report, shown)
    shown.print(f"report: {outcome.html_path}")


@click.command("dashboard")
@click.argument("run_dir", type=click.Path(file_okay=False))
@click.option("--storage", default=None, help="Optuna storage URL, if not the run folder's SQLite file.")
@click.option("--host", default="127.0.0.1", show_default=True, help="Address to serve on (0.0.0.0: every interface).")
@click.option("--port", type=click.IntRange(1, 65535), default=8080, show_default=True)
def dashboard_cmd(run_dir, storage, host, port) -> None:
    """Watch a search (running or finished) in optuna-dashboard: objectives, trials, their edgeopt attributes.

    Needs the optional extra: pip install 'edgeopt[dashboard]'. Ctrl-C stops the server.
    """
    serve_dashboard(run_dir, storage, host, port, announce=lambda: click.echo(
        f"serving {run_dir} at http://{host}:{port}/ (Ctrl-C stops)", err=True))
