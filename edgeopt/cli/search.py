"""`edgeopt search`: the hardware-aware search, its fronts compressed, its report written."""

from __future__ import annotations

import sys

import click

from edgeopt.cli.common import Duration, baselines_option, console, emit_json, step_printer, with_progress
from edgeopt.figures import OBJECTIVES, QUALITY_METRICS
from edgeopt.report.tables import render_search_report
from edgeopt.workflow.search import search_models, search_settings


@click.command("search")
@click.option("--profile", "-p", "profiles", multiple=True,
              help="Target device (repeatable: one search, a front per profile). Required unless --resume.")
@click.option("--space", "-s", default="cnn1d", show_default=True, help="Search space YAML (or a shipped name).")
@click.option("--data", "-d", default=None, help="Dataset (.npz, .csv, x .npy); default: the bundled example.")
@click.option("--label", "label_column", default=None, help="Label column of a CSV dataset (default: label).")
@click.option("--name", default=None, help="Run name: results go to RUNS_DIR/NAME (default: SPACE-PROFILE).")
@click.option("--trials", type=click.IntRange(min=1), default=None, help="Trials to train (default 20 without --time).")
@click.option("--time", "time_budget", type=Duration(), default=None,
              help="Wall-clock budget: 90s, 30m, 2h, 1h30m.")
@click.option("--sampler", type=click.Choice(["tpe", "random", "nsga2"]), default="tpe", show_default=True)
@click.option("--early-stopping/--no-early-stopping", default=True, show_default=True, help="MO-ASHA over rungs.")
@click.option("--min-epochs", type=click.IntRange(min=1), default=1, show_default=True, help="Epochs of rung 0.")
@click.option("--eta", type=click.IntRange(min=2), default=3, show_default=True, help="ASHA reduction factor.")
@click.option("--metric", type=click.Choice(QUALITY_METRICS), default="f1",
              show_default=True, help="Quality objective (binary: of the positive class).")
@click.option("--objective", type=click.Choice(OBJECTIVES), default="weight_bytes", show_default=True,
              help="Hardware objective (on the first profile); luts, ffs, dsps, brams and clock_cycles are the "
                   "Verilog engine's, on a profile with a fabric.")
@click.option("--positive-class", type=click.IntRange(0, 1_000_000), default=1, show_default=True)
@click.option("--seed", type=click.IntRange(0, 2 ** 32 - 1), default=0, show_default=True)
@click.option("--runs-dir", default="runs", show_default=True)
@click.option("--storage", default=None, help="Optuna storage URL (default: sqlite file in the run folder).")
@click.option("--resume", "resume", default=None, type=click.Path(file_okay=False),
              help="Continue the search in this run folder with its recorded settings.")
@click.option("--teacher", default=None,
              help="Train every trial against this model's soft targets (.pt checkpoint, .pt2, module:factory).")
@click.option("--teacher-weights", default=None, type=click.Path(dir_okay=False),
              help="State dict for a module:factory teacher.")
@click.option("--compress", "compress_pipeline", default=None, type=click.Path(dir_okay=False),
              help="Pipeline YAML applied to each profile's Pareto front when the search ends.")
@click.option("--device", default="auto", show_default=True,
              help="Where trials train: auto (the GPUs of --gpus when there are any, else cpu), cpu, cuda, cuda:N.")
@click.option("--workers", default="auto", show_default=True,
              help="Worker slots: auto (one per CPU core; on GPUs, 4 per GPU) or a count (1: in this process).")
@click.option("--gpus", default="all", show_default=True,
              help="GPUs to use: all (as CUDA_VISIBLE_DEVICES shows them), none, or indices such as 0,2.")
@click.option("--pack", type=click.IntRange(min=1), default=None,
              help="Most trials fused into one program (default on CPU: 32 for mlp, 1 otherwise; on a GPU, what its "
                   "memory holds); "
                   "1: no fusing.")
@click.option("--backend", type=click.Choice(["local", "ray"]), default="local", show_default=True,
              help="local: worker processes on this machine; ray: Ray actors (pip install 'edgeopt[ray]').")
@click.option("--address", default=None,
              help="Ray cluster to join: auto or ray://HOST:10001 (default: a local Ray instance).")
@click.option("--report/--no-report", default=True, show_default=True, help="Write the report when done.")
@baselines_option
@click.option("--json", "as_json", is_flag=True, help="Print the report as JSON.")
def search_cmd(profiles, space, data, label_column, name, trials, time_budget, sampler, early_stopping, min_epochs,
               eta, metric, objective, positive_class, seed, runs_dir, storage, resume, teacher, teacher_weights,
               compress_pipeline, device, workers, gpus, pack, backend, address, report, baselines, as_json) -> None:
    """Find the models that fit the device(s) and what fitting costs in precision and recall.

    Every sampled architecture is costed on each profile first; those that fit none are never trained. Ctrl-C stops
    cleanly; the same command (or --resume RUN_DIR) continues where it stopped.
    """
    if not profiles and not resume:
        raise click.UsageError("give at least one --profile (or --resume RUN_DIR)")
    settings = search_settings(
        profiles, space=space, data=data, label_column=label_column, name=name, trials=trials, time_s=time_budget,
        resume=resume, teacher=teacher, teacher_weights=teacher_weights, storage=storage, workers=workers,
        gpus=gpus, device=device, pack=pack, backend=backend, address=address, sampler=sampler,
        early_stopping=early_stopping, min_epochs=min_epochs, eta=eta, metric=metric, hardware_objective=objective,
        positive_class=positive_class, seed=seed, runs_dir=runs_dir)
    out = console()
    try:
        outcome = with_progress(out, lambda update: search_models(
            settings, compress=compress_pipeline, report=report, progress=update, baselines=baselines,
            steps=None if as_json else step_printer(out)), quiet=as_json)
    except KeyboardInterrupt:
        click.echo(f"interrupted; continue with: edgeopt search --resume {settings.run_dir}", err=True)
        sys.exit(130)
    if as_json:
        emit_json(outcome.report.to_dict())
        return
    render_search_report(outcome.report, out)
    if outcome.html_path is not None:
        out.print(f"report: {outcome.html_path}")
