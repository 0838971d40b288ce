"""Loading models to compress: trial checkpoints, torch.export programs, factories with weights; never a pickle."""

from __future__ import annotations

import io
import pickle

import pytest

torch = pytest.importorskip("torch")

from edgeopt.models.source import load_source  # noqa: E402
from edgeopt.errors import ModelError  # noqa: E402


def test_trial_checkpoint_brings_its_normaliser(trained, trial_checkpoint):
    source = load_source(trial_checkpoint)
    assert source.normalizer is not None and source.sample_shape == (1, 256)
    x = torch.randn(4, 1, 256)
    with torch.no_grad():
        assert torch.equal(source.module(x), trained.module(x))


def test_pt2_program_becomes_ordinary_modules(tmp_path):
    from models import ReadsTeacher, as_if_trained

    model = as_if_trained(ReadsTeacher())
    program = torch.export.export(model, (torch.zeros(2, 1, 256),), dynamic_shapes=({0: torch.export.Dim("b")},))
    torch.export.save(program, tmp_path / "m.pt2")
    source = load_source(tmp_path / "m.pt2")
    assert source.sample_shape == (1, 256)
    kinds = {type(m).__name__ for m in source.module.modules()}
    assert {"Conv1d", "BatchNorm1d", "Linear"} <= kinds
    x = torch.randn(5, 1, 256)
    with torch.no_grad():
        assert torch.allclose(source.module(x), model(x), atol=1e-5)
    source.module.train()  # trainable again, unlike ExportedProgram.module()
    source.module.eval()
    assert set(dict(source.module.named_parameters())) == set(dict(model.named_parameters()))


def test_pt2_with_a_fixed_batch_is_explained(tmp_path):
    class Viewing(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.fc = torch.nn.Linear(256, 2)

        def forward(self, x):
            return self.fc(x.view(2, 256))

    torch.export.save(torch.export.export(Viewing(), (torch.zeros(2, 1, 256),)), tmp_path / "fixed.pt2")
    with pytest.raises(ModelError, match="dynamic batch"):
        load_source(tmp_path / "fixed.pt2")


def test_factory_with_weights(tmp_path):
    from models import ReadsTeacher

    model = ReadsTeacher()
    torch.save(model.state_dict(), tmp_path / "w.pt")
    source = load_source("examples/models.py:reads_teacher", tmp_path / "w.pt")
    assert source.normalizer is None
    for a, b in zip(source.module.state_dict().values(), model.state_dict().values()):
        assert torch.equal(a, b)


class Payload:
    def __reduce__(self):
        return (print, ("this would run on load",))


@pytest.mark.parametrize("kind", ["pickle", "garbage", "mismatch", "no-weights", "onnx", "not-a-trial"])
def test_bad_models_are_one_clear_error(tmp_path, kind, capsys):
    spec, weights = "examples/models.py:reads_teacher", tmp_path / "w.pt"
    expected = {"pickle": "not a weights-only torch file.*Unsupported", "garbage": "not a weights-only torch file",
                "mismatch": "do not fit",
                "no-weights": "give --weights", "onnx": "cannot be fine-tuned", "not-a-trial": "not an edgeopt trial"}
    if kind == "pickle":
        weights.write_bytes(pickle.dumps({"model": Payload()}))
    elif kind == "garbage":
        weights.write_bytes(b"\x00not a checkpoint")
    elif kind == "mismatch":
        torch.save({"head.weight": torch.zeros(3, 3)}, weights)
    elif kind == "no-weights":
        weights = None
    elif kind == "onnx":
        spec, weights = "model.onnx", None
    else:
        torch.save({"weights": torch.zeros(1)}, tmp_path / "c.pt")
        spec, weights = str(tmp_path / "c.pt"), None
    with pytest.raises(ModelError, match=expected[kind]):
        load_source(spec, weights)
    assert "would run" not in capsys.readouterr().out


def test_pt2_with_pickled_members_is_refused_before_loading(tmp_path):
    import json
    import zipfile

    model = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(256, 2))
    program = torch.export.export(model, (torch.zeros(2, 1, 256),), dynamic_shapes=({0: torch.export.Dim("b")},))
    torch.export.save(program, tmp_path / "ok.pt2")
    with zipfile.ZipFile(tmp_path / "ok.pt2") as source, zipfile.ZipFile(tmp_path / "bad.pt2", "w") as target:
        for item in source.infolist():
            data = source.read(item.filename)
            if item.filename.endswith("model_weights_config.json"):
                config = json.loads(data)
                for meta in config["config"].values():
                    meta["use_pickle"] = True
                data = json.dumps(config).encode()
            target.writestr(item, data)
    with pytest.raises(ModelError, match="pickled or custom object"):
        load_source(tmp_path / "bad.pt2")
    (tmp_path / "junk.pt2").write_bytes(b"not a zip")
    with pytest.raises(ModelError, match="not a torch.export archive"):
        load_source(tmp_path / "junk.pt2")
    assert load_source(tmp_path / "ok.pt2").sample_shape == (1, 256)


