"""The C export on the models of search fronts (issue 14): estimated vs measured flash and RAM, host latency of the C
(-O2) against onnxruntime, agreement with the integer reference and onnxruntime, and Cortex-M4 instruction counts
(QEMU -icount: an estimate) ranked against the cost model's latency.

    .venv/bin/python benchmarks/export.py --trials 16

Each search is `edgeopt search ... --compress examples/pipelines/int8.yaml`: the front of every profile quantized to
int8, measured in onnxruntime, then exported to C here. Run from a checkout with ../shared/datasets beside it for the
real datasets (skipped otherwise).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import tempfile
from datetime import date
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
SHARED = ROOT.parent / "shared" / "datasets"
ROUNDS = 3
SEARCHES = [  # (label, run name, data, space, profiles); the sequencer FPGA's models have int16 activations
    ("reads (bundled)", "reads", "reads", "searchspace/cnn1d.yaml", ("sequencer-fpga", "stm32f746")),
    ("japanese_vowels", "japanese_vowels", str(SHARED / "japanese_vowels.npz"), "searchspace/cnn1d.yaml",
     ("stm32f746",)),
    ("basic_motions", "basic_motions", str(SHARED / "basic_motions.npz"), "searchspace/cnn1d.yaml", ("stm32f746",)),
    ("basic_motions", "basic_motions_fpga", str(SHARED / "basic_motions.npz"), "searchspace/cnn1d.yaml",
     ("sequencer-fpga",)),
    ("breast_cancer", "breast_cancer", str(SHARED / "breast_cancer.npz"), "searchspace/mlp.yaml", ("stm32f746",)),
]


def spearman(a, b) -> float:
    ranks = [np.argsort(np.argsort(v)).astype(float) for v in (a, b)]
    if len(a) < 3 or ranks[0].std() == 0 or ranks[1].std() == 0:
        return float("nan")
    return float(np.corrcoef(*ranks)[0, 1])


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--trials", type=int, default=16)
    parser.add_argument("--samples", type=int, default=200, help="test samples run on the emulated Cortex-M4")
    parser.add_argument("--runs", default=None, help="folder for the searches (default: a temporary one)")
    args = parser.parse_args()

    from edgeopt.cost.estimate import estimate
    from edgeopt.data.loading import load_dataset
    from edgeopt.errors import EdgeoptError
    from edgeopt.deploy.export import export
    from edgeopt.deploy.emulate import export_sizes, run_emulated
    from edgeopt.deploy.host import host_latency_s as c_latency_s
    from edgeopt.deploy.host import run_on_host
    from edgeopt.deploy.lower import lower_onnx
    from edgeopt.deploy.runtime import host_latency_s as ort_latency_s
    from edgeopt.deploy.verify import verify_c
    from edgeopt.data.normalize import Normalizer

    try:
        from edgeopt.deploy.tvm_export import tvm_latency_s

        import tvm  # noqa: F401
        has_tvm = True
    except ImportError:
        has_tvm = False

    runs = Path(args.runs or tempfile.mkdtemp(prefix="edgeopt-export-bench-"))
    rows, skipped, correlations = [], [], []
    for label, name, data, space, profiles in SEARCHES:
        if data != "reads" and not Path(data).is_file():
            skipped.append(f"{label}: {data} is not here")
            continue
        command = [str(ROOT / ".venv/bin/edgeopt"), "search", "--space", space, "--data", data, "--trials",
                   str(args.trials), "--name", name, "--runs-dir", str(runs), "--compress",
                   "examples/pipelines/int8.yaml", "--json", "--workers", "1"]
        for profile in profiles:
            command += ["--profile", profile]
        if not (runs / name / "compressed" / "summary.json").is_file():
            subprocess.run(command, cwd=ROOT, check=True, stdout=subprocess.DEVNULL)
        dataset = load_dataset(None if data == "reads" else data, example="reads")
        summary = json.loads((runs / name / "compressed" / "summary.json").read_text())["profiles"]
        for profile, members in summary.items():
            instructions, latencies = [], []
            for member in members:
                folder = Path(member["output"])
                if not folder.is_absolute():
                    folder = ROOT / folder
                report = json.loads((folder / "report.json").read_text())
                normalizer = Normalizer.from_dict(report["input_normalisation"])
                x = normalizer.apply(dataset.x_test)
                out = folder.parent / f"{folder.name}-c"
                try:
                    record = export(folder, profile, out)
                except EdgeoptError as exc:
                    skipped.append(f"{label} {profile} trial {member['trial']}: {exc}")
                    continue
                agreement = verify_c(out, folder / "model.onnx", x)
                q = lower_onnx(folder / "model.onnx").quantize_input(x)
                emulated = run_emulated(out, q[:args.samples], "cortex-m4")
                host = np.all(emulated.logits == run_on_host(out, q[:args.samples]), axis=1).mean()
                sizes = export_sizes(out)
                est = estimate(folder / "model.onnx", profile)
                instructions.append(float(emulated.instructions.mean()))
                latencies.append(est.total.latency_s)
                if has_tvm:
                    export(folder, profile, folder.parent / f"{folder.name}-tvm", format="tvm")
                # This VM's timings drift between runs (onnxruntime's median of one model moved 1.6x between two
                # runs): three interleaved rounds, the best median of each.
                times = {"c": [], "ort": [], "tvm": []}
                for _ in range(ROUNDS):
                    times["c"].append(c_latency_s(out, q[0]))
                    times["ort"].append(ort_latency_s(folder / "model.onnx", x[0]))
                    if has_tvm:
                        times["tvm"].append(tvm_latency_s(folder.parent / f"{folder.name}-tvm", x[0]))
                rows.append({
                    "search": label, "profile": profile, "trial": member["trial"], "params": est.total.params,
                    "est_weight": est.total.weight_bytes, "arrays": record.counted_weight_bytes,
                    "table": sizes.constant_bytes - record.counted_weight_bytes, "code": sizes.code_bytes,
                    "est_peak": est.peak_activation_bytes, "ram": sizes.ram_bytes,
                    "c_s": min(times["c"]), "ort_s": min(times["ort"]),
                    "tvm_s": min(times["tvm"]) if times["tvm"] else None,
                    "bit_exact": agreement.bit_exact_share, "class": agreement.class_agreement,
                    "step": agreement.within_step_share, "m4_equal": host,
                    "m4_instructions": float(emulated.instructions.mean()), "est_latency_s": est.total.latency_s,
                })
            correlations.append((label, profile, len(instructions), spearman(instructions, latencies)))
    machine = platform.processor() or platform.machine()
    print(f"# {date.today()}, {platform.node()} ({os.cpu_count()} cores, {machine}), "
          f"`.venv/bin/python benchmarks/export.py --trials {args.trials}`")
    print("| search | profile | trial | params | weights est. (B) | arrays (B) | arrays / est. | layer table (B) | "
          "code (B) | peak act. est. (B) | RAM (B) | RAM / est. | C host (us) | onnxruntime (us) | ORT / C | "
          "TVM (us) | bit-exact | same class | within 1 step | M4 = host | M4 instructions (est.) |")
    print("|" + "---|" * 21)
    for r in rows:
        tvm = "-" if r["tvm_s"] is None else f"{r['tvm_s'] * 1e6:.1f}"
        print(f"| {r['search']} | {r['profile']} | {r['trial']} | {r['params']:,} | {r['est_weight']:.0f} | "
              f"{r['arrays']} | {r['arrays'] / r['est_weight']:.2f} | {r['table']} | {r['code']} | "
              f"{r['est_peak']:.0f} | "
              f"{r['ram']} | {r['ram'] / r['est_peak']:.2f} | {r['c_s'] * 1e6:.1f} | {r['ort_s'] * 1e6:.1f} | "
              f"{r['ort_s'] / r['c_s']:.1f} | {tvm} | "
              f"{r['bit_exact']:.3f} | {r['class']:.3f} | {r['step']:.3f} | "
              f"{r['m4_equal']:.3f} | {r['m4_instructions']:,.0f} |")
    print()
    for label, profile, n, rho in correlations:
        print(f"- {label} on {profile}: Spearman rank correlation of M4 instructions with the cost model's latency "
              f"over {n} front models: {rho:.3f}")
    for profile in sorted({r["profile"] for r in rows}):  # latencies of two profiles do not rank together
        mine = [r for r in rows if r["profile"] == profile]
        if len(mine) >= 3:
            rho = spearman([r["m4_instructions"] for r in mine], [r["est_latency_s"] for r in mine])
            print(f"- every model exported for {profile} ({len(mine)}): Spearman rank correlation of M4 "
                  f"instructions with the cost model's latency: {rho:.3f}")
    for line in skipped:
        print(f"- not exported: {line}")


if __name__ == "__main__":
    sys.exit(main())
