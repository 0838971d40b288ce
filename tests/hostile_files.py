"""Hostile files shared by tests: array files whose headers declare far more than they hold."""

from __future__ import annotations

import io
import zipfile
from pathlib import Path

import numpy as np


def forged_arrays() -> tuple[bytes, bytes]:
    """(.npy bytes whose header declares 10^12 x 3 float32 samples but hold 24 bytes, .npy bytes of 2 labels)."""
    header = np.lib.format.header_data_from_array_1_0(np.zeros((2, 3), np.float32)) | {"shape": (10 ** 12, 3)}
    forged = io.BytesIO()
    np.lib.format.write_array_header_1_0(forged, header)
    labels = io.BytesIO()
    np.save(labels, np.zeros(2, np.int64))
    return forged.getvalue() + bytes(24), labels.getvalue()


def forged_npz(path: Path) -> Path:
    """An .npz of a few hundred bytes whose x_train declares 10^12 samples."""
    x, y = forged_arrays()
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr("x_train.npy", x)
        archive.writestr("y_train.npy", y)
    return path
