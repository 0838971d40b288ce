"""`edgeopt compress` through the CLI: outputs, determinism, --auto, and bad input (exit 2, nothing in OUT)."""

from __future__ import annotations

import json
import pickle
import textwrap

import pytest
from click.testing import CliRunner

torch = pytest.importorskip("torch")

from edgeopt.cli import main  # noqa: E402



@pytest.fixture(scope="module")
def setup(tmp_path_factory):
    """A trained trial checkpoint and its data, made once for this module."""
    import numpy as np

    from edgeopt.data.examples import example_dataset
    from edgeopt.data.normalize import Normalizer
    from edgeopt.space.spec import load_space
    from edgeopt.train.loop import DeviceData, TrialSpec, train_trial

    root = tmp_path_factory.mktemp("cli-compress")
    data = example_dataset("reads", n_samples=1500)
    np.savez(root / "reads.npz", x_train=data.x_train, y_train=data.y_train, x_val=data.x_val, y_val=data.y_val,
             x_test=data.x_test, y_test=data.y_test)
    normalizer = Normalizer.fit(data.x_train)
    config = {"blocks": 2, "channels": 8, "channel_growth": 2.0, "kernel_size": 9, "stride": 2, "pooling": "max",
              "separable": False, "activation": "relu", "dropout": 0.0, "lr": 0.02, "weight_decay": 0.0,
              "batch_size": 32, "optimizer": "adam", "epochs": 8}
    spec = TrialSpec(0, load_space("cnn1d").to_json(), config, data.sample_shape, 2, 0, str(root / "trial.pt"),
                     normalizer=normalizer.to_dict())
    train_trial(spec, DeviceData(data, normalizer), 8)
    (root / "int8.yaml").write_text("max_drop: 0.05\nsteps:\n  - quantize: {calibration: minmax}\n")
    (root / "prune-int8.yaml").write_text(textwrap.dedent("""\
        max_drop: 0.5
        steps:
          - prune: {ratio: 0.4, steps: 1, finetune_epochs: 1}
          - quantize: {qat_epochs: 0}
        """))
    (root / "int4.yaml").write_text("steps:\n  - quantize: {weights: int4}\n")
    return root


def _run(*args):
    return CliRunner().invoke(main, [str(a) for a in args], catch_exceptions=False)


def test_compress_writes_a_measured_onnx_and_a_report(setup, tmp_path):
    out = tmp_path / "out"
    result = _run("compress", setup / "trial.pt", "--profile", "stm32f746", "--pipeline", setup / "int8.yaml",
                  "--data", setup / "reads.npz", "-o", out, "--json")
    assert result.exit_code == 0, result.output
    report = json.loads(result.output)
    assert [s["step"] for s in report["steps"]] == ["input", "quantize"]
    assert report["steps"][0]["weight_format"] == "fp32" and report["steps"][1]["weight_format"] == "int8"
    assert report["steps"][1]["weight_bytes"] < report["steps"][0]["weight_bytes"] / 3
    deployed = report["deployed"]
    assert deployed["val"]["f1"] == pytest.approx(deployed["simulated_val"]["f1"], abs=0.005)
    assert not deployed["gap_flagged"] and deployed["test"] is not None and deployed["host_latency_s"] > 0
    assert deployed["size_bytes"] == (out / "model.onnx").stat().st_size
    for name in ("model.onnx", "model.pt2", "report.json", "report.html", "steps.png", "steps.csv"):
        assert (out / name).is_file(), name
    assert json.loads((out / "report.json").read_text())["artifacts"]["model.onnx"]["sha256"]
    assert report["status"] == "completed" and report["fits"] is True
    # the table view prints the same figures
    text = _run("compress", setup / "trial.pt", "--profile", "stm32f746", "--pipeline", setup / "int8.yaml",
                "--data", setup / "reads.npz", "-o", out)
    assert text.exit_code == 0 and "deployed validation" in text.output and "int8" in text.output


def test_the_same_pipeline_twice_gives_byte_identical_onnx(setup, tmp_path):
    files = []
    for name in ("a", "b"):
        result = _run("compress", setup / "trial.pt", "--profile", "stm32f746", "--pipeline",
                      setup / "prune-int8.yaml", "--data", setup / "reads.npz", "-o", tmp_path / name, "--json")
        assert result.exit_code == 0, result.output
        files.append((tmp_path / name / "model.onnx").read_bytes())
    assert files[0] == files[1]


def test_output_of_compress_can_be_compressed_again(setup, tmp_path):
    first = tmp_path / "first"
    assert _run("compress", setup / "trial.pt", "--profile", "stm32f746", "--pipeline", setup / "prune-int8.yaml",
                "--data", setup / "reads.npz", "-o", first, "--json").exit_code == 0
    again = _run("compress", first / "model.pt2", "--profile", "stm32f746", "--pipeline", setup / "int8.yaml",
                 "--data", setup / "reads.npz", "-o", tmp_path / "again", "--json")
    assert again.exit_code == 0, again.output


