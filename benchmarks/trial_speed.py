"""How fast one search trial trains, per device: the seconds a rung costs (issue 3: "uses a GPU when there is one").

    .venv/bin/python benchmarks/trial_speed.py --configs 12 --devices cpu cuda

Samples configurations of `searchspace/cnn1d.yaml` that fit `sequencer-fpga` (the search's own draw and cost check),
and trains each with the search's trial code on the bundled sequencer-reads example: a first rung of one epoch from
scratch, then resumed to the space's full budget, as MO-ASHA runs a trial it promotes. Prints, per device, the median
seconds of the first rung (model build, one epoch, evaluation, checkpoint) and of each further epoch, and the median
time to train a configuration to the full budget. CPU runs on one thread, as a search does.
"""

from __future__ import annotations

import argparse
import platform
import statistics
import tempfile
from datetime import date
from pathlib import Path

from draws import fitting_configs


def main() -> None:
    import torch

    from edgeopt.data.loading import load_dataset
    from edgeopt.data.normalize import Normalizer
    from edgeopt.profiles.loader import load_profile
    from edgeopt.space.spec import load_space
    from edgeopt.train.loop import DeviceData, TrialSpec, train_trial

    parser = argparse.ArgumentParser()
    parser.add_argument("--configs", type=int, default=12)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--devices", nargs="+", default=["cpu", "cuda"] if torch.cuda.is_available() else ["cpu"])
    parser.add_argument("--space", default="searchspace/cnn1d.yaml")
    parser.add_argument("--label", default="", help="a name for this run in the printed table (e.g. the commit)")
    args = parser.parse_args()
    torch.set_num_threads(1)
    space = load_space(args.space)
    profile = load_profile("sequencer-fpga")
    dataset = load_dataset(None, seed=args.seed, example="reads")
    normalizer = Normalizer.fit(dataset.x_train)
    configs = fitting_configs(space, profile, dataset, args.configs, args.seed)
    full, space_json = space.max_epochs, space.to_json()
    gpu = torch.cuda.get_device_name(0) if torch.cuda.is_available() else "no GPU"
    print(f"# {date.today()}, {platform.node()} ({platform.machine()}, {gpu}), torch {torch.__version__}, "
          f"{args.space}, {len(configs)} configurations, {len(dataset.y_train)} training samples {args.label}")
    print("| device | first rung (1 epoch), median s | each further epoch, median s | full budget "
          f"({full} epochs), median s | total s |")
    print("|---|---|---|---|---|")
    for device in args.devices:
        data = DeviceData(dataset, normalizer, device)
        first, further, whole = [], [], []
        with tempfile.TemporaryDirectory() as scratch:
            for number, config in enumerate([configs[0], *configs]):  # the first one warms the device up
                spec = TrialSpec(number, space_json, config, dataset.sample_shape, dataset.num_classes,
                                 args.seed * 1000 + number, str(Path(scratch) / f"{number}.pt"),
                                 normalizer=normalizer.to_dict())
                rung0 = train_trial(spec, data, 1)
                rest = train_trial(spec, data, full)
                if number == 0:
                    continue
                first.append(rung0.seconds)
                further.append(rest.seconds / (full - 1))
                whole.append(rung0.seconds + rest.seconds)
        print(f"| {device} | {statistics.median(first):.3f} | {statistics.median(further):.3f} | "
              f"{statistics.median(whole):.2f} | {sum(whole):.1f} |")


if __name__ == "__main__":
    main()
