import dataclasses
import textwrap

import pytest

from edgeopt import load_profile
from edgeopt.errors import ProfileError
from edgeopt.graph.ops import Op
from edgeopt.profiles import available_profiles, unsourced_figures
from edgeopt.profiles.schema import FABRIC_TERMS

ALL_TERMS = "{" + ", ".join(f"{term}: 1" for term in FABRIC_TERMS) + "}"  # a fabric model's every term

SHIPPED = ["mythic-m1076", "coral-edgetpu", "stm32f746", "nrf52840", "esp32-s3", "ethos-u55-128", "sequencer-fpga",
           "host-cpu"]

MINIMAL = """\
name: tiny
memory:
  weights: {kind: flash, size: 64KiB}
  activations: {kind: sram, size: 16KiB}
compute:
  clock: 48MHz
  macs_per_cycle: {int8: 1}
formats: {weights: [int8], activations: [int8]}
"""


def write(tmp_path, name, text):
    path = tmp_path / name
    path.write_text(textwrap.dedent(text))
    return path


def test_every_required_profile_ships_and_cites_every_figure():
    shipped = available_profiles()
    assert set(SHIPPED) <= set(shipped)
    for name in SHIPPED:
        profile = load_profile(name)
        assert profile.name == name
        assert profile.figure_sources, name
        assert unsourced_figures(profile) == [], name
        for source in profile.figure_sources.values():
            assert source == "estimate" or source.startswith("http") or source in profile.sources


def test_shipped_figures_match_the_datasheets():
    stm = load_profile("stm32f746")
    assert stm.compute.clock_hz == 216e6
    assert stm.weight_memory.size_bytes == 1024 * 1024
    assert stm.activation_memory.size_bytes == 320 * 1024
    nrf = load_profile("nrf52840")
    assert (nrf.compute.clock_hz, nrf.activation_memory.size_bytes) == (64e6, 256 * 1024)
    mythic = load_profile("mythic-m1076")
    assert mythic.crossbar.tiles == 76
    assert mythic.weight_memory.size_bytes == 80e6
    assert mythic.compute.macs_per_s["analog8"] == 12.5e12  # 25 TOPS
    assert mythic.budgets.max_power_w == 4
    tpu = load_profile("coral-edgetpu")
    assert tpu.weight_formats == ("int8",)
    assert tpu.compute.macs_per_s["int8"] == 2e12  # 4 TOPS
    fpga = load_profile("sequencer-fpga")
    assert fpga.budgets.max_params == 4000
    assert set(fpga.weight_formats) == {"int8", "int16"}
    assert fpga.budgets.max_latency_s == 20e-6
    assert load_profile("ethos-u55-128").compute.macs_per_s["int8"] == 128 * 400e6


def test_minimal_profile_gets_documented_defaults(tmp_path):
    profile = load_profile(write(tmp_path, "tiny.yaml", MINIMAL))
    assert profile.weight_format == "int8"
    assert profile.compute.macs_per_s == {"int8": 48e6}
    assert profile.ops == frozenset(op for op in Op if op.value not in
                                    ("flatten", "reshape", "identity", "quantize", "dequantize", "unknown"))
    assert profile.budgets.max_params is None
    assert unsourced_figures(profile) == ["compute.clock", "compute.macs_per_cycle.int8", "memory.activations.size",
                                          "memory.weights.size"]


def test_kb_and_kib_are_kept_as_written(tmp_path):
    text = MINIMAL.replace("64KiB", "64KB")
    profile = load_profile(write(tmp_path, "p.yaml", text))
    assert profile.weight_memory.size_bytes == 64_000
    assert profile.activation_memory.size_bytes == 16_384


def test_extends_overrides_and_inherits(tmp_path):
    write(tmp_path, "base.yaml", MINIMAL)
    child = write(tmp_path, "child.yaml", """\
        extends: base
        name: child
        memory:
          activations: {size: 32KiB}
        budgets: {max_params: 4k}
        """)
    profile = load_profile(child)
    assert profile.name == "child"
    assert profile.activation_memory.size_bytes == 32 * 1024
    assert profile.activation_memory.kind == "sram"  # inherited field of a partly overridden section
    assert profile.weight_memory.size_bytes == 64 * 1024
    assert profile.budgets.max_params == 4000


