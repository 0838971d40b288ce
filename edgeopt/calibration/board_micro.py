"""Microbenchmarks for a board: small int8 classifiers of the shapes the shipped spaces produce (a grid of
convolutions by size and kernel length, separable blocks, pooling, MLPs, and architectures sampled from the shipped
cnn1d and mlp spaces), quantized post-training on random inputs and exported to C, for `edgeopt calibrate --runtime
cortex-m4` to run on QEMU's Cortex-M (instruction counts).

The weights and inputs are random: what is timed is the arithmetic, which does not depend on them."""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from edgeopt.compression.context import CompressContext
from edgeopt.compression.quantize import Int8Config, quantize
from edgeopt.data.dataset import Dataset
from edgeopt.data.normalize import Normalizer
from edgeopt.deploy.export import export
from edgeopt.deploy.lower import lower_onnx
from edgeopt.deploy.onnx import export_onnx
from edgeopt.profiles.schema import HardwareProfile
from edgeopt.space.fit import applies
from edgeopt.space.spec import load_space
from edgeopt.train.loop import DeviceData

SAMPLES = 64  # random inputs the post-training quantization calibrates on
SPACE_SAMPLES = (("cnn1d", (12, 64), 10), ("mlp", (32,), 6))  # (space, sample shape, architectures drawn)
FABRIC_SAMPLES = (("cnn1d", (12, 60), 6),)


@dataclass(frozen=True)
class BoardMicro:
    name: str
    sample_shape: tuple[int, ...]
    kind: str  # conv, separable, pool, mlp, space
    channels: int = 0  # conv: in channels; separable: channels; mlp: in features
    width: int = 0  # conv: out channels; pool: channels; mlp: hidden units
    kernel: int = 0
    pool: str = ""
    space: str = ""  # kind "space": a shipped space's architecture
    config: tuple = ()  # its configuration, as sorted (key, value) pairs


def board_suite() -> tuple[BoardMicro, ...]:
    """Convolutions of 3 and 12 input channels, 8 and 32 outputs, kernels of 3 and 7; separable blocks; max and
    average pooling between two convolutions (each convolutional one ending in a global average and a two-class dense
    layer, as a search's models do); MLPs narrow to wide; and architectures drawn from the shipped cnn1d and mlp
    spaces (the same ones every time)."""
    suite = [BoardMicro(f"conv_{cin}x{cout}_l64_k{k}", (cin, 64), "conv", cin, cout, k)
             for cin in (3, 12) for cout in (8, 32) for k in (3, 7)]
    suite += [BoardMicro(f"separable_{c}_k{k}", (c, 64), "separable", c, 16, k) for c in (8, 32) for k in (3, 5)]
    suite += [BoardMicro(f"{pool}pool_12x{c}", (12, 32), "pool", 12, c, 3, pool) for pool in ("max", "avg")
              for c in (8, 16)]
    suite += [BoardMicro(f"mlp_{f}x{h}", (f,), "mlp", f, h) for f, h in ((8, 4), (32, 16), (128, 64))]
    return tuple(suite) + space_samples(SPACE_SAMPLES)


def fabric_suite() -> tuple[BoardMicro, ...]:
    """The board suite and cnn1d architectures on series of 60 (`calibrate --runtime yosys`): means over counts
    that are no power of two take the engine's divider, which the board suite's lengths never need."""
    board = board_suite()
    drawn = sum(count for _, _, count in SPACE_SAMPLES)
    return board + space_samples(SPACE_SAMPLES + FABRIC_SAMPLES)[drawn:]


def space_samples(spaces: Sequence[tuple[str, tuple[int, ...], int]]) -> tuple[BoardMicro, ...]:
    """Architectures drawn from shipped spaces ((name, sample shape, how many), a space may come more than once, at
    other shapes) that apply to the shape; the same ones every time, named <space>_<i>, i counting over the
    space's entries."""
    rng = np.random.default_rng(0)
    out = []
    drawn: dict[str, int] = {}
    for name, shape, count in spaces:
        space = load_space(name)
        first = drawn.get(name, 0)
        drawn[name] = first + count
        i = first
        while i < first + count:
            config = space.sample(rng)
            if applies(space, config, shape) is None:
                out.append(BoardMicro(f"{name}_{i}", shape, "space", space=name, config=tuple(sorted(config.items()))))
                i += 1
    return tuple(out)


def build_module(micro: BoardMicro):
    """`micro` as a float torch module (two classes)."""
    from torch import nn

    if micro.kind == "space":
        return load_space(micro.space).build(dict(micro.config), micro.sample_shape, 2)
    if micro.kind == "mlp":
        return nn.Sequential(nn.Linear(micro.channels, micro.width), nn.ReLU(), nn.Linear(micro.width, 2))
    k = micro.kernel
    if micro.kind == "conv":
        body = [nn.Conv1d(micro.channels, micro.width, k, padding=k // 2), nn.ReLU()]
    elif micro.kind == "separable":
        c = micro.channels
        body = [nn.Conv1d(c, c, k, padding=k // 2, groups=c), nn.ReLU(), nn.Conv1d(c, micro.width, 1), nn.ReLU()]
    else:
        pool = nn.MaxPool1d(2) if micro.pool == "max" else nn.AvgPool1d(2)
        body = [nn.Conv1d(micro.channels, micro.width, k, padding=k // 2), nn.ReLU(), pool,
                nn.Conv1d(micro.width, micro.width, k, padding=k // 2), nn.ReLU()]
    return nn.Sequential(*body, nn.AdaptiveAvgPool1d(1), nn.Flatten(), nn.Linear(micro.width, 2))


def board_micro_onnx(micro: BoardMicro, profile: HardwareProfile, folder: str | os.PathLike,
                     seed: int = 0) -> tuple[Path, np.ndarray]:
    """`micro` quantized post-training on random inputs in `profile`'s formats, as folder/<name>.onnx (QDQ); returns
    the file and a few float inputs for it."""
    import torch

    torch.manual_seed(seed)
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((SAMPLES + 4, *micro.sample_shape)).astype(np.float32)
    y = rng.integers(0, 2, len(x))
    data = Dataset(micro.name, x[:SAMPLES], y[:SAMPLES], x[SAMPLES:], y[SAMPLES:], None, None, 2)
    ctx = CompressContext(profile, DeviceData(data, Normalizer.identity(data.x_train)), data.sample_shape, 2)
    quantized = quantize(build_module(micro).eval(), Int8Config(qat_epochs=0, mixed_precision=False), ctx)
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    return export_onnx(quantized.model, data.sample_shape, folder / f"{micro.name}.onnx", quantized.plan), \
        x[SAMPLES:]


def write_board_micro(micro: BoardMicro, profile: HardwareProfile, folder: str | os.PathLike,
                      seed: int = 0, c_name: str = "model") -> tuple[Path, np.ndarray]:
    """`micro` quantized to int8 and exported to C (functions named `c_name`_...) for `profile` in folder/<name>/
    (its source.onnx beside the C); returns the folder and a few int8 inputs for it."""
    onnx, x = board_micro_onnx(micro, profile, folder, seed)
    out = Path(folder) / micro.name
    export(onnx, profile, out, name=c_name)
    return out, lower_onnx(onnx).quantize_input(x)
