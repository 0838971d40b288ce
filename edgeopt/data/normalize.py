"""Input normalisation statistics, computed on the training split and stored with every trial."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class Normalizer:
    """Per-channel mean and std (axis 1 of a sample batch; one channel for flat features)."""

    mean: tuple[float, ...]
    std: tuple[float, ...]

    @classmethod
    def fit(cls, x_train: np.ndarray) -> Normalizer:
        x = x_train if x_train.ndim > 2 else x_train[:, None, :]
        axes = tuple(i for i in range(x.ndim) if i != 1)
        mean = x.mean(axis=axes, dtype=np.float64)
        std = x.std(axis=axes, dtype=np.float64)
        std = np.where(std > 1e-12, std, 1.0)
        return cls(tuple(float(v) for v in mean), tuple(float(v) for v in std))

    @classmethod
    def identity(cls, x_train: np.ndarray) -> Normalizer:
        """No normalisation (mean 0, std 1 per channel): for models trained outside edgeopt on raw inputs."""
        channels = x_train.shape[1] if x_train.ndim > 2 else 1
        return cls((0.0,) * channels, (1.0,) * channels)

    def apply(self, x: np.ndarray) -> np.ndarray:
        shape = (1, len(self.mean)) + (1,) * (x.ndim - 2) if x.ndim > 2 else (1, -1)
        mean = np.asarray(self.mean, np.float32).reshape(shape) if x.ndim > 2 else np.float32(self.mean[0])
        std = np.asarray(self.std, np.float32).reshape(shape) if x.ndim > 2 else np.float32(self.std[0])
        return ((x - mean) / std).astype(np.float32)

    def to_dict(self) -> dict:
        return {"mean": list(self.mean), "std": list(self.std)}

    @classmethod
    def from_dict(cls, data: dict) -> Normalizer:
        return cls(tuple(data["mean"]), tuple(data["std"]))
