"""The C export: built with the host's cc under -Werror, bit-exact with the integer reference, in agreement with
onnxruntime on the same QDQ file, deterministic, and one clear error for what it cannot run."""

from __future__ import annotations

import json

import numpy as np
import pytest
from click.testing import CliRunner

from edgeopt.cli import main
from edgeopt.errors import ModelError
from edgeopt.deploy.export import ExportError, export
from edgeopt.deploy.host import compiler
from edgeopt.deploy.lower import lower_onnx
from edgeopt.deploy.verify import verify_c

from qdq_helpers import CNN2D, CNN_RELU6_AVG, MLP, quantized_onnx, shared_dataset, train

pytestmark = pytest.mark.skipif(compiler() is None, reason="no C compiler")


def _check_agreement(agreement, what):
    figures = f"{what}: {agreement.to_dict()}"
    assert agreement.bit_exact_share == 1.0, figures
    assert agreement.class_agreement >= 0.995, figures
    assert agreement.within_step_share >= 0.99, figures


@pytest.mark.parametrize("name", ["cnn1d", "mlp", "cnn1d_relu6_avg", "mlp_int16", "branchy", "cnn1d_long",
                                  "rocket"])
def test_c_matches_the_integer_reference_and_onnxruntime(qdq_models, tmp_path, name):
    path, x_test = qdq_models[name]
    record = export(path, "stm32f746", tmp_path / "c")
    _check_agreement(verify_c(tmp_path / "c", path, x_test), name)
    manifest = json.loads((tmp_path / "c" / "manifest.json").read_text())
    assert manifest["model_sha256"] == record.model_sha256 and manifest["out_dir"] is None
    assert record.counted_weight_bytes > 0 and record.counted_ram_bytes > record.counted_arena_bytes
    program = lower_onnx(path)
    assert record.counted_weight_bytes == program.weight_bytes
    assert {"conv", "dense"} & set(record.ops)


def test_ops_of_the_shipped_spaces_are_lowered(qdq_models):
    kinds = {name: lower_onnx(path) for name, (path, _) in qdq_models.items()}
    relu6 = kinds["cnn1d_relu6_avg"]
    assert any(layer.groups > 1 for layer in relu6.layers)  # depthwise
    assert any(layer.pool is not None and layer.pool.kind == "avg" for layer in relu6.layers)
    # ReLU6's upper clamp: on the accumulators (one word a layer) where averaging follows, else on the output grid
    assert all((layer.act_ceiling is not None) == (layer.global_average or layer.pool is not None and
                                                   layer.pool.kind == "avg") for layer in relu6.layers[:-1])
    assert any(layer.pool is not None and layer.pool.kind == "max" for layer in kinds["cnn1d"].layers)
    assert all(layer.kind == "dense" for layer in kinds["mlp"].layers)
    assert all(any(layer.global_average for layer in p.layers)
               for n, p in kinds.items() if n not in ("mlp", "mlp_int16", "rocket"))
    long = kinds["cnn1d_long"].layers
    front = long[0]  # the weightless average by 2: one int8 weight of 127 per tap
    assert front.kernel == front.stride == (1, 2) and np.all(front.weights == 127)
    assert [layer.dilation for layer in long if layer.groups > 1 and layer is not front] == [(1, 2), (1, 4)]
    pooled = [layer for layer in long if layer.global_pool]
    assert [layer.global_pool for layer in pooled] == ["avgmax"]
    assert pooled[0].out_shape[0] == 2 * pooled[0].conv_shape[0] and pooled[0].act_ceiling is not None
    rocket = kinds["rocket"].layers
    features = [layer for layer in rocket if layer.global_pool == "ppv"]
    assert len(features) == 4 and rocket[-1].kind == "dense" and all(layer.target is not None for layer in features)
    assert all(layer.generated is not None and layer.generated.size == 2 * layer.conv_shape[0] for layer in features)
    assert {layer.generated_levels for layer in features} == {(127, -64)}  # 2 and -1, quantized per channel
    assert [layer.dilation[1] for layer in features] == [1, 3, 10, 31]


