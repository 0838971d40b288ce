"""Start-up and gate speed of the CLI, whole process, as a firmware build would call it.

    .venv/bin/python benchmarks/cli_speed.py [--repeats 7]

    .venv/bin/python benchmarks/cli_speed.py --against ../old-checkout   # both side by side, as ratios

Goals (issue 2): `edgeopt check` on an ONNX model of ~1M parameters under 1 s; `edgeopt --help` under 0.3 s.
Goal (issue 27): `edgeopt check examples/kws_dscnn.onnx` under 0.5 s. Builds its ~1M-parameter ONNX model with
onnx.helper (no torch), so the benchmark itself stays cheap. With --against DIR, every command also runs from the
checkout in DIR (`python -m edgeopt.cli` with DIR first on the path, this checkout likewise), interleaved.
"""

from __future__ import annotations

import argparse
import os
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import date
from pathlib import Path

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper


def million_parameter_cnn(path: Path) -> int:
    """A 2-D CNN + MLP head with ~1.0M float parameters; returns the exact count."""
    rng = np.random.default_rng(0)
    nodes, inits = [], []
    shape_in, x, params = 3, "input", 0
    for i, channels in enumerate((32, 64, 128, 256)):
        w = rng.standard_normal((channels, shape_in, 3, 3)).astype(np.float32)
        b = np.zeros(channels, np.float32)
        inits += [numpy_helper.from_array(w, f"w{i}"), numpy_helper.from_array(b, f"b{i}")]
        nodes += [helper.make_node("Conv", [x, f"w{i}", f"b{i}"], [f"c{i}"], pads=[1, 1, 1, 1], strides=[2, 2]),
                  helper.make_node("Relu", [f"c{i}"], [f"r{i}"])]
        params += w.size + b.size
        shape_in, x = channels, f"r{i}"
    nodes.append(helper.make_node("GlobalAveragePool", [x], ["gap"]))
    nodes.append(helper.make_node("Flatten", ["gap"], ["flat"]))
    width = shape_in
    for j, hidden in enumerate((1024, 512, 10)):
        w = rng.standard_normal((width, hidden)).astype(np.float32)
        inits.append(numpy_helper.from_array(w, f"fc{j}"))
        nodes.append(helper.make_node("MatMul", ["flat" if j == 0 else f"h{j - 1}", f"fc{j}"], [f"m{j}"]))
        nodes.append(helper.make_node("Relu", [f"m{j}"], [f"h{j}"]))
        params += w.size
        width = hidden
    graph = helper.make_graph(nodes, "cnn1m", [helper.make_tensor_value_info("input", TensorProto.FLOAT,
                                                                             [1, 3, 96, 96])],
                              [helper.make_tensor_value_info(f"h{j}", TensorProto.FLOAT, None)], inits)
    onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)]), str(path))
    return params


ROOT = Path(__file__).resolve().parent.parent


def wall_times(command: list[str], repeats: int, expect: int, env: dict | None = None) -> list[float]:
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        code = subprocess.run(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=env).returncode
        times.append(time.perf_counter() - start)
        if code != expect:
            raise SystemExit(f"{' '.join(command)} exited {code}, expected {expect}")
    return times


def side_by_side(cases: dict, against: Path, repeats: int) -> None:
    """Each command from this checkout and from `against`, alternating run by run; medians and their ratio."""
    envs = {name: os.environ | {"PYTHONPATH": str(folder)} for name, folder in (("this", ROOT), ("against", against))}
    print(f"\n| command (python -m edgeopt.cli) | this checkout median s | {against.name} median s | ratio |")
    print("|---|---|---|---|")
    for label, (command, expect, _) in cases.items():
        module = [sys.executable, "-m", "edgeopt.cli", *command[1:]]
        times = {name: [] for name in envs}
        for _ in range(repeats):
            for name, env in envs.items():
                times[name] += wall_times(module, 1, expect, env)
        this, other = statistics.median(times["this"]), statistics.median(times["against"])
        print(f"| `{label}` | {this:.3f} | {other:.3f} | {this / other:.2f} |")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--repeats", type=int, default=7)
    parser.add_argument("--against", type=Path, default=None, help="another checkout to time side by side")
    args = parser.parse_args()
    edgeopt = shutil.which("edgeopt", path=str(Path(sys.executable).parent)) or "edgeopt"
    with tempfile.TemporaryDirectory() as tmp:
        model = Path(tmp) / "cnn1m.onnx"
        params = million_parameter_cnn(model)
        cases = {
            "edgeopt --help": ([edgeopt, "--help"], 0, 0.3),
            f"edgeopt check cnn1m.onnx ({params / 1e6:.2f}M params)": (
                [edgeopt, "check", str(model), "--profile", "stm32f746", "--json"], 1, 1.0),
            "edgeopt profile cnn1m.onnx --json": ([edgeopt, "profile", str(model), "--profile", "host-cpu",
                                                    "--json"], 0, None),
            "edgeopt check examples/kws_dscnn.onnx": ([edgeopt, "check", str(ROOT / "examples" / "kws_dscnn.onnx"),
                                                        "--profile", "stm32f746", "--json"], 0, 0.5),
        }
        print(f"# {date.today()} on {platform.node()} ({platform.processor() or platform.machine()}, "
              f"Python {platform.python_version()}), {args.repeats} runs each, whole process")
        print("| command | median s | min s | goal s |")
        print("|---|---|---|---|")
        for label, (command, expect, goal) in cases.items():
            times = wall_times(command, args.repeats, expect)
            goal_text = f"< {goal}" if goal else "-"
            print(f"| `{label}` | {statistics.median(times):.3f} | {min(times):.3f} | {goal_text} |")
        if args.against is not None:
            side_by_side(cases, args.against.resolve(), args.repeats)


if __name__ == "__main__":
    main()
