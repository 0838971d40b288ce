"""Fitting latency figures: a known device is recovered from its own latencies, figures stay physical, the same
measurements give the same fit, and too few or contradictory measurements are one clear error."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from edgeopt.calibration.latency_fit import CalibrationError, Measurement, fit_latency
from edgeopt.cost.estimate import estimate
from edgeopt.calibration.microbench import micro_suite, write_micro
from edgeopt.graph.ops import Op
from edgeopt.profiles.loader import load_profile

# ops some microbenchmark runs compute-bound on host-cpu (its dense layers are bound by weight traffic: their
# efficiency is not observable there)
COMPUTE_BOUND_OPS = (Op.CONV1D, Op.CONV2D, Op.DEPTHWISE_CONV1D, Op.DEPTHWISE_CONV2D)


@pytest.fixture(scope="module")
def micro_files(tmp_path_factory):
    folder = tmp_path_factory.mktemp("micro")
    return [(m.name, write_micro(m, folder / f"{m.name}.onnx")) for m in micro_suite()]


def device(efficiency: dict, overhead: dict, call_s: float):
    """host-cpu with these latency figures: the 'true' device the measurements come from."""
    profile = load_profile("host-cpu")
    compute = dataclasses.replace(profile.compute.with_figure("efficiency", efficiency)
        .with_figure("overhead_s", overhead), call_overhead_s=call_s)
    return dataclasses.replace(profile, compute=compute)


def measured_on(true, files, profile):
    """Each file's latency on the `true` device, with its estimate on the profile being calibrated."""
    return [Measurement(name, estimate(path, profile), estimate(path, true).total.latency_s) for name, path in files]


def test_a_known_device_is_recovered_from_its_own_latencies(micro_files):
    efficiency = {Op.CONV1D: 0.4, Op.CONV2D: 0.7, Op.DEPTHWISE_CONV1D: 0.05, Op.DEPTHWISE_CONV2D: 0.1,
                  Op.DENSE: 0.2, Op.MAXPOOL: 0.01, Op.AVGPOOL: 0.02, Op.GLOBAL_AVGPOOL: 0.02, Op.RELU: 0.05}
    overhead = {Op.CONV1D: 3e-6, Op.CONV2D: 4e-6, Op.DEPTHWISE_CONV1D: 2e-6, Op.DEPTHWISE_CONV2D: 2.5e-6,
                Op.DENSE: 1e-6, Op.MAXPOOL: 1.5e-6, Op.AVGPOOL: 1.5e-6, Op.GLOBAL_AVGPOOL: 1e-6}
    true = device(efficiency, overhead, 8e-6)
    start = load_profile("host-cpu")
    fit = fit_latency(start, measured_on(true, micro_files, start))
    assert fit.fit_error < 0.01 and fit.within_10pct == 1.0
    assert fit.call_overhead_s == pytest.approx(8e-6, rel=0.1)
    peak = start.compute.macs_per_s["fp32"]
    loops = {t.op: t.peak_compute_s / t.loop_s for m in measured_on(true, micro_files, start)
             for t in (layer.terms for layer in m.estimate.layers) if t is not None and t.loop_s}
    for op in COMPUTE_BOUND_OPS:  # what a layer runs at: efficiency times the format's peak, at the loop lengths
        # measured (the fit splits rate, efficiency and half length where the data cannot tell them apart)
        rate = fit.figure("efficiency")[op] * fit.macs_per_s["fp32"] \
            / (1 + fit.figure("half_length").get(op, 0) / loops[op])
        assert rate == pytest.approx(efficiency[op] * peak, rel=0.1), op
    for op in (*COMPUTE_BOUND_OPS, Op.DENSE):
        assert fit.figure("overhead_s")[op] == pytest.approx(overhead[op], rel=0.2), op
    assert fit.weight_bandwidth == pytest.approx(start.weight_memory.bandwidth_bytes_per_s, rel=0.1)
    calibrated = fit.apply(start)  # the fitted profile predicts what was measured
    for name, path in micro_files[:5]:
        assert estimate(path, calibrated).total.latency_s == pytest.approx(estimate(path, true).total.latency_s,
                                                                           rel=0.02), name


def test_short_loops_are_recovered_as_a_half_length(micro_files):
    """A device whose convolutions lose efficiency on short innermost loops (a plain C loop per kernel row): the
    microbenchmarks' kernel lengths give the half length back (dense layers are bound by weight traffic on
    host-cpu, so their compute terms are not observable there)."""
    true = device({op: 0.5 for op in COMPUTE_BOUND_OPS} | {Op.DENSE: 0.5}, {}, 5e-6)
    true = dataclasses.replace(true, compute=true.compute
        .with_figure("half_length", {Op.CONV1D: 6.0, Op.DEPTHWISE_CONV1D: 2.0}))
    start = load_profile("host-cpu")
    fit = fit_latency(start, measured_on(true, micro_files, start))
    assert fit.fit_error < 0.02
    assert fit.figure("half_length")[Op.CONV1D] == pytest.approx(6.0, rel=0.2)
    assert fit.figure("half_length")[Op.DEPTHWISE_CONV1D] == pytest.approx(2.0, rel=0.3)


