"""edgeopt search on the real datasets of ../shared/datasets against the lab's tools and MiniRocket (issues 11, 28).

    .venv/bin/python benchmarks/real_data.py --budget 300 --jobs 2

Each run is `edgeopt search` with default settings and a fixed wall-clock budget, under `sequencer-fpga` (at most
4,000 parameters; digits also under `stm32f746`): series through `cnn1d`, tabular data and digits on the FPGA through
`mlp` (the FPGA runs no 2-D convolution), digits on the MCU through `cnn2d`. The CSV goes through `--label malignant`:
its rows in the .npz's test split are held out of the search by row, so its test figures are comparable. Printed side
by side, computed in this one run: the recommended model's test accuracy (the best validation score under the
profile's limit), its params and weight bytes, 1-NN (Euclidean, features z-normalised with training statistics, NaN
padding set to 0 after normalisation), the lab's tools as the search's report fits them (logistic regression, a
decision tree, a random forest, gradient boosting: test accuracy), MiniRocket's from ../shared/datasets/README.md, and
the front's best test accuracy (the oracle: what selection on validation loses). Under cross-validation the
recommended model is the refit on train + validation.
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

import numpy as np

DATASETS = Path(__file__).resolve().parents[2] / "shared" / "datasets"
LAB_TOOLS = ("logistic", "tree", "forest", "boosting")
# MiniRocket + ridge on the same splits, any size (../shared/datasets/README.md)
MINIROCKET = {"basic_motions": 1.000, "japanese_vowels": 0.978, "pickup_gesture_z": 0.780, "plaid": 0.939,
              "trace": 1.000}
# (run name, data file, profile, space, positive-class report)
RUNS = (
    ("basic_motions", "basic_motions.npz", "sequencer-fpga", "cnn1d"),
    ("japanese_vowels", "japanese_vowels.npz", "sequencer-fpga", "cnn1d"),
    ("pickup_gesture_z", "pickup_gesture_z.npz", "sequencer-fpga", "cnn1d"),
    ("trace", "trace.npz", "sequencer-fpga", "cnn1d"),
    ("plaid", "plaid.npz", "sequencer-fpga", "cnn1d"),
    ("breast_cancer", "breast_cancer.npz", "sequencer-fpga", "mlp"),
    ("breast_cancer_csv", "breast_cancer.csv", "sequencer-fpga", "mlp"),
    ("digits", "digits.npz", "sequencer-fpga", "mlp"),
    ("digits_mcu", "digits.npz", "stm32f746", "cnn2d"),
)


def references(x_train, y_train, x_test, y_test) -> dict:
    """1-NN Euclidean and L2 logistic regression on per-feature z-normalised inputs (NaN -> 0 after), test accuracy."""
    from edgeopt.data.dataset import Dataset
    from edgeopt.data.normalize import Normalizer
    from edgeopt.report.baseline import logistic_regression

    norm = Normalizer.fit(x_train, per_feature=True)
    a, b = norm.apply(x_train).reshape(len(x_train), -1), norm.apply(x_test).reshape(len(x_test), -1)
    distances = (b**2).sum(1)[:, None] - 2 * b @ a.T + (a**2).sum(1)[None, :]
    nn = float((y_train[distances.argmin(1)] == y_test).mean())
    classes = int(max(y_train.max(), y_test.max())) + 1
    whole = Dataset("ref", x_train, y_train, x_train, y_train, x_test, y_test, classes)
    _, _, test = logistic_regression(whole, norm)
    return {"1nn": nn, "logistic": test.accuracy}


def prepare(run: str, file: str, work: Path) -> tuple[Path, list[str], tuple]:
    """The data file the search reads, extra flags, and (x_train, y_train, x_test, y_test) for the references."""
    npz = np.load(DATASETS / file.replace(".csv", ".npz"))
    split = (npz["x_train"], npz["y_train"], npz["x_test"], npz["y_test"])
    if not file.endswith(".csv"):
        return DATASETS / file, [], split
    lines = (DATASETS / file).read_text().splitlines()
    header, rows = lines[0], lines[1:]
    features = np.array([line.split(",")[:-1] for line in rows], np.float64)
    test = npz["x_test"].astype(np.float64)
    held = [np.isclose(test, row, rtol=1e-5, atol=1e-7).all(axis=1).any() for row in features]  # float32 copies
    kept = [line for line, out in zip(rows, held) if not out]
    if len(kept) != len(npz["x_train"]):
        raise SystemExit(f"{file}: {len(kept)} rows outside the test split, expected {len(npz['x_train'])}")
    path = work / "breast_cancer_train.csv"
    path.write_text("\n".join([header, *kept]) + "\n")
    return path, ["--label", "malignant"], split


def search(run: str, file: str, profile: str, space: str, budget: float, trials: int | None, seed: int,
           work: Path) -> dict:
    data, extra, split = prepare(run, file, work)
    stop = ["--trials", str(trials)] if trials else ["--time", f"{budget}s"]
    command = [sys.executable, "-m", "edgeopt.cli", "search", "--profile", profile, "--space", space, "--data",
               str(data), *stop, "--seed", str(seed), "--name", run, "--runs-dir", str(work),
               "--json", "--no-report", "--workers", "1", *extra]  # --jobs searches side by side, one core each
    start = time.perf_counter()
    out = subprocess.run(command, capture_output=True, text=True)
    wall = time.perf_counter() - start
    if out.returncode != 0:
        return {"run": run, "error": out.stderr.strip().splitlines()[-1] if out.stderr.strip() else "failed",
                "wall_s": wall}
    report = json.loads(out.stdout)
    return {"run": run, "profile": profile, "space": space, "wall_s": wall, "report": report,
            **measure(report, split, work / run)}


def measure(report: dict, split, run_dir: Path) -> dict:
    """Test accuracy of the recommended model (and its fold models), of the front's best, for CSV runs by hand."""
    x_test, y_test = split[2], split[3]
    p = report["profiles"][0]
    rec = p["recommended"]
    front = p["front"]
    trials = {t["trial"]: t for t in report["trials"][p["profile"]]}
    tools = {b["tool"]: b["test_accuracy"] for b in p.get("baselines", [])
             if b["tool"] in LAB_TOOLS and b.get("test_accuracy") is not None}
    out = {"trained": sum(t["state"] != "infeasible" for t in trials.values()), "front": len(front),
           "verdict": p["verdict"], "selection": report["settings"].get("selection"), "lab_tools": tools,
           "lab_tools_s": report.get("baseline_seconds")}
    if rec is None:
        return out | {"recommended": None}
    accuracy = {row["trial"]: row["test_accuracy"] for row in front + [rec]}
    if rec["test_accuracy"] is None:  # the CSV run has no test split: evaluate its checkpoints here
        accuracy = {n: test_accuracy(run_dir / "trials" / f"{n:05d}" / "checkpoint.pt", x_test, y_test)
                    for n in accuracy}
    folds = sorted((run_dir / "trials" / f"{rec['trial']:05d}").glob("checkpoint.fold*.pt"))
    return out | {"recommended": rec["trial"], "family": rec.get("family"), "test_accuracy": accuracy[rec["trial"]],
                  "params": rec["params"],
                  "weight_bytes": rec["weight_bytes"], "oracle": max(accuracy[row["trial"]] for row in front),
                  "fold_models": statistics.mean(test_accuracy(f, x_test, y_test) for f in folds) if folds else None}