def test_generated_kernels_are_not_stored(qdq_models, tmp_path):
    """The rocket model's kernels: two index bytes per feature in the C, generated at run time from 84 masks."""
    path, x_test = qdq_models["rocket"]
    record = export(path, "stm32f746", tmp_path / "c")
    source = (tmp_path / "c" / "model.c").read_text()
    program = lower_onnx(path)
    assert "model_masks[84]" in source and "#define model_GENERATED 1" in source
    assert source.count("_weights[") == 1  # the head's only
    assert record.counted_weight_bytes == program.weight_bytes < sum(layer.weights.size for layer in program.layers)
    assert "global_positive_share" in record.ops
    plain, _ = qdq_models["cnn1d"]
    export(plain, "stm32f746", tmp_path / "plain")
    assert "model_masks[84]" not in (tmp_path / "plain" / "model.c").read_text()  # no table in other models


def test_same_model_gives_byte_identical_files(qdq_models, tmp_path):
    path, _ = qdq_models["cnn1d"]
    export(path, "stm32f746", tmp_path / "a")
    export(path, "stm32f746", tmp_path / "b", name="model")
    for file in ("model.h", "model.c", "manifest.json", "CMakeLists.txt", "model.mk"):
        assert (tmp_path / "a" / file).read_bytes() == (tmp_path / "b" / file).read_bytes(), file


def test_a_second_name_gives_separate_symbols(qdq_models, tmp_path):
    path, _ = qdq_models["mlp"]
    record = export(path, "stm32f746", tmp_path / "c", name="kws")
    source = (tmp_path / "c" / "kws.c").read_text()
    assert "int kws_run(const kws_input_t *input, int32_t *logits, uint8_t *arena)" in source
    assert "typedef int8_t kws_input_t;" in (tmp_path / "c" / "kws.h").read_text()
    assert "model_" not in source and "float" not in source and "malloc" not in source
    assert record.files[:2] == ("kws.h", "kws.c")


@pytest.mark.parametrize("activation", ["tanh", "hardswish"])
def test_smooth_activations_of_the_mlp_space(tmp_path, reads_small, activation):
    module, normalizer = train("mlp", dict(MLP, activation=activation), reads_small, 3, tmp_path)
    path = quantized_onnx(module, reads_small, normalizer, tmp_path / "model.onnx")
    export(path, "stm32f746", tmp_path / "c")
    assert all(layer.nonlinear.kind == activation for layer in lower_onnx(path).layers[:-1])
    _check_agreement(verify_c(tmp_path / "c", path, normalizer.apply(reads_small.x_test)), activation)


@pytest.mark.parametrize("activation", ["relu6", "hardswish"])
def test_inverted_residuals_of_the_cnn2d_space(tmp_path, activation):
    """2-D, depthwise and pointwise convolutions, and the residual adds of blocks 1 and 3 (block 2 downsamples); the
    skip buffers stay in the arena until their add."""
    from edgeopt.data.examples import example_dataset

    data = example_dataset("shapes", n_samples=600)
    module, normalizer = train("cnn2d", dict(CNN2D, activation=activation), data, 2, tmp_path)
    path = quantized_onnx(module, data, normalizer, tmp_path / "model.onnx")
    record = export(path, "stm32f746", tmp_path / "c")
    program = lower_onnx(path)
    residuals = [layer for layer in program.layers if layer.residual is not None]
    assert len(residuals) == 2 and all(program.layers[layer.residual.layer].skip16 and layer.residual.layer < index
                                       for index, layer in enumerate(program.layers) if layer.residual is not None)
    assert any(layer.groups > 1 and layer.kernel == (3, 3) for layer in program.layers)
    assert record.counted_arena_bytes >= 2 * max(layer.output_bytes for layer in program.layers[:-1])
    if activation == "relu6":  # the stem's ReLU6 output is a skip: its int16 copy is clamped at 6 as well
        stem = program.layers[0]
        assert stem.skip16 and stem.act_ceiling is not None and stem.relu
    _check_agreement(verify_c(tmp_path / "c", path, normalizer.apply(data.x_test)), f"cnn2d {activation}")