def test_auto_prunes_toward_the_budget_and_quantizes(setup, tmp_path, profile_file):
    tight = profile_file("stm-900", "stm32f746", "budgets: {max_params: 900}\n")
    result = _run("compress", setup / "trial.pt", "--profile", tight, "--auto", "--max-drop", "0.5",
                  "--data", setup / "reads.npz", "-o", tmp_path / "auto", "--json")
    assert result.exit_code == 0, result.output
    report = json.loads(result.output)
    assert [s["step"] for s in report["steps"]] == ["input", "prune", "distill", "quantize"]
    assert report["steps"][-1]["params"] <= 900 and report["fits"]


def test_auto_says_which_budget_still_fails(setup, tmp_path, profile_file):
    tiny = profile_file("stm-10", "stm32f746", "budgets: {max_params: 10}\n")
    result = _run("compress", setup / "trial.pt", "--profile", tiny, "--auto", "--max-drop", "0.9",
                  "--data", setup / "reads.npz", "-o", tmp_path / "auto")
    assert result.exit_code == 0, result.output
    assert "over budget: parameters" in result.output and "still does not fit" in result.output


@pytest.fixture()
def profile_file(tmp_path):
    def write(name: str, base: str, body: str) -> str:
        path = tmp_path / f"{name}.yaml"
        path.write_text(f"extends: {base}\nname: {name}\n{body}")
        return str(path)

    return write


def _three_class_teacher(tmp_path):
    (tmp_path / "teacher.py").write_text(textwrap.dedent("""\
        import torch
        def make():
            return torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(256, 3))
        """))
    torch.save(torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(256, 3)).state_dict(), tmp_path / "t.pt")
    return [f"--teacher={tmp_path / 'teacher.py'}:make", f"--teacher-weights={tmp_path / 't.pt'}"]


class _Payload:
    def __reduce__(self):
        return (print, ("ran",))


@pytest.mark.parametrize("case, message", [
    ("shape", "takes samples of shape (1, 256), but the data's are (1, 16, 16)"),
    ("factory-shape", "does not accept the data's samples"),
    ("auto-shape", "does not accept the data's samples"),
    ("teacher-classes", "teacher outputs (2, 3)"),
    ("format", "weights 'int4' are not a format stm32f746 runs"),
    ("unloadable", "not a weights-only torch file"),
    ("pickle", "not a weights-only torch file"),
    ("occupied", "edgeopt did not write"),
    ("neither", "exactly one of --pipeline FILE and --auto"),
])
def test_bad_input_is_one_line_exit_2_and_nothing_written(setup, tmp_path, case, message):
    out = tmp_path / "out"
    model = [setup / "trial.pt"]
    args = ["--pipeline", setup / "int8.yaml", "--data", setup / "reads.npz"]
    if case == "shape":
        args = ["--pipeline", setup / "int8.yaml", "--data", "shapes"]
    elif case in ("factory-shape", "auto-shape"):
        model = ["examples/models.py:kws_dscnn", "--weights", tmp_path / "kws.pt"]
        from models import kws_dscnn

        torch.save(kws_dscnn().state_dict(), tmp_path / "kws.pt")
        if case == "auto-shape":
            args = ["--auto", "--data", setup / "reads.npz"]
    elif case == "teacher-classes":
        args += _three_class_teacher(tmp_path)
    elif case == "format":
        args = ["--pipeline", setup / "int4.yaml", "--data", setup / "reads.npz"]
    elif case == "unloadable":
        (tmp_path / "bad.pt").write_bytes(b"\x00\x01 not torch")
        model = [tmp_path / "bad.pt"]
    elif case == "pickle":
        (tmp_path / "evil.pt").write_bytes(pickle.dumps({"model": _Payload()}))
        model = [tmp_path / "evil.pt"]
    elif case == "occupied":
        out.mkdir()
        (out / "precious.txt").write_text("keep me")
    elif case == "neither":
        args = ["--data", setup / "reads.npz"]
    result = CliRunner().invoke(main, ["compress", *map(str, model), "--profile", "stm32f746", *map(str, args),
                                       "-o", str(out)])
    assert result.exit_code == 2, result.output
    assert message in result.output
    assert "Traceback" not in result.output and "ran" not in result.output.split()
    if case == "occupied":
        assert sorted(p.name for p in out.iterdir()) == ["precious.txt"]
    else:
        assert not out.exists()
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".out.")]  # no temporary folder left
