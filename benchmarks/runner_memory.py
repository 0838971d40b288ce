"""Memory of a long search (issue 13): each worker's and the coordinator's resident memory every 100 trials.

    .venv/bin/python benchmarks/runner_memory.py --trials 1000

A tiny cnn1d space on 512 samples of the bundled example, so that a thousand trials take minutes; two workers.
"""

from __future__ import annotations

import argparse
import multiprocessing
import os
import platform
import tempfile
import time
from datetime import date
from pathlib import Path

SPACE = """\
name: tiny
family: cnn1d
architecture:
  blocks: 1
  channels: [2, 4, 6]
  kernel_size: [3, 5]
  stride: [2, 4]
  pooling: [max, avg]
training:
  lr: {float: [0.005, 0.03], log: true}
  batch_size: [64, 128]
  epochs: 3
  min_steps: 1
"""


def rss_mib(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--trials", type=int, default=1000)
    parser.add_argument("--workers", type=int, default=2)
    args = parser.parse_args()

    import numpy as np

    from edgeopt.data.examples import example_dataset
    from edgeopt.runner.coordinator import run_search
    from edgeopt.search.settings import SearchSettings

    folder = Path(tempfile.mkdtemp(prefix="edgeopt-memory-"))
    (folder / "tiny.yaml").write_text(SPACE)
    data = example_dataset("reads", seed=0, n_samples=800)
    np.savez(folder / "reads.npz", x_train=data.x_train[:512], y_train=data.y_train[:512], x_val=data.x_val,
             y_val=data.y_val, x_test=data.x_test, y_test=data.y_test)
    rows = []
    start = time.perf_counter()

    def sample(progress) -> None:
        if progress.trained >= (len(rows) + 1) * 100 or (progress.event == "finished" and rows[-1:] != [None]):
            workers = [rss_mib(p.pid) for p in multiprocessing.active_children() if p.name.startswith("edgeopt")]
            rows.append((progress.trained, time.perf_counter() - start, rss_mib(os.getpid()), workers))

    settings = SearchSettings(name="memory", space=str(folder / "tiny.yaml"), data=str(folder / "reads.npz"),
                              trials=args.trials, runs_dir=str(folder), workers=args.workers)
    run_search(settings, sample)
    print(f"# {date.today()}, {platform.node()} ({os.cpu_count()} cores), {args.trials} trials, {args.workers} "
          f"workers, `.venv/bin/python benchmarks/runner_memory.py --trials {args.trials}`")
    print("| trials trained | seconds | coordinator RSS (MiB) | worker RSS (MiB) |")
    print("|---|---|---|---|")
    for trained, seconds, coordinator, workers in rows:
        print(f"| {trained} | {seconds:.0f} | {coordinator:.0f} | {', '.join(f'{w:.0f}' for w in workers)} |")


if __name__ == "__main__":
    main()
