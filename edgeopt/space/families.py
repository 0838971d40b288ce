"""Model families: each declares its architecture choices (with defaults) and builds a torch nn.Module from a config.

Building is deterministic: the same config, shapes and seed give the same module and the same initial weights.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from types import MappingProxyType

from edgeopt.space import rocket

ACTIVATIONS = ("relu", "relu6", "hardswish", "tanh", "sigmoid", "gelu")


@dataclass(frozen=True)
class Family:
    name: str
    sample_ranks: tuple[int, ...]  # accepted per-sample ranks, e.g. (1, 2) for (length,) or (channels, length)
    defaults: Mapping[str, object]
    build: Callable  # (config, sample_shape, num_classes) -> nn.Module
    description: str
    # (config, sample_shape) -> why the architecture cannot take such samples, or None; arithmetic only, no torch
    check: Callable[[Mapping, tuple[int, ...]], str | None] = lambda config, sample_shape: None
    shape_keys: tuple[str, ...] = ()  # the architecture keys `check` reads
    # fitted from the training data before the first epoch (rocket's thresholds): its trials train alone, not in packs
    data_fitted: bool = False


def _conv_out(size: int, kernel: int, stride: int, dilation: int = 1) -> int:
    """Output size of a convolution padded by dilation * (kernel // 2) on each side."""
    return (size + 2 * dilation * (kernel // 2) - dilation * (kernel - 1) - 1) // stride + 1


GLOBAL_POOLS = ("avg", "max", "avgmax")
NORMALIZATIONS = ("channel", "series")
# cnn1d keys added after searches were stored: a stored config without them builds the model it built then
CNN1D_LATER = {"normalization": "channel", "downsample": 1, "dilation": 1, "global_pool": "avg"}


def cnn1d_value(config: Mapping, key: str):
    return config.get(key, CNN1D_LATER.get(key))


def block_dilation(config: Mapping, block: int) -> int:
    """Dilation of block `block` (0-based): the space's `dilation` to the power of the block, so three blocks of
    kernel 5 and dilation 2 see 1 + 4 (1 + 2 + 4) = 29 steps of the input they read."""
    return int(cnn1d_value(config, "dilation")) ** block


def _check_cnn1d(config: Mapping, sample_shape: tuple[int, ...]) -> str | None:
    length = sample_shape[-1]
    kernel = int(config["kernel_size"])
    downsample = int(cnn1d_value(config, "downsample"))
    if downsample > 1:
        if downsample > length:
            return f"a downsampling front end longer than the series (by {downsample}, length {length})"
        length //= downsample
    for block in range(int(config["blocks"])):
        dilation = block_dilation(config, block)
        span = dilation * (kernel - 1) + 1
        if span > length and dilation == 1:
            return f"a kernel longer than the series (kernel {kernel}, length {length} at block {block + 1})"
        if span > length:
            return (f"a dilated kernel longer than the series (kernel {kernel} at dilation {dilation} spans {span}, "
                    f"length {length} at block {block + 1})")
        length = _conv_out(length, kernel, int(config["stride"]) if block == 0 else 1, dilation)
        if config["pooling"] != "none":
            if length < 2:
                return f"pooling takes the series below length 1 (after block {block + 1}, from length {length})"
            length //= 2
    return None


def _check_cnn2d(config: Mapping, sample_shape: tuple[int, ...]) -> str | None:
    size = min(sample_shape[-2:])
    if size < 3:
        return f"the 3x3 stem is larger than the image ({sample_shape[-2]}x{sample_shape[-1]})"
    size = _conv_out(size, 3, int(config["stride"]))
    kernel = int(config["kernel_size"])
    for block in range(int(config["blocks"])):
        if kernel > size:
            return f"a kernel larger than the feature map (kernel {kernel}, map {size}x{size} at block {block + 1})"
        size = _conv_out(size, kernel, 2 if block % 2 == 1 else 1)
    return None


def _act(name: str):
    from torch import nn

    return {"relu": nn.ReLU, "relu6": nn.ReLU6, "hardswish": nn.Hardswish, "tanh": nn.Tanh, "sigmoid": nn.Sigmoid,
            "gelu": nn.GELU}[name]()


def _build_mlp(config, sample_shape, num_classes):
    import math

    from torch import nn

    layers: list[nn.Module] = [nn.Flatten()]
    width_in = math.prod(sample_shape)
    for _ in range(int(config["depth"])):
        layers += [nn.Linear(width_in, int(config["width"])), _act(config["activation"])]
        if config["dropout"] > 0:
            layers.append(nn.Dropout(float(config["dropout"])))
        width_in = int(config["width"])
    layers.append(nn.Linear(width_in, num_classes))
    return nn.Sequential(*layers)


def _build_cnn1d(config, sample_shape, num_classes):
    from torch import nn

    from edgeopt.space.layers import GlobalAvgMax, fixed_average

    in_channels = sample_shape[0] if len(sample_shape) == 2 else 1
    layers: list[nn.Module] = [] if len(sample_shape) == 2 else [nn.Unflatten(1, (1, sample_shape[0]))]
    downsample = int(cnn1d_value(config, "downsample"))
    if downsample > 1:
        layers.append(fixed_average(in_channels, downsample))
    channels = int(config["channels"])
    kernel = int(config["kernel_size"])
    for block in range(int(config["blocks"])):
        out = max(1, int(round(channels * float(config["channel_growth"]) ** block)))
        stride = int(config["stride"]) if block == 0 else 1
        dilation = block_dilation(config, block)
        padding = dilation * (kernel // 2)
        if config["separable"] and block > 0:
            layers += [nn.Conv1d(in_channels, in_channels, kernel, stride, padding, dilation, groups=in_channels,
                                 bias=False), nn.Conv1d(in_channels, out, 1, bias=False)]
        else:
            layers.append(nn.Conv1d(in_channels, out, kernel, stride, padding, dilation, bias=False))
        layers += [nn.BatchNorm1d(out), _act(config["activation"])]
        if config["pooling"] != "none":
            layers.append(nn.MaxPool1d(2) if config["pooling"] == "max" else nn.AvgPool1d(2))
        in_channels = out
    pool = cnn1d_value(config, "global_pool")
    if pool == "avgmax":
        layers.append(GlobalAvgMax())
        in_channels *= 2
    else:
        layers += [nn.AdaptiveAvgPool1d(1) if pool == "avg" else nn.AdaptiveMaxPool1d(1), nn.Flatten()]
    if config["dropout"] > 0:
        layers.append(nn.Dropout(float(config["dropout"])))
    layers.append(nn.Linear(in_channels, num_classes))
    return nn.Sequential(*layers)


def _build_rocket(config, sample_shape, num_classes):
    from edgeopt.space.rocket_model import build

    return build(config, sample_shape, num_classes)


def _build_cnn2d(config, sample_shape, num_classes):
    import torch
    from torch import nn

    class InvertedResidual(nn.Module):
        def __init__(self, cin, cout, stride, expansion, kernel, act):
            super().__init__()
            hidden = cin * expansion
            layers: list[nn.Module] = []
            if expansion != 1:
                layers += [nn.Conv2d(cin, hidden, 1, bias=False), nn.BatchNorm2d(hidden), _act(act)]
            layers += [nn.Conv2d(hidden, hidden, kernel, stride, kernel // 2, groups=hidden, bias=False),
                       nn.BatchNorm2d(hidden), _act(act), nn.Conv2d(hidden, cout, 1, bias=False), nn.BatchNorm2d(cout)]
            self.body = nn.Sequential(*layers)
            self.residual = stride == 1 and cin == cout

        def forward(self, x):
            return x + self.body(x) if self.residual else self.body(x)

    class MobileNetish(nn.Module):
        def __init__(self):
            super().__init__()
            in_channels = sample_shape[0] if len(sample_shape) == 3 else 1
            self.unsqueeze = len(sample_shape) == 2
            channels = int(config["channels"])
            self.stem = nn.Sequential(nn.Conv2d(in_channels, channels, 3, int(config["stride"]), 1, bias=False),
                                      nn.BatchNorm2d(channels), _act(config["activation"]))
            blocks = []
            cin = channels
            for block in range(int(config["blocks"])):
                downsample = block % 2 == 1
                cout = cin * 2 if downsample else cin
                blocks.append(InvertedResidual(cin, cout, 2 if downsample else 1, int(config["expansion"]),
                                               int(config["kernel_size"]), config["activation"]))
                cin = cout
            self.blocks = nn.Sequential(*blocks)
            self.pool = nn.AdaptiveAvgPool2d(1)
            self.dropout = nn.Dropout(float(config["dropout"]))
            self.head = nn.Linear(cin, num_classes)

        def forward(self, x):
            if self.unsqueeze:
                x = x.unsqueeze(1)
            x = self.blocks(self.stem(x))
            return self.head(self.dropout(torch.flatten(self.pool(x), 1)))

    return MobileNetish()


FAMILIES: Mapping[str, Family] = MappingProxyType({
    "mlp": Family("mlp", (1, 2, 3), MappingProxyType(
        {"depth": 2, "width": 32, "activation": "relu", "dropout": 0.0}), _build_mlp,
        "fully connected layers over flattened features"),
    "cnn1d": Family("cnn1d", (1, 2), MappingProxyType(
        {"blocks": 2, "channels": 8, "channel_growth": 1.5, "kernel_size": 5, "stride": 1, "pooling": "max",
         "separable": False, "activation": "relu", "dropout": 0.0, **CNN1D_LATER}), _build_cnn1d,
        "1-D convolution blocks over signals (channels x length), global pooling, linear head; optionally a "
        "weightless downsampling front end, dilated blocks and per-series normalisation",
        _check_cnn1d, ("blocks", "kernel_size", "stride", "pooling", "downsample", "dilation")),
    "cnn2d": Family("cnn2d", (2, 3), MappingProxyType(
        {"blocks": 2, "channels": 8, "expansion": 2, "kernel_size": 3, "stride": 1, "activation": "relu6",
         "dropout": 0.0}), _build_cnn2d,
        "MobileNet-style inverted-residual blocks over small images (channels x height x width)",
        _check_cnn2d, ("blocks", "kernel_size", "stride")),
    "rocket": Family("rocket", (1, 2), MappingProxyType(
        {"features": 168, "dilations": 6, "normalization": "series"}), _build_rocket,
        "MiniRocket's generated kernels (not stored) at several dilations, a fitted threshold and the proportion of "
        "positive values per feature, a linear head", rocket.check, ("features", "dilations"), data_fitted=True),
})

TRAINING_DEFAULTS: Mapping[str, object] = MappingProxyType(
    {"lr": 0.01, "weight_decay": 0.0, "batch_size": 64, "optimizer": "adam", "epochs": 8, "lr_schedule": "cosine",
     "class_weight": "none", "augment": "none", "early_stop": False})
OPTIMIZERS = ("adam", "adamw", "sgd")
# balanced: each class's loss weighted by n / (classes * its count), so a rare positive class counts as much as the
# rest (a choice for the search where recall of a rare class matters); none: every sample alike.
CLASS_WEIGHTS = ("none", "balanced")
# how training batches are augmented (edgeopt.train.augment); evaluation data never is
AUGMENTATIONS = ("none", "jitter", "scale", "shift", "mixup")
# cosine: the learning rate decays to 0 over the space's largest epoch budget, whatever rung a trial is trained to, so a
# trial resumed rung by rung follows the same schedule as one trained straight through. constant: no decay.
LR_SCHEDULES = ("cosine", "constant")
