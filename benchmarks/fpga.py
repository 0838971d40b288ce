"""The Verilog export on searched models (issue 29): bit-exact share in Icarus Verilog and Verilator against the integer
reference, clocks counted against clocks simulated, latency at the profile's clock, and what yosys synthesizes for a
Xilinx 7-series part (LUT, FF, DSP48E1, block RAM).

    .venv/bin/python benchmarks/fpga.py runs/bm/trials/00012/checkpoint.pt@../shared/datasets/basic_motions.npz

Each MODEL@DATA is exported as `edgeopt export MODEL --profile sequencer-fpga --format verilog --data DATA` would (a
float checkpoint is quantized on DATA first), then run on `--samples` test samples in both simulators and synthesized
(`synth_xilinx -family xc7 -flatten`; yosys reports INV cells apart from LUTs: counted here as LUTs). One MAC a clock:
the engine has no lanes yet.
"""

from __future__ import annotations

import argparse
import json
import platform
import re
import subprocess
import tempfile
import time
from datetime import date
from pathlib import Path

import numpy as np


def synthesize(folder: Path, name: str) -> dict:
    """yosys synth_xilinx (xc7) of the export's engine: its cell counts."""
    stat = folder / "stat.json"
    command = f"read_verilog -defer {name}.v; hierarchy -top {name}; synth_xilinx -family xc7 -top {name} -flatten; " \
              f"tee -q -o {stat.name} stat -json"
    start = time.perf_counter()
    subprocess.run(["yosys", "-q", "-p", command], cwd=folder, check=True, capture_output=True, text=True)
    cells = json.loads(stat.read_text())["modules"]["\\" + name]["num_cells_by_type"]  # yosys escapes the name
    luts = sum(n for cell, n in cells.items() if re.fullmatch(r"LUT\d", cell)) + cells.get("INV", 0)
    return {"lut": luts, "ff": sum(n for cell, n in cells.items() if cell.startswith("FD")),
            "dsp": cells.get("DSP48E1", 0), "bram": cells.get("RAMB18E1", 0) + 2 * cells.get("RAMB36E1", 0),
            "synth_s": time.perf_counter() - start}


def measure(model: str, data: str, samples: int, work: Path) -> dict:
    from edgeopt.data.loading import load_dataset
    from edgeopt.deploy.hdl_sim import simulate_export
    from edgeopt.deploy.lower import lower_onnx
    from edgeopt.deploy.verify import normalised_split
    from edgeopt.intgrid.reference import run_program
    from edgeopt.workflow.export import export_model

    out = work / "export"
    dataset = load_dataset(data)
    run = export_model(model, "sequencer-fpga", out, format="verilog", data=dataset)
    program = lower_onnx(out / "source.onnx")
    x, _, _, _ = normalised_split(model if run.quantized is None else out / "source.onnx", dataset)
    q = program.quantize_input(x[:samples])
    reference = run_program(program, q)
    row = {"model": model, "params": int(sum(layer.weights.size for layer in program.layers)),
           "clocks_counted": run.record.clock_cycles, "latency_us": run.record.latency_s * 1e6,
           "test_accuracy": run.deployment.metrics["accuracy"] if run.deployment else None}
    for simulator in ("iverilog", "verilator"):
        start = time.perf_counter()
        sim = simulate_export(out, run.record.name, q, simulator)
        row[f"{simulator}_bit_exact"] = float(np.mean(np.all(sim.logits == reference, axis=1)))
        row[f"{simulator}_clocks"] = int(sim.cycles.max())
        row[f"{simulator}_s"] = time.perf_counter() - start
    return row | synthesize(out, run.record.name)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("models", nargs="+", metavar="MODEL@DATA")
    parser.add_argument("--samples", type=int, default=200, help="test samples each simulator runs")
    args = parser.parse_args()
    rows = []
    for item in args.models:
        model, _, data = item.rpartition("@")
        with tempfile.TemporaryDirectory(prefix="edgeopt-fpga-") as work:
            rows.append(measure(model, data, args.samples, Path(work)))
    print(f"{date.today()}, {platform.node()} ({platform.processor() or platform.machine()}), yosys synth_xilinx xc7, "
          f"{args.samples} samples a simulator, 1 MAC a clock")
    print("| model | weights | test acc (iverilog) | bit-exact iverilog / verilator | clocks counted / simulated | "
          "latency at 250 MHz | LUT | FF | DSP48E1 | RAMB18 |")
    print("|---|---|---|---|---|---|---|---|---|---|")
    for r in rows:
        print(f"| {r['model']} | {r['params']:,} | {r['test_accuracy']:.3f} | {r['iverilog_bit_exact']:.1%} / "
              f"{r['verilator_bit_exact']:.1%} | {r['clocks_counted']:,} / {r['iverilog_clocks']:,} / "
              f"{r['verilator_clocks']:,} | {r['latency_us']:.1f} us | {r['lut']:,} | {r['ff']:,} | {r['dsp']} | "
              f"{r['bram']} |")


if __name__ == "__main__":
    main()
