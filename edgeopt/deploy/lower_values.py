"""The values a QDQ graph's tensors lower to (`deploy.lower`): the input, quantized tensors and their dequantized
views, integer constants, a layer's accumulators being built, concatenated layers."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np


@dataclass
class Input:
    shape: tuple[int, ...]


@dataclass
class Quantized:
    shape: tuple[int, ...]
    scale: float
    zero_point: int
    buffer: int  # 0: the model's input; k: the output of layer k - 1
    bits: int  # 8 or 16


@dataclass
class Dequantized:
    of: Quantized


@dataclass
class Const:
    values: np.ndarray  # integers
    scale: np.ndarray
    zero_point: np.ndarray


@dataclass
class Acc:
    """Accumulators of the layer being built, per channel at scale s_c; `shape` is the ONNX view without batch."""

    shape: tuple[int, ...]
    parts: dict = field(default_factory=dict)


@dataclass
class Joined:
    """Layers' accumulators concatenated on the channel axis: one requantization finishes each part into consecutive
    blocks of one buffer."""

    shape: tuple[int, ...]
    members: list  # _Acc, in order
    quantized_as: Quantized | None = None
