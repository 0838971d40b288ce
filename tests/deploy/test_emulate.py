"""The C export cross-compiled for Cortex-M4 and M7 and run on QEMU's MPS2 boards: the same logits as the host build,
deterministic instruction counts, and the image's sizes beside the cost model's estimates."""

from __future__ import annotations

import numpy as np
import pytest
from toolchain import require_tools

from edgeopt.deploy.export import export
from edgeopt.deploy.emulate import missing_tools, run_emulated
from edgeopt.deploy.host import run_on_host
from edgeopt.deploy.lower import lower_onnx


@pytest.fixture(scope="module")
def exported(qdq_models, tmp_path_factory):
    require_tools(missing_tools())
    out = {}
    for name, profile in (("cnn1d", "stm32f746"), ("mlp", "stm32f746"), ("mlp_int16", "sequencer-fpga"),
                          ("branchy", "stm32f746"), ("cnn1d_relu6_avg", "stm32f746"), ("cnn1d_long", "stm32f746"),
                          ("rocket", "stm32f746")):
        path, x_test = qdq_models[name]
        folder = tmp_path_factory.mktemp(name)
        out[name] = (export(path, profile, folder), lower_onnx(path).quantize_input(x_test))
    return out


@pytest.mark.parametrize("cpu, samples", [("cortex-m4", 300), ("cortex-m7", 100)])
@pytest.mark.parametrize("name", ["cnn1d", "mlp", "mlp_int16", "branchy", "cnn1d_relu6_avg", "cnn1d_long", "rocket"])
def test_emulated_cortex_m_equals_the_host_build(exported, cpu, samples, name):
    record, q = exported[name]
    q = q[:samples]
    assert len(q) == samples
    run = run_emulated(record.out_dir, q, cpu)
    np.testing.assert_array_equal(run.logits, run_on_host(record.out_dir, q))
    assert np.all(run.instructions > 0)


def test_instruction_counts_are_deterministic_and_follow_the_work(exported):
    cnn_record, cnn_q = exported["cnn1d"]
    mlp_record, mlp_q = exported["mlp"]
    first = run_emulated(cnn_record.out_dir, cnn_q[:5])
    again = run_emulated(cnn_record.out_dir, cnn_q[:5])
    np.testing.assert_array_equal(first.instructions, again.instructions)
    mlp = run_emulated(mlp_record.out_dir, mlp_q[:5])
    macs = {n: sum(int(np.prod(layer.conv_shape)) * layer.weights[0].size for layer in lower_onnx(r.model).layers)
            for n, (r, _) in exported.items()}
    # more multiply-accumulates, more instructions
    assert (macs["cnn1d"] > macs["mlp"]) == (first.instructions.mean() > mlp.instructions.mean())


@pytest.mark.parametrize("name", ["cnn1d", "branchy", "mlp_int16"])
def test_the_layer_hook_times_every_layer(exported, name):
    """The run hook splits an inference between the C layers: each one's share is positive and they add up to the
    whole call (within the SysTick's resolution and the return); each C layer runs its own node and the model
    layers after it, every model layer once."""
    from edgeopt.calibration.board_rows import layer_groups
    from edgeopt.graph.build import build_graph

    record, q = exported[name]
    run = run_emulated(record.out_dir, q[:3])
    assert run.layer_instructions.shape == (3, record.layers) and np.all(run.layer_instructions > 0)
    assert np.all(np.abs(run.layer_instructions.sum(axis=1) - run.instructions) <= 200)
    model_layers = [layer.name for layer in build_graph(record.model).layers]
    groups = layer_groups(model_layers, record.layer_names)
    assert [g[g.index(c)] for g, c in zip(groups, record.layer_names)] == list(record.layer_names)
    assert sorted(sum(groups, [])) == sorted(model_layers)


def test_sizes_of_the_model_and_the_image(exported):
    record, q = exported["cnn1d"]
    run = run_emulated(record.out_dir, q[:2])
    assert run.model.data == 0 and run.model.bss == 0  # the model keeps no state of its own: reentrant
    assert run.model.rodata >= record.counted_weight_bytes  # its constants, and the layer table
    assert run.image.flash_bytes > run.model.flash_bytes
    assert run.image.bss >= record.counted_arena_bytes  # the harness's static arena


