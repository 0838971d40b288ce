"""Input normalisation statistics, computed on the training split and stored with every trial.

Series padded with trailing NaN (varying length) are normalised on their real steps only; after normalisation the
padding becomes 0, the channel's training mean, so every consumer (training, the report, compression, export) feeds
the model the same values and no model ever sees NaN.
"""

from __future__ import annotations

import math
import warnings
from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class Normalizer:
    """Mean and std per channel (axis 1 of a sample batch; one channel for flat features), or per feature (every
    position of a sample: what tabular data needs, where columns have unrelated scales)."""

    mean: tuple[float, ...]
    std: tuple[float, ...]
    per_feature: bool = False

    @classmethod
    def fit(cls, x_train: np.ndarray, *, per_feature: bool = False) -> Normalizer:
        if per_feature:
            x = x_train.reshape(len(x_train), -1)
            axes: tuple[int, ...] = (0,)
        else:
            x = x_train if x_train.ndim > 2 else x_train[:, None, :]
            axes = tuple(i for i in range(x.ndim) if i != 1)
        with np.errstate(invalid="ignore"), warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)  # a channel that is padding everywhere: mean 0, std 1
            mean = np.nanmean(x, axis=axes, dtype=np.float64)
            std = np.nanstd(x, axis=axes, dtype=np.float64)
        mean = np.where(np.isfinite(mean), mean, 0.0)
        std = np.where(np.isfinite(std) & (std > 1e-12), std, 1.0)
        return cls(tuple(float(v) for v in mean), tuple(float(v) for v in std), per_feature)

    @classmethod
    def identity(cls, x_train: np.ndarray) -> Normalizer:
        """No normalisation (mean 0, std 1 per channel): for models trained outside edgeopt on raw inputs."""
        channels = x_train.shape[1] if x_train.ndim > 2 else 1
        return cls((0.0,) * channels, (1.0,) * channels)

    def apply(self, x: np.ndarray) -> np.ndarray:
        """(x - mean) / std as float32, with NaN padding set to 0."""
        if self.per_feature:
            if math.prod(x.shape[1:]) != len(self.mean):
                raise ValueError(f"normaliser holds {len(self.mean)} features; samples of shape {x.shape[1:]} have "
                                 f"{math.prod(x.shape[1:])}")
            shape = (1, *x.shape[1:])
            mean = np.asarray(self.mean, np.float32).reshape(shape)
            std = np.asarray(self.std, np.float32).reshape(shape)
        elif x.ndim > 2:
            shape = (1, len(self.mean)) + (1,) * (x.ndim - 2)
            mean = np.asarray(self.mean, np.float32).reshape(shape)
            std = np.asarray(self.std, np.float32).reshape(shape)
        else:
            mean, std = np.float32(self.mean[0]), np.float32(self.std[0])
        out = ((x - mean) / std).astype(np.float32)
        return np.nan_to_num(out, nan=0.0, posinf=0.0, neginf=0.0) if np.isnan(out).any() else out

    def to_dict(self) -> dict:
        return {"mean": list(self.mean), "std": list(self.std), "per_feature": self.per_feature}

    @classmethod
    def from_dict(cls, data: dict) -> Normalizer:
        return cls(tuple(data["mean"]), tuple(data["std"]), bool(data.get("per_feature", False)))