class Marker:
    """A pickle payload that leaves a file behind if it is ever unpickled."""

    def __init__(self, path):
        self.path = str(path)

    def __reduce__(self):
        return (open, (self.path, "w"))


def _legacy_archive(path, payload):
    """torch.export's legacy layout, as the issue found it: torch.export.load unpickles its members unsafely."""
    import zipfile

    from torch._export.serde.schema import SCHEMA_VERSION

    modern = _program_archive(path.with_suffix(".modern.pt2"))
    with zipfile.ZipFile(modern) as source, zipfile.ZipFile(path, "w") as target:
        program = next(n for n in source.namelist() if n.endswith("models/model.json"))
        target.writestr("version", ".".join(map(str, SCHEMA_VERSION)))
        target.writestr("serialized_exported_program.json", source.read(program))
        for member in ("serialized_state_dict.json", "serialized_constants.json"):  # pickles behind a .json name
            target.writestr(member, payload)
        inputs = io.BytesIO()
        torch.save(((torch.zeros(2, 1, 256),), {}), inputs)  # a harmless weights-only file beside them
        target.writestr("serialized_example_inputs.pt", inputs.getvalue())
    return path


def _program_archive(path, *, drop=(), add=None):
    import zipfile

    model = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(256, 2))
    program = torch.export.export(model, (torch.zeros(2, 1, 256),), dynamic_shapes=({0: torch.export.Dim("b")},))
    torch.export.save(program, path.with_suffix(".ok.pt2"))
    with zipfile.ZipFile(path.with_suffix(".ok.pt2")) as source, zipfile.ZipFile(path, "w") as target:
        top = source.namelist()[0].split("/", 1)[0]
        for item in source.infolist():
            if not any(item.filename.endswith(d) for d in drop):
                target.writestr(item, source.read(item.filename))
        for member, data in (add or {}).items():
            target.writestr(f"{top}/{member}", data)
    return path


@pytest.mark.parametrize("case", ["legacy", "no-format", "stray-member", "pickled-json"])
def test_a_program_archive_that_could_unpickle_is_refused_by_every_command(tmp_path, case, reads_npz,
                                                                         trial_checkpoint):
    from click.testing import CliRunner

    from edgeopt.cli import main

    marker = tmp_path / "payload-ran"
    payload = pickle.dumps(Marker(marker))
    archive = {
        "legacy": lambda: _legacy_archive(tmp_path / "m.pt2", payload),
        "no-format": lambda: _program_archive(tmp_path / "m.pt2", drop=("archive_format",)),
        "stray-member": lambda: _program_archive(tmp_path / "m.pt2", add={"extra/evil.pkl": payload}),
        "pickled-json": lambda: _program_archive(tmp_path / "m.pt2", drop=("models/model.json",),
                                                 add={"models/model.json": payload}),
    }[case]()
    expected = {"legacy": "legacy layout", "no-format": "legacy layout", "stray-member": "not a member edgeopt reads",
                "pickled-json": "not JSON"}
    runs = [["compress", archive, "-p", "sequencer-fpga", "--auto", "--data", reads_npz, "-o", tmp_path / "o1"],
            ["compress", trial_checkpoint, "--teacher", archive, "-p", "sequencer-fpga",
             "--pipeline", "examples/pipelines/int8.yaml", "--data", reads_npz, "-o", tmp_path / "o2"],
            ["search", "-p", "sequencer-fpga", "--teacher", archive, "--data", reads_npz, "--trials", 1,
             "--runs-dir", tmp_path / "runs"]]
    for args in runs:
        result = CliRunner().invoke(main, [str(a) for a in args])
        assert result.exit_code == 2, (args, result.output)
        assert expected[case] in result.output and "Traceback" not in result.output
        assert not marker.exists(), "the archive's pickle ran"
    assert not (tmp_path / "o1").exists() and not (tmp_path / "o2").exists()
