"""The `edgeopt` command: a thin layer over the library. Each command lives in its own module, imported only when
it runs; each parses its options, calls one library verb and renders the result. Bad input: one line on stderr,
exit code 2."""

from __future__ import annotations

import click

from edgeopt.cli.common import EdgeoptGroup

# name -> (module, command, the one-line help `edgeopt --help` shows without importing the module)
COMMANDS = {
    "calibrate": ("edgeopt.cli.calibrate", "calibrate_cmd",
                  "Fit a profile's latency figures (per-op efficiency, its fall on short loops, a cost per output "
                  "and overhead, per-call overhead, peak rates, bandwidths) to measured latencies, and its energy "
                  "figures to measured energies where a measurements file gives them; write a profile that extends "
                  "it with every fitted figure marked `source: measured`."),
    "check": ("edgeopt.cli.check", "check_cmd",
              "Gate a build: exit 0 when every budget holds, 1 when a budget or a baseline regression fails, 2 for "
              "bad input."),
    "compress": ("edgeopt.cli.compress", "compress_cmd",
                 "Shrink MODEL for a device: prune, distil and quantize, each step checked against --max-drop; "
                 "export ONNX (int8 as QDQ) and measure it in onnxruntime."),
    "dashboard": ("edgeopt.cli.report", "dashboard_cmd",
                  "Watch a search (running or finished) in optuna-dashboard: objectives, trials, their edgeopt "
                  "attributes."),
    "export": ("edgeopt.cli.export", "export_cmd",
               "Write MODEL as source for a device build (C with CMake/Make fragments, TVM, or Verilog), with "
               "manifest.json."),
    "profile": ("edgeopt.cli.profile", "profile_cmd",
                "Estimate MODEL (an .onnx file or a torch factory `module:function`) on a device: per-layer costs, "
                "totals, and whether it fits, with reasons."),
    "profiles": ("edgeopt.cli.profiles", "profiles", "List, show and validate hardware profiles."),
    "report": ("edgeopt.cli.report", "report_cmd",
               "Tables, plots and an HTML page of a search: the Pareto front per profile, the best precision and "
               "recall under size budgets, the lab's own tools (logistic regression, trees, a forest, gradient "
               "boosting) beside them, and every trial as JSON and CSV."),
    "search": ("edgeopt.cli.search", "search_cmd",
               "Find the models that fit the device(s) and what fitting costs in precision and recall."),
    "space": ("edgeopt.cli.space", "space", "Inspect search spaces."),
}


@click.group(cls=EdgeoptGroup, lazy=COMMANDS, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="edgeopt")
def main() -> None:
    """Fit neural networks onto tiny hardware: device profiles, cost estimates, hardware-aware search, compression
    measured on the exported model, and CI budget gates."""


__all__ = ["COMMANDS", "main"]
