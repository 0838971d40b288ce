"""`edgeopt profile MODEL -p PROFILE`: a model's estimated cost on a device, layer by layer."""

from __future__ import annotations

import click

from edgeopt.calibration.node_profile import node_latencies_s
from edgeopt.cli.common import console, emit_json, model_argument, profile_option, shape_option
from edgeopt.cost.estimate import estimate_graph
from edgeopt.graph.build import load_graph
from edgeopt.models.reference import ONNX, resolve_model
from edgeopt.profiles.loader import load_profile
from edgeopt.report.tables import render_estimate


@click.command("profile")
@model_argument
@profile_option
@shape_option
@click.option("--json", "as_json", is_flag=True, help="Print JSON instead of tables.")
@click.option("--summary", is_flag=True, help="Totals and verdict only, no per-layer table.")
@click.option("--measure", is_flag=True,
              help="Also time an .onnx MODEL on this machine (onnxruntime, one thread, each node by its profiler) and "
                   "print measured latency beside the estimate, per layer and in total.")
def profile_cmd(model: str, profile: str, input_shape: str | None, as_json: bool, summary: bool,
                measure: bool) -> None:
    """Estimate MODEL (an .onnx file or a torch factory `module:function`) on a device: per-layer costs, totals, and
    whether it fits, with reasons."""
    if measure and resolve_model(model).kind != ONNX:
        raise click.UsageError("--measure times ONNX files; export the model to .onnx first")
    est = estimate_graph(load_graph(model, input_shape), load_profile(profile))
    measured = node_latencies_s(model) if measure else None
    if as_json:
        data = est.to_dict()
        if measured is not None:
            data["measured"] = measured.to_dict() | {"source": "measured"}
            for layer in data["layers"]:
                layer["measured_latency_s"] = measured.node_s.get(layer["name"])
        emit_json(data)
        return
    render_estimate(est, console(), layers=not summary, measured=measured)