def test_check_gates_an_export_folder_on_measured_flash_and_ram(exported, tmp_path):
    import json

    from click.testing import CliRunner

    from edgeopt.cli import main

    record, _ = exported["cnn1d"]
    runner = CliRunner()
    result = runner.invoke(main, ["check", record.out_dir, "-p", "stm32f746", "--json"])
    assert result.exit_code == 0, result.output
    items = {item["name"]: item for item in json.loads(result.output)["items"]}
    assert items["weight_memory"]["source"] == "measured" and items["activation_memory"]["source"] == "measured"
    flash = items["weight_memory"]["actual"]
    assert flash > record.counted_weight_bytes  # constants and the kernels' code
    junit = tmp_path / "check.xml"
    result = runner.invoke(main, ["check", record.out_dir, "-p", "stm32f746", "--max-weight-bytes", str(flash - 1),
                                  "--junit", str(junit)])
    assert result.exit_code == 1 and "measured flash" in result.output
    assert 'name="max_weight_bytes"' in junit.read_text() and "<failure" in junit.read_text()


def test_cli_export_of_a_compression_output_on_the_emulated_board(trained, reads_small, reads_npz, tmp_path):
    """Search trial -> compress int8 -> export C -> the test split on the emulated Cortex-M4: the deployed precision
    and recall are those onnxruntime measured when compressing (same predictions on >= 99.5% of samples)."""
    import json

    from click.testing import CliRunner

    from edgeopt.cli import main
    from edgeopt.compression.pipeline import Pipeline
    from edgeopt.compression.quantize import Int8Config
    from edgeopt.workflow.compress import compress
    from edgeopt.profiles.loader import load_profile

    require_tools(missing_tools())
    result = compress(trained.module, load_profile("stm32f746"), Pipeline((Int8Config(qat_epochs=0),)), reads_small,
                      tmp_path / "int8", normalizer=trained.normalizer)
    board = tmp_path / "board" / "emulated.csv"
    cli = CliRunner().invoke(main, ["export", str(tmp_path / "int8"), "-p", "stm32f746", "-o", str(tmp_path / "c"),
                                    "--data", str(reads_npz), "--emulate", "cortex-m4", "--json",
                                    "--measurements-out", str(board)])
    assert cli.exit_code == 0, cli.output
    # the emulated run as a board's measurements file: the whole call, then each layer; it calibrates the profile
    rows = board.read_text().splitlines()
    assert rows[0] == "model,layer,latency_s,source,model_sha256" and rows[1].startswith("../c/source.onnx,,")
    assert len(rows) == 2 + json.loads(cli.output)["layers"] and "qemu" in rows[1]
    calibrated = CliRunner().invoke(main, ["calibrate", "-p", "stm32f746", "--measurements", str(board), "-o",
                                           str(tmp_path / "m4.yaml"), "--json"])
    assert calibrated.exit_code == 0, calibrated.output
    whole = json.loads(calibrated.output)["measurements"][0]
    assert whole["calibrated_latency_s"] == pytest.approx(whole["measured_latency_s"], rel=0.25)
    (tmp_path / "c" / "source.onnx").write_bytes((tmp_path / "c" / "source.onnx").read_bytes() + b"\0")
    replaced = CliRunner().invoke(main, ["calibrate", "-p", "stm32f746", "--measurements", str(board), "-o",
                                         str(tmp_path / "m4.yaml")])
    assert replaced.exit_code == 2 and "not the file this row timed" in replaced.output  # -o reused since
    deployment = json.loads(cli.output)["deployment"]
    assert deployment["device"] == "cortex-m4" and deployment["emulated_equals_host"] == 1.0
    assert deployment["agreement"]["bit_exact_share"] == 1.0 and deployment["agreement"]["class_agreement"] >= 0.995
    assert deployment["instructions_source"].startswith("estimated")
    measured = result.deployed.test
    for metric in ("precision", "recall", "f1", "accuracy"):
        assert abs(deployment["metrics"][metric] - measured[metric]) <= 0.01, (metric, deployment, measured)


