"""Input normalisation, computed on the training split (or per series) and stored with every trial.

Series padded with trailing NaN (varying length) are normalised on their real steps only; after normalisation the
padding becomes 0 (the channel's training mean, or the series' own), so every consumer (training, the report,
compression, export) feeds the model the same values and no model ever sees NaN.
"""

from __future__ import annotations

import math
import warnings
from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class Normalizer:
    """Mean and std per channel (axis 1 of a sample batch; one channel for flat features), or per feature (every
    position of a sample: what tabular data needs, where columns have unrelated scales), or per series (each sample's
    channels z-normalised over their own real steps: the shape of a trace, whatever its amplitude; the device computes
    the same two sums before it runs the model). `mean` and `std` are the training statistics per channel; a
    per-series normaliser keeps them for reference only."""

    mean: tuple[float, ...]
    std: tuple[float, ...]
    per_feature: bool = False
    per_series: bool = False

    @classmethod
    def fit(cls, x_train: np.ndarray, *, per_feature: bool = False, per_series: bool = False) -> Normalizer:
        if per_feature and per_series:
            raise ValueError("a normaliser is per feature or per series, not both")
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
        return cls(tuple(float(v) for v in mean), tuple(float(v) for v in std), per_feature, per_series)

    @classmethod
    def identity(cls, x_train: np.ndarray) -> Normalizer:
        """No normalisation (mean 0, std 1 per channel): for models trained outside edgeopt on raw inputs."""
        channels = x_train.shape[1] if x_train.ndim > 2 else 1
        return cls((0.0,) * channels, (1.0,) * channels)

    def apply(self, x: np.ndarray) -> np.ndarray:
        """(x - mean) / std as float32, with NaN padding set to 0."""
        if self.per_series:
            return _per_series(x)
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

    @property
    def kind(self) -> str:
        """How it normalises, in words a report or a firmware engineer reads."""
        return "per series" if self.per_series else "per feature" if self.per_feature else "per channel"

    def to_dict(self) -> dict:
        return {"mean": list(self.mean), "std": list(self.std), "per_feature": self.per_feature,
                "per_series": self.per_series}

    @classmethod
    def from_dict(cls, data: dict) -> Normalizer:
        return cls(tuple(data["mean"]), tuple(data["std"]), bool(data.get("per_feature", False)),
                   bool(data.get("per_series", False)))


def _per_series(x: np.ndarray) -> np.ndarray:
    """Each sample's channels z-normalised over their own real (non-NaN) steps; a constant or empty channel becomes
    0 (std taken as 1), padding 0."""
    x = np.asarray(x, np.float64)
    steps = tuple(range(2, x.ndim)) if x.ndim > 2 else (1,)
    with np.errstate(invalid="ignore"), warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        mean = np.nanmean(x, axis=steps, keepdims=True)
        std = np.nanstd(x, axis=steps, keepdims=True)
    mean = np.where(np.isfinite(mean), mean, 0.0)
    std = np.where(np.isfinite(std) & (std > 1e-8 * (1.0 + np.abs(mean))), std, 1.0)
    out = ((x - mean) / std).astype(np.float32)
    return np.nan_to_num(out, nan=0.0, posinf=0.0, neginf=0.0)
