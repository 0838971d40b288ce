"""`edgeopt calibrate`: a profile's figures fitted to measured latencies (and energies), written as a profile."""

from __future__ import annotations

from pathlib import Path

import click

from edgeopt.calibration.board_suite import MEASUREMENTS, write_suite
from edgeopt.calibration.calibrate import calibrate
from edgeopt.calibration.fabric_calibrate import calibrate_fabric
from edgeopt.cli.common import console, emit_json, profile_option, with_steps
from edgeopt.profiles.loader import load_profile
from edgeopt.report.tables import render_calibration, render_fabric_calibration


@click.command("calibrate")
@profile_option
@click.option("--runtime", default="onnxruntime", show_default=True,
              type=click.Choice(["onnxruntime", "cortex-m4", "cortex-m7", "yosys"]),
              help="What is timed: onnxruntime on this machine (fp32 microbenchmarks of the shipped spaces' ops), "
                   "or the C export on QEMU's Cortex-M (int8 microbenchmarks; instructions at the profile's clock, "
                   "an estimate), each with --models; yosys: an FPGA profile's Verilog engine of the int8 "
                   "microbenchmarks (and --models) at 1, 4 and 16 lanes, synthesized for its part family, fits the "
                   "engine's LUT and flip-flop model.")
@click.option("--models", "models", multiple=True, type=click.Path(dir_okay=False),
              help="ONNX files timed and fitted beside the microbenchmarks (repeat the option; int8 QDQ files for "
                   "a Cortex-M runtime).")
@click.option("--measurements", default=None, type=click.Path(exists=True, dir_okay=False),
              help="Fit to a board's measurements instead of timing here: a CSV with columns model (an ONNX file, "
                   "relative to the CSV), latency (850us, 1.2ms) or latency_s / latency_ms / latency_us, optionally "
                   "layer (a row timing one layer inside the model) and energy (12uJ; fits the energy figures).")
@click.option("-o", "--out", "out", default=None, type=click.Path(dir_okay=False),
              help="The calibrated profile (YAML) to write; it extends PROFILE.")
@click.option("--write-suite", "suite_dir", default=None, type=click.Path(file_okay=False),
              help="Instead of calibrating, write the int8 board microbenchmarks as C for a board edgeopt cannot "
                   "reach: DIR/edgeopt_suite.c times them all with the board's cycle counter and prints a "
                   "measurements CSV for --measurements.")
@click.option("--json", "as_json", is_flag=True, help="Print the result as JSON.")
def calibrate_cmd(profile, runtime, models, measurements, out, suite_dir, as_json) -> None:
    """Fit a profile's latency figures (per-op efficiency, its fall on short loops, a cost per output and overhead,
    per-call overhead, peak rates, bandwidths) to measured latencies, and its energy figures to measured energies
    where a measurements file gives them; write a profile that extends it with every fitted figure marked
    `source: measured`."""
    if suite_dir is not None:
        if measurements or models or out or runtime != "onnxruntime":
            raise click.UsageError("--write-suite writes the microbenchmarks for a board and calibrates nothing: "
                                   "give it with --profile only, then --measurements with what the board printed")
        _write_suite(profile, suite_dir, as_json)
        return
    if out is None:
        raise click.UsageError("Missing option '-o' / '--out' (the calibrated profile to write).")
    if measurements and models:
        raise click.UsageError("--models are timed here; a measurements file lists its own models: give one")
    if measurements and runtime != "onnxruntime":
        raise click.UsageError(f"--runtime {runtime} times here; --measurements reads a board's: give one")
    out_console = console()
    if runtime == "yosys":
        fabric = with_steps(out_console, lambda say: calibrate_fabric(profile, out, models=models, progress=say),
                            quiet=as_json, label="synthesizing")
        if as_json:
            emit_json(fabric.to_dict())
        else:
            render_fabric_calibration(fabric, out_console)
        return
    result = with_steps(out_console, lambda say: calibrate(profile, out, runtime=runtime, models=models,
                                                           measurements=measurements, progress=say),
                        quiet=as_json, label="calibrating")
    if as_json:
        emit_json(result.to_dict())
        return
    render_calibration(result, out_console)


def _write_suite(profile, suite_dir, as_json) -> None:
    loaded = load_profile(profile)
    out_console = console()
    path = with_steps(out_console, lambda say: write_suite(loaded, suite_dir, progress=say), quiet=as_json,
                      label="writing the board suite")
    measurements = Path(suite_dir) / MEASUREMENTS
    if as_json:
        emit_json({"profile": loaded.name, "suite": str(path), "measurements": str(measurements)})
        return
    out_console.print(f"wrote {path} and the microbenchmarks' exports beside it: compile it into a firmware image, "
                      f"call edgeopt_suite_run() and save what it prints as {measurements}; then\n  edgeopt calibrate "
                      f"-p {profile} --measurements {measurements} -o board.yaml")