def test_extends_a_shipped_profile_by_name(tmp_path):
    child = write(tmp_path, "f7-tight.yaml", """\
        extends: stm32f746
        name: f7-tight
        budgets: {max_weight_bytes: 256KiB}
        """)
    profile = load_profile(child)
    assert profile.compute.clock_hz == 216e6
    assert profile.budgets.max_weight_bytes == 256 * 1024
    assert profile.figure_sources["memory.weights.size"] == "ds10916"


def test_a_sourced_figure_replaced_by_a_child_loses_its_source(tmp_path):
    write(tmp_path, "base.yaml", MINIMAL.replace("size: 64KiB", "size: {value: 64KiB, source: estimate}"))
    child = write(tmp_path, "child.yaml", "extends: base\nname: c\nmemory:\n  weights: {size: {value: 1MiB}}\n")
    profile = load_profile(child)
    assert profile.weight_memory.size_bytes == 1024 * 1024
    assert "memory.weights.size" in unsourced_figures(profile)


@pytest.mark.parametrize(
    "mutation, fragments",
    [
        (lambda t: t.replace("memory:", "memmory:"), [":2:", "memmory", "unknown key", "did you mean 'memory'",
                                                      "allowed keys"]),
        (lambda t: t.replace("size: 64KiB", "size: 64KQ"), [":3:", "memory.weights.size", "unknown unit 'KQ'",
                                                            "KiB"]),
        (lambda t: t.replace("size: 64KiB", "size: -64KiB"), ["memory.weights.size", "'-64KiB'", "more than 0"]),
        (lambda t: t.replace("  weights: {kind: flash, size: 64KiB}\n", "  weights: {kind: flash}\n"),
         ["memory.weights.size", "missing required field"]),
        (lambda t: t.replace("name: tiny\n", ""), ["name", "missing required field"]),
        (lambda t: t.replace("kind: flash", "kind: tape"), ["memory.weights.kind", "'tape'", "flash, sram"]),
        (lambda t: t.replace("weights: [int8]", "weights: [int7]"), ["formats.weights.0", "'int7'", "int8"]),
        (lambda t: t + "ops: [conv2d, warp_drive]\n", ["ops.1", "unknown op 'warp_drive'", "conv2d"]),
        (lambda t: t + "budgets: {max_latency: 2 parsecs}\n", ["budgets.max_latency", "unknown unit"]),
        (lambda t: t + "budgets: {max_params: 0}\n", ["budgets.max_params", "more than 0"]),
        (lambda t: t + "fabric: {max_luts: 100}\n", ["fabric.family", "missing required field", "xc7, ecp5, ice40"]),
        (lambda t: t + "fabric: {family: virtex2}\n", ["fabric.family", "'virtex2' is not allowed", "xc7"]),
        (lambda t: t + "fabric: {family: xc7, max_luts: lots}\n", ["fabric.max_luts", "'lots'"]),
        (lambda t: t + "fabric: {family: xc7, max_dsps: 2.5}\n", ["fabric.max_dsps", "whole number of cells"]),
        (lambda t: t + "fabric: {family: xc7, max_brams: -1}\n", ["fabric.max_brams", "at least 0"]),
        (lambda t: t + "fabric: {family: xc7, max_slices: 10}\n", ["fabric.max_slices", "unknown key",
                                                                    "max_luts"]),
        (lambda t: t + "fabric: xc7\n", ["fabric", "expected a mapping"]),
        (lambda t: t + "fabric: {family: xc7, luts: {base: 1, slices: 2}}\n", ["fabric.luts.slices", "unknown key",
                                                                              "lane_acc_bit"]),
        (lambda t: t + "fabric: {family: xc7, luts: {base: -3}}\n", ["fabric.luts.base", "at least 0"]),
        (lambda t: t + "fabric: {family: xc7, luts: {base: 3}}\n", ["fabric.luts", "missing terms lane,"]),
        (lambda t: t + "fabric: {family: xc7, luts: {base: 1e9}}\n", ["fabric.luts.base", "at most"]),
        (lambda t: t + f"fabric: {{family: xc7, luts: {ALL_TERMS}, ffs: {ALL_TERMS}}}\n",
         ["fabric", "luts, ffs and fit come together"]),
        (lambda t: t + f"fabric: {{family: xc7, luts: {ALL_TERMS}, ffs: {ALL_TERMS}, fit: {{tool: y}}}}\n",
         ["fabric.fit.machine", "missing required field"]),
        (lambda t: t + f"fabric: {{family: xc7, luts: {ALL_TERMS}, ffs: {ALL_TERMS}, fit: {{tool: y, machine: m, "
                       "date: d, samples: 0, luts_fit_error: 0.1, ffs_fit_error: 0.1, luts_within_10pct: 0.5, "
                       "ffs_within_10pct: 0.5}}\n", ["fabric.fit.samples", "positive whole number"]),
        (lambda t: t + f"fabric: {{family: xc7, luts: {ALL_TERMS}, ffs: {ALL_TERMS}, fit: {{tool: y, machine: m, "
                       "date: d, samples: 3, luts_fit_error: 0.1, ffs_fit_error: 0.1, luts_within_10pct: 1.5, "
                       "ffs_within_10pct: 0.5}}\n", ["fabric.fit.luts_within_10pct", "from 0 to 1"]),
        (lambda t: t.replace("macs_per_cycle: {int8: 1}", "macs_per_cycle: {fp32: 1}"),
         ["compute", "missing throughput for the default weight format 'int8'"]),
        (lambda t: t + "memory:\n  weights: {size: 1KiB}\n", [":9:", "duplicate key"]),
        (lambda t: t.replace("size: 64KiB", "size: {value: 64KiB, source: ds123}"),
         ["memory.weights.size.source", "unknown source 'ds123'"]),
        (lambda t: t.replace("size: 16KiB", "size: {value: 16KiB, reserved: 1KiB}"),
         ["memory.activations.size.reserved", "allowed keys: value, source, note"]),
        (lambda t: t.replace("compute:\n  clock: 48MHz\n  macs_per_cycle: {int8: 1}", "compute: [1, 2]"),
         [":5:", "compute", "expected a mapping"]),
        (lambda t: t.replace("{int8: 1}", "{int8: 1}\n  op_efficiency: {conv2d: 1.5}"),
         ["compute.op_efficiency.conv2d", "at most 1"]),
        (lambda t: t.replace("{int8: 1}", "{int8: 1}\n  op_overhead: {warp: 1us}"),
         ["compute.op_overhead.warp", "'warp' is not allowed", "conv2d"]),
        (lambda t: t.replace("{int8: 1}", "{int8: 1}\n  op_half_length: {relu: 4}"),
         ["compute.op_half_length.relu", "'relu' is not allowed", "conv1d"]),
        (lambda t: t.replace("{int8: 1}", "{int8: 1}\n  op_half_length: {dense: -4}"),
         ["compute.op_half_length.dense", "at least 0"]),
        (lambda t: t.replace("{int8: 1}", "{int8: 1}\n  op_output_cost: {maxpool: 4}"),
         ["compute.op_output_cost.maxpool", "'maxpool' is not allowed", "conv1d"]),
        (lambda t: t.replace("{int8: 1}", "{int8: 1}\n  op_output_cost: {conv1d: many}"),
         ["compute.op_output_cost.conv1d", "'many'"]),
        (lambda t: t.replace("{int8: 1}", "{int8: 1}\n  op_window_cost: {conv1d: -2}"),
         ["compute.op_window_cost.conv1d", "at least 0"]),
        (lambda t: t.replace("{int8: 1}", "{int8: 1}\n  op_channel_block: {conv2d: 0}"),
         ["compute.op_channel_block.conv2d", "at least 1"]),
        (lambda t: t.replace("{int8: 1}", "{int8: 1}\n  op_channel_block: {conv2d: 2.5}"),
         ["compute.op_channel_block.conv2d", "whole number of channels", "2.5"]),
        (lambda t: t.replace("{int8: 1}", "{int8: 1}\n  op_channel_tile: {relu: 8}"),
         ["compute.op_channel_tile.relu", "'relu' is not allowed", "conv2d"]),
        (lambda t: t.replace("{int8: 1}", "{int8: 1}\n  op_group_cost: {relu: 3}"),
         ["compute.op_group_cost.relu", "'relu' is not allowed", "depthwise_conv1d"]),
        (lambda t: t.replace("{int8: 1}", "{int8: 1}\n  op_group_cost: {depthwise_conv1d: -3}"),
         ["compute.op_group_cost.depthwise_conv1d", "at least 0"]),
        (lambda t: t.replace("{int8: 1}", "{int8: 1}\n  fused_ops: {conv2d: [conv2d]}"),
         ["compute.fused_ops.conv2d.0", "'conv2d' is not allowed", "relu6"]),
        (lambda t: t.replace("{int8: 1}", "{int8: 1}\n  fused_ops: {relu: [add]}"),
         ["compute.fused_ops.relu", "'relu' is not allowed", "depthwise_conv2d"]),
        (lambda t: t.replace("{int8: 1}", "{int8: 1}\n  fused_ops: {conv1d: relu}"),
         ["compute.fused_ops.conv1d", "expected a list of ops"]),
        (lambda t: t.replace("{int8: 1}", "{int8: 1}\n  fused_ops: [relu]"),
         ["compute.fused_ops", "expected a mapping of MAC op"]),
        (lambda t: t.replace("{int8: 1}", "{int8: 1}\n  layout_ops: [conv2d]"),
         ["compute.layout_ops.0", "'conv2d' is not allowed", "maxpool"]),
        (lambda t: t.replace("{int8: 1}", "{int8: 1}\n  layout_ops: relu"),
         ["compute.layout_ops", "expected a list of ops"]),
        (lambda t: t.replace("{int8: 1}", "{int8: 1}\n  layout_conversion_cost: -1"),
         ["compute.layout_conversion_cost", "at least 0"]),
        (lambda t: t.replace("{int8: 1}", "{int8: 1}\n  layout_ops: [maxpool]\n  blocked_op_efficiency: {relu: 0.5}"),
         ["compute.blocked_op_efficiency.relu", "'relu' is not allowed", "maxpool"]),
        (lambda t: t.replace("{int8: 1}", "{int8: 1}\n  layout_ops: [maxpool]\n  blocked_op_efficiency: {maxpool: 2}"),
         ["compute.blocked_op_efficiency.maxpool", "at most 1"]),
        (lambda t: t.replace("{int8: 1}", "{int8: 1}\n  blocked_op_efficiency: {maxpool: 0.5}"),
         ["compute.blocked_op_efficiency", "only compute.layout_ops run in the blocked layout"]),
        (lambda t: t.replace("{int8: 1}", "{int8: 1}\n  layout_ops: [maxpool]\n  blocked_op_efficiency: [maxpool]"),
         ["compute.blocked_op_efficiency", "expected a mapping of op -> fraction"]),
        (lambda t: t + CALIBRATION + "  energy_samples: 3\n", ["calibration.energy_samples", "come together"]),
        (lambda t: t.replace("{int8: 1}", "{int8: 1}\n  call_overhead: {value: -1us, source: measured}"),
         ["compute.call_overhead", "'-1us'", "at least 0"]),
        (lambda t: t + CALIBRATION.replace("samples: 30", "samples: many"), ["calibration.samples", "'many'"]),
        (lambda t: t + CALIBRATION.replace("within_10pct: 0.9", "within_10pct: 1.5"),
         ["calibration.within_10pct", "at most 1"]),
        (lambda t: t + CALIBRATION.replace("  date: 2026-11-30\n", ""), ["calibration.date", "missing"]),
        (lambda t: t + CALIBRATION + "  by: hand\n", ["calibration.by", "unknown key"]),
        (lambda t: t.replace("name: tiny", "name: [tiny"), ["invalid YAML"]),
        (lambda t: "", ["the profile is empty"]),
        (lambda t: "- a\n- b\n", ["top level must be a mapping"]),
        (lambda t: t.replace("name: tiny", "name: 'x */ int evil; /*'"), ["name", "not a profile name"]),
        (lambda t: t.replace("name: tiny", "name: ../../etc"), ["name", "not a profile name"]),
        (lambda t: t + "quantization: {bias_bits: 100}\n", ["quantization.bias_bits", "at most 64"]),
        (lambda t: t + "quantization: {bias_bits: 1e12}\n", ["quantization.bias_bits", "at most 64"]),
        (lambda t: t + "quantization: {bias_bits: 16.5}\n", ["quantization.bias_bits", "whole number"]),
        (lambda t: t.replace("size: 64KiB", "size: " + "9" * 300), ["memory.weights.size", "too large"]),
        (lambda t: t.replace("size: 64KiB", "size: 1e400"), ["memory.weights.size", "not a finite"]),
        (lambda t: t.replace("size: 64KiB", "size: .nan"), ["memory.weights.size", "not a finite"]),
        (lambda t: t.replace("clock: 48MHz", "clock: 5e-324"), ["compute.clock", "subnormal"]),
    ],
)
def test_bad_profiles_name_file_line_field_and_value(tmp_path, mutation, fragments):
    path = write(tmp_path, "bad.yaml", mutation(MINIMAL))
    with pytest.raises(ProfileError) as info:
        load_profile(path)
    message = str(info.value)
    assert str(path) in message
    for fragment in fragments:
        assert fragment in message, message
    assert "\n" not in message


