import dataclasses
from types import MappingProxyType
import math

import pytest
import torch
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from torch import nn

from edgeopt import estimate, load_profile
from edgeopt.cost.crossbar import tile_share
from edgeopt.graph.build import build_graph
from edgeopt.graph.ir import WeightMatrix
from edgeopt.graph.ops import VIEW_OPS, Op
from edgeopt.profiles.schema import Crossbar
from reference_models import MobileNetV2

PROFILE = """\
name: unit
memory:
  weights: {kind: flash, size: 1MiB, bandwidth: 100MB/s, energy_per_byte: 10pJ}
  activations: {kind: sram, size: 256KiB, bandwidth: 400MB/s, energy_per_byte: 1pJ}
compute:
  peak: {int8: 100MMAC/s, fp32: 25MMAC/s}
  op_efficiency: {default: 0.5, conv2d: 0.8}
  layer_overhead: 10us
energy: {per_mac: {int8: 2pJ}, static_power: 0.01W}
formats: {weights: [int8, fp32], activations: [int8]}
quantization: {granularity: per-channel, scale_bytes: 4, zero_point_bytes: 1, bias_bits: 32}
"""


@pytest.fixture()
def unit_profile(tmp_path):
    path = tmp_path / "unit.yaml"
    path.write_text(PROFILE)
    return load_profile(path)


def test_int8_weight_bytes_include_scales_zero_points_and_wide_biases(unit_profile):
    conv = nn.Conv2d(3, 8, 3)
    est = estimate(conv, unit_profile, (1, 3, 10, 10))
    assert est.total.weight_bytes == 8 * 27 * 1 + 8 * 4 + 8 * (4 + 1)
    fp32 = estimate(conv, dataclasses.replace(unit_profile, weight_format="fp32"), (1, 3, 10, 10))
    assert fp32.total.weight_bytes == (8 * 27 + 8) * 4


def test_batchnorm_folds_into_the_conv_and_adds_a_bias(unit_profile):
    model = nn.Sequential(nn.Conv2d(3, 8, 3, bias=False), nn.BatchNorm2d(8), nn.ReLU())
    est = estimate(model, unit_profile, (1, 3, 10, 10))
    conv, bn, relu = est.layers
    assert conv.cost.weight_bytes == 8 * 27 + 8 * 4 + 8 * 5
    assert bn.cost.weight_bytes == 0 and bn.cost.latency_s == 0 and bn.fused
    assert relu.fused and relu.cost.activation_bytes == 0
    assert est.total.params == sum(p.numel() for p in model.parameters())


def test_roofline_latency_and_energy_by_hand(unit_profile):
    conv = nn.Conv2d(4, 4, 3, padding=1, bias=False)
    est = estimate(conv, unit_profile, (1, 4, 16, 16))
    macs = 4 * 16 * 16 * 36
    assert est.total.macs == macs
    compute_s = macs / (100e6 * 0.8)
    weights = 4 * 36 + 4 * 5
    memory_s = weights / 100e6 + (2 * 4 * 16 * 16) / 400e6
    assert compute_s > memory_s
    assert est.total.latency_s == pytest.approx(compute_s + 10e-6)
    dynamic = macs * 2e-12 + weights * 10e-12 + 2 * 4 * 16 * 16 * 1e-12
    assert est.total.energy_j == pytest.approx(dynamic + 0.01 * est.total.latency_s)


def test_memory_bound_layers_are_limited_by_bandwidth(unit_profile):
    dense = nn.Linear(1000, 1000, bias=False)  # one MAC per weight byte streamed from flash
    slow_flash = dataclasses.replace(unit_profile.weight_memory, bandwidth_bytes_per_s=20e6)
    est = estimate(dense, dataclasses.replace(unit_profile, weight_memory=slow_flash), (1, 1000))
    compute_s = 10**6 / (100e6 * 0.5)
    memory_s = (10**6 + 1000 * 5) / 20e6 + 2000 / 400e6
    assert memory_s > compute_s
    assert est.total.latency_s == pytest.approx(memory_s + 10e-6)