def test_a_corrupt_compression_report_is_one_clear_error(exported, reads_npz, tmp_path):
    from click.testing import CliRunner

    from edgeopt.cli import main

    record, _ = exported["mlp"]
    folder = tmp_path / "int8"
    folder.mkdir()
    (folder / "model.onnx").write_bytes(open(record.model, "rb").read())
    (folder / "report.json").write_text('{"input_normalisation": {"mean": ["a"], "std": ["b"]}}')
    result = CliRunner().invoke(main, ["export", str(folder), "-p", "stm32f746", "-o", str(tmp_path / "c"),
                                       "--data", str(reads_npz)])
    assert result.exit_code == 2 and "input_normalisation" in result.output and "Traceback" not in result.output


def test_check_gates_a_linked_image_on_its_flash_and_ram(exported, tmp_path):
    """A product's firmware image (here examples/firmware/main.c with the export, for a Cortex-M4): its measured flash
    and RAM gated against the device and the budgets; nothing estimated, one error for a baseline."""
    import json
    import subprocess
    from pathlib import Path

    from click.testing import CliRunner

    from edgeopt.cli import main

    record, _ = exported["cnn1d"]
    out = Path(record.out_dir)
    main_c = Path(__file__).resolve().parents[2] / "examples" / "firmware" / "main.c"
    elf = tmp_path / "app.elf"
    subprocess.run(["arm-none-eabi-gcc", "-mcpu=cortex-m4", "-mthumb", "-O2", "--specs=nosys.specs", "-I", str(out),
                    str(out / "model.c"), str(main_c), "-o", str(elf)], check=True, capture_output=True)
    runner = CliRunner()
    result = runner.invoke(main, ["check", str(elf), "-p", "stm32f746", "--json"])
    assert result.exit_code == 0, result.output
    data = json.loads(result.output)
    items = {item["name"]: item for item in data["items"]}
    assert set(items) == {"weight_memory", "activation_memory"} and data["estimate"] is None
    assert all(item["source"] == "measured" for item in items.values())
    assert items["weight_memory"]["actual"] > record.counted_weight_bytes  # the model inside, the runtime, newlib
    junit = tmp_path / "image.xml"
    result = runner.invoke(main, ["check", str(elf), "-p", "stm32f746", "--max-weight-bytes", "1KiB", "--junit",
                                  str(junit)])
    assert result.exit_code == 1 and "flash of the whole image" in result.output
    assert 'name="max_weight_bytes"' in junit.read_text() and "<failure" in junit.read_text()
    result = runner.invoke(main, ["check", str(elf), "-p", "stm32f746", "--baseline", str(tmp_path / "b.json")])
    assert result.exit_code == 2 and "a linked image has none" in result.output


def test_cli_export_of_a_search_trial_quantizes_it_first(trial_checkpoint, reads_npz, tmp_path):
    """A float search trial: quantized in the profile's formats on --data (int16 activations on the sequencer FPGA),
    exported, and run on the emulated board; without --data, one usage error."""
    import json

    from click.testing import CliRunner

    from edgeopt.cli import main

    require_tools(missing_tools())
    runner = CliRunner()
    result = runner.invoke(main, ["export", str(trial_checkpoint), "-p", "sequencer-fpga", "-o", str(tmp_path / "c"),
                                  "--data", str(reads_npz), "--emulate", "cortex-m4", "--json"])
    assert result.exit_code == 0, result.output
    data = json.loads(result.output)
    assert data["model"] == str(trial_checkpoint) and data["input_bits"] == 16
    assert data["quantization"]["weight_format"].startswith("int8") and data["quantization"]["onnx_val"]["f1"] > 0
    deployed = data["deployment"]
    assert deployed["device"] == "cortex-m4" and deployed["emulated_equals_host"] == 1.0
    assert deployed["agreement"]["bit_exact_share"] == 1.0 and deployed["agreement"]["class_agreement"] >= 0.995
    assert sorted(p.name for p in (tmp_path / "c").iterdir()) == sorted([*data["files"], ".edgeopt-output.json"])
    result = runner.invoke(main, ["export", str(trial_checkpoint), "-p", "stm32f746", "-o", str(tmp_path / "d")])
    assert result.exit_code == 2 and "give --data" in result.output and not (tmp_path / "d").exists()