def test_unsupported_ops_and_float_models_are_one_clear_error(tmp_path, reads_small):
    sigmoid = dict(MLP, activation="sigmoid")
    module, normalizer = train("mlp", sigmoid, reads_small, 1, tmp_path)
    path = quantized_onnx(module, reads_small, normalizer, tmp_path / "sigmoid.onnx")
    with pytest.raises(ModelError, match=r"\(Sigmoid\): not supported by the C export; supported ops: .*Conv \(incl"):
        export(path, "stm32f746", tmp_path / "out")
    assert not (tmp_path / "out").exists()  # nothing half-written

    from edgeopt.deploy.onnx import export_onnx

    float_path = export_onnx(module, reads_small.sample_shape, tmp_path / "float.onnx")
    with pytest.raises(ModelError, match="needs a quantized input and integer weights"):
        export(float_path, "stm32f746", tmp_path / "out")


def test_cli_export_prints_and_writes_json(qdq_models, tmp_path):
    path, _ = qdq_models["cnn1d"]
    runner = CliRunner()
    result = runner.invoke(main, ["export", str(path), "-p", "stm32f746", "--format", "c", "-o",
                                  str(tmp_path / "c"), "--json"])
    assert result.exit_code == 0, result.output
    data = json.loads(result.output)
    assert data["counted_weight_bytes"] > 0 and data["estimated_weight_bytes"] > 0 and data["format"] == "c"
    result = runner.invoke(main, ["export", str(path), "-p", "stm32f746", "-o", str(tmp_path / "c")])
    assert result.exit_code == 0 and "model_run" in result.output


@pytest.mark.parametrize("args, message", [
    (["--name", "2bad"], "is not a C identifier"),
    (["-p", "no-such-device"], "no-such-device"),
])
def test_cli_bad_input_exits_2_without_a_traceback(qdq_models, tmp_path, args, message):
    path, _ = qdq_models["mlp"]
    argv = ["export", str(path), "-o", str(tmp_path / "c")] + (["-p", "stm32f746"] if "-p" not in args else []) + args
    result = CliRunner().invoke(main, argv)
    assert result.exit_code == 2 and message in result.output and "Traceback" not in result.output


def test_cli_refuses_a_folder_that_is_not_an_export(qdq_models, tmp_path):
    path, _ = qdq_models["mlp"]
    (tmp_path / "keep.txt").write_text("mine")
    result = CliRunner().invoke(main, ["export", str(path), "-p", "stm32f746", "-o", str(tmp_path)])
    assert result.exit_code == 2 and "edgeopt did not write" in result.output
    assert (tmp_path / "keep.txt").read_text() == "mine"


def test_not_an_onnx_file(tmp_path):
    bad = tmp_path / "model.onnx"
    bad.write_bytes(b"\x00garbage")
    with pytest.raises(ModelError, match="cannot read as ONNX"):
        export(bad, "stm32f746", tmp_path / "out")
    with pytest.raises(ExportError, match="no such file"):
        export(tmp_path / "missing", "stm32f746", tmp_path / "out")


@pytest.mark.parametrize("dataset, space, config", [
    ("japanese_vowels.npz", "cnn1d", dict(CNN_RELU6_AVG, pooling="max", activation="relu")),
    ("breast_cancer.npz", "mlp", MLP),
    ("basic_motions.npz", "cnn1d", CNN_RELU6_AVG),
])
def test_real_datasets(tmp_path, dataset, space, config):
    data = shared_dataset(dataset)
    module, normalizer = train(space, config, data, 8, tmp_path)
    path = quantized_onnx(module, data, normalizer, tmp_path / "model.onnx")
    export(path, "stm32f746", tmp_path / "c")
    x = normalizer.apply(np.concatenate([data.x_val, data.x_test]))
    _check_agreement(verify_c(tmp_path / "c", path, x), dataset)