CALIBRATION = """calibration:
  runtime: onnxruntime 1.23, 1 thread
  machine: ci
  date: 2026-11-30
  samples: 30
  fit_error: 0.05
  within_10pct: 0.9
"""


def test_a_calibrated_profile_reads_its_calibration_and_measured_figures(tmp_path):
    path = write(tmp_path, "c.yaml", MINIMAL.replace("{int8: 1}", "{int8: 1}\n  call_overhead: {value: 12us, "
                                                      "source: measured}\n  op_overhead: {conv2d: 3us}") + CALIBRATION)
    profile = load_profile(path)
    assert profile.calibration.samples == 30 and profile.calibration.date == "2026-11-30"
    assert profile.compute.call_overhead_s == pytest.approx(12e-6)
    assert profile.figure_sources["compute.call_overhead"] == "measured"
    assert profile.compute.overhead_s(Op.CONV2D) == pytest.approx(3e-6)
    assert profile.compute.overhead_s(Op.DENSE) == profile.compute.layer_overhead_s
    assert "fit error 5.0%" in profile.calibration.describe()


@pytest.mark.parametrize("figure, value, cases", [
    ("op_half_length", 9, [((8, 3), 1 + 9 / 3), ((8, 9), 2)]),  # 3- and 9-tap innermost loops
    ("op_output_cost", 24, [((8, 3), 1 + 24 / 24), ((32, 3), 1 + 24 / 96)]),  # 24 and 96 MACs an output
    ("op_window_cost", 6, [((8, 3), 1 + 6 / 8), ((32, 3), 1 + 6 / 8)]),  # 8 output channels: a MAC an 8th of one
])
def test_short_loops_and_few_macs_an_output_cost_more(tmp_path, figure, value, cases):
    """compute.op_half_length: an op at half its efficiency on innermost loops that long (a 3-tap convolution costs
    more per MAC than a 9-tap one); compute.op_output_cost: each output element costs that many MACs' time more (a
    convolution of few input channels costs more per MAC than a wide one); compute.op_window_cost: each element of
    the unrolled input costs that many MACs' time (a MAC of 8 output channels an 8th of it). An op without one is
    unchanged."""
    path = write(tmp_path, "f.yaml", MINIMAL.replace("{int8: 1}", f"{{int8: 1}}\n  {figure}: "
                                                      f"{{conv1d: {{value: {value}, source: measured}}}}"))
    profile = load_profile(path)
    assert profile.compute.given(figure.removeprefix("op_")) == {Op.CONV1D: value}
    assert profile.figure_sources[f"compute.{figure}.conv1d"] == "measured"
    base = load_profile(write(tmp_path, "m.yaml", MINIMAL))
    for (in_channels, kernel), ratio in cases:
        assert _conv_per_mac_s(profile, in_channels, kernel) == pytest.approx(
            _conv_per_mac_s(base, in_channels, kernel) * ratio, rel=1e-6), (in_channels, kernel)


