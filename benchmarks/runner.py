"""Trial throughput of the runner against one trial at a time, on the same configs, side by side in one run (issue 13).

    .venv/bin/python benchmarks/runner.py --family mlp cnn1d --trials 32           # CPU: every core
    .venv/bin/python benchmarks/runner.py --device cuda --family mlp --trials 1024  # a GPU

Configs are drawn from the shipped space of each family, in two sets: `sampled` (as the sampler draws them: packs form
only where structures coincide) and `one-structure` (one draw's structure, with widths, kernels, learning rate, decay,
optimizer and schedule drawn per trial: what a pack holds). Each set is trained for one epoch of the bundled example
by each method; the figure is trial-steps per second (optimizer steps summed over trials / wall time):

- `alone`: one trial after another in this process (`train_trial`), one thread: today's `edgeopt search`.
- `workers`: the runner's worker processes (one per core, or 4 per GPU), packs of one.
- `packed`: one worker process, packs of up to --pack trials.
- `runner`: the runner as `edgeopt search` runs it: every slot, packs.

Also reported: pack sizes formed, each worker's peak RSS, and on a GPU the peak memory per pack.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import platform
import tempfile
import time
from datetime import date
from pathlib import Path

import numpy as np


# The reference trial: a ~4.4k-parameter MLP (256 inputs, two hidden layers of 16) at batch 64.
SMALL_MLP = {"depth": 2, "width": 16, "activation": "relu", "dropout": 0.0, "batch_size": 64}


def configs_for(family: str, trials: int, seed: int, which: str) -> list[dict]:
    from edgeopt.runner.pack import PADDED
    from edgeopt.space.spec import load_space

    space = load_space(family)
    rng = np.random.default_rng(seed)
    first = space.sample(rng)
    one_structure = which != "sampled"
    if which == "4k":
        if family != "mlp":
            raise SystemExit("--sets 4k is an MLP set")
        first = {**first, **SMALL_MLP}
    out = []
    for _ in range(trials):
        config = space.sample(rng)
        if one_structure:
            varied = (*(PADDED[family] if which != "4k" else ()), "lr", "weight_decay", "lr_schedule", "dropout")
            config = {**first, **{k: config[k] for k in varied if k in config}}
            config["dropout"] = config["dropout"] if first["dropout"] > 0 else 0.0
            drawn = space.sample(rng)["optimizer"]  # Adam and AdamW share a pack; SGD is its own
            config["optimizer"] = drawn if (drawn == "sgd") == (first["optimizer"] == "sgd") else first["optimizer"]
            if family == "cnn2d" and (config["expansion"] == 1) != (first["expansion"] == 1):
                config["expansion"] = first["expansion"]
        out.append(config)
    return out


def specs_for(family: str, configs: list[dict], dataset, folder: Path):
    from edgeopt.space.spec import load_space
    from edgeopt.train.loop import TrialSpec

    space = load_space(family).to_json()
    return [TrialSpec(i, space, c, dataset.sample_shape, dataset.num_classes, 1000 + i, str(folder / f"{i}.pt"))
            for i, c in enumerate(configs)]


def steps_of(specs, n: int, epochs: int = 1) -> int:
    return epochs * sum(math.ceil(n / int(s.config["batch_size"])) for s in specs)


def run_alone(specs, setup, device: str, limit_s: float, epochs: int) -> tuple[float, int]:
    """Trials one after another until `limit_s` (then the rate of those done)."""
    from edgeopt.runner.work import Work, WorkerState

    state = WorkerState(setup, device)
    state.run(Work((specs[0],), 0, epochs))  # warm-up: first-call costs are not a trial's
    start = time.perf_counter()
    done = []
    for spec in specs[1:]:
        state.run(Work((spec,), 0, epochs))
        done.append(spec)
        if time.perf_counter() - start > limit_s:
            break
    return time.perf_counter() - start, steps_of(done, len(setup.dataset.y_train), epochs)


def run_runner(specs, setup, slots, max_pack: int, epochs: int) -> tuple[float, int, list[int], dict]:
    """The runner's machinery: packs by pack key (at most `max_pack`), handed to slots as they free."""
    from collections import defaultdict

    from edgeopt.runner.local import ProcessBackend
    from edgeopt.runner.pack import choose_members, pack_key
    from edgeopt.runner.work import Work
    from edgeopt.space.spec import SearchSpace

    sizes = {}
    for spec in specs:
        model = SearchSpace.from_json(spec.space).build(spec.config, spec.sample_shape, spec.num_classes)
        sizes[spec.number] = sum(p.numel() for p in model.parameters())

    groups = defaultdict(list)
    for spec in specs:
        groups[pack_key(spec.space["family"], spec.config)].append(spec)
    packs = []
    for members in groups.values():
        while members:
            chosen = choose_members(members[0], members[1:], lambda s: sizes[s.number], max_pack)
            if not slots[0].worth_packing([sizes[s.number] for s in chosen]):
                chosen = chosen[:1]
            packs.append(tuple(chosen))
            members = [m for m in members if m not in chosen]
    packs.sort(key=len, reverse=True)
    backend = ProcessBackend(slots, setup)
    try:
        while not all(w.ready for w in backend.workers.values()):  # started, data on the device
            backend.poll(1.0)
        warm = [Work((packs[0][0],), 0, 1)]  # one first call per worker, as in a search that has run a while
        for slot in slots:
            backend.submit(slot.index, warm[0])
        pending = len(slots)
        while pending:
            pending -= len(backend.poll(1.0))
        start = time.perf_counter()
        queue = list(packs)
        busy = set()
        while queue or busy:
            for slot in slots:
                if slot.index not in busy and queue:
                    backend.submit(slot.index, Work(queue.pop(0), 0, epochs))
                    busy.add(slot.index)
            for index, outcomes in backend.poll(1.0):
                busy.discard(index)
                failed = [o for o in outcomes if not hasattr(o, "epochs")]
                if failed:
                    raise RuntimeError(f"a pack failed: {failed[0]}")
        seconds = time.perf_counter() - start
        rss = {w.slot.index: _peak_rss_mib(w.process.pid) for w in backend.workers.values()}
    finally:
        backend.close()
    return seconds, steps_of(specs, len(setup.dataset.y_train), epochs), [len(p) for p in packs], rss


