"""Layout conversions: which tensors a runtime that computes 2-D convolutions in blocks of channels converts to and
from its blocked layout, which layer pays, and what it costs."""

from __future__ import annotations

import dataclasses

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from torch import nn

from edgeopt import estimate, load_profile
from edgeopt.graph.ops import Op

PROFILE = """\
name: blocked
memory:
  weights: {kind: dram, size: 1GiB}
  activations: {kind: cache, size: 1GiB}
compute:
  peak: {fp32: 1GMAC/s}
  op_channel_block: {conv2d: 8, depthwise_conv2d: 8}
  fused_ops: {conv2d: [relu, add]}
  layout_ops: [relu, add, maxpool]
  layout_conversion_cost: {value: 4, source: measured}
formats: {weights: [fp32], activations: [fp32]}
"""


@pytest.fixture()
def blocked(tmp_path):
    path = tmp_path / "blocked.yaml"
    path.write_text(PROFILE)
    return load_profile(path)


def converted(est) -> dict[str, int]:
    """Elements each layer converts (1 GMAC/s: a MAC's time is a nanosecond)."""
    return {layer.name: round(layer.terms.convert_s * 1e9) for layer in est.layers
            if layer.terms is not None and layer.terms.convert_s}


def conv(cin: int, cout: int) -> nn.Module:
    return nn.Sequential(nn.Conv2d(cin, cout, 3, padding=1), nn.ReLU())


@settings(max_examples=6, deadline=None)
@given(depth=st.integers(1, 5), channels=st.sampled_from([8, 16, 24]))
def test_a_chain_of_blocked_convolutions_converts_its_input_and_output_once(tmp_path_factory, depth, channels):
    path = tmp_path_factory.mktemp("p") / "blocked.yaml"
    path.write_text(PROFILE)
    profile = load_profile(path)
    model = nn.Sequential(*[conv(channels, channels) for _ in range(depth)])
    est = estimate(model, profile, (1, channels, 6, 6))
    assert sum(converted(est).values()) == 2 * channels * 36
    convs = [layer.name for layer in est.layers if layer.op is Op.CONV2D]
    assert converted(est) == ({convs[0]: 2 * channels * 36} if depth == 1 else
                              {convs[0]: channels * 36, convs[-1]: channels * 36})


@settings(max_examples=6, deadline=None)
@given(depth=st.integers(1, 4), channels=st.sampled_from([12, 20]))
def test_convolutions_over_channels_that_are_not_whole_blocks_run_plain(tmp_path_factory, depth, channels):
    """As onnxruntime's NCHWc transformer: a convolution reading a block or more channels, but not whole blocks,
    has no blocked kernel; a chain of them converts nothing."""
    path = tmp_path_factory.mktemp("p") / "blocked.yaml"
    path.write_text(PROFILE)
    est = estimate(nn.Sequential(*[conv(channels, channels) for _ in range(depth)]), load_profile(path),
                   (1, channels, 6, 6))
    assert converted(est) == {}


def test_a_pool_over_channels_that_are_not_whole_blocks_runs_plain(blocked):
    """A 4-channel stem is blocked (its output padded to a block); a max pool of those 4 channels runs plain, so
    the stem's output is converted for it, while a pool over 8 channels keeps the blocked layout."""
    for channels, pool_blocked in ((4, False), (8, True)):
        est = estimate(nn.Sequential(nn.Conv2d(3, channels, 3, padding=1), nn.MaxPool2d(2)), blocked, (1, 3, 8, 8))
        pool = next(layer for layer in est.layers if layer.op is Op.MAXPOOL)
        assert pool.terms.blocked is pool_blocked
        assert sum(converted(est).values()) == channels * (64 if not pool_blocked else 16)