@pytest.mark.parametrize("figures, cases", [
    # ((input, output) channels, latency per MAC against no blocking): outputs round up to whole blocks, inputs too
    # where a layer has a block of them (a first layer's few are read as they are)
    ("op_channel_block: {conv1d: 8}", [((4, 8), 1.0), ((4, 4), 2.0), ((12, 8), 16 / 12), ((12, 12), (16 / 12) ** 2)]),
    # a tile of 8 output channels: a layer of 16 reads its unrolled input twice (window cost 6: 6 / 16 a MAC a pass)
    ("op_window_cost: {conv1d: 6}\n  op_channel_tile: {conv1d: 8}",
     [((4, 8), 1.0), ((4, 16), (1 + 2 * 6 / 16) / (1 + 6 / 16))]),
])
def test_channels_computed_in_blocks_and_tiles_cost_what_a_runtime_does(tmp_path, figures, cases):
    """compute.op_channel_block: channels computed in whole blocks (SIMD lanes, an NPU's block depth);
    compute.op_channel_tile: the output channels one pass over the unrolled input serves."""
    profile = load_profile(write(tmp_path, "b.yaml", MINIMAL.replace("{int8: 1}", "{int8: 1}\n  " + figures)))
    unblocked = dataclasses.replace(profile, compute=profile.compute.with_figure("channel_block", {})
        .with_figure("channel_tile", {}))
    for (in_channels, out_channels), ratio in cases:
        assert _conv_per_mac_s(profile, in_channels, 3, out_channels) == pytest.approx(
            _conv_per_mac_s(unblocked, in_channels, 3, out_channels) * ratio, rel=1e-6), (in_channels, out_channels)


