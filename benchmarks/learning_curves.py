"""How well a rung's result predicts a trial's final result, and how stable the final result is (issue 3).

    .venv/bin/python benchmarks/learning_curves.py --configs 60 --seed 1

Samples configurations of `searchspace/cnn1d.yaml` that fit `sequencer-fpga`, trains each to the space's full budget
under each learning-rate schedule, evaluating after every epoch (the same trial code and seeds a search uses, resumed
epoch by epoch). Prints, per schedule: how much validation F1 moves between the last two epochs, the share of
configurations with F1 exactly 0 after one epoch, and the rank correlation (Spearman) with the final F1 of F1 at
argmax and of F1 at the best threshold, after epochs 1 and 3 (MO-ASHA's rungs).
"""

from __future__ import annotations

import argparse
import dataclasses
import platform
import tempfile
from datetime import date
from pathlib import Path

import numpy as np
from draws import fitting_configs


def spearman(a, b) -> float:
    rank_a, rank_b = np.argsort(np.argsort(a)), np.argsort(np.argsort(b))
    return float(np.corrcoef(rank_a, rank_b)[0, 1])


def main() -> None:
    import torch

    from edgeopt.data.loading import load_dataset
    from edgeopt.data.normalize import Normalizer
    from edgeopt.profiles.loader import load_profile
    from edgeopt.space.distributions import Fixed
    from edgeopt.space.spec import load_space
    from edgeopt.train.loop import DeviceData, TrialSpec, train_trial
    from edgeopt.metrics import best_threshold_f1

    parser = argparse.ArgumentParser()
    parser.add_argument("--configs", type=int, default=60)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--space", default="searchspace/cnn1d.yaml")
    parser.add_argument("--profile", default="sequencer-fpga")
    args = parser.parse_args()
    torch.set_num_threads(1)
    space = load_space(args.space)
    profile = load_profile(args.profile)
    dataset = load_dataset(None, seed=args.seed, example="reads")
    normalizer = Normalizer.fit(dataset.x_train)
    data = DeviceData(dataset, normalizer)
    configs = fitting_configs(space, profile, dataset, args.configs, args.seed)
    epochs = space.max_epochs
    print(f"# {date.today()}, {platform.node()} ({platform.machine()}), {args.space}, {args.configs} configurations "
          f"that fit {args.profile}, seed {args.seed}, {epochs} epochs")
    print("| schedule | mean F1 final | top-5 F1 final | F1 jitter, last two epochs | F1 = 0 after epoch 1 | "
          "Spearman F1 e1 / e3 | Spearman best-threshold F1 e1 / e3 |")
    print("|---|---|---|---|---|---|---|")
    with tempfile.TemporaryDirectory() as folder:
        for schedule in ("constant", "cosine"):
            training = {**space.training, "lr_schedule": Fixed(schedule)}
            scheduled = dataclasses.replace(space, training=training).to_json()
            curves = []  # per config: [(f1, best-threshold f1) per epoch]
            for number, config in enumerate(configs):
                spec = TrialSpec(number, scheduled, {**config, "lr_schedule": schedule}, dataset.sample_shape,
                                 dataset.num_classes, args.seed * 1000 + number,
                                 str(Path(folder) / f"{schedule}-{number}.pt"))
                curve = []
                for epoch in range(1, epochs + 1):
                    metrics = train_trial(spec, data, epoch).metrics.to_dict()
                    curve.append((metrics["f1"], best_threshold_f1(metrics)))
                curves.append(curve)
            f1 = np.array([[e[0] for e in c] for c in curves])
            best = np.array([[e[1] for e in c] for c in curves])
            final = f1[:, -1]
            print(f"| {schedule} | {final.mean():.3f} | {np.sort(final)[-5:].mean():.3f} | "
                  f"{np.abs(f1[:, -1] - f1[:, -2]).mean():.3f} | {np.mean(f1[:, 0] == 0):.2f} | "
                  f"{spearman(f1[:, 0], final):.2f} / {spearman(f1[:, 2], final):.2f} | "
                  f"{spearman(best[:, 0], final):.2f} / {spearman(best[:, 2], final):.2f} |")


if __name__ == "__main__":
    main()
