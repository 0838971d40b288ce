"""Load a dataset from .npz, .csv or a pair of .npy files, or a bundled example; validate before any training."""

from __future__ import annotations

import os
import warnings
import zipfile
from pathlib import Path

import numpy as np

from edgeopt.data.dataset import Dataset, DataError, DataWarning, check_labels, validate_arrays
from edgeopt.data.examples import EXAMPLES, example_dataset
from edgeopt.data.splits import stratified_split

NPZ_KEYS = ("x_train", "y_train", "x_val", "y_val", "x_test", "y_test")


def load_dataset(source: str | os.PathLike | None, *, label_column: str | None = None, val_fraction: float = 0.2,
                 seed: int = 0, example: str = "reads") -> Dataset:
    """The dataset at `source` (.npz / .csv / x .npy with its y .npy), or the bundled `example` when None.

    A validation split (stratified, seeded) is made from training data when the file has none.
    """
    if source is None or os.fspath(source) in EXAMPLES:
        return example_dataset(os.fspath(source) if source is not None else example, seed=seed)
    path = Path(source)
    if not path.is_file():
        raise DataError(f"{path}: no such data file (or a bundled example: {', '.join(EXAMPLES)})")
    suffix = path.suffix.lower()
    if suffix == ".npz":
        arrays = _npz(path)
    elif suffix == ".csv":
        arrays = _csv(path, label_column)
    elif suffix == ".npy":
        arrays = _npy_pair(path)
    else:
        raise DataError(f"{path}: unsupported data file {suffix!r}; give .npz, .csv or x/y .npy files")
    return _assemble(path, arrays, val_fraction, seed)


def _assemble(path: Path, arrays: dict[str, np.ndarray], val_fraction: float, seed: int) -> Dataset:
    source = str(path)
    x_train, y_train = validate_arrays(source, "train", arrays["x_train"], arrays["y_train"])
    if "x_val" in arrays:
        x_val, y_val = validate_arrays(source, "val", arrays["x_val"], arrays["y_val"])
    else:
        train, val = stratified_split(y_train, val_fraction, seed)
        if len(val) == 0:
            raise DataError(f"{source}: {len(y_train)} training samples leave none for validation; a class needs "
                            "at least 2 samples for one to be held out (or give x_val and y_val)")
        x_train, y_train, x_val, y_val = x_train[train], y_train[train], x_train[val], y_train[val]
    x_test = y_test = None
    if "x_test" in arrays:
        x_test, y_test = validate_arrays(source, "test", arrays["x_test"], arrays["y_test"])
    for split, x in (("val", x_val), ("test", x_test)):
        if x is not None and x.shape[1:] != x_train.shape[1:]:
            raise DataError(f"{source}: x_{split} samples have shape {x.shape[1:]}, x_train {x_train.shape[1:]}")
    num_classes = check_labels(source, y_train, y_val, *([y_test] if y_test is not None else []))
    return Dataset(path.stem, x_train, y_train, x_val, y_val, x_test, y_test, num_classes)


def _memory_bytes() -> int:
    try:
        return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    except (ValueError, OSError, AttributeError):  # not a POSIX system: no bound but the file's own size
        return 1 << 62


def _check_header(handle, stored_bytes: int, where: str) -> None:
    """An array's header read before its data: the bytes its shape and dtype declare must be what the file stores
    (a 602-byte file declaring 10^12 samples is refused, not allocated) and fit in this machine's memory."""
    try:
        version = np.lib.format.read_magic(handle)
        shape, _, dtype = (np.lib.format.read_array_header_1_0 if version == (1, 0)
                           else np.lib.format.read_array_header_2_0)(handle)
    except (ValueError, OSError, EOFError) as exc:
        raise DataError(f"{where}: cannot read as a .npy array: {exc or type(exc).__name__}") from None
    declared = int(np.prod(shape, dtype=object)) * dtype.itemsize
    if declared > stored_bytes:
        raise DataError(f"{where}: its header declares shape {shape} ({declared:,} bytes of {dtype}) but the file "
                        f"holds {stored_bytes:,}; a truncated or forged file")
    if declared > _memory_bytes() // 2:
        raise DataError(f"{where}: shape {shape} is {declared:,} bytes, more than half of this machine's memory")


def _npz(path: Path) -> dict[str, np.ndarray]:
    try:
        with zipfile.ZipFile(path) as archive:
            for info in archive.infolist():
                if info.filename.removesuffix(".npy") in NPZ_KEYS:
                    with archive.open(info) as member:
                        _check_header(member, info.file_size, f"{path}: {info.filename}")
    except (OSError, ValueError, EOFError, zipfile.BadZipFile) as exc:
        raise DataError(f"{path}: cannot read as .npz: {exc or type(exc).__name__}") from None
    try:
        with np.load(path, allow_pickle=False) as npz:
            # Unknown arrays are not even read: an object array among them would need pickle.
            unknown = sorted(set(npz.files) - set(NPZ_KEYS))
            arrays = {key: npz[key] for key in npz.files if key in NPZ_KEYS}
    except (OSError, ValueError, EOFError, zipfile.BadZipFile) as exc:
        raise DataError(f"{path}: cannot read as .npz: {exc or type(exc).__name__}") from None
    if unknown:
        warnings.warn(f"{path}: ignoring arrays {', '.join(unknown)} (edgeopt reads {', '.join(NPZ_KEYS)})",
                      DataWarning, stacklevel=3)
    for x_key in ("x_train", "x_val", "x_test"):
        y_key = "y" + x_key[1:]
        if (x_key in arrays) != (y_key in arrays):
            raise DataError(f"{path}: {x_key} and {y_key} must come together")
    if "x_train" not in arrays:
        raise DataError(f"{path}: missing x_train and y_train")
    return arrays


def _csv(path: Path, label_column: str | None) -> dict[str, np.ndarray]:
    if path.stat().st_size == 0:
        raise DataError(f"{path}: empty file; expected a CSV with a header row and a label column")
    try:
        table = np.genfromtxt(path, delimiter=",", names=True, dtype=np.float64, encoding="utf-8-sig")
    except (OSError, ValueError, IndexError, UnicodeDecodeError) as exc:
        raise DataError(f"{path}: cannot read as CSV with a header row: {exc}") from None
    names = table.dtype.names or ()
    label = label_column or "label"
    if label not in names:
        raise DataError(f"{path}: no label column {label!r}; columns: {', '.join(names)} (choose with --label)")
    features = [n for n in names if n != label]
    table = np.atleast_1d(table)
    x = np.stack([table[n] for n in features], axis=1) if features else np.empty((len(table), 0))
    return {"x_train": x, "y_train": table[label]}


def _npy_pair(path: Path) -> dict[str, np.ndarray]:
    stem = path.stem
    if stem == "x" or stem.endswith("_x"):
        partner = path.with_name(stem[:-1] + "y" + path.suffix)
    else:
        raise DataError(f"{path}: name .npy inputs x.npy / NAME_x.npy, with labels in y.npy / NAME_y.npy beside them")
    if not partner.is_file():
        raise DataError(f"{path}: labels file {partner.name} not found beside it")
    for item in (path, partner):
        try:
            with item.open("rb") as handle:
                _check_header(handle, item.stat().st_size, str(item))
        except OSError as exc:
            raise DataError(f"{item}: cannot read .npy: {exc.strerror or exc}") from None
    try:
        return {"x_train": np.load(path, allow_pickle=False), "y_train": np.load(partner, allow_pickle=False)}
    except (OSError, ValueError, EOFError) as exc:
        raise DataError(f"{path}: cannot read .npy: {exc or type(exc).__name__}") from None
