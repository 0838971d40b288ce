"""`edgeopt check`: the CI gate on a model, an export folder or a linked image."""

from __future__ import annotations

import sys
from pathlib import Path

import click

from edgeopt.atomic import claim_file, write_text_atomic
from edgeopt.gate import check
from edgeopt.cli.common import Quantity, console, emit_json, model_argument, profile_option, shape_option
from edgeopt.graph.build import load_graph
from edgeopt.models.reference import COMPRESSION, ELF, EXPORT, resolve_model
from edgeopt.profiles.units import Dimension
from edgeopt.report.tables import render_check


@click.command("check")
@model_argument
@profile_option
@shape_option
@click.option("--max-params", type=Quantity(Dimension.COUNT), help="Parameter budget, e.g. 4000 or 1.5M.")
@click.option("--max-weight-bytes", type=Quantity(Dimension.BYTES), help="Weight storage budget, e.g. 64KiB.")
@click.option("--max-activation-bytes", type=Quantity(Dimension.BYTES), help="Peak activation budget, e.g. 200KB.")
@click.option("--max-latency", type=Quantity(Dimension.TIME), help="Latency budget, e.g. 2ms.")
@click.option("--max-energy", type=Quantity(Dimension.ENERGY), help="Energy per inference budget, e.g. 50uJ.")
@click.option("--baseline", type=click.Path(dir_okay=False), help="Baseline JSON to compare against (or to write).")
@click.option("--tolerance", type=Quantity(Dimension.FRACTION), default="0%", show_default=True,
              help="Allowed growth over the baseline, e.g. 2%.")
@click.option("--update-baseline", is_flag=True, help="Write the current figures to --baseline instead of comparing.")
@click.option("--json", "as_json", is_flag=True, help="Print JSON instead of tables.")
@click.option("--junit", type=click.Path(dir_okay=False), help="Also write JUnit XML (one testcase per check).")
def check_cmd(model, profile, input_shape, max_params, max_weight_bytes, max_activation_bytes, max_latency,
              max_energy, baseline, tolerance, update_baseline, as_json, junit) -> None:
    """Gate a build: exit 0 when every budget holds, 1 when a budget or a baseline regression fails, 2 for bad
    input. Budgets come from the profile; each --max-* replaces the profile's.

    MODEL is a model (as for `edgeopt profile`), a C export folder (its flash and RAM measured with the Cortex-M
    toolchain), a Verilog export folder (its engine's clocks against the latency budget; its LUTs, flip-flops, DSP
    slices and block RAMs, synthesized with yosys, against the profile's fabric) or a linked firmware image (ELF:
    its flash and RAM gated, nothing else)."""
    if update_baseline and not baseline:
        raise click.UsageError("--update-baseline needs --baseline FILE")
    for output in (junit, baseline if update_baseline else None):  # found now, not after the work
        if output:
            claim_file(output, (model, Path(profile)))
    # an export folder or a linked image (ELF): what it is measured
    ref = resolve_model(model)
    target = model if ref.kind in (EXPORT, ELF) else load_graph(
        str(ref.onnx_file) if ref.kind == COMPRESSION else model, input_shape)
    result = check(target, profile, max_params=max_params, max_weight_bytes=max_weight_bytes,
                   max_activation_bytes=max_activation_bytes, max_latency_s=max_latency, max_energy_j=max_energy,
                   baseline=baseline, tolerance=tolerance, update_baseline=update_baseline)
    if junit:
        write_text_atomic(junit, result.to_junit_xml())
    if as_json:
        emit_json(result.to_dict())
    else:
        render_check(result, console())
    sys.exit(0 if result.passed else 1)