def test_a_child_profile_turns_a_parents_blocks_off(tmp_path):
    """Block 1 and tile 0 (what `calibrate` writes for a CPU onnxruntime does not block on) override host-cpu's."""
    path = write(tmp_path, "c.yaml", "name: c\nextends: host-cpu\ncompute:\n  op_channel_block: {conv2d: 1}\n"
                                     "  op_channel_tile: {conv2d: {value: 0, source: measured}}\n")
    child, parent = load_profile(path), load_profile("host-cpu")
    assert (parent.compute.channel_block(Op.CONV2D), parent.compute.channel_tile(Op.CONV2D)) == (8, 32)
    assert (child.compute.channel_block(Op.CONV2D), child.compute.channel_tile(Op.CONV2D)) == (1, 0)
    assert child.compute.channel_block(Op.DEPTHWISE_CONV2D) == 8  # what the child does not name stays the parent's


@pytest.mark.parametrize("block, runs", [(1, 16), (8, 2), (32, 1)])
def test_each_depthwise_channel_group_costs_what_the_profile_says(tmp_path, block, runs):
    """compute.op_group_cost: each channel a depthwise layer runs on its own (a GEMM set up per group) costs that
    many MACs' time; with a channel block, each block of channels."""
    from edgeopt.cost.estimate import estimate
    from edgeopt.graph.layers import conv

    figures = f"op_group_cost: {{depthwise_conv1d: {{value: 40, source: measured}}}}\n  " \
              f"op_channel_block: {{depthwise_conv1d: {block}}}"
    grouped = load_profile(write(tmp_path, "g.yaml", MINIMAL.replace("{int8: 1}", "{int8: 1}\n  " + figures)))
    assert grouped.figure_sources["compute.op_group_cost.depthwise_conv1d"] == "measured"
    plain = dataclasses.replace(grouped, compute=grouped.compute.with_figure("group_cost", {}))
    layer = conv("d", ("x",), "y", "Conv", in_channels=16, out_channels=16, kernel=(3,), groups=16, bias=False,
                 out_shape=(1, 16, 64))
    assert layer.op is Op.DEPTHWISE_CONV1D
    per_mac_s = 1 / (grouped.compute.macs_per_s["int8"] * grouped.compute.efficiency(layer.op))
    extra_s = estimate(_one_layer_graph(layer, 16), grouped).total.latency_s - \
        estimate(_one_layer_graph(layer, 16), plain).total.latency_s
    assert extra_s == pytest.approx(runs * 40 * per_mac_s, rel=1e-6)