class _Chain(nn.Module):
    def __init__(self, residual: bool):
        super().__init__()
        self.residual = residual
        self.conv1 = nn.Conv2d(4, 4, 3, padding=1)
        self.conv2 = nn.Conv2d(4, 4, 3, padding=1)

    def forward(self, x):
        y = self.conv2(torch.relu(self.conv1(x)))
        return y + x if self.residual else y


def test_residual_branches_stay_alive_until_they_are_read(unit_profile):
    one = 4 * 8 * 8  # bytes of one int8 activation tensor
    plain = estimate(_Chain(False), unit_profile, (1, 4, 8, 8))
    residual = estimate(_Chain(True), unit_profile, (1, 4, 8, 8))
    assert plain.peak_activation_bytes == 2 * one  # input of a layer and its output
    assert residual.peak_activation_bytes == 3 * one  # x is still needed by the add
    assert residual.peak_layer == "conv2"


def test_in_place_activation_is_not_applied_to_a_buffer_read_later(unit_profile):
    class Net(nn.Module):
        def forward(self, x):
            y = torch.flatten(x, 1)
            return torch.relu(y), x * 2  # relu may not overwrite x: the mul still reads it

    est = estimate(Net(), unit_profile, (1, 4, 4))
    relu = next(layer for layer in est.layers if layer.op is Op.RELU)
    assert not relu.fused
    assert est.peak_activation_bytes == 3 * 16


def test_fused_ops_run_inside_the_mac_layer_before_them(unit_profile):
    """compute.fused_ops: a residual add and an activation after a convolution cost nothing of their own (the
    runtime applies them to the accumulators); the same ops elsewhere (a relu of a buffer something else reads)
    keep their cost."""
    class Net(nn.Module):
        def __init__(self):
            super().__init__()
            self.conv1, self.conv2 = nn.Conv2d(4, 4, 3, padding=1), nn.Conv2d(4, 4, 3, padding=1)

        def forward(self, x):
            h = torch.relu(self.conv1(x))  # fused
            y = torch.relu(self.conv2(h) + x)  # the add and its relu fused
            return y, torch.relu(y) * 2  # a relu of the output, which the caller reads too: not fused

    fusing = dataclasses.replace(unit_profile, compute=dataclasses.replace(
        unit_profile.compute, fused_ops=MappingProxyType({Op.CONV2D: frozenset({Op.RELU, Op.ADD})})))
    plain, fused = estimate(Net(), unit_profile, (1, 4, 8, 8)), estimate(Net(), fusing, (1, 4, 8, 8))
    free = [layer.name for layer in fused.layers if layer.cost.latency_s == 0 and layer.op in (Op.RELU, Op.ADD)]
    assert len(free) == 3 and all(layer.fused for layer in fused.layers if layer.name in free)
    assert [layer.name for layer in fused.layers if layer.op is Op.RELU and layer.cost.latency_s > 0] == [
        layer.name for layer in plain.layers if layer.op is Op.RELU][-1:]
    saved = sum(layer.cost.latency_s for layer in plain.layers if layer.name in free)
    assert saved > 0 and fused.total.latency_s == pytest.approx(plain.total.latency_s - saved)
    assert all(layer.terms is None for layer in fused.layers if layer.name in free)  # nothing for a fit to see


