"""Example models a firmware team might bring: factories usable as `examples/models.py:NAME` on the command line."""

from __future__ import annotations

import torch
from torch import nn


class ReadClassifier(nn.Module):
    """Keep/discard classifier for sequencer reads: a 1-D CNN over a 256-sample signal, ~1.4k parameters, small
    enough for the `sequencer-fpga` profile (at most 4,000 parameters)."""

    def __init__(self, channels: int = 8, classes: int = 2):
        super().__init__()
        c = channels
        self.features = nn.Sequential(
            nn.Conv1d(1, c, 7, stride=2, padding=3), nn.BatchNorm1d(c), nn.ReLU(), nn.MaxPool1d(2),
            nn.Conv1d(c, 2 * c, 5, padding=2), nn.BatchNorm1d(2 * c), nn.ReLU(), nn.MaxPool1d(2),
            nn.Conv1d(2 * c, 2 * c, 3, padding=1, groups=2 * c), nn.Conv1d(2 * c, 2 * c, 1), nn.ReLU(),
        )
        self.head = nn.Linear(2 * c, classes)

    def forward(self, x):
        return self.head(self.features(x).mean(dim=-1))


class ReadsTeacher(nn.Module):
    """The "too big for the instrument" model: a ~100k-parameter 1-D CNN over the bundled `reads` samples (1, 256).

    It is what a team trains first on the workstation; `edgeopt compress` shrinks it to the 4,000-parameter FPGA."""

    def __init__(self, classes: int = 2):
        super().__init__()

        def block(cin, cout, kernel, stride=1):
            return [nn.Conv1d(cin, cout, kernel, stride, kernel // 2, bias=False), nn.BatchNorm1d(cout), nn.ReLU()]

        self.features = nn.Sequential(
            *block(1, 32, 9, 2), nn.MaxPool1d(2), *block(32, 64, 7), nn.MaxPool1d(2), *block(64, 128, 5),
            nn.MaxPool1d(2),
            *block(128, 128, 3), nn.AdaptiveAvgPool1d(1), nn.Flatten())
        self.head = nn.Linear(128, classes)

    def forward(self, x):
        return self.head(self.features(x))


def reads_teacher() -> nn.Module:
    return ReadsTeacher()


class DSCNN(nn.Module):
    """DS-CNN-S keyword spotting network (Zhang et al., "Hello Edge", 2017) on 49x10 MFCC features, 12 classes."""

    def __init__(self, channels: int = 64, blocks: int = 4, classes: int = 12):
        super().__init__()
        layers: list[nn.Module] = [nn.Conv2d(1, channels, (10, 4), stride=2, padding=(5, 1), bias=False),
                                   nn.BatchNorm2d(channels), nn.ReLU()]
        for _ in range(blocks):
            layers += [
                nn.Conv2d(channels, channels, 3, padding=1, groups=channels, bias=False), nn.BatchNorm2d(channels),
                nn.ReLU(),
                nn.Conv2d(channels, channels, 1, bias=False), nn.BatchNorm2d(channels), nn.ReLU(),
            ]
        self.features = nn.Sequential(*layers)
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.classifier = nn.Linear(channels, classes)

    def forward(self, x):
        return self.classifier(torch.flatten(self.pool(self.features(x)), 1))


def as_if_trained(model: nn.Module, seed: int = 0) -> nn.Module:
    """Seeded random batchnorm statistics, so exported graphs look like a trained model's (an untrained batchnorm
    folds into a zero bias, which exporters then drop)."""
    generator = torch.Generator().manual_seed(seed)
    for module in model.modules():
        if isinstance(module, nn.modules.batchnorm._BatchNorm):
            n = module.num_features
            module.running_mean.copy_(torch.randn(n, generator=generator) * 0.1)
            module.running_var.copy_(torch.rand(n, generator=generator) + 0.5)
            module.weight.data.copy_(torch.rand(n, generator=generator) + 0.5)
            module.bias.data.copy_(torch.randn(n, generator=generator) * 0.1)
    return model.eval()


def read_classifier() -> nn.Module:
    """Input shape 1,1,256."""
    torch.manual_seed(0)
    return as_if_trained(ReadClassifier())


def kws_dscnn() -> nn.Module:
    """Input shape 1,1,49,10."""
    torch.manual_seed(0)
    return as_if_trained(DSCNN())