def _conv_per_mac_s(profile, in_channels: int, kernel: int, out_channels: int = 8) -> float:
    """A 1-D convolution's (over 64 positions) latency per MAC on `profile`, its overhead aside."""
    from edgeopt.cost.estimate import estimate
    from edgeopt.graph.layers import conv

    layer = conv("c", ("x",), "y", "Conv", in_channels=in_channels, out_channels=out_channels, kernel=(kernel,),
                 groups=1, bias=False, out_shape=(1, out_channels, 64))
    est = estimate(_one_layer_graph(layer, in_channels), profile)
    return next(x.cost.latency_s - profile.compute.overhead_s(Op.CONV1D) for x in est.layers) / layer.macs


def _one_layer_graph(layer, in_channels: int = 8):
    from edgeopt.graph.ir import Graph, Tensor

    return Graph("one", ("x",), ("y",), (layer,), {"x": Tensor("x", (1, in_channels, 64)),
                                                   "y": Tensor("y", (1, layer.out_channels, 64))})


def test_extends_cycle_is_an_error_naming_the_chain(tmp_path):
    write(tmp_path, "a.yaml", "extends: b\nname: a\n")
    write(tmp_path, "b.yaml", "extends: a\nname: b\n")
    with pytest.raises(ProfileError, match=r"extends: cycle: .*a\.yaml -> .*b\.yaml -> .*a\.yaml"):
        load_profile(tmp_path / "a.yaml")