def test_fused_ops_are_per_mac_op(unit_profile):
    """A runtime that sums a residual add into its 2-D convolutions but not into its 1-D ones (onnxruntime's NCHWc
    kernels): the 1-D block's add runs as a layer of its own, and so does the relu after it; its relu after the
    first convolution is fused."""
    class Block(nn.Module):
        def __init__(self):
            super().__init__()
            self.conv1, self.conv2 = nn.Conv1d(4, 4, 3, padding=1), nn.Conv1d(4, 4, 3, padding=1)

        def forward(self, x):
            return torch.relu(self.conv2(torch.relu(self.conv1(x))) + x)

    fused_ops = MappingProxyType({Op.CONV1D: frozenset({Op.RELU}), Op.CONV2D: frozenset({Op.RELU, Op.ADD})})
    fusing = dataclasses.replace(unit_profile, compute=dataclasses.replace(unit_profile.compute, fused_ops=fused_ops))
    est = estimate(Block(), fusing, (1, 4, 16))
    free = [layer.op for layer in est.layers if layer.cost.latency_s == 0]
    assert free == [Op.RELU]
    assert [layer.op for layer in est.layers if layer.terms is not None and layer.terms.pays_overhead] == [
        Op.CONV1D, Op.CONV1D, Op.ADD]  # the in-place relu after the add: no overhead of its own, as without fusion


def test_violations_name_what_limit_actual_and_layer(unit_profile):
    big = nn.Sequential(nn.Linear(2000, 1000), nn.GELU(), nn.Linear(1000, 10))
    tight = unit_profile.with_budgets(max_params=10_000, max_latency_s=1e-3)
    est = estimate(big, dataclasses.replace(tight, ops=tight.ops - {Op.GELU}), (1, 2000))
    found = {v.what: v for v in est.violations}
    assert set(found) == {"max_params", "weight_memory", "max_latency_s", "op"}
    assert found["max_params"].limit == 10_000 and found["max_params"].actual == est.total.params
    assert found["weight_memory"].layer == "0"
    assert found["op"].layer == "1" and found["op"].actual == "gelu"
    assert not est.fits


def test_mobilenet_on_devices():
    est = estimate(MobileNetV2(), "stm32f746", (1, 3, 224, 224))
    assert {v.what for v in est.violations} == {"weight_memory", "activation_memory"}
    # int8 at 224x224: the first stride-2 depthwise holds its 112x112x96 input and 56x56x96 output at once
    assert est.peak_activation_bytes == 112 * 112 * 96 + 56 * 56 * 96
    assert est.peak_layer == "features.2.conv.1.0"
    mythic = estimate(MobileNetV2(), "mythic-m1076", (1, 3, 224, 224))
    assert mythic.fits
    assert 3.5e6 / (1024 * 1024) <= mythic.crossbar_tiles_needed <= 76


def test_crossbar_tiles_pack_depthwise_filters_block_diagonally():
    crossbar = Crossbar(rows=1024, cols=1024, tiles=76)
    depthwise = WeightMatrix(rows=9, cols=1, groups=96)
    assert tile_share(depthwise, crossbar) == pytest.approx((96 * 9) * 96 / 1024**2)
    dense = WeightMatrix(rows=2048, cols=1000)
    assert tile_share(dense, crossbar) == pytest.approx(2048 * 1000 / 1024**2)


@given(rows=st.integers(1, 3000), cols=st.integers(1, 3000), groups=st.integers(1, 300))
def test_tile_share_covers_every_weight(rows, cols, groups):
    crossbar = Crossbar(rows=256, cols=256, tiles=16)
    share = tile_share(WeightMatrix(rows, cols, groups), crossbar)
    assert share * crossbar.rows * crossbar.cols >= rows * cols * groups - 1e-6
    assert share <= tile_share(WeightMatrix(rows, cols, groups + 1), crossbar)


# -- properties over random models --------------------------------------------------------------------------------

ACTS = [nn.ReLU, nn.ReLU6, nn.Sigmoid, nn.Hardswish, nn.Identity]


