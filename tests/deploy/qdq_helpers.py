"""Helpers of the export tests: small models trained, quantized to int8 and written as QDQ ONNX; the real datasets
of ../shared/datasets (skipped where they are not beside the checkout)."""

from __future__ import annotations

from pathlib import Path

import pytest

SHARED = Path(__file__).resolve().parents[3] / "shared" / "datasets"


def quantized_onnx(module, dataset, normalizer, path: Path, profile: str = "stm32f746") -> Path:
    """`module` quantized to int8 post-training (no fallbacks) and exported as QDQ ONNX at `path`."""
    from edgeopt.compression.context import CompressContext
    from edgeopt.compression.quantize import Int8Config, quantize
    from edgeopt.deploy.onnx import export_onnx
    from edgeopt.profiles.loader import load_profile
    from edgeopt.train.loop import DeviceData

    ctx = CompressContext(load_profile(profile), DeviceData(dataset, normalizer), dataset.sample_shape,
                          dataset.num_classes)
    q = quantize(module, Int8Config(qat_epochs=0, mixed_precision=False), ctx)
    return export_onnx(q.model, dataset.sample_shape, path, q.plan)


def train(space: str, config: dict, dataset, epochs: int, folder: Path):
    import torch

    from edgeopt.data.normalize import Normalizer
    from edgeopt.models.source import load_source
    from edgeopt.space.spec import load_space
    from edgeopt.train.loop import DeviceData, TrialSpec, train_trial

    torch.set_num_threads(1)
    normalizer = Normalizer.fit(dataset.x_train)
    path = folder / "trial.pt"
    spec = TrialSpec(0, load_space(space).to_json(), config, dataset.sample_shape, dataset.num_classes, 0, str(path),
                     normalizer=normalizer.to_dict())
    train_trial(spec, DeviceData(dataset, normalizer), epochs)
    return load_source(path).module, normalizer


MLP = {"depth": 2, "width": 24, "activation": "relu", "dropout": 0.0, "lr": 0.01, "weight_decay": 0.0,
       "batch_size": 32, "optimizer": "adam", "epochs": 6}
CNN2D = {"blocks": 3, "channels": 8, "expansion": 2, "kernel_size": 3, "stride": 1, "activation": "relu6",
         "dropout": 0.0, "lr": 0.02, "weight_decay": 0.0, "batch_size": 32, "optimizer": "adam", "epochs": 6}
CNN_RELU6_AVG = {"blocks": 2, "channels": 6, "channel_growth": 1.5, "kernel_size": 5, "stride": 1, "pooling": "avg",
                 "separable": True, "activation": "relu6", "dropout": 0.0, "lr": 0.02, "weight_decay": 0.0,
                 "batch_size": 32, "optimizer": "adam", "epochs": 6}

CNN_LONG = dict(CNN_RELU6_AVG, blocks=3, downsample=2, dilation=2, global_pool="avgmax")
ROCKET = {"features": 63, "dilations": 4, "normalization": "channel", "lr": 0.02, "weight_decay": 0.0,
          "batch_size": 32, "optimizer": "adam", "epochs": 6}


def shared_dataset(name: str):
    from edgeopt.data.loading import load_dataset

    path = SHARED / name
    if not path.is_file():
        pytest.skip(f"{path} is not here (the suite's real datasets live in ../shared/datasets)")
    return load_dataset(str(path))


def branchy(channels: int, classes: int):
    """Two branches on one input, concatenated on channels (activation and pooling after the concatenation, then a
    second concatenation of pooled layers), as an Inception-style block: what the C export's Concat covers."""
    import torch
    from torch import nn

    class Branchy(nn.Module):
        def __init__(self):
            super().__init__()
            self.a = nn.Conv1d(channels, 6, 3, padding=1)
            self.b = nn.Conv1d(channels, 4, 5, padding=2)
            self.c = nn.Conv1d(10, 8, 3)
            self.d = nn.Conv1d(10, 4, 1)
            self.fc = nn.Linear(12, classes)

        def forward(self, x):
            x = nn.functional.relu6(torch.cat([torch.relu(self.a(x)), self.b(x)], dim=1))
            x = nn.functional.max_pool1d(x, 2)
            x = torch.cat([self.c(x).mean(-1), torch.relu(self.d(x)).mean(-1)], dim=1)
            return self.fc(x)

    return Branchy()


def fit_plain(module, dataset, normalizer, epochs: int = 8):
    """A few epochs of Adam on the training split (a model outside the shipped spaces)."""
    import torch

    torch.manual_seed(0)
    x = torch.from_numpy(normalizer.apply(dataset.x_train))
    y = torch.from_numpy(dataset.y_train).long()
    optimizer = torch.optim.Adam(module.parameters(), lr=0.01)
    for _ in range(epochs):
        for i in range(0, len(x), 64):
            optimizer.zero_grad()
            torch.nn.functional.cross_entropy(module(x[i:i + 64]), y[i:i + 64]).backward()
            optimizer.step()
    return module.eval()