def test_the_firmware_example_builds_with_the_make_fragment(qdq_models, tmp_path):
    import shutil
    import subprocess
    from pathlib import Path

    if shutil.which("make") is None:
        pytest.skip("no make")
    path, _ = qdq_models["mlp"]
    export(path, "stm32f746", tmp_path / "c")
    example = Path(__file__).resolve().parents[2] / "examples" / "firmware"
    build = tmp_path / "build"
    shutil.copytree(example, build)
    result = subprocess.run(["make", "-C", str(build), f"MODEL_DIR={tmp_path / 'c'}", f"CC={compiler()}"],
                            capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    run = subprocess.run([str(build / "app")], capture_output=True, text=True, check=True)
    assert run.stdout.strip() in ("class 0", "class 1")


def test_host_timing_harness_builds_and_times_one_call(qdq_models, tmp_path):
    from edgeopt.deploy.host import host_latency_s

    path, x_test = qdq_models["mlp"]
    export(path, "stm32f746", tmp_path / "c")
    seconds = host_latency_s(tmp_path / "c", lower_onnx(path).quantize_input(x_test[:1])[0], runs=20, warmup=2)
    assert 0 < seconds < 1.0  # a median of real calls, not a timing goal


def test_a_malformed_qdq_file_is_one_clear_error(qdq_models, tmp_path):
    import onnx

    path, _ = qdq_models["cnn1d"]
    model = onnx.load(str(path))
    scale = next(init for init in model.graph.initializer if init.name.endswith("input_scale"))
    model.graph.initializer.remove(scale)  # a QuantizeLinear whose scale is nowhere
    broken = tmp_path / "broken.onnx"
    broken.write_bytes(model.SerializeToString())
    with pytest.raises(ModelError, match=r"QuantizeLinear\): malformed"):
        export(broken, "stm32f746", tmp_path / "out")
    assert not (tmp_path / "out").exists()


def test_int16_activations_of_the_fpga_profile(tmp_path, reads_small):
    """The sequencer FPGA's default: int8 weights, int16 activations (int64 accumulators), 16-bit biases; here with
    ReLU6, depthwise convolutions and average pooling."""
    space = "cnn1d"
    module, normalizer = train(space, CNN_RELU6_AVG, reads_small, 3, tmp_path)
    path = quantized_onnx(module, reads_small, normalizer, tmp_path / "int16.onnx", profile="sequencer-fpga")
    program = lower_onnx(path)
    assert program.input_bits == 16 and all(layer.input_bits == 16 for layer in program.layers)
    assert all(layer.output_bits == 16 for layer in program.layers[:-1])
    record = export(path, "sequencer-fpga", tmp_path / "c")
    assert record.input_bits == 16
    assert "typedef int16_t model_input_t;" in (tmp_path / "c" / "model.h").read_text()
    assert record.counted_ram_bytes == record.counted_arena_bytes + 2 * program.input_size + 4 * program.output_size
    _check_agreement(verify_c(tmp_path / "c", path, normalizer.apply(reads_small.x_test)), f"{space} int16")


def test_int16_accumulators_beyond_int32_stay_exact(tmp_path):
    """An int16-input layer accumulates in int64: 600 taps of 127 x 32767 pass 2^31 in C as in the reference."""
    from edgeopt.deploy.c_source import c_sources
    from edgeopt.deploy.host import run_on_host
    from edgeopt.intgrid.fixedpoint import quantize_multiplier
    from edgeopt.intgrid.program import IntLayer, IntProgram
    from edgeopt.intgrid.reference import run_program

    taps, outputs = 600, 3
    weights = np.full((outputs, taps, 1, 1), 127, np.int8)
    weights[1] *= -1
    m, n = quantize_multiplier(2.0 ** -5)
    layer = IntLayer("wide", "dense", (taps, 1, 1), (outputs, 1, 1), (outputs, 1, 1), (1, 1), (1, 1), (0, 0), 1,
                     weights, np.array([5, -7, 2 ** 30], np.int32), -3, False, None, None, None, None,
                     np.full(outputs, m, np.int32), np.full(outputs, n, np.int32), 0, -(2 ** 31), 2 ** 31 - 1, 32,
                     input_bits=16)
    program = IntProgram((taps,), 1e-3, -3, (layer,), 1.0)
    header, body, _ = c_sources(program)
    (tmp_path / "model.h").write_text(header)
    (tmp_path / "model.c").write_text(body)
    (tmp_path / "manifest.json").write_text(json.dumps({"name": "model", "output_size": outputs, "input_bits": 16}))
    x = np.stack([np.full(taps, 32767), np.full(taps, -32768), np.arange(taps) * 109 % 65536 - 32768]).astype(np.int16)
    reference = run_program(program, x)
    assert np.abs(reference[:2, :2]).min() > 2 ** 31 // 32  # the accumulators left int32 (the outputs are / 32)
    assert reference[0, 1] < 0 and reference[1, 0] < 0  # no clamp at the int32 range
    np.testing.assert_array_equal(run_on_host(tmp_path, x), reference)


def test_concatenation_of_branches(qdq_models, tmp_path):
    """Two branches on one input (its grid shared), concatenated before and after pooling; the parts write one
    buffer, and the C agrees with the reference and onnxruntime as for a chain."""
    path, x_test = qdq_models["branchy"]
    program = lower_onnx(path)
    joined = [layer for layer in program.layers if layer.target is not None]
    assert [layer.out_shape[0] for layer in joined] == [6, 4, 8, 4]
    first, second = joined[:2], joined[2:]
    assert [layer.target_offset for layer in first] == [0, first[0].output_size]  # a's block, then b's
    assert [layer.target_offset for layer in second] == [0, 8] and second[0].global_average
    assert first[0].target == first[1].target != second[0].target == second[1].target
    record = export(path, "stm32f746", tmp_path / "c")
    assert "concat" in record.ops
    manifest = json.loads((tmp_path / "c" / "manifest.json").read_text())
    buffers = manifest["arena_buffers"]  # each tensor's place in the arena, named by who writes it
    assert all(b["offset"] % 4 == 0 and b["offset"] + b["bytes"] <= record.counted_arena_bytes for b in buffers)
    joined_names = [b["buffer"] for b in buffers if "concatenation" in b["buffer"]]
    assert len(joined_names) == 2 and all(" + " in n for n in joined_names)
    assert sum(b["bytes"] for b in buffers if b["buffer"] == joined_names[0]) == sum(
        layer.output_bytes for layer in first)
    _check_agreement(verify_c(tmp_path / "c", path, x_test), "branchy")


def test_concatenating_the_input_is_one_clear_error(tmp_path, reads_small):
    import torch
    from torch import nn

    from edgeopt.data.normalize import Normalizer

    class Dense(nn.Module):  # DenseNet-style: the block's input beside its output
        def __init__(self, channels, classes):
            super().__init__()
            self.conv = nn.Conv1d(channels, 4, 3, padding=1)
            self.fc = nn.Linear(channels + 4, classes)

        def forward(self, x):
            return self.fc(torch.cat([x, torch.relu(self.conv(x))], dim=1).mean(-1))

    normalizer = Normalizer.fit(reads_small.x_train)
    module = Dense(reads_small.sample_shape[0], reads_small.num_classes).eval()
    path = quantized_onnx(module, reads_small, normalizer, tmp_path / "dense.onnx")
    with pytest.raises(ModelError, match=r"\(Concat\): the C export concatenates layers' outputs"):
        export(path, "stm32f746", tmp_path / "out")
    assert not (tmp_path / "out").exists()