def _peak_rss_mib(pid: int) -> float | None:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    except OSError:
        return None
    return None


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--family", nargs="+", default=["mlp", "cnn1d"], choices=["mlp", "cnn1d", "cnn2d"])
    parser.add_argument("--trials", type=int, default=32)
    parser.add_argument("--pack", type=int, default=16, help="most trials per pack")
    parser.add_argument("--device", default="cpu", help="cpu or cuda")
    parser.add_argument("--alone-s", type=float, default=20.0, help="seconds of one-at-a-time training to time")
    parser.add_argument("--sets", nargs="+", default=["one-structure", "sampled"],
                        choices=["one-structure", "sampled", "4k"])
    parser.add_argument("--methods", nargs="+", default=["workers", "packed", "runner"],
                        choices=["workers", "packed", "runner"])
    parser.add_argument("--epochs", type=int, default=1, help="epochs each trial trains (one rung)")
    parser.add_argument("--workers-trials", type=int, default=None,
                        help="time the workers method on this many of the trials (it is slow on a GPU)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--json", default=None, help="also write the results here")
    parser.add_argument("--pack-memory", action="store_true", help="on a GPU: peak memory of one pack by its size")
    parser.add_argument("--search", type=int, default=None, metavar="TRIALS",
                        help="instead: `edgeopt search` end to end (bundled example, random sampler, TRIALS trials) "
                             "with one worker and with the default workers, alternated --rounds times")
    parser.add_argument("--rounds", type=int, default=2)
    args = parser.parse_args()
    if args.search:
        end_to_end(args.search, args.rounds, args.seed, args.family[0])
        return

    import torch

    from edgeopt.data.examples import example_dataset
    from edgeopt.data.normalize import Normalizer
    from edgeopt.runner.slots import plan_slots
    from edgeopt.runner.work import WorkerSetup
    from edgeopt.train.cv import HOLDOUT

    torch.set_num_threads(1)
    slots_all = plan_slots("cpu" if args.device == "cpu" else None, None, None, args.pack)
    if args.device != "cpu" and not any(s.device.startswith("cuda") for s in slots_all):
        raise SystemExit("--device cuda: no GPU visible (NVML)")
    machine = f"{platform.node()} ({platform.machine()}, {os.cpu_count()} cores" + (
        f", {torch.cuda.get_device_name(0)}" if args.device != "cpu" and torch.cuda.is_available() else "") + ")"
    print(f"# {date.today()}, {machine}, torch {torch.__version__}, {args.trials} trials per set, {args.epochs} "
          f"epoch(s) of the bundled example each, packs of at most {args.pack}, {len(slots_all)} slots on "
          f"{args.device}")
    print("| family | configs | method | trial-steps/s | x alone | pack sizes | peak RSS per worker (MiB) |")
    print("|---|---|---|---|---|---|---|")
    results = []
    for family in args.family:
        dataset = example_dataset("shapes" if family == "cnn2d" else "reads", seed=0)
        normalizer = Normalizer.fit(dataset.x_train, per_feature=family == "mlp")
        setup = WorkerSetup(dataset, normalizer.to_dict(), HOLDOUT.to_dict(), 0, 1)
        for which in args.sets:
            configs = configs_for(family, args.trials, args.seed, which)
            with tempfile.TemporaryDirectory() as folder:
                specs = specs_for(family, configs, dataset, Path(folder))
                seconds, steps = run_alone(specs, setup, slots_all[0].device, args.alone_s, args.epochs)
                alone = steps / seconds
                rows = [("alone", alone, "1", "")]
                plans = {"workers": (slots_all, 1), "packed": (slots_all[:1], args.pack),
                         "runner": (slots_all, args.pack)}
                for method in args.methods:
                    slots, pack = plans[method]
                    for path in Path(folder).glob("*.pt"):
                        path.unlink()  # every method trains from scratch
                    subset = specs[:args.workers_trials] if method == "workers" and args.workers_trials else specs
                    seconds, steps, sizes, rss = run_runner(subset, setup, slots, pack, args.epochs)
                    shown = f"{len(sizes)} packs, largest {max(sizes)}, median {int(np.median(sizes))}"
                    rows.append((method, steps / seconds, shown,
                                 ", ".join(f"{v:.0f}" for v in rss.values() if v is not None)))
            for method, rate, sizes, rss in rows:
                print(f"| {family} | {which} | {method} | {rate:,.0f} | {rate / alone:.2f} | {sizes} | {rss} |")
                results.append({"family": family, "configs": which, "method": method, "trial_steps_per_s": rate,
                                "speedup": rate / alone, "packs": sizes, "peak_rss_mib": rss})
    if args.device != "cpu" and args.pack_memory:
        results.append({"pack_memory": pack_memory(args.family[0], args.seed)})
    if args.json:
        Path(args.json).write_text(json.dumps(results, indent=1))


