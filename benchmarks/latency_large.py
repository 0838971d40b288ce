"""Calibrated latency on models larger than the microbenchmarks: MobileNetV2 and ResNet-18 at 224x224, written here
from their papers (not from edgeopt's spaces), timed in onnxruntime (one thread, best of interleaved rounds) and
estimated on a calibrated host-cpu profile, side by side in one run (issue 26, item 7).

    .venv/bin/python benchmarks/latency_large.py --calibrate /tmp/host-cal.yaml   # calibrates first (~2 min)
    .venv/bin/python benchmarks/latency_large.py --profile /tmp/host-cal.yaml     # an existing calibration

It prints each model's measured and estimated latency, their ratio, and whether the estimate says its latency was
extrapolated past the largest layer the calibration measured.
"""

from __future__ import annotations

import argparse
import math
import os
import platform
import tempfile
from datetime import date
from pathlib import Path


def mobilenet_v2():
    """MobileNetV2 1.0 (Sandler et al., 2018, table 2), 1000 classes."""
    from torch import nn

    def conv(cin, cout, k, s, groups=1, act=True):
        layers = [nn.Conv2d(cin, cout, k, s, k // 2, groups=groups, bias=False), nn.BatchNorm2d(cout)]
        return layers + ([nn.ReLU6()] if act else [])

    class Block(nn.Module):
        def __init__(self, cin, cout, stride, t):
            super().__init__()
            hidden = cin * t
            layers = (conv(cin, hidden, 1, 1) if t != 1 else []) + conv(hidden, hidden, 3, stride, hidden) + \
                conv(hidden, cout, 1, 1, act=False)
            self.body, self.skip = nn.Sequential(*layers), stride == 1 and cin == cout

        def forward(self, x):
            return x + self.body(x) if self.skip else self.body(x)

    layers, cin = conv(3, 32, 3, 2), 32
    for t, c, n, s in ((1, 16, 1, 1), (6, 24, 2, 2), (6, 32, 3, 2), (6, 64, 4, 2), (6, 96, 3, 1), (6, 160, 3, 2),
                       (6, 320, 1, 1)):
        for i in range(n):
            layers.append(Block(cin, c, s if i == 0 else 1, t))
            cin = c
    layers += conv(cin, 1280, 1, 1) + [nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(1280, 1000)]
    return nn.Sequential(*layers)


def resnet18():
    """ResNet-18 (He et al., 2016), 1000 classes."""
    from torch import nn

    class Basic(nn.Module):
        def __init__(self, cin, cout, stride):
            super().__init__()
            self.body = nn.Sequential(nn.Conv2d(cin, cout, 3, stride, 1, bias=False), nn.BatchNorm2d(cout), nn.ReLU(),
                                      nn.Conv2d(cout, cout, 3, 1, 1, bias=False), nn.BatchNorm2d(cout))
            self.short = nn.Sequential() if stride == 1 and cin == cout else nn.Sequential(
                nn.Conv2d(cin, cout, 1, stride, bias=False), nn.BatchNorm2d(cout))
            self.relu = nn.ReLU()

        def forward(self, x):
            return self.relu(self.body(x) + self.short(x))

    layers = [nn.Conv2d(3, 64, 7, 2, 3, bias=False), nn.BatchNorm2d(64), nn.ReLU(), nn.MaxPool2d(3, 2, 1)]
    cin = 64
    for cout, stride in ((64, 1), (128, 2), (256, 2), (512, 2)):
        layers += [Basic(cin, cout, stride), Basic(cout, cout, 1)]
        cin = cout
    layers += [nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(512, 1000)]
    return nn.Sequential(*layers)


def main() -> None:
    parser = argparse.ArgumentParser()
    source = parser.add_mutually_exclusive_group(required=True)
    source.add_argument("--profile", help="a calibrated host-cpu profile")
    source.add_argument("--calibrate", metavar="OUT", help="calibrate host-cpu here first, then use it")
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--runs", type=int, default=30, help="calls a round times (these models take tens of ms)")
    args = parser.parse_args()

    import torch

    from edgeopt import estimate, load_profile
    from edgeopt.calibration.microbench import measure_latencies_s
    from edgeopt.deploy.onnx import export_onnx
    from edgeopt.calibration.calibrate import calibrate

    torch.set_num_threads(1)
    if args.calibrate:
        calibrate("host-cpu", args.calibrate, progress=lambda text: None)
    profile = load_profile(args.profile or args.calibrate)
    print(f"# {date.today()}, {platform.node()} ({platform.machine()}, {os.cpu_count()} cores), profile "
          f"{profile.path.name}: {profile.calibration.describe() if profile.calibration else 'not calibrated'}")
    print("| model | MACs | largest layer (elements) | measured (ms) | estimated (ms) | estimated / measured | "
          "latency provenance |")
    print("|---|---|---|---|---|---|---|")
    with tempfile.TemporaryDirectory() as folder:
        models = {"MobileNetV2 @224": mobilenet_v2(), "ResNet-18 @224": resnet18()}
        paths = [export_onnx(module.eval(), (3, 224, 224), Path(folder) / f"m{i}.onnx")
                 for i, module in enumerate(models.values())]
        measured = measure_latencies_s(paths, rounds=args.rounds, runs=args.runs)
        for (name, _), path, (best_s, spread) in zip(models.items(), paths, measured):
            est = estimate(path, profile)
            largest = max(math.prod(layer.output_shape) for layer in est.layers if layer.output_shape)
            print(f"| {name} | {est.total.macs / 1e6:,.0f} M | {largest:,} | {best_s * 1e3:.2f} (spread "
                  f"{spread:.0%}) | {est.total.latency_s * 1e3:.2f} | {est.total.latency_s / best_s:.2f} | "
                  f"{est.latency_from}{': ' + est.latency_from.beyond if est.latency_from.beyond else ''} |")


if __name__ == "__main__":
    main()