def test_extends_unknown_parent(tmp_path):
    path = write(tmp_path, "a.yaml", "extends: nowhere\nname: a\n")
    with pytest.raises(ProfileError, match=r"a\.yaml:1: extends: no profile 'nowhere'"):
        load_profile(path)


def test_unknown_profile_name_lists_shipped_ones():
    with pytest.raises(ProfileError, match=r"unknown profile 'stm32f764' \(did you mean 'stm32f746'\?\).*nrf52840"):
        load_profile("stm32f764")


def test_missing_profile_file(tmp_path):
    with pytest.raises(ProfileError, match="no such profile file"):
        load_profile(tmp_path / "absent.yaml")


def test_yaml_is_loaded_safely(tmp_path):
    path = write(tmp_path, "evil.yaml", "name: !!python/object/apply:os.system ['echo pwned']\n")
    with pytest.raises(ProfileError, match="invalid YAML"):
        load_profile(path)


def test_profile_path_from_environment(tmp_path, monkeypatch):
    write(tmp_path, "lab-board.yaml", MINIMAL.replace("name: tiny", "name: lab-board"))
    monkeypatch.setenv("EDGEOPT_PROFILE_PATH", str(tmp_path))
    assert load_profile("lab-board").name == "lab-board"
    assert "lab-board" in available_profiles()


def test_profiles_are_frozen_and_budgets_replaceable():
    profile = load_profile("stm32f746")
    with pytest.raises(AttributeError):
        profile.name = "other"
    tighter = profile.with_budgets(max_params=1000)
    assert tighter.budgets.max_params == 1000 and profile.budgets.max_params is None
    assert profile.to_dict()["compute"]["macs_per_s"]["int8"] == 432e6


def test_an_fpga_profile_states_its_fabric_with_a_source_for_every_budget():
    """The sequencer FPGA's fabric: the part family yosys synthesizes for and a budget per cell kind, each cited."""
    profile = load_profile("sequencer-fpga")
    assert profile.fabric.family == "xc7"
    for key in ("max_luts", "max_ffs", "max_dsps", "max_brams"):
        assert getattr(profile.fabric, key) > 0 and profile.figure_sources[f"fabric.{key}"] == "estimate"
    assert load_profile("stm32f746").fabric is None
