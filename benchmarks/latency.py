"""Estimated vs measured latency before and after `edgeopt calibrate` (issue 15), on models the fit never saw.

    .venv/bin/python benchmarks/latency.py --trials 16

Two calibrations: one times only its microbenchmarks (one-op models of the shipped spaces' ops and their chains) in
onnxruntime on this machine; the other adds every other front member (`--models`), as a user calibrating for their
own search would, and is validated on the front members it did not see. The validation set: the fp32 models of the
search fronts over the three shipped spaces (cnn1d and mlp from the export benchmark's searches, cnn2d on digits;
searches are run when their run folder is missing), the bundled example models, and MobileNet- and ResNet-style
networks built here. Each is measured twice (two independent passes of five interleaved rounds, best round of each)
to give the run-to-run spread beside the errors.

The calibrations above time their microbenchmarks minutes before the validation models are timed: on a shared
machine the two sessions can differ by more than the latency model errs. The *same pass* columns take that drift
out: the microbenchmarks are timed again in the same interleaved passes as the validation models and fitted from
those timings (`calibrate --measurements`), so what is left is the latency model's own error.
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
SHARED = ROOT.parent / "shared" / "datasets"
PROFILE = "host-cpu"
SEARCHES = [  # (run name, data, space): the export benchmark's runs are reused when --runs points at them
    ("reads", "reads", "searchspace/cnn1d.yaml"),
    ("japanese_vowels", str(SHARED / "japanese_vowels.npz"), "searchspace/cnn1d.yaml"),
    ("breast_cancer", str(SHARED / "breast_cancer.npz"), "searchspace/mlp.yaml"),
    ("digits_cnn2d", str(SHARED / "digits.npz"), "searchspace/cnn2d.yaml"),
]


def spearman(a, b) -> float:
    ranks = [np.argsort(np.argsort(v)).astype(float) for v in (a, b)]
    if len(a) < 3 or ranks[0].std() == 0 or ranks[1].std() == 0:
        return float("nan")
    return float(np.corrcoef(*ranks)[0, 1])


def mobilenet(width: int, blocks: int):
    """A MobileNetV2-style network: inverted residual blocks (1x1 expand, 3x3 depthwise, 1x1 project)."""
    from torch import nn

    class Block(nn.Module):
        def __init__(self, c: int, stride: int):
            super().__init__()
            self.body = nn.Sequential(nn.Conv2d(c, 4 * c, 1), nn.ReLU6(), nn.Conv2d(4 * c, 4 * c, 3, stride, 1,
                                      groups=4 * c), nn.ReLU6(), nn.Conv2d(4 * c, c, 1))
            self.skip = stride == 1

        def forward(self, x):
            return x + self.body(x) if self.skip else self.body(x)

    layers = [nn.Conv2d(3, width, 3, 2, 1), nn.ReLU6()]
    layers += [Block(width, 2 if i % 2 else 1) for i in range(blocks)]
    return nn.Sequential(*layers, nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(width, 10))


def resnet(width: int, blocks: int):
    """A ResNet-style network: basic blocks of two 3x3 convolutions with identity skips."""
    from torch import nn

    class Block(nn.Module):
        def __init__(self, c: int):
            super().__init__()
            self.body = nn.Sequential(nn.Conv2d(c, c, 3, 1, 1), nn.ReLU(), nn.Conv2d(c, c, 3, 1, 1))

        def forward(self, x):
            return (x + self.body(x)).relu()

    layers = [nn.Conv2d(3, width, 3, 1, 1), nn.ReLU()]
    for i in range(blocks):
        layers.append(Block(width))
        if i % 2:
            layers.append(nn.MaxPool2d(2))
    return nn.Sequential(*layers, nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(width, 10))


def built_models(folder: Path) -> list[tuple[str, Path]]:
    import torch

    from edgeopt.deploy.onnx import export_onnx

    torch.manual_seed(0)
    out = []
    for name, module, shape in (("mobilenet w16 x4 @64", mobilenet(16, 4), (3, 64, 64)),
                                ("mobilenet w32 x6 @96", mobilenet(32, 6), (3, 96, 96)),
                                ("resnet w16 x4 @32", resnet(16, 4), (3, 32, 32)),
                                ("resnet w32 x6 @64", resnet(32, 6), (3, 64, 64))):
        out.append((name, export_onnx(module.eval(), shape, folder / f"{name.replace(' ', '_')}.onnx")))
    return out


def front_models(runs: Path, trials: int, folder: Path) -> list[tuple[str, str, Path]]:
    """(search, label, fp32 ONNX) of each search's front members over its profiles."""
    from edgeopt.deploy.onnx import export_onnx
    from edgeopt.models.source import load_source
    from edgeopt.report.search_report import build_report
    from edgeopt.search.store import open_store

    out = []
    for name, data, space in SEARCHES:
        if data != "reads" and not Path(data).is_file():
            print(f"- skipped {name}: {data} is not here", file=sys.stderr)
            continue
        if not (runs / name / "study.db").is_file():
            subprocess.run([str(ROOT / ".venv/bin/edgeopt"), "search", "--space", space, "--data", data, "--trials",
                            str(trials), "--name", name, "--runs-dir", str(runs), "--profile", "stm32f746",
                            "--profile", "sequencer-fpga", "--json", "--workers", "1"], cwd=ROOT, check=True,
                           stdout=subprocess.DEVNULL)
        store = open_store(runs / name)
        seen = set()
        for profile_report in build_report(store, evaluate_test=False).profiles:
            for member in profile_report.front:
                if member.trial in seen:
                    continue
                seen.add(member.trial)
                source = load_source(str(store.checkpoint_path(store.trial(member.trial))))
                path = folder / f"{name}-{member.trial}.onnx"
                export_onnx(source.module, tuple(source.sample_shape), path)
                out.append((name, f"{name} trial {member.trial}", path))
    return out


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--trials", type=int, default=16)
    parser.add_argument("--runs", default="/tmp/exbench", help="search run folders (reused, else created)")
    args = parser.parse_args()

    import torch

    from edgeopt.cost.estimate import estimate
    from edgeopt.calibration.microbench import measure_latencies_s, write_micros
    from edgeopt.calibration.calibrate import calibrate

    torch.set_num_threads(1)
    work = Path(tempfile.mkdtemp(prefix="edgeopt-latency-bench-"))
    result = calibrate(PROFILE, work / "calibrated.yaml")
    models = [(name, name, path) for name, path in built_models(work)]
    bundled = (ROOT / "examples/kws_dscnn.onnx", ROOT / "examples/read_classifier.onnx")
    models += [("bundled", p.name, p) for p in bundled]
    fronts = front_models(Path(args.runs), args.trials, work)
    # A user calibrating for a search passes models like its own (--models): every other front member, and the
    # others validate; the microbenchmarks-only calibration is validated on all.
    fitted = fronts[::2]
    with_models = calibrate(PROFILE, work / "with-models.yaml", models=[path for _, _, path in fitted])
    models += [item for item in fronts if item not in fitted]
    paths = [path for _, _, path in models]
    micro = [path for _, path in write_micros(work / "micro")]
    fitted_paths = [path for _, _, path in fitted]
    timed = paths + micro + fitted_paths
    first = measure_latencies_s(timed)
    second = measure_latencies_s(timed)
    best = {path: min(a, b) for path, (a, _), (b, _) in zip(timed, first, second)}
    same_pass = {}
    for key, subset in (("same_pass", micro), ("same_pass_models", micro + fitted_paths)):
        csv = work / f"{key}.csv"
        csv.write_text("model,latency_s\n" + "".join(f"{p},{best[p]!r}\n" for p in subset))
        calibrate(PROFILE, work / f"{key}.yaml", measurements=csv)
        same_pass[key] = work / f"{key}.yaml"
    rows = []
    for (group, label, path), (a, spread_a), (b, _) in zip(models, first, second):
        measured = min(a, b)
        rows.append({"group": group, "label": label, "measured": measured, "repeat": abs(a / b - 1),
                     "round_spread": spread_a, "before": estimate(path, PROFILE).total.latency_s,
                     "after": estimate(path, work / "calibrated.yaml").total.latency_s,
                     "with_models": estimate(path, work / "with-models.yaml").total.latency_s}
                    | {key: estimate(path, yaml).total.latency_s for key, yaml in same_pass.items()})

    def summary(key: str, subset) -> str:
        errors = np.array([r[key] / r["measured"] - 1 for r in subset])
        return f"{np.mean(np.abs(errors) <= 0.1):.0%} within +-10%, MAPE {np.mean(np.abs(errors)):.0%}"

    machine = platform.processor() or platform.machine()
    print(f"# {date.today()}, {platform.node()} ({os.cpu_count()} cores, {machine}), "
          f"`.venv/bin/python benchmarks/latency.py --trials {args.trials}`")
    cal = result.calibration
    print(f"calibration on microbenchmarks: {cal.describe()}; within +-10% of them: {cal.within_10pct:.0%}")
    cal = with_models.calibration
    print(f"calibration with --models (every other front member, {len(fitted)}): {cal.describe()}; within +-10% of "
          f"them: {cal.within_10pct:.0%}")
    columns = {"before": "estimated", "after": "calibrated", "with_models": "with --models",
               "same_pass": "same pass", "same_pass_models": "same pass, with models"}
    print("| group | model | measured (us) | pass-to-pass | rounds' spread | "
          + " | ".join(f"{title} (us) | error" for title in columns.values()) + " |")
    print("|" + "---|" * (5 + 2 * len(columns)))
    for r in rows:
        print(f"| {r['group']} | {r['label']} | {r['measured'] * 1e6:.1f} | {r['repeat']:.0%} | "
              f"{r['round_spread']:.0%} | "
              + " | ".join(f"{r[key] * 1e6:.1f} | {r[key] / r['measured'] - 1:+.0%}" for key in columns) + " |")
    print()
    repeat = np.array([r["repeat"] for r in rows])
    print(f"- run-to-run (two passes): median {np.median(repeat):.0%}, {np.mean(repeat <= 0.1):.0%} of models "
          "within 10% of themselves")
    for group in [None, *dict.fromkeys(r["group"] for r in rows)]:
        subset = [r for r in rows if group is None or r["group"] == group]
        line = (f"- {group or f'all {len(rows)} validation models'} ({len(subset)}): "
                + "; ".join(f"{title} {summary(key, subset)}" for key, title in columns.items()))
        if group and len(subset) >= 3:
            measured = [r["measured"] for r in subset]
            line += "; Spearman with measured: " + ", ".join(
                f"{spearman([r[key] for r in subset], measured):.3f}" for key in columns)
        print(line)


if __name__ == "__main__":
    sys.exit(main())
