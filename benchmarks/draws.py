"""The benchmarks' draw of configurations that fit a profile (shared by learning_curves.py and trial_speed.py)."""

from __future__ import annotations

import numpy as np


def fitting_configs(space, profile, dataset, count: int, seed: int) -> list[dict]:
    """The first `count` configurations of `space`, drawn with `seed`, that the cost model says fit `profile`."""
    from edgeopt.cost.estimate import estimate_graph

    rng = np.random.default_rng(seed)
    configs = []
    while len(configs) < count:
        config = space.sample(rng)
        if estimate_graph(space.graph(config, dataset.sample_shape, dataset.num_classes), profile).fits:
            configs.append(config)
    return configs