def test_per_element_costs_are_recovered(micro_files):
    """A device whose convolutions pay a fixed cost per output element (requantization and store in a C kernel) and
    per element of their unrolled input (im2col and packing in a GEMM runtime) on top of short-loop losses, and
    depthwise layers per channel (a GEMM set up per group): the microbenchmarks' channel counts and lengths tell
    the four apart and give them back; dense and depthwise layers, one
    innermost loop an output, get no output cost of their own (their half length is it), and depthwise layers no
    window cost (their unrolled input is their MACs)."""
    true = device({op: 0.5 for op in COMPUTE_BOUND_OPS} | {Op.DENSE: 0.5}, {}, 5e-6)
    true = dataclasses.replace(true, compute=true.compute.with_figure("half_length", {Op.CONV1D: 4.0})
        .with_figure("output_cost", {Op.CONV1D: 40.0}).with_figure("window_cost", {Op.CONV1D: 8.0, Op.CONV2D: 20.0})
        .with_figure("group_cost", {Op.DEPTHWISE_CONV1D: 1000.0}))
    start = load_profile("host-cpu")
    fit = fit_latency(start, measured_on(true, micro_files, start))
    assert fit.fit_error < 0.02
    assert fit.figure("group_cost")[Op.DEPTHWISE_CONV1D] == pytest.approx(1000.0, rel=0.25)
    assert fit.figure("output_cost")[Op.CONV1D] == pytest.approx(40.0, rel=0.25)
    assert fit.figure("window_cost")[Op.CONV1D] == pytest.approx(8.0, rel=0.25)
    assert fit.figure("window_cost")[Op.CONV2D] == pytest.approx(20.0, rel=0.25)
    assert Op.DENSE not in fit.figure("output_cost") and Op.DEPTHWISE_CONV1D not in fit.figure("output_cost")
    assert Op.DEPTHWISE_CONV1D not in fit.figure("window_cost") and Op.DEPTHWISE_CONV2D not in fit.figure("window_cost")
    for name, path in micro_files[:8]:
        assert estimate(path, fit.apply(start)).total.latency_s == pytest.approx(
            estimate(path, true).total.latency_s, rel=0.03), name


def test_the_profiles_channel_blocks_and_tiles_shape_the_fit(micro_files):
    """A runtime computing convolutions in blocks of 16 channels, 16 output channels a pass over the input (the
    microbenchmarks of 8 output channels run as 16, those of 32 and 64 read their input two and four times): a
    profile that says so is fitted to its latencies; one that does not cannot be."""
    blocks = {Op.CONV1D: 16, Op.CONV2D: 16, Op.DEPTHWISE_CONV1D: 16}
    true = device({op: 0.5 for op in COMPUTE_BOUND_OPS} | {Op.DENSE: 0.5}, {}, 5e-6)
    true = dataclasses.replace(true, compute=true.compute.with_figure("channel_block", blocks)
        .with_figure("channel_tile", {Op.CONV1D: 16}).with_figure("window_cost", {Op.CONV1D: 8.0}))
    told = dataclasses.replace(true, compute=true.compute.with_figure("efficiency", {}).with_figure("window_cost", {}))
    untold = load_profile("host-cpu")
    untold = dataclasses.replace(untold, compute=untold.compute.with_figure("channel_block", {})
        .with_figure("channel_tile", {}))
    fit = fit_latency(told, measured_on(true, micro_files, told))
    assert fit.fit_error < 0.01
    for name, path in micro_files:
        assert estimate(path, fit.apply(told)).total.latency_s == pytest.approx(
            estimate(path, true).total.latency_s, rel=0.05), name
    assert fit_latency(untold, measured_on(true, micro_files, untold)).fit_error > 3 * fit.fit_error


def test_layout_conversions_are_recovered(micro_files):
    """A runtime converting tensors into and out of its blocked layout (host-cpu's onnxruntime): one microbenchmark
    pays for its input and output, its chain of three once, which gives the cost per element back; a profile that
    blocks nothing has no conversions to fit."""
    true = device({op: 0.5 for op in COMPUTE_BOUND_OPS} | {Op.DENSE: 0.5}, {}, 5e-6)
    true = dataclasses.replace(true, compute=dataclasses.replace(true.compute, layout_conversion_cost=40.0))
    start = load_profile("host-cpu")
    fit = fit_latency(start, measured_on(true, micro_files, start))
    assert fit.fit_error < 0.02
    assert fit.layout_conversion_cost == pytest.approx(40.0, rel=0.25)
    unblocked = dataclasses.replace(start, compute=start.compute.with_figure("channel_block", {}))
    assert fit_latency(unblocked, measured_on(true, micro_files[::8], unblocked)).layout_conversion_cost is None