def end_to_end(trials: int, rounds: int, seed: int, family: str) -> None:
    """Wall time of a whole search (costing, sampling, training, the store; no report) with `--workers 1` and with
    the default (one per core), in alternating rounds so both see the same machine; the goal is a speedup of at
    least 0.8 x cores."""
    from edgeopt.runner.coordinator import run_search
    from edgeopt.search.settings import SearchSettings

    cores = os.cpu_count() or 1
    print(f"# {date.today()}, {platform.node()} ({platform.machine()}, {cores} cores): edgeopt search --space "
          f"{family} --sampler random --trials {trials} --profile sequencer-fpga --profile stm32f746, {rounds} rounds")
    print("| round | --workers 1 (s) | default, one per core (s) | speedup | speedup / cores |")
    print("|---|---|---|---|---|")
    speedups = []
    for index in range(rounds):
        times = {}
        for workers in (1, None):
            with tempfile.TemporaryDirectory() as runs:
                settings = SearchSettings(name="bench", space=family, profiles=("sequencer-fpga", "stm32f746"),
                                          sampler="random", trials=trials, seed=seed + index, runs_dir=runs,
                                          workers=workers, device="cpu")
                start = time.perf_counter()
                run_search(settings)
                times[workers] = time.perf_counter() - start
        speedups.append(times[1] / times[None])
        print(f"| {index} | {times[1]:.1f} | {times[None]:.1f} | {speedups[-1]:.2f}x | {speedups[-1] / cores:.2f} |")
    print(f"median speedup {np.median(speedups):.2f}x = {np.median(speedups) / cores:.2f} x cores (goal: 0.8)")


def pack_memory(family: str, seed: int) -> dict:
    """Peak GPU memory of one pack of the 4k-MLP set (or one structure of `family`) by pack size, in this process."""
    import torch

    from edgeopt.data.examples import example_dataset
    from edgeopt.data.normalize import Normalizer
    from edgeopt.runner.pack_train import train_pack
    from edgeopt.train.loop import DeviceData, train_trial

    dataset = example_dataset("shapes" if family == "cnn2d" else "reads", seed=0)
    data = DeviceData(dataset, Normalizer.fit(dataset.x_train, per_feature=family == "mlp"), "cuda")
    configs = configs_for(family, 1024, seed, "4k" if family == "mlp" else "one-structure")
    out = {}
    print("| pack | peak GPU memory (MiB) | per trial (KiB) |")
    print("|---|---|---|")
    for size in (1, 64, 256, 1024) if family == "mlp" else (1, 16, 64):
        with tempfile.TemporaryDirectory() as folder:
            specs = specs_for(family, configs[:size], dataset, Path(folder))
            torch.cuda.reset_peak_memory_stats()
            base = torch.cuda.memory_allocated()
            if size > 1:
                train_pack(specs, data, 1)
            else:
                train_trial(specs[0], data, 1)
            peak = torch.cuda.max_memory_allocated() - base
        out[size] = peak
        print(f"| {size} | {peak / 2**20:,.1f} | {peak / size / 1024:,.1f} |")
    return out


if __name__ == "__main__":
    main()
