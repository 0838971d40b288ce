"""Small trained models and data for compression tests: seconds, not minutes."""

from __future__ import annotations

import textwrap

import numpy as np
import pytest

CONFIG = {"blocks": 2, "channels": 8, "channel_growth": 2.0, "kernel_size": 9, "stride": 2, "pooling": "max",
          "separable": False, "activation": "relu", "dropout": 0.0, "lr": 0.02, "weight_decay": 0.0,
          "batch_size": 32, "optimizer": "adam", "epochs": 12}


@pytest.fixture(scope="session")
def reads_small():
    from edgeopt.data.examples import example_dataset

    return example_dataset("reads", n_samples=2000)


@pytest.fixture(scope="session")
def reads_npz(tmp_path_factory, reads_small):
    path = tmp_path_factory.mktemp("data") / "reads.npz"
    d = reads_small
    np.savez(path, x_train=d.x_train, y_train=d.y_train, x_val=d.x_val, y_val=d.y_val, x_test=d.x_test,
             y_test=d.y_test)
    return path


@pytest.fixture(scope="session")
def trial_checkpoint(tmp_path_factory, reads_small):
    """A search trial's checkpoint: a 2-block cnn1d (~1,900 parameters, validation F1 ~0.78), 12 epochs, with its
    normaliser."""
    import torch

    from edgeopt.data.normalize import Normalizer
    from edgeopt.space.spec import load_space
    from edgeopt.train.loop import DeviceData, TrialSpec, train_trial

    torch.set_num_threads(1)
    normalizer = Normalizer.fit(reads_small.x_train)
    path = tmp_path_factory.mktemp("trial") / "trial-0.pt"
    spec = TrialSpec(0, load_space("cnn1d").to_json(), CONFIG, reads_small.sample_shape, 2, 0, str(path),
                     normalizer=normalizer.to_dict())
    train_trial(spec, DeviceData(reads_small, normalizer), 12)
    return path


@pytest.fixture(scope="session")
def trained(trial_checkpoint):
    from edgeopt.compress.source import load_source

    return load_source(trial_checkpoint)


@pytest.fixture()
def make_ctx(reads_small, trained):
    """CompressContext factory: make_ctx(profile, max_drop=..., teacher=...)."""
    from edgeopt.compress.context import CompressContext
    from edgeopt.profiles.loader import load_profile
    from edgeopt.train.loop import DeviceData

    data = DeviceData(reads_small, trained.normalizer)

    def make(profile="stm32f746", max_drop=None, teacher=None, metric="f1"):
        profile = load_profile(profile) if isinstance(profile, str) else profile
        ctx = CompressContext(profile, data, reads_small.sample_shape, 2, metric=metric, teacher=teacher)
        if max_drop is not None:
            from dataclasses import replace

            ctx = replace(ctx, max_drop=max_drop, reference_score=ctx.score(trained.module))
        return ctx

    return make


@pytest.fixture()
def profile_file(tmp_path):
    """Write a derived profile: profile_file('name', base, 'yaml body')."""

    def write(name: str, base: str, body: str) -> str:
        path = tmp_path / f"{name}.yaml"
        path.write_text(f"extends: {base}\nname: {name}\n" + textwrap.dedent(body))
        return str(path)

    return write