@st.composite
def random_models(draw):
    """A random MLP, 1-D CNN or 2-D CNN (with optional residual blocks) and its input shape."""
    kind = draw(st.sampled_from(["mlp", "cnn1d", "cnn2d"]))
    if kind == "mlp":
        widths = draw(st.lists(st.integers(1, 64), min_size=2, max_size=5))
        layers = []
        for a, b in zip(widths, widths[1:]):
            layers += [nn.Linear(a, b, bias=draw(st.booleans())), draw(st.sampled_from(ACTS))()]
        return nn.Sequential(*layers), (1, widths[0])
    conv, bn, pool = (nn.Conv1d, nn.BatchNorm1d, nn.MaxPool1d) if kind == "cnn1d" else (nn.Conv2d, nn.BatchNorm2d,
                                                                                          nn.MaxPool2d)
    channels = draw(st.integers(1, 8))
    size = draw(st.integers(8, 24))
    shape = (1, channels, size) if kind == "cnn1d" else (1, channels, size, size)
    layers = []
    for _ in range(draw(st.integers(1, 3))):
        out = draw(st.integers(1, 16))
        groups = draw(st.sampled_from([g for g in (1, channels) if out % g == 0]))
        kernel = draw(st.sampled_from([1, 3]))
        layers += [conv(channels, out, kernel, padding=kernel // 2, groups=groups,
                        bias=draw(st.booleans())), bn(out), draw(st.sampled_from(ACTS))()]
        if draw(st.booleans()):
            layers.append(_Residual(conv(out, out, 3, padding=1)))
        channels = out
    layers.append(pool(2))
    layers += [nn.Flatten(), nn.LazyLinear(draw(st.integers(1, 5)))]
    model = nn.Sequential(*layers)
    with torch.no_grad():
        model(torch.zeros(shape))  # materialise the lazy head
    return model, shape


class _Residual(nn.Module):
    def __init__(self, inner: nn.Module):
        super().__init__()
        self.inner = inner

    def forward(self, x):
        return x + torch.relu(self.inner(x))


_PROPERTY = settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@_PROPERTY
@given(random_models())
def test_params_equal_torch_and_macs_are_positive(case):
    model, shape = case
    graph = build_graph(model, shape)
    assert graph.params == sum(p.numel() for p in model.parameters())
    assert graph.macs > 0


@_PROPERTY
@given(random_models(), st.sampled_from(["stm32f746", "sequencer-fpga", "mythic-m1076"]))
def test_peak_activation_memory_is_bounded(case, profile_name):
    model, shape = case
    profile = load_profile(profile_name)
    graph = build_graph(model, shape)
    est = estimate(graph, profile)
    act = profile.activation_number_format.bytes
    every_tensor = sum(t.numel for t in graph.tensors.values()) * act
    assert est.peak_activation_bytes <= every_tensor
    for layer, cost in zip(graph.layers, est.layers):
        if layer.op in VIEW_OPS or cost.fused:
            continue
        live_together = (sum(graph.tensors[t].numel for t in set(layer.inputs)) + graph.tensors[layer.output].numel)
        assert est.peak_activation_bytes >= live_together * act


@_PROPERTY
@given(random_models(), st.sampled_from(["stm32f746", "sequencer-fpga", "nrf52840"]),
       st.lists(st.floats(1.0, 100.0), min_size=6, max_size=6), st.data())
def test_a_bigger_budget_never_breaks_a_fitting_model(case, profile_name, growth, data):
    model, shape = case
    graph = build_graph(model, shape)
    base = load_profile(profile_name)
    est = estimate(graph, base)
    # Budgets around the model's own figures, so both outcomes occur.
    scale = lambda x: x * data.draw(st.floats(0.5, 2.0))  # noqa: E731
    tight = base.with_budgets(max_params=scale(est.total.params + 1), max_weight_bytes=scale(est.total.weight_bytes
                              + 1), max_activation_bytes=scale(est.peak_activation_bytes + 1),
                              max_latency_s=scale(est.total.latency_s), max_energy_j=scale(est.total.energy_j),
                              max_power_w=scale(est.power_w + 1e-9))
    b = tight.budgets
    loose = tight.with_budgets(max_params=b.max_params * growth[0], max_weight_bytes=b.max_weight_bytes * growth[1],
                               max_activation_bytes=b.max_activation_bytes * growth[2],
                               max_latency_s=b.max_latency_s * growth[3], max_energy_j=b.max_energy_j * growth[4],
                               max_power_w=b.max_power_w * growth[5])
    before = {v.what for v in estimate(graph, tight).violations}
    after = {v.what for v in estimate(graph, loose).violations}
    assert after <= before
    if not before:
        assert not after


