"""Calibration from a measurements file, as a user with a board does (issue 15): the int8 C exports of search fronts
"measured" on two boards, each model predicted by a profile calibrated on the other models only (leave one out).

    .venv/bin/python benchmarks/latency_board.py --runs /tmp/exbench

Boards: (1) the emulated Cortex-M4 (QEMU -icount): instructions per inference at the stm32f746 profile's clock,
deterministic, so what is left is the latency model's own error, not the stopwatch's, fitted to whole calls only
and to whole calls plus every layer's own count (the export's layer hook, as `edgeopt export --emulate
--measurements-out` writes them); (2) the C export (-O2) timed on this machine, calibrating `host-cpu`, with this VM's
noise (best of three rounds of the median of 300 runs). The int8 models come from `benchmarks/export.py --runs DIR`
(run first when DIR holds none) and are exported again here.
"""

from __future__ import annotations

import argparse
import os
import platform
import subprocess
import sys
import tempfile
from datetime import date
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
ROUNDS = 3


def spearman(a, b) -> float:
    ranks = [np.argsort(np.argsort(v)).astype(float) for v in (a, b)]
    if len(a) < 3 or ranks[0].std() == 0 or ranks[1].std() == 0:
        return float("nan")
    return float(np.corrcoef(*ranks)[0, 1])


def exports(runs: Path, folder: Path) -> list[tuple[str, int, Path, Path]]:
    """(search, trial, int8 model.onnx, its C export in `folder`) of the stm32f746 fronts."""
    from edgeopt.deploy.export import export

    out = []
    for onnx in sorted(runs.glob("*/compressed/stm32f746/trial-?????/model.onnx")):
        search, trial = onnx.parts[-5], int(onnx.parent.name.split("-")[1])
        c = folder / f"{search}-{trial}"
        export(onnx, "stm32f746", c)
        out.append((search, trial, onnx, c))
    return out


def measure(models, samples: int, clock_hz: float) -> tuple[list[list[dict]], list[float], list[float]]:
    """Per model: the emulated M4's measurement rows (whole call, then each layer), the C's host latency (best of
    ROUNDS medians), and that again in a second pass (how far this machine's timings move)."""
    from edgeopt.calibration.board_rows import emulated_rows
    from edgeopt.deploy.emulate import run_emulated
    from edgeopt.deploy.host import host_latency_s
    from edgeopt.deploy.lower import lower_onnx

    rows, host_s, again_s = [], [], []
    rng = np.random.default_rng(0)
    for search, trial, onnx, c in models:
        x = lower_onnx(onnx).quantize_input(rng.standard_normal(_input_shape(onnx, samples)))
        rows.append(emulated_rows(c, run_emulated(c, x, "cortex-m4"), clock_hz))
        host_s.append(min(host_latency_s(c, x[0]) for _ in range(ROUNDS)))
        again_s.append(min(host_latency_s(c, x[0]) for _ in range(ROUNDS)))
        print(f"  {search} trial {trial}: {rows[-1][0]['latency_s'] * 1e6:.1f} us emulated, "
              f"{host_s[-1] * 1e6:.1f} us on host", file=sys.stderr)
    return rows, host_s, again_s


def _input_shape(onnx: Path, samples: int) -> tuple[int, ...]:
    import onnx as onnx_lib

    dims = onnx_lib.load(str(onnx)).graph.input[0].type.tensor_type.shape.dim
    return (samples, *(d.dim_value for d in dims[1:]))


def suite_rows(tmp: Path, clock_hz: float) -> list[dict]:
    """The board microbenchmarks (`edgeopt calibrate --runtime cortex-m4`'s) on the emulated M4: each one's whole
    call and layers, as that command fits them."""
    from edgeopt.calibration.board_micro import board_suite, write_board_micro
    from edgeopt.calibration.board_rows import emulated_rows
    from edgeopt.deploy.emulate import run_emulated
    from edgeopt.profiles.loader import load_profile

    profile = load_profile("stm32f746")
    out = []
    for micro in board_suite():
        folder, x = write_board_micro(micro, profile, tmp / "suite")
        out += emulated_rows(folder, run_emulated(folder, x, "cortex-m4"), clock_hz)
    return out


