"""The Verilog export on searched models (issue 29), at several lane counts: bit-exact share in Icarus Verilog and
Verilator against the integer reference, clocks estimated by the cost model (before training, from the graph) against
clocks counted and simulated, latency at the profile's clock, and the cells yosys synthesizes for a Xilinx 7-series
part (LUT, FF, DSP48E1, block RAM) beside the cost model's estimate of each (from the graph, before training: LUTs
and flip-flops by the fabric model, DSP slices and block RAMs counted), and with nextpnr-ecp5 on PATH (extra
edgeopt[ecp5]) the clock place and route reaches on a Lattice ECP5. A lane count past the widest block of channels
builds the engine of fewer lanes: measured once.

    .venv/bin/python benchmarks/fpga.py runs/bm/trials/00012/checkpoint.pt@../shared/datasets/basic_motions.npz \
        --lanes 1 4 16 --samples 50

Each MODEL@DATA (a float checkpoint, quantized on DATA first in the profile's formats; or a QDQ model.onnx) is
exported as `edgeopt export MODEL --profile sequencer-fpga --format verilog --lanes L --synth xc7` would, then run on
`--samples` test samples in both simulators. Test accuracy is the integer reference's on the whole test split (the
engine equals it bit for bit on the samples simulated). `default` is the lane count the export takes by itself.
"""

from __future__ import annotations

import argparse
import platform
import tempfile
import time
from datetime import date
from pathlib import Path

import numpy as np


def measure(model: str, data: str, lanes_list: list[int], samples: int, work: Path,
            profile_name: str = "sequencer-fpga") -> list[dict]:
    from edgeopt.cost.engine import estimate_engine
    from edgeopt.cost.fabric import estimate_fabric, fabric_inputs, fabric_model
    from edgeopt.graph.build import build_graph
    from edgeopt.data.loading import load_dataset
    from edgeopt.deploy.export import ExportError, export
    from edgeopt.deploy.hdl_sim import simulate_export
    from edgeopt.deploy.synth import nextpnr, synthesize
    from edgeopt.deploy.lower import lower_onnx
    from edgeopt.deploy.verify import normalised_split
    from edgeopt.intgrid.reference import run_program
    from edgeopt.models.reference import resolve_model
    from edgeopt.profiles.loader import load_profile
    from edgeopt.workflow.export import export_float

    profile = load_profile(profile_name)
    dataset = load_dataset(data)
    quantized = Path(model)
    if resolve_model(model).is_float:
        quantized = work / "quantized"
        export_float(model, profile, work / "first", dataset, quantized, format="verilog", lanes=1)
    source = quantized / "model.onnx" if quantized.is_dir() else quantized
    program = lower_onnx(source)
    x, y, _, _ = normalised_split(quantized, dataset)
    q_all = program.quantize_input(x)
    reference = run_program(program, q_all)
    accuracy = float(np.mean(reference.argmax(axis=1) == np.asarray(y)))
    q = q_all[:samples]
    graph = build_graph(source)
    try:
        default = export(quantized, profile, work / "default", format="verilog").lanes
    except ExportError:
        default = None
    rows, built = [], set()
    for lanes in lanes_list:
        if estimate_engine(graph, profile, lanes).lanes in built:
            continue  # past the widest block of channels: the engine already measured
        out = work / f"lanes-{lanes}"
        record = export(quantized, profile, out, format="verilog", lanes=lanes, synth="xc7")
        built.add(record.lanes)
        engine = estimate_engine(graph, profile, lanes)
        cells = estimate_fabric(engine, *fabric_inputs(graph, profile), "xc7", fabric_model(profile))
        row = {"model": model, "params": int(sum(layer.weights.size for layer in program.layers)),
               "lanes": record.lanes, "default_lanes": default, "test_accuracy": accuracy,
               "clocks_counted": record.clock_cycles, "latency_us": record.latency_s * 1e6,
               "clocks_estimated": engine.clocks, "estimated": cells, "fabric": record.fabric,
               "fmax_mhz": synthesize(out, record.name, "ecp5").fmax_hz / 1e6 if nextpnr() else None}
        for simulator in ("iverilog", "verilator"):
            start = time.perf_counter()
            sim = simulate_export(out, record.name, q, simulator)
            row[f"{simulator}_bit_exact"] = float(np.mean(np.all(sim.logits == reference[:samples], axis=1)))
            row[f"{simulator}_clocks"] = int(sim.cycles.max())
            row[f"{simulator}_s"] = time.perf_counter() - start
        rows.append(row)
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("models", nargs="+", metavar="MODEL@DATA")
    parser.add_argument("--lanes", type=int, nargs="+", default=[1, 4, 16])
    parser.add_argument("--samples", type=int, default=50, help="test samples each simulator runs")
    parser.add_argument("--profile", default="sequencer-fpga",
                        help="the FPGA profile (a calibrated one gives its fitted LUT and flip-flop model)")
    args = parser.parse_args()
    rows = []
    for item in args.models:
        model, _, data = item.rpartition("@")
        with tempfile.TemporaryDirectory(prefix="edgeopt-fpga-") as work:
            rows += measure(model, data, args.lanes, args.samples, Path(work), args.profile)
    print(f"{date.today()}, {platform.node()} ({platform.processor() or platform.machine()}), yosys synth_xilinx xc7, "
          f"{args.samples} samples a simulator")
    print("| model | weights | lanes (default) | test acc | bit-exact iverilog / verilator | clocks estimated / "
          "counted / iverilog / verilator | latency at 250 MHz | LUT (estimated) | FF (estimated) | "
          "DSP48E1 (estimated) | RAMB18 (estimated) | ECP5 Fmax |")
    print("|---|---|---|---|---|---|---|---|---|---|---|---|")
    for r in rows:
        f, e = r["fabric"], r["estimated"]
        print(f"| {r['model']} | {r['params']:,} | {r['lanes']} ({r['default_lanes'] or 'none meets 20 us'}) | "
              f"{r['test_accuracy']:.3f} | {r['iverilog_bit_exact']:.1%} / {r['verilator_bit_exact']:.1%} | "
              f"{r['clocks_estimated']:,} / {r['clocks_counted']:,} / {r['iverilog_clocks']:,} / "
              f"{r['verilator_clocks']:,} | {r['latency_us']:.1f} us | {f.luts:,} ({_off(e.luts, f.luts)}) | "
              f"{f.ffs:,} ({_off(e.ffs, f.ffs)}) | {f.dsps} ({e.dsps}) | {f.brams:g} ({e.brams}) | "
              f"{'-' if r['fmax_mhz'] is None else format(r['fmax_mhz'], '.1f') + ' MHz'} |")
    for what in ("luts", "ffs"):
        errors = np.array([getattr(r["estimated"], what) / getattr(r["fabric"], what) - 1 for r in rows])
        print(f"{what}: estimated within +-10% of yosys on {np.mean(np.abs(errors) <= 0.10):.0%} of {len(rows)} "
              f"engines; mean |error| {np.mean(np.abs(errors)):.1%}, worst {errors[np.argmax(np.abs(errors))]:+.0%}")
    for what in ("dsps", "brams"):
        same = sum(getattr(r["estimated"], what) == getattr(r["fabric"], what) for r in rows)
        print(f"{what}: estimated = synthesized on {same} of {len(rows)} engines")


def _off(estimated: float, measured: float) -> str:
    return f"{estimated:,.0f}, {estimated / measured - 1:+.0%}"


if __name__ == "__main__":
    main()
