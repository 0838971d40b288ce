"""Replay MO-ASHA and random search on recorded learning curves: deterministic, and bounded by an oracle (issue 3).

    .venv/bin/python benchmarks/asha_replay.py --seeds 0 1 2 --configs 200 --jobs 2

`search_efficiency.py` times real searches, so one comparison takes minutes and moves with the machine's speed. Both
methods of that benchmark draw the same configurations in the same order (Optuna's RandomSampler with the search's
seed), and a trial's results depend only on its config and seed. So this script records, once per seed (cached in
--pool as JSON, extended when more are asked for), what each of the first --configs draws does: whether it fits, and
its validation metrics and seconds after every epoch, trained by the search's own trial code and seeds. Then it
replays, in seconds, on a clock made of those measured seconds: random search (every config to the full budget) and
MO-ASHA (the search's scheduler object and promotion signal), and MO-ASHA with an oracle that promotes on each trial's
*final* F1 at every rung.

Prints, per seed: random search's final hypervolume of (1 - F1, weight bytes / limit) over --budget seconds, MO-ASHA's
gap to it at a third of the budget, and the configurations each had drawn by then. The oracle bounds what any
promotion signal can do with these draws.
"""

from __future__ import annotations

import argparse
import json
import math
import platform
import statistics
import tempfile
import time
from concurrent.futures import ProcessPoolExecutor
from datetime import date
from pathlib import Path

# Per-event costs outside train_trial (asking and costing a new trial; storing a rung result and deciding on it),
# fitted to the wall time real searches spent outside train_trial on the 2-core VM: 18.7 s of 150 for MO-ASHA's
# 383 trained + 52 infeasible draws and 552 rung results, 4.7 s for random search's 115 + 21.
NEW_TRIAL_S = 0.034
RESULT_S = 0.007
INFEASIBLE_S = 0.035


def record(seed: int, configs: int, space_path: str, profile_name: str, pool: Path) -> Path:
    """Draw and train the first `configs` trials of a random-sampler search with `seed`; cached, and extended when
    more are asked for."""
    import optuna
    import torch

    from edgeopt.cost.estimate import estimate_graph
    from edgeopt.data.loading import load_dataset
    from edgeopt.data.normalize import Normalizer
    from edgeopt.profiles.loader import load_profile
    from edgeopt.report.search_report import weight_limit_bytes
    from edgeopt.search.settings import make_sampler
    from edgeopt.space.spec import load_space
    from edgeopt.train.loop import DeviceData, TrialSpec, train_trial

    path = pool / f"{Path(space_path).stem}-{profile_name}-seed{seed}.json"
    cached = json.loads(path.read_text())["trials"] if path.is_file() else []
    if len(cached) >= configs:
        return path
    torch.set_num_threads(1)
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    space, profile = load_space(space_path), load_profile(profile_name)
    dataset = load_dataset(None, seed=seed, example="reads")
    normalizer = Normalizer.fit(dataset.x_train)
    data = DeviceData(dataset, normalizer)
    study = optuna.create_study(directions=["minimize", "minimize"], sampler=make_sampler("random", seed))
    trials = list(cached)
    with tempfile.TemporaryDirectory() as scratch:
        for number in range(configs):
            config = space.suggest(study.ask())  # the search's draws, in its order
            if number < len(cached):
                continue
            est = estimate_graph(space.graph(config, dataset.sample_shape, dataset.num_classes), profile)
            row = {"number": number, "config": config, "fits": est.fits, "weight_bytes": est.total.weight_bytes}
            if est.fits:
                spec = TrialSpec(number, space.to_json(), config, dataset.sample_shape, dataset.num_classes,
                                 seed * 1000 + number, f"{scratch}/{number}.pt", 1, normalizer.to_dict())
                epochs = [train_trial(spec, data, e) for e in range(1, space.max_epochs + 1)]
                start = time.perf_counter()
                train_trial(spec, data, space.max_epochs)  # nothing left to train: the cost of a call itself
                row["call_s"] = time.perf_counter() - start
                row["epochs"] = [{"metrics": r.metrics.to_dict(), "seconds": r.seconds} for r in epochs]
            trials.append(row)
    pool.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps({"seed": seed, "space": space_path, "profile": profile_name,
                               "limit_bytes": weight_limit_bytes(profile), "max_epochs": space.max_epochs,
                               "trials": trials}))
    tmp.replace(path)
    return path


