"""`edgeopt export`: a quantized (or float, quantized first) model as C, TVM builds or Verilog for a device."""

from __future__ import annotations

import click

from edgeopt.cli.common import console, emit_json, with_steps
from edgeopt.report.tables import render_deployment, render_export
from edgeopt.workflow.export import export_model


@click.command("export")
@click.argument("model", type=click.Path(exists=True))
@click.option("--profile", "-p", required=True, help="Target profile: a name or a YAML file.")
@click.option("--format", "fmt", type=click.Choice(["c", "tvm", "verilog"]), default="c", show_default=True,
              help="c: C99 source (model.h / model.c), integer-only, for a firmware build; tvm: Apache TVM builds "
                   "for the host and a Cortex-M4 (extra edgeopt[tvm]); verilog: a Verilog-2005 engine (model.v, its "
                   "ROM images and a testbench) computing the C's integers, for an FPGA.")
@click.option("--name", default="model", show_default=True,
              help="C prefix of every symbol and of the file names (two models in one image need two names): "
                   "lower-case letters, digits and underscores, not a C keyword or standard header's name.")
@click.option("-o", "--out", "out_dir", required=True, type=click.Path(file_okay=False),
              help="Output folder (written whole; an earlier export there is replaced).")
@click.option("--data", "-d", default=None,
              help="Run the export on this dataset's test split (C: a host build, with --emulate the emulated "
                   "device; Verilog: an HDL simulator) and print the deployed precision/recall. Default: no run.")
@click.option("--label", "label_column", default=None, help="Label column of a CSV dataset.")
@click.option("--emulate", type=click.Choice(["cortex-m4", "cortex-m7"]), default=None,
              help="With --data: run on QEMU's Cortex-M board; the metrics come from its outputs.")
@click.option("--simulate", type=click.Choice(["iverilog", "verilator"]), default=None,
              help="With --format verilog and --data: the HDL simulator the engine runs in (default iverilog); the "
                   "metrics and clocks come from its outputs.")
@click.option("--lanes", type=click.IntRange(1, 64), default=None,
              help="With --format verilog: multiply-accumulates a clock (1 .. the profile's MACs per cycle). "
                   "Default: the fewest that meet the profile's latency budget at its clock.")
@click.option("--synth", type=click.Choice(["xc7", "ecp5", "ice40"]), default=None,
              help="With --format verilog: synthesize the engine with yosys for this FPGA family and record its "
                   "LUTs, flip-flops, DSP slices and block RAMs (measured) in manifest.json; ecp5 with nextpnr-ecp5 "
                   "installed (extra edgeopt[ecp5]) also places and routes it and records the clock reached.")
@click.option("--measurements-out", "measurements_out", default=None, type=click.Path(dir_okay=False),
              help="With --emulate: append the emulated latency (the whole call and each layer, instructions at the "
                   "profile's clock) to this CSV, for `edgeopt calibrate --measurements`.")
@click.option("--positive-class", type=click.IntRange(0, 1_000_000), default=1, show_default=True)
@click.option("--json", "as_json", is_flag=True, help="Print the result as JSON.")
def export_cmd(model, profile, fmt, name, out_dir, data, label_column, emulate, simulate, lanes, synth,
               measurements_out, positive_class, as_json) -> None:
    """Write MODEL as source for a device build (C with CMake/Make fragments, TVM, or Verilog), with manifest.json.

    MODEL is a quantized QDQ model.onnx, or the output folder of `edgeopt compress` holding one (its input
    normalisation is then applied to --data), or a float model (a search trial's checkpoint.pt, a .pt2 program):
    that is quantized first in the profile's formats, calibrated on --data, as `edgeopt compress` would. A search's
    run folder (searched with --compress) stands for its compressed model for PROFILE that scores best on validation.
    """
    out = console()
    run = with_steps(out, lambda say: export_model(
        model, profile, out_dir, format=fmt, name=name, data=data, label_column=label_column, emulate=emulate,
        measurements_out=measurements_out, positive_class=positive_class, progress=say, simulate=simulate,
        lanes=lanes, synth=synth),
        quiet=as_json,
        label="exporting")
    if as_json:
        emit_json(run.to_dict())
        return
    if run.quantized is not None:
        val, quantized = run.quantized.deployed.val, run.quantized
        out.print(f"quantized post-training ({quantized.steps[-1].weight_format}, {quantized.status}): the QDQ model "
                  f"measured in onnxruntime on validation: precision {val['precision']:.3f} recall "
                  f"{val['recall']:.3f} F1 {val['f1']:.3f}")
    render_export(run.record, out)
    if run.deployment is not None:
        render_deployment(run.deployment, out)