def test_what_each_layer_converts(blocked):
    """A first layer's 3 channels are read as they are; a maxpool keeps the layout; a mean (no blocked kernel)
    converts what it reads; a convolution of 4 input channels reads them plain, converting its blocked input;
    the residual add whose skip is plain (the model's input) runs plain, unfused, converting the conv's output."""
    class Net(nn.Module):
        def __init__(self):
            super().__init__()
            self.stem, self.narrow, self.wide = nn.Conv2d(3, 4, 3, padding=1), nn.Conv2d(4, 16, 1), nn.Conv2d(16, 8, 1)

        def forward(self, x):
            h = nn.functional.max_pool2d(self.wide(self.narrow(torch.relu(self.stem(x)))), 2)
            return h.mean((2, 3))

    est = estimate(Net(), blocked, (1, 3, 8, 8))
    names = {layer.op: layer.name for layer in est.layers}
    assert converted(est) == {est.layers[2].name: 4 * 64, names[Op.GLOBAL_AVGPOOL]: 8 * 16}
    assert est.layers[2].op is Op.CONV2D and est.layers[1].fused  # the narrow conv pays for the stem's output

    class Residual(nn.Module):
        def __init__(self):
            super().__init__()
            self.conv = nn.Conv2d(8, 8, 3, padding=1)

        def forward(self, x):
            return self.conv(x) + x

    est = estimate(Residual(), blocked, (1, 8, 6, 6))
    add = next(layer for layer in est.layers if layer.op is Op.ADD)
    assert not add.fused and add.cost.latency_s > 0
    assert converted(est) == {est.layers[0].name: 8 * 36, add.name: 8 * 36}


def test_conversions_cost_what_the_profile_says(blocked):
    model = conv(16, 16)
    plain = dataclasses.replace(blocked, compute=dataclasses.replace(blocked.compute, layout_conversion_cost=0.0))
    extra_s = estimate(model, blocked, (1, 16, 6, 6)).total.latency_s - \
        estimate(model, plain, (1, 16, 6, 6)).total.latency_s
    assert extra_s == pytest.approx(2 * 16 * 36 * 4 / 1e9)
    unblocked = dataclasses.replace(blocked, compute=blocked.compute.with_figure("channel_block", {}))
    assert converted(estimate(model, unblocked, (1, 16, 6, 6))) == {}


def test_pools_after_a_blocked_layer_run_blocked_at_their_own_efficiency(blocked):
    """A maxpool reading a blocked convolution runs in the blocked layout (onnxruntime's NCHWc pool), at the
    profile's blocked efficiency for it; one reading a 1-D convolution (never blocked here) runs plain, at its
    op_efficiency; without a blocked figure a blocked pool runs at its op_efficiency too."""
    def pool_of(model, shape, profile):
        return next(layer for layer in estimate(model, profile, shape).layers if layer.op is Op.MAXPOOL)

    fast = dataclasses.replace(blocked, compute=blocked.compute.with_figure("efficiency", {Op.MAXPOOL: 0.01})
        .with_figure("blocked_efficiency", {Op.MAXPOOL: 0.5}))
    slow = dataclasses.replace(fast, compute=fast.compute.with_figure("blocked_efficiency", {}))
    net2d = nn.Sequential(nn.Conv2d(8, 8, 3, padding=1), nn.MaxPool2d(2))
    on_blocked, on_plain = pool_of(net2d, (1, 8, 8, 8), fast), pool_of(net2d, (1, 8, 8, 8), slow)
    assert on_blocked.terms.blocked and on_plain.terms.blocked
    assert on_plain.cost.latency_s > on_blocked.cost.latency_s
    overhead_s = fast.compute.overhead_s(Op.MAXPOOL)
    converting_s = on_blocked.terms.convert_s * 4  # the model's output, back to the plain layout
    assert on_blocked.cost.latency_s - overhead_s - converting_s == pytest.approx(
        on_blocked.terms.peak_compute_s / 0.5)
    assert on_plain.cost.latency_s - overhead_s - converting_s == pytest.approx(on_plain.terms.peak_compute_s / 0.01)
    net1d = nn.Sequential(nn.Conv1d(8, 8, 3, padding=1), nn.MaxPool1d(2))
    plain = pool_of(net1d, (1, 8, 16), fast)
    assert not plain.terms.blocked
    assert plain.cost.latency_s - overhead_s == pytest.approx(plain.terms.peak_compute_s / 0.01)
