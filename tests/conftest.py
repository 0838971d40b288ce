from __future__ import annotations

import os
import textwrap
import sys
import tempfile
from pathlib import Path

import numpy as np
import pytest

ROOT = Path(__file__).resolve().parent.parent
# Nothing a test runs may write to $HOME.
_scratch = tempfile.mkdtemp(prefix="edgeopt-tests-")
os.environ.setdefault("MPLCONFIGDIR", os.path.join(_scratch, "mpl"))
os.environ.setdefault("XDG_CACHE_HOME", os.path.join(_scratch, "cache"))
sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(ROOT / "examples"))


def _has_gpu() -> bool:
    try:
        import torch

        return torch.cuda.is_available()
    except ImportError:
        return False


def pytest_collection_modifyitems(config, items):
    if _has_gpu():
        return
    skip = pytest.mark.skip(reason="needs a CUDA GPU")
    for item in items:
        if "gpu" in item.keywords:
            item.add_marker(skip)


@pytest.fixture(scope="session")
def onnx_export(tmp_path_factory):
    """Export a torch module to ONNX once per session (the dynamo exporter takes seconds)."""
    import torch

    cache: dict[str, Path] = {}
    directory = tmp_path_factory.mktemp("onnx")

    def export(name: str, module, shape) -> Path:
        if name not in cache:
            path = directory / f"{name}.onnx"
            torch.onnx.export(module.eval(), (torch.zeros(shape),), str(path), dynamo=True, external_data=False,
                              verbose=False)
            cache[name] = path
        return cache[name]

    return export


# A small trained search trial and its data, shared by the compression and model-loading tests.
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
    from edgeopt.models.source import load_source

    return load_source(trial_checkpoint)

TINY = """\
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
  min_steps: 1  # epochs as written: these tests count rungs in passes over the data
"""


@pytest.fixture()
def tiny_space(tmp_path):
    path = tmp_path / "tiny.yaml"
    path.write_text(TINY)
    return str(path)


@pytest.fixture()
def tight_profile(tmp_path):
    """The sequencer FPGA with a parameter budget that about half of the tiny space breaks."""
    path = tmp_path / "fpga-tight.yaml"
    path.write_text(textwrap.dedent("""\
        extends: sequencer-fpga
        name: fpga-tight
        budgets: {max_params: 35}
        """))
    return str(path)


TINY_MLP = """\
name: tiny-mlp
family: mlp
architecture:
  depth: 1
  width: [4, 6, 8]
  activation: relu
  dropout: 0.0
training:
  lr: {float: [0.005, 0.03], log: true}
  batch_size: 128
  optimizer: [adam, adamw]
  epochs: 3
  min_steps: 1
"""


@pytest.fixture()
def tiny_mlp_space(tmp_path):
    """Every config shares one structure: trials of this space pack together."""
    path = tmp_path / "tiny-mlp.yaml"
    path.write_text(TINY_MLP)
    return str(path)
