"""`edgeopt compress`: prune, distil and quantize a model for a device, measured on the exported ONNX."""

from __future__ import annotations

import click
import torch

from edgeopt.cli.common import console, emit_json, with_steps
from edgeopt.figures import QUALITY_METRICS
from edgeopt.report.tables import render_compression
from edgeopt.workflow.compress import compress


@click.command("compress")
@click.argument("model")
@click.option("--profile", "-p", required=True, help="Target device profile (YAML path or shipped name).")
@click.option("--pipeline", "pipeline_file", default=None, type=click.Path(dir_okay=False),
              help="Pipeline YAML (steps: prune, magnitude_prune, distill, quantize).")
@click.option("--auto", is_flag=True, help="Choose the steps from the profile: prune with distillation toward its "
                                           "budgets, then quantize to its format.")
@click.option("--data", "-d", default=None, help="Dataset (.npz, .csv, x .npy); default: the bundled example.")
@click.option("--label", "label_column", default=None, help="Label column of a CSV dataset.")
@click.option("--weights", default=None, type=click.Path(dir_okay=False),
              help="State dict for a module:factory MODEL (loaded weights-only).")
@click.option("--teacher", default=None, help="Teacher for distillation (default: MODEL itself).")
@click.option("--teacher-weights", default=None, type=click.Path(dir_okay=False),
              help="State dict for a module:factory teacher.")
@click.option("--max-drop", type=click.FloatRange(0, 1, max_open=True), default=None,
              help="Largest allowed loss in the metric, e.g. 0.01 (default: the pipeline's, else 0.01).")
@click.option("--metric", type=click.Choice(QUALITY_METRICS), default=None,
              help="Metric the tolerance is measured in (default: the pipeline's, else f1).")
@click.option("--positive-class", type=click.IntRange(0, 1_000_000), default=1, show_default=True)
@click.option("--seed", type=click.IntRange(0, 2 ** 32 - 1), default=0, show_default=True)
@click.option("-o", "--out", "out_dir", required=True, type=click.Path(file_okay=False),
              help="Output folder (written whole at the end; an earlier output there is replaced).")
@click.option("--json", "as_json", is_flag=True, help="Print the result as JSON.")
def compress_cmd(model, profile, pipeline_file, auto, data, label_column, weights, teacher, teacher_weights, max_drop,
                 metric, positive_class, seed, out_dir, as_json) -> None:
    """Shrink MODEL for a device: prune, distil and quantize, each step checked against --max-drop; export ONNX (int8
    as QDQ) and measure it in onnxruntime.

    MODEL is a search checkpoint (.pt), a torch.export program (.pt2), or package.module:factory with --weights.
    """
    if auto == (pipeline_file is not None):
        raise click.UsageError("give exactly one of --pipeline FILE and --auto")
    torch.set_num_threads(1)  # tiny models: one thread is fastest and keeps results reproducible
    out = console()
    result = with_steps(out, lambda say: compress(
        model, profile, pipeline_file, data, out_dir, weights=weights, label_column=label_column, teacher=teacher,
        teacher_weights=teacher_weights, max_drop=max_drop, metric=metric, positive_class=positive_class, seed=seed,
        progress=say), quiet=as_json)
    if as_json:
        emit_json(result.to_dict())
        return
    render_compression(result, out)
    out.print(f"output: {out_dir}")