def test_accuracy(checkpoint: Path, x_test, y_test) -> float:
    import torch

    from edgeopt.models.source import load_source

    source = load_source(str(checkpoint))
    with torch.no_grad():
        logits = source.module.eval()(torch.from_numpy(source.normalizer.apply(x_test.astype(np.float32))))
    return float((logits.argmax(1).numpy() == y_test).mean())


def _record(args, rows: list[dict], work: Path, seeds: str) -> None:
    """results.json beside the runs, and the line that says where, when and how the table was measured."""
    (work / "results.json").write_text(json.dumps([{k: v for k, v in r.items() if k != "report"} for r in rows],
                                                  indent=2, default=str) + "\n")
    machine = platform.processor() or platform.machine()
    stop = f"{args.trials} trials" if args.trials else f"budget {args.budget:.0f} s"
    print(f"{date.today()}, {platform.node()} ({machine}), {stop} per search, {args.jobs} side by side, {seeds}"
          f"{', profile ' + args.profile if args.profile else ''}")


def summarize_seeds(args, chosen, results: list[dict], work: Path) -> None:
    """Per run: each seed's recommended test accuracy and family, their median against the lab tools' medians and
    MiniRocket."""
    _record(args, results, work, f"seeds {' '.join(map(str, args.seeds))}")
    print("| run | profile / space | test acc by seed (family) | median | logistic | tree | forest | boosting | "
          "beats every lab tool (medians) | MiniRocket | gap (median) |")
    print("|---|---|---|---|---|---|---|---|---|---|---|")
    wins, gaps = 0, []
    for run, *_ in chosen:
        mine = [r for r in results if r["run"] == run]
        done = [r for r in mine if r.get("recommended") is not None]
        shown = " / ".join(f"{r['test_accuracy']:.3f}" + (f" ({r['family']})" if r.get("family") else "")
                           if r.get("recommended") is not None else (r.get("error") or "none") for r in mine)
        tools = {t: statistics.median(r["lab_tools"][t] for r in done if t in r.get("lab_tools", {}))
                 for t in LAB_TOOLS if any(t in r.get("lab_tools", {}) for r in done)}
        median = statistics.median(r["test_accuracy"] for r in done) if done else None
        beats = median is not None and len(done) == len(mine) and all(median > v for v in tools.values())
        wins += beats
        rocket = MINIROCKET.get(run)
        gap = None if rocket is None or median is None else median - rocket
        if gap is not None:
            gaps.append(gap)
        cells = " | ".join(f"{tools[t]:.3f}" if t in tools else "–" for t in LAB_TOOLS)
        where = f"{mine[0].get('profile', '?')} / {Path(mine[0].get('space', '?')).stem}"
        print(f"| {run} | {where} | {shown} | {'–' if median is None else f'{median:.3f}'} | {cells} | "
              f"{'yes' if beats else 'NO'} | {'–' if rocket is None else f'{rocket:.3f}'} | "
              f"{'–' if gap is None else f'{gap:+.3f}'} |")
    print(f"\nbeats every lab tool (median over seeds) on {wins} of {len(chosen)} runs; gap to MiniRocket on the "
          f"series sets: median {statistics.median(gaps) if gaps else float('nan'):+.3f}, worst "
          f"{min(gaps, default=float('nan')):+.3f}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--budget", type=float, default=300.0, help="seconds per search")
    parser.add_argument("--trials", type=int, default=None,
                        help="trials per search instead of --budget (repeatable figures: same seed, same trials)")
    parser.add_argument("--jobs", type=int, default=2, help="searches side by side (one CPU thread each)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--seeds", type=int, nargs="+", default=None,
                        help="search each run once per seed (folders seed-N under --runs) and print the median")
    parser.add_argument("--runs", default="runs/real-data", help="folder for the searches (must not hold them)")
    parser.add_argument("--only", nargs="*", default=None, help="run names to run (default: all)")
    parser.add_argument("--profile", default=None, help="search every run on this profile instead")
    parser.add_argument("--space", nargs="*", default=[], metavar="NAME=YAML",
                        help="search another space file where a run names a shipped one (cnn1d=my.yaml)")
    args = parser.parse_args()
    swap = dict(item.split("=", 1) for item in args.space)
    work = Path(args.runs).resolve()
    work.mkdir(parents=True, exist_ok=True)
    chosen = [r for r in RUNS if args.only is None or r[0] in args.only]
    if args.seeds:
        seeded = [(seed, r, work / f"seed-{seed}") for seed in args.seeds for r in chosen]
    else:
        seeded = [(args.seed, r, work) for r in chosen]
    taken = [f"{folder.name}/{r[0]}" for _, r, folder in seeded if (folder / r[0]).exists()]
    if taken:
        raise SystemExit(f"{work} already holds {', '.join(taken)}: a search there would resume; pick --runs")
    for _, _, folder in seeded:
        folder.mkdir(parents=True, exist_ok=True)
    with ThreadPoolExecutor(args.jobs) as pool:
        results = list(pool.map(lambda item: search(item[1][0], item[1][1], args.profile or item[1][2],
                                                    swap.get(item[1][3], item[1][3]), args.budget, args.trials,
                                                    item[0], item[2]), seeded))
    if args.seeds:
        for (seed, _, _), result in zip(seeded, results):
            result["seed"] = seed
        summarize_seeds(args, chosen, results, work)
        return
    rows = []
    for (run, file, _, _), result in zip(chosen, results):
        rows.append(result | references(*prepare(run, file, work)[2]))
    _record(args, rows, work, f"seed {args.seed}")
    print("| run | profile / space | selection | trained | recommended test acc | params | weight B | 1-NN | "
          "logistic | tree | forest | boosting | beats every lab tool | MiniRocket | gap to MiniRocket | oracle |")
    print("|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|")
    wins, gaps = 0, []
    for r in rows:
        tools = r.get("lab_tools", {})
        cells = " | ".join(f"{tools[t]:.3f}" if t in tools else "–" for t in LAB_TOOLS)
        rocket = MINIROCKET.get(r["run"])
        if "error" in r or r.get("recommended") is None:
            print(f"| {r['run']} | | | | {r.get('error') or 'no model beats a constant predictor'} | | | "
                  f"{r['1nn']:.3f} | {cells} | no | {rocket or '–'} | | |")
            continue
        beats = all(r["test_accuracy"] > v for v in tools.values()) if tools else None  # CSV: no test split there
        wins += bool(beats)
        gap = None if rocket is None else r["test_accuracy"] - rocket
        if gap is not None:
            gaps.append(gap)
        print(f"| {r['run']} | {r['profile']} / {Path(r['space']).stem} | {r['selection']['method']} | {r['trained']} "
              f"| {r['test_accuracy']:.3f} | {r['params']:,} | {r['weight_bytes']:,.0f} | {r['1nn']:.3f} | {cells} "
              f"| {'–' if beats is None else 'yes' if beats else 'NO'} | "
              f"{'–' if rocket is None else f'{rocket:.3f}'} | "
              f"{'–' if gap is None else f'{gap:+.3f}'} | {r['oracle']:.3f} |")
    print(f"\nbeats every lab tool on {wins} of {len(rows)} runs; gap to MiniRocket on the series sets: median "
          f"{statistics.median(gaps) if gaps else float('nan'):+.3f}, worst {min(gaps, default=float('nan')):+.3f}")
    for r in rows:
        spent = r.get("lab_tools_s")
        print(f"  {r['run']}: {r.get('verdict') or r.get('error')}"
              + (f" [lab tools fitted in {spent:.1f} s after the search]" if spent is not None else ""))


if __name__ == "__main__":
    main()
