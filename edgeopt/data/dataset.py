"""Dataset: train / validation / test arrays with their class count, validated once when made."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from edgeopt.errors import EdgeoptError, EdgeoptWarning


class DataError(EdgeoptError):
    """Data that cannot be trained on: mismatched shapes, NaN, a single class, labels not 0..C-1."""


class DataWarning(EdgeoptWarning):
    """Something in a data file was skipped (an array edgeopt does not read); the data is still usable."""


@dataclass(frozen=True, eq=False)
class Dataset:
    name: str
    x_train: np.ndarray
    y_train: np.ndarray
    x_val: np.ndarray
    y_val: np.ndarray
    x_test: np.ndarray | None
    y_test: np.ndarray | None
    num_classes: int
    class_names: tuple[str, ...] = field(default=())

    @property
    def sample_shape(self) -> tuple[int, ...]:
        return tuple(self.x_train.shape[1:])

    @property
    def padded(self) -> bool:
        """Whether some series are shorter than the array and padded with trailing NaN."""
        return any(x is not None and bool(np.isnan(x).any()) for x in (self.x_train, self.x_val, self.x_test))

    def summary(self) -> dict:
        counts = np.bincount(self.y_train, minlength=self.num_classes)
        out = {"name": self.name, "sample_shape": list(self.sample_shape), "num_classes": self.num_classes,
               "train": len(self.y_train), "val": len(self.y_val),
               "test": 0 if self.y_test is None else len(self.y_test), "train_class_counts": counts.tolist()}
        return out | ({"padded": True} if self.padded else {})


def validate_arrays(source: str, split: str, x: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Float32 features and int64 labels, or a DataError naming the source, the split and the problem."""
    x = np.asarray(x)
    y = np.asarray(y)
    if x.ndim < 2:
        raise DataError(f"{source}: x_{split} has shape {x.shape}; expected (samples, features...)")
    if y.ndim != 1:
        raise DataError(f"{source}: y_{split} has shape {y.shape}; expected one label per sample")
    if len(x) != len(y):
        raise DataError(f"{source}: x_{split} has {len(x)} samples but y_{split} has {len(y)}")
    if len(x) == 0:
        raise DataError(f"{source}: the {split} split is empty")
    if not np.issubdtype(x.dtype, np.number) or np.iscomplexobj(x):
        raise DataError(f"{source}: x_{split} holds {x.dtype}, not real numbers")
    x = x.astype(np.float32, copy=False)
    _check_finite(source, split, x)
    if np.issubdtype(y.dtype, np.floating):
        if not np.all(np.isfinite(y)) or not np.all(y == np.round(y)):
            raise DataError(f"{source}: y_{split} must hold whole-number class labels 0..C-1")
    elif not np.issubdtype(y.dtype, np.integer):
        raise DataError(f"{source}: y_{split} holds {y.dtype}; expected integer class labels 0..C-1")
    return x, y.astype(np.int64)


def check_labels(source: str, y_train: np.ndarray, *others: np.ndarray) -> int:
    """The number of classes; labels must be 0..C-1 with at least two present in training."""
    present = np.unique(y_train)
    if len(present) < 2:
        raise DataError(f"{source}: y_train holds a single class ({present.tolist()}); a classifier needs two or more")
    if present.min() < 0:
        raise DataError(f"{source}: labels must be 0..C-1; found {int(present.min())} in y_train")
    if int(present.max()) >= len(present):  # a gap; named from the present labels, never a set of range(max)
        gaps = [int(v) for v in np.setdiff1d(np.arange(min(len(present) + 5, int(present.max()))), present)][:5]
        raise DataError(f"{source}: labels must be 0..C-1 without gaps; y_train holds {len(present)} classes up to "
                        f"{int(present.max())}, and classes {gaps} (at least) never occur")
    num_classes = len(present)
    for y in others:
        if y.min() < 0 or y.max() >= num_classes:
            outside = np.unique(y[(y < 0) | (y >= num_classes)])[:5].tolist()
            raise DataError(f"{source}: labels must be 0..{num_classes - 1} (the classes seen in training); "
                            f"found {outside}")
    return num_classes


def series_lengths(x: np.ndarray) -> np.ndarray:
    """Each series' length in `x` [samples, channels, steps]: steps before its trailing NaN padding."""
    present = ~np.isnan(x).all(axis=1)  # (samples, steps)
    return np.where(present.any(axis=1), x.shape[2] - np.argmax(present[:, ::-1], axis=1), 0)


def _check_finite(source: str, split: str, x: np.ndarray) -> None:
    """Inf anywhere and NaN anywhere but trailing padding of a series are errors naming split, sample and position.

    Padding: series [samples, channels, steps] of varying length end in NaN in every channel from their end on (how
    UCR/UEA archives store them). Anything else (tabular features, images, a gap inside a series) has no padding.
    """
    finite = np.isfinite(x)
    if finite.all():
        return
    where = f"{source}: x_{split}"
    infinite = np.isinf(x)
    if infinite.any():
        index = tuple(int(i) for i in np.argwhere(infinite)[0])
        raise DataError(f"{where} holds an infinite value at sample {index[0]}, position {list(index[1:])}")
    nan = ~finite
    if x.ndim == 3:
        lengths = series_lengths(x)
        steps = np.arange(x.shape[2])
        padding = np.broadcast_to((steps[None, :] >= lengths[:, None])[:, None, :], x.shape)
        stray = nan & ~padding
        if not stray.any():
            empty = np.flatnonzero(lengths == 0)
            if len(empty):
                raise DataError(f"{where}: sample {int(empty[0])} is all NaN (an empty series)")
            return
        sample, channel, step = (int(i) for i in np.argwhere(stray)[0])
        raise DataError(f"{where} holds NaN at sample {sample}, channel {channel}, step {step}, inside the series "
                        f"(it ends at step {int(lengths[sample])}); only trailing NaN in every channel is read as "
                        "padding of a shorter series")
    index = tuple(int(i) for i in np.argwhere(nan)[0])
    raise DataError(f"{where} holds NaN at sample {index[0]}, position {list(index[1:])} "
                    f"({int(nan.any(axis=tuple(range(1, x.ndim))).sum())} samples have NaN); NaN is read as padding "
                    "only at the end of series shaped [samples, channels, steps]")