def test_estimate_accepts_names_paths_and_graphs(tmp_path):
    model = nn.Linear(8, 2)
    graph = build_graph(model, (1, 8))
    by_graph = estimate(graph, "stm32f746")
    by_module = estimate(model, load_profile("stm32f746"), (1, 8))
    assert by_graph.total == by_module.total
    assert math.isclose(by_graph.to_dict()["total"]["weight_bytes"], by_graph.total.weight_bytes)


@settings(max_examples=40, deadline=None)
@given(st.integers(0, 64 * 32), st.sampled_from(["stm32f746", "sequencer-fpga", "host-cpu"]))
def test_zero_weights_save_only_on_sparse_devices(zeros, name):
    from edgeopt.cost.estimate import estimate_graph
    from edgeopt.profiles.formats import get_format

    model = nn.Sequential(nn.Flatten(), nn.Linear(64, 32, bias=False))
    graph = build_graph(model, (1, 64))
    (layer,) = [layer for layer in graph.layers if layer.weight_params]
    sparse = dataclasses.replace(graph, layers=tuple(dataclasses.replace(x, zero_weights=zeros) if x is layer else x
                                                     for x in graph.layers))
    dense_profile = load_profile(name)
    sparse_profile = dataclasses.replace(dense_profile, sparse_weights=True)
    dense = estimate_graph(graph, dense_profile)
    assert estimate_graph(sparse, dense_profile).total.weight_bytes == dense.total.weight_bytes
    on_sparse = estimate_graph(sparse, sparse_profile)
    # non-zeros at their width plus a one-bit mask per weight, when that is smaller than storing the layer dense
    bytes_per_weight = get_format(dense_profile.weight_format).bytes
    expected = dense.total.weight_bytes - max(0.0, zeros * bytes_per_weight - (layer.weight_params / 8 if zeros else 0))
    assert on_sparse.total.weight_bytes == pytest.approx(expected)
    assert on_sparse.total.latency_s <= estimate_graph(graph, sparse_profile).total.latency_s + 1e-15


def test_a_model_larger_than_what_the_calibration_measured_says_so(tmp_path):
    """A calibrated profile records the largest layer it measured; a model past it is estimated and flagged as
    extrapolated, in its notes and in its latency's provenance."""
    from edgeopt import estimate, load_profile

    (tmp_path / "c.yaml").write_text(
        "name: c\nextends: stm32f746\ncalibration:\n  runtime: qemu\n  machine: ci\n  date: 2026-12-07\n  samples: 9\n"
        "  fit_error: 0.05\n  within_10pct: 0.9\n  max_activation_elements: 1000\n")
    profile = load_profile(tmp_path / "c.yaml")
    small = estimate(nn.Sequential(nn.Conv1d(1, 4, 3, padding=1)), profile, (1, 1, 100))
    large = estimate(nn.Sequential(nn.Conv1d(1, 4, 3, padding=1)), profile, (1, 1, 1000))
    assert small.latency_from.beyond is None and "extrapolated" not in str(small.latency_from)
    assert "4,000 elements" in large.latency_from.beyond and "extrapolated" in str(large.latency_from)
    assert any("beyond the calibration" in note for note in large.notes)
    assert large.figures().to_dict()["provenance"]["latency_s"]["beyond_calibration"] == large.latency_from.beyond
