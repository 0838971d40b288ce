"""Search efficiency and the quality bar on the bundled sequencer-reads example (issue 3).

    .venv/bin/python benchmarks/search_efficiency.py --budget 150 --seeds 0 1 2 --jobs 2

Runs, for each seed and the same wall-clock budget: MO-ASHA (random sampler, early stopping), MO-ASHA with TPE
(edgeopt search's default sampler), random search without early stopping, and Optuna NSGA-II without early stopping,
all on `searchspace/cnn1d.yaml` against the `sequencer-fpga` profile (at most 4,000 parameters). Metric: hypervolume
of (validation error = 1 - F1, weight bytes / profile limit) with reference point (1, 1), over time. Prints a Markdown
table for BENCHMARKS.md, and the best test F1 found (test split touched only in the final report).
"""

from __future__ import annotations

import argparse
import json
import platform
import statistics
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from datetime import date
from pathlib import Path

# One trial at a time in one process (--workers 1), except `default`: edgeopt search as shipped (TPE, MO-ASHA, a
# worker per core, packs where the family gains from them).
PROFILE = "sequencer-fpga"
METHODS = {
    "mo-asha": ["--sampler", "random", "--early-stopping", "--workers", "1"],
    "mo-asha-tpe": ["--sampler", "tpe", "--early-stopping", "--workers", "1"],
    "random": ["--sampler", "random", "--no-early-stopping", "--workers", "1"],
    "nsga2": ["--sampler", "nsga2", "--no-early-stopping", "--workers", "1"],
    "default": [],
}


def run(method: str, seed: int, budget: float, runs: Path, space: str, reuse: bool, min_epochs: int = 1,
        data: list[str] = ()) -> dict:
    name = f"{method}-s{seed}"
    edgeopt = [sys.executable, "-m", "edgeopt.cli"]  # this interpreter's edgeopt, installed or on PYTHONPATH
    if reuse and (runs / name / "study.db").is_file():  # tabulate an earlier run again without searching
        out = subprocess.run([*edgeopt, "report", str(runs / name), "--json"], capture_output=True, text=True,
                             check=True)
        return {"method": method, "seed": seed, "wall_s": 0.0, "report": json.loads(out.stdout)}
    command = [*edgeopt, "search", "--profile", PROFILE, "--space", space, "--time", f"{budget}s",
               "--seed", str(seed), "--name", name, "--runs-dir", str(runs), "--json", *METHODS[method],
               "--min-epochs", str(min_epochs), *data]
    start = time.perf_counter()
    out = subprocess.run(command, capture_output=True, text=True, check=True)
    report = json.loads(out.stdout)
    return {"method": method, "seed": seed, "wall_s": time.perf_counter() - start, "report": report}


def time_to_reach(curve, target: float) -> float | None:
    """When the hypervolume reached `target` for good. It can fall: a trial's point is its latest rung's result
    (the checkpoint that exists), and a longer-trained model can score lower."""
    reached = None
    for seconds, hv in curve:
        if hv >= target - 1e-12:
            reached = seconds if reached is None else reached
        else:
            reached = None
    return reached


def hypervolume_at(curve, seconds: float) -> float:
    """The hypervolume as it stood `seconds` into the search."""
    return max([0.0] + [hv for at, hv in curve if at <= seconds][-1:])


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--budget", type=float, default=150.0, help="seconds per search")
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--jobs", type=int, default=2, help="searches run side by side (one CPU thread each)")
    parser.add_argument("--runs", default="runs/bench")
    parser.add_argument("--space", default="searchspace/cnn1d.yaml")
    parser.add_argument("--reuse", action="store_true", help="report on the runs already in --runs, do not search")
    parser.add_argument("--data", default=None, help="dataset (default: the bundled example)")
    parser.add_argument("--label", default=None, help="label column of a CSV dataset")
    parser.add_argument("--profile", default="sequencer-fpga")
    parser.add_argument("--min-epochs", type=int, default=1, help="MO-ASHA's rung-0 budget (epochs)")
    parser.add_argument("--methods", nargs="+", choices=list(METHODS), default=list(METHODS),
                        help="a subset of the methods (random is always run: it sets the target)")
    args = parser.parse_args()
    global PROFILE
    PROFILE = args.profile
    data = (["--data", args.data] if args.data else []) + (["--label", args.label] if args.label else [])
    methods = {m: METHODS[m] for m in METHODS if m in args.methods or m == "random"}
    runs = Path(args.runs)
    jobs = [(m, s) for s in args.seeds for m in methods]
    taken = [f"{m}-s{s}" for m, s in jobs if (runs / f"{m}-s{s}").exists()]
    if taken and not args.reuse:  # edgeopt search would resume them, and time them from their first start
        parser.error(f"{runs} already holds {', '.join(taken)}: pass --reuse to tabulate them, or another --runs")
    with ThreadPoolExecutor(args.jobs) as pool:
        results = list(pool.map(lambda job: run(*job, args.budget, runs, args.space, args.reuse, args.min_epochs,
                                                 data), jobs))
    by = {(r["method"], r["seed"]): r for r in results}
    print(f"# {date.today()}, {platform.node()} ({platform.machine()}), {args.space}, {args.data or 'bundled'}, "
          f"{args.profile}, budget {args.budget:.0f} s, "
          f"{args.jobs} searches side by side, seeds {args.seeds}, MO-ASHA min epochs {args.min_epochs}")
    print("| seed | method | trials trained | final HV | HV at 1/3 of the budget | best val F1 | "
          "best test F1 (front) | MO-ASHA time to random's final HV |")
    print("|---|---|---|---|---|---|---|---|")
    ratios: dict[str, list[float]] = {m: [] for m in methods if m != "random" and m != "nsga2"}
    for seed in args.seeds:
        target = by[("random", seed)]["report"]["hypervolume"][-1][1] if by[("random", seed)]["report"][
            "hypervolume"] else 0.0
        for method in methods:
            report = by[(method, seed)]["report"]
            curve = report["hypervolume"]
            trained = sum(1 for r in report["trials"][PROFILE] if r["state"] != "infeasible")
            front = report["profiles"][0]["front"]
            best_val = max((r["f1"] for r in front), default=float("nan"))
            best_test = max((r["test_f1"] for r in front if r["test_f1"] is not None), default=float("nan"))
            reach = ""
            if method in ratios:
                seconds = time_to_reach(curve, target)
                ratio = seconds / args.budget if seconds is not None else float("inf")
                ratios[method].append(ratio)
                reach = f"{seconds:.0f} s ({ratio:.2f} of budget)" if seconds is not None else "not reached"
            third = hypervolume_at(curve, args.budget / 3)
            print(f"| {seed} | {method} | {trained} | {curve[-1][1] if curve else 0:.4f} | {third:.4f} | "
                  f"{best_val:.3f} | {best_test:.3f} | {reach} |")
    baseline = by[("random", args.seeds[0])]["report"]["profiles"][0]["baseline"]
    print(f"\nlogistic regression baseline: val F1 {baseline['f1']:.3f}, test F1 {baseline['test_f1']:.3f}, "
          f"{baseline['weight_bytes']:.0f} weight bytes")
    for method, shares in ratios.items():
        finite = [r for r in shares if r != float("inf")]
        print(f"{method}: time to reach random search's final hypervolume, as a share of the budget: "
              f"{', '.join(f'{r:.2f}' for r in shares)} (median {statistics.median(shares):.2f}; "
              f"{len(finite)}/{len(shares)} seeds reached it)")


if __name__ == "__main__":
    main()