def leave_one_out(profile: str, models, rows: list[list[dict]], tmp: Path, extra: list[dict] = (),
                  alone: bool = False) -> tuple[list[float], list[float]]:
    """Per model: the uncalibrated estimate, and the estimate on `profile` calibrated on every other model's rows
    (each model's rows: its whole call first, then any layers) and the `extra` rows; `alone`: on `extra` only."""
    from edgeopt.cost.estimate import estimate
    from edgeopt.calibration.calibrate import calibrate

    before = [estimate(c / "source.onnx", profile).total.latency_s for _, _, _, c in models]
    after = []
    for held in range(len(models)):
        csv = tmp / f"{profile}-{held}.csv"
        train = [r for i, mine in enumerate(rows) if i != held and not alone for r in mine] + list(extra)
        csv.write_text("model,layer,latency_s\n" + "".join(f"{r['model']},{r['layer']},{r['latency_s']!r}\n"
                                                             for r in train))
        out = tmp / f"{profile}-{held}.yaml"
        calibrate(profile, out, measurements=csv)
        after.append(estimate(models[held][3] / "source.onnx", out).total.latency_s)
    return before, after


def summary(name: str, measured, predicted) -> str:
    errors = np.array(predicted) / np.array(measured) - 1
    return (f"{name} {np.mean(np.abs(errors) <= 0.1):.0%} within +-10%, MAPE {np.mean(np.abs(errors)):.0%}, "
            f"worst {errors[np.argmax(np.abs(errors))]:+.0%}")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", default="/tmp/exbench", help="the export benchmark's run folder")
    parser.add_argument("--trials", type=int, default=16, help="for the export benchmark, when it must run")
    parser.add_argument("--samples", type=int, default=4, help="samples run on the emulated board per model")
    args = parser.parse_args()
    runs = Path(args.runs)
    if not any(runs.glob("*/compressed/stm32f746/trial-?????/model.onnx")):
        subprocess.run([sys.executable, str(ROOT / "benchmarks/export.py"), "--trials", str(args.trials), "--runs",
                        str(runs)], check=True, stdout=subprocess.DEVNULL)
    from edgeopt.profiles.loader import load_profile

    clock_hz = load_profile("stm32f746").compute.clock_hz
    print(f"# {date.today()}, {platform.node()} ({os.cpu_count()} cores, {platform.machine()}), int8 models of the "
          "stm32f746 fronts, leave one out")
    with tempfile.TemporaryDirectory(prefix="edgeopt-board-") as tmp:
        tmp = Path(tmp)
        models = exports(runs, tmp / "c")
        rows, host_s, again_s = measure(models, args.samples, clock_hz)
        apart = np.abs(np.array(host_s) / np.array(again_s) - 1)
        print(f"\nthe C on this host, measured twice: median {np.median(apart):.0%} apart, "
              f"{np.mean(apart <= 0.1):.0%} of models within 10% of themselves")
        suite = suite_rows(tmp, clock_hz)
        suite_models = sum(1 for row in suite if not row["layer"])
        whole = [r[:1] for r in rows]
        boards = (("emulated Cortex-M4, whole calls (instructions at 216 MHz)", "stm32f746", whole, (), False),
                  ("emulated Cortex-M4, whole calls and every layer", "stm32f746", rows, (), False),
                  (f"emulated Cortex-M4, the {suite_models} board microbenchmarks alone (calls and layers: "
                   "`calibrate --runtime cortex-m4`)", "stm32f746", whole, suite, True),
                  (f"emulated Cortex-M4, the {suite_models} board microbenchmarks and the other models (calls and "
                   "layers)", "stm32f746", rows, suite, False),
                  ("C export on this host (-O2), whole calls", "host-cpu",
                   [[r[0] | {"latency_s": s}] for r, s in zip(rows, host_s)], (), False))
        for board, profile, board_rows, extra, alone in boards:
            measured = [r[0]["latency_s"] for r in board_rows]
            before, after = leave_one_out(profile, models, board_rows, tmp, extra, alone)
            print(f"\n### {board}, calibrating {profile}\n")
            print("| search | trial | measured (us) | estimated (us) | error | calibrated on the others (us) | error |")
            print("|---|---|---|---|---|---|---|")
            for (search, trial, _, _), m, b, a in zip(models, measured, before, after):
                print(f"| {search} | {trial} | {m * 1e6:.1f} | {b * 1e6:.1f} | {b / m - 1:+.0%} | {a * 1e6:.1f} | "
                      f"{a / m - 1:+.0%} |")
            print(f"\n- {summary('estimated:', measured, before)}; {summary('calibrated:', measured, after)}")
            for search in sorted({s for s, *_ in models}):
                index = [i for i, (s, *_) in enumerate(models) if s == search]
                if len(index) >= 3:
                    rho = [spearman([p[i] for i in index], [measured[i] for i in index]) for p in (before, after)]
                    print(f"- {search} front ({len(index)}): Spearman with measured {rho[0]:.3f} estimated, "
                          f"{rho[1]:.3f} calibrated")


if __name__ == "__main__":
    main()