def test_a_pools_blocked_efficiency_is_recovered_apart_from_its_plain_one(micro_files):
    """Pools run after a blocked convolution (the conv_pool microbenchmarks) and on their own (1-D, plain): the fit
    tells the two kernels' efficiencies apart, and writes the blocked one only for ops it saw blocked."""
    efficiency = {op: 0.5 for op in COMPUTE_BOUND_OPS} | {Op.DENSE: 0.5, Op.MAXPOOL: 0.002, Op.AVGPOOL: 0.002}
    true = device(efficiency, {}, 5e-6)
    true = dataclasses.replace(true, compute=true.compute
        .with_figure("blocked_efficiency", {Op.MAXPOOL: 0.02, Op.AVGPOOL: 0.02}))
    start = load_profile("host-cpu")
    fit = fit_latency(start, measured_on(true, micro_files, start))
    assert fit.fit_error < 0.02
    for op in (Op.MAXPOOL, Op.AVGPOOL):  # efficiency times peak is what is observable: their ratio is
        assert fit.figure("blocked_efficiency")[op] / fit.figure("efficiency")[op] == pytest.approx(10, rel=0.25)
    assert set(fit.figure("blocked_efficiency")) == {Op.MAXPOOL, Op.AVGPOOL}
    assert fit.apply(start).compute.efficiency(Op.MAXPOOL, blocked=True) == fit.figure("blocked_efficiency")[Op.MAXPOOL]
    plain_only = [(name, path) for name, path in micro_files if "pool2d" not in name]
    assert fit_latency(start, measured_on(true, plain_only, start)).figure("blocked_efficiency") == {}


def test_a_handful_of_measurements_fits_pooled_figures(micro_files):
    """Fewer measurements than per-op figures (a board with a few models): per-op overheads share one value and the
    efficiencies keep the profile's proportions, so the fit still comes out, physical and close on what it saw."""
    efficiency = {op: 0.5 for op in COMPUTE_BOUND_OPS} | {Op.DENSE: 0.5}
    true = device(efficiency, {}, 5e-6)
    true = dataclasses.replace(true, compute=dataclasses.replace(true.compute, layer_overhead_s=4e-6))
    start = load_profile("host-cpu")
    rows = measured_on(true, micro_files[::8][:6], start)
    ops = {t.op for m in rows for t in (layer.terms for layer in m.estimate.layers) if t is not None}
    assert len(rows) < 2 * len(ops)  # fewer than an efficiency and an overhead per op
    fit = fit_latency(start, rows)
    assert fit.fit_error < 0.1
    assert all(0 < e <= 1 for e in fit.figure("efficiency").values())
    computing = [o for op, o in fit.figure("overhead_s").items() if op not in (Op.RESHAPE, Op.FLATTEN)]
    assert max(computing) / min(computing) < 3  # pulled together: none takes what is left over
    assert fit_latency(start, rows, pool_overheads=True) == fit


@settings(max_examples=8, deadline=None)
@given(scale=st.floats(0.05, 20.0), noise_seed=st.integers(0, 2 ** 16))
def test_figures_stay_physical_whatever_the_measurements(micro_files, scale, noise_seed):
    """Any positive latencies (a device `scale` times slower or faster than the profile, with 30% noise): every
    efficiency in (0, 1], every overhead within [1 ns, 1 s], and the fit is deterministic."""
    start = load_profile("host-cpu")
    rng = np.random.default_rng(noise_seed)
    rows = [Measurement(m.label, m.estimate, m.estimate.total.latency_s * scale * rng.uniform(0.7, 1.3) + 2e-6)
            for m in measured_on(start, micro_files, start)]
    fit = fit_latency(start, rows)
    assert all(0 < e <= 1 for e in fit.figure("efficiency").values())
    assert all(1e-9 <= o <= 1 for o in [*fit.figure("overhead_s").values(), fit.call_overhead_s, fit.layer_overhead_s])
    assert fit_latency(start, rows) == fit


def test_too_few_or_contradictory_measurements_are_one_error(micro_files):
    start = load_profile("host-cpu")
    rows = measured_on(start, micro_files, start)
    with pytest.raises(CalibrationError, match=r"2 distinct measurements cannot fit even 3 pooled figures"):
        fit_latency(start, rows[:2])
    with pytest.raises(CalibrationError, match="measured twice"):
        fit_latency(start, [*rows, dataclasses.replace(rows[0], latency_s=rows[0].latency_s * 3)])
    # the same model under two names, one 20x the other, throughout: no figures explain both
    twins = [dataclasses.replace(r, label=r.label + "-again", latency_s=r.latency_s * 20) for r in rows]
    with pytest.raises(CalibrationError, match="contradict each other"):
        fit_latency(start, rows + twins)
    with pytest.raises(CalibrationError, match="positive"):
        fit_latency(start, [dataclasses.replace(rows[0], latency_s=0.0), *rows[1:]])
    with pytest.raises(CalibrationError, match="no measurements"):
        fit_latency(start, [])
