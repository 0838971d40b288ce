"""Per-series normalisation: each sample's channels z-normalised over their own real steps (issue 28)."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from edgeopt.data.normalize import Normalizer


def _series(seed: int, n: int = 6, channels: int = 2, length: int = 40) -> np.ndarray:
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(n, channels, length)).cumsum(axis=2).astype(np.float32)
    for i, end in enumerate(rng.integers(5, length + 1, size=n)):
        x[i, :, end:] = np.nan  # varying length: NaN after each series' end
    return x


@settings(max_examples=30, deadline=None)
@given(seed=st.integers(0, 10_000), scale=st.floats(1e-3, 1e3), offset=st.floats(-50, 50))
def test_per_series_ignores_each_series_amplitude_and_offset(seed, scale, offset):
    """A 0.1 A appliance and a 20 A one present the same shape: per series, a * x + b normalises as x does (b within
    50 of the signal's own spread: a float32 input keeps its digits there)."""
    x = _series(seed)
    norm = Normalizer.fit(x, per_series=True)
    z = norm.apply(x)
    moved = norm.apply((x.astype(np.float64) * scale + offset * scale).astype(np.float32))
    assert np.allclose(z, moved, atol=2e-3)
    real = ~np.isnan(x)
    assert np.all(z[~real] == 0) and np.isfinite(z).all()
    for i in range(len(x)):
        for c in range(x.shape[1]):
            values = z[i, c][real[i, c]]
            assert abs(values.mean()) < 1e-4 and (values.std() < 1e-6 or abs(values.std() - 1) < 1e-3)


def test_per_series_edge_cases_and_storage():
    x = _series(0)
    x[0, 1] = 5.0  # a constant channel: 0, not a division by zero
    x[1, 0] = np.nan  # an empty channel: 0
    z = Normalizer.fit(x, per_series=True).apply(x)
    assert np.all(z[0, 1] == 0) and np.all(z[1, 0] == 0) and np.isfinite(z).all()
    flat = np.array([[1.0, 2.0, 3.0, np.nan], [10.0, 20.0, 30.0, 40.0]], np.float32)  # (N, length): one channel
    zf = Normalizer.fit(flat, per_series=True).apply(flat)
    assert np.allclose(zf[0, :3], zf[1, :3] * 0 + [-1.2247449, 0.0, 1.2247449], atol=1e-5) and zf[0, 3] == 0
    norm = Normalizer.fit(x, per_series=True)
    assert Normalizer.from_dict(norm.to_dict()) == norm and norm.kind == "per series"
    assert Normalizer.from_dict({"mean": [0.0], "std": [1.0]}).per_series is False  # stored before the option
    with pytest.raises(ValueError, match="not both"):
        Normalizer.fit(x, per_series=True, per_feature=True)
