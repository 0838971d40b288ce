"""Properties of the integer grid both the PyTorch simulation and the ONNX export use."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

torch = pytest.importorskip("torch")

from edgeopt.compression.fakequant import LayerQuant, fake_weight  # noqa: E402
from edgeopt.intgrid.grid import activation_params, bias_scale, bits_range, weight_scale  # noqa: E402

weights = st.lists(st.floats(-10, 10, allow_nan=False, width=32), min_size=6, max_size=48).map(
    lambda v: torch.tensor(v[: len(v) // 3 * 3], dtype=torch.float32).reshape(3, -1))


@settings(max_examples=60, deadline=None)
@given(weights, st.sampled_from([4, 8, 16]), st.booleans())
def test_fake_weights_lie_on_the_grid_within_half_a_step(w, bits, per_channel):
    scale = weight_scale(w, bits, per_channel)
    q = fake_weight(w, bits, per_channel)
    steps = q / scale[:, None]
    qmax = 2 ** (bits - 1) - 1
    assert torch.allclose(steps, steps.round(), atol=1e-3)
    assert steps.abs().max() <= qmax + 1e-3
    assert ((q - w).abs() <= scale[:, None] / 2 + 1e-6).all()


@settings(max_examples=60, deadline=None)
@given(st.floats(-50, 50), st.floats(-50, 50), st.sampled_from([8, 16]))
def test_activation_range_covers_zero_and_the_calibrated_range(a, b, bits):
    low, high = min(a, b), max(a, b)
    scale, zero = activation_params(low, high, bits)
    qmin, qmax = bits_range(bits)
    assert qmin <= zero <= qmax
    # zero is exactly representable; the range ends are within one step
    assert (qmin - zero) * scale <= min(low, 0.0) + scale
    assert (qmax - zero) * scale >= max(high, 0.0) - scale


@settings(max_examples=60, deadline=None)
@given(st.lists(st.floats(-1e4, 1e4, allow_nan=False, width=32), min_size=3, max_size=3), st.sampled_from([16, 32]))
def test_bias_scale_keeps_every_bias_inside_its_register(bias, bias_bits):
    bias = torch.tensor(bias)
    q = LayerQuant("x", "int8", True, "int16", 1e-4, 0, bias_bits)
    scale = bias_scale(bias, q.act_scale, q.bias_bits, torch.full((3,), 1e-3))
    limit = 2 ** (bias_bits - 1) - 1
    assert (bias.abs() / scale <= limit * (1 + 1e-6)).all()
    assert (scale >= 1e-7 - 1e-12).all()


def test_per_tensor_scale_is_shared_by_every_channel():
    w = torch.tensor(np.arange(12, dtype=np.float32).reshape(3, 4))
    assert torch.equal(weight_scale(w, 8, False), torch.full((3,), 11 / 127))
    assert torch.allclose(weight_scale(w, 8, True), torch.tensor([3, 7, 11]) / 127)