class Replay:
    """Runs the search loop of edgeopt.search.run on recorded trials and a virtual clock."""

    def __init__(self, recorded: dict):
        self.trials = recorded["trials"]
        self.limit = recorded["limit_bytes"]
        self.max_epochs = recorded["max_epochs"]

    def epoch_s(self, trial: dict, epoch: int) -> float:
        return max(0.0, trial["epochs"][epoch - 1]["seconds"] - trial["call_s"])

    def metrics(self, trial: dict, epoch: int) -> dict:
        return trial["epochs"][epoch - 1]["metrics"]

    def random_search(self, budget_s: float) -> tuple[list, int]:
        clock, events = 0.0, []
        for trial in self.trials:
            if clock >= budget_s:
                return events, trial["number"]
            if not trial["fits"]:
                clock += INFEASIBLE_S
                continue
            full = self.max_epochs
            clock += NEW_TRIAL_S + RESULT_S + trial["call_s"] + sum(self.epoch_s(trial, e) for e in range(1, full + 1))
            events.append((clock, trial["number"], self.metrics(trial, full)["f1"], trial["weight_bytes"]))
        raise RuntimeError(f"random search drew all {len(self.trials)} recorded configs: record more (--configs)")

    def mo_asha(self, budget_s: float, scheduler, oracle: bool = False) -> tuple[list, int]:
        from edgeopt.search.asha import Decision, RungHistory, RungRecord
        from edgeopt.metrics import best_threshold_f1

        clock, events, records, promoted, closed, trained = 0.0, [], [], set(), set(), {}

        def history():
            return RungHistory(tuple(records), frozenset(promoted), frozenset(closed))

        def train(trial: dict, rung: int) -> None:
            nonlocal clock
            number = trial["number"]
            while True:
                epochs = scheduler.rung_epochs[rung]
                clock += RESULT_S + trial["call_s"] + sum(self.epoch_s(trial, e)
                                                          for e in range(trained.get(number, 0) + 1, epochs + 1))
                trained[number] = epochs
                metrics = self.metrics(trial, epochs)
                events.append((clock, number, metrics["f1"], trial["weight_bytes"]))
                quality = self.metrics(trial, self.max_epochs)["f1"] if oracle else best_threshold_f1(metrics)
                records.append(RungRecord(number, rung, (1.0 - quality, trial["weight_bytes"])))
                decision = scheduler.on_result(number, rung, history())
                if decision is Decision.STOP:
                    closed.add(number)
                    return
                if decision is Decision.PAUSE or clock >= budget_s:
                    return
                promoted.add((number, rung))
                rung += 1

        drawn = 0
        while clock < budget_s:
            promotion = scheduler.next_promotion(history())
            if promotion is not None:
                promoted.add(promotion)
                train(self.trials[promotion[0]], promotion[1] + 1)
                continue
            if drawn == len(self.trials):
                raise RuntimeError(f"MO-ASHA drew all {drawn} recorded configs: record more (--configs)")
            trial = self.trials[drawn]
            drawn += 1
            if not trial["fits"]:
                clock += INFEASIBLE_S
                continue
            clock += NEW_TRIAL_S
            train(trial, 0)
        return events, drawn

    def hypervolume(self, events: list, at_s: float = math.inf) -> float:
        """Hypervolume as the search report computes it: each trial at its latest result."""
        from edgeopt.search.pareto import hypervolume_2d

        latest = {}
        for clock, number, f1, weight_bytes in sorted(events):
            if clock <= at_s:
                latest[number] = (1.0 - f1, weight_bytes / self.limit)
        return hypervolume_2d(list(latest.values()), (1.0, 1.0))


def main() -> None:
    from edgeopt.search.asha import MOASHA

    parser = argparse.ArgumentParser()
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--configs", type=int, default=200, help="draws recorded per seed")
    parser.add_argument("--budget", type=float, default=150.0, help="seconds of (replayed) search")
    parser.add_argument("--eta", type=int, nargs="+", default=[3], help="MO-ASHA reduction factors to replay")
    parser.add_argument("--min-epochs", type=int, nargs="+", default=[1], help="MO-ASHA first-rung budgets to replay")
    parser.add_argument("--space", default="searchspace/cnn1d.yaml")
    parser.add_argument("--profile", default="sequencer-fpga")
    parser.add_argument("--pool", default="runs/replay", help="where recorded trials are cached")
    parser.add_argument("--jobs", type=int, default=2, help="seeds recorded side by side (one CPU thread each)")
    args = parser.parse_args()
    with ProcessPoolExecutor(args.jobs) as pool:
        paths = list(pool.map(record, args.seeds, [args.configs] * len(args.seeds), [args.space] * len(args.seeds),
                              [args.profile] * len(args.seeds), [Path(args.pool)] * len(args.seeds)))
    third = args.budget / 3
    print(f"# {date.today()}, {platform.node()} ({platform.machine()}), {args.space}, replayed budget "
          f"{args.budget:.0f} s, seeds {args.seeds}, {args.configs} recorded draws per seed")
    print("| seed | random: draws / final HV | MO-ASHA eta / min epochs | draws by 1/3 | gap to random's final HV "
          "at 1/3 | oracle: gap at 1/3 |")
    print("|---|---|---|---|---|---|")
    gaps: dict[tuple[int, int, bool], list[float]] = {}
    for seed, path in zip(args.seeds, paths):
        replay = Replay(json.loads(path.read_text()))
        events, drawn_random = replay.random_search(args.budget)
        target = replay.hypervolume(events)
        for eta in args.eta:
            for min_epochs in args.min_epochs:
                scheduler = MOASHA(min_epochs, replay.max_epochs, eta, reference=(1.0, math.inf))
                row = []
                for oracle in (False, True):
                    events, drawn = replay.mo_asha(third * 1.01, scheduler, oracle)
                    gap = replay.hypervolume(events, third) - target
                    gaps.setdefault((eta, min_epochs, oracle), []).append(gap)
                    row.append((drawn, gap))
                print(f"| {seed} | {drawn_random} / {target:.4f} | {eta} / {min_epochs} | {row[0][0]} | "
                      f"{row[0][1]:+.4f} | {row[1][1]:+.4f} |")
    for (eta, min_epochs, oracle), values in sorted(gaps.items()):
        name = "oracle" if oracle else "MO-ASHA"
        print(f"{name}, eta {eta}, min epochs {min_epochs}: at a third of the budget, at or above random search's "
              f"final hypervolume on {sum(g >= -1e-12 for g in values)}/{len(values)} seeds; median gap "
              f"{statistics.median(values):+.4f}")


if __name__ == "__main__":
    main()
