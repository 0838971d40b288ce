"""Outputs are owned: edgeopt replaces only a folder it wrote (its marker, nothing else in it), never the working
folder, an input or a folder holding one, and a failure leaves the old output as it was."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
from click.testing import CliRunner

from edgeopt.atomic import MARKER, OutputError, atomic_folder, claim_file, claim_folder, read_marker
from edgeopt.cli import main


def _write(kind: str, folder: Path, files: dict[str, str]) -> None:
    with atomic_folder(folder, kind) as tmp:
        for name, text in files.items():
            (tmp / name).parent.mkdir(parents=True, exist_ok=True)
            (tmp / name).write_text(text)


def test_a_folder_edgeopt_wrote_is_replaced_whole_and_lists_its_files(tmp_path):
    out = tmp_path / "out"
    _write("report", out, {"a.txt": "1", "sub/b.txt": "2"})
    marker = read_marker(out)
    assert marker["kind"] == "report" and marker["files"] == ["a.txt", "sub", "sub/b.txt"]
    _write("report", out, {"c.txt": "3"})
    assert sorted(p.name for p in out.iterdir()) == [MARKER, "c.txt"]
    assert oct(out.stat().st_mode & 0o777) == "0o755"


@pytest.mark.parametrize("case", ["stranger", "foreign-marker", "other-kind", "extra-file", "file", "link"])
def test_anything_edgeopt_did_not_write_is_refused_and_left_as_it_was(tmp_path, case):
    out = tmp_path / "out"
    if case == "file":
        out.write_text("mine")
    elif case == "link":
        (tmp_path / "real").mkdir()
        out.symlink_to(tmp_path / "real")
    elif case in ("other-kind", "extra-file"):
        _write("export" if case == "other-kind" else "report", out, {"a.txt": "1"})
        if case == "extra-file":
            (out / "notes.txt").write_text("mine")
    else:
        out.mkdir()
        (out / "index.html").write_text("mine")
        if case == "foreign-marker":  # a marker edgeopt did not write (not a listing of files)
            (out / MARKER).write_text('{"kind": "report"}')
    before = {p.relative_to(tmp_path): p.read_bytes() for p in tmp_path.rglob("*") if p.is_file()}
    with pytest.raises(OutputError):
        _write("report", out, {"new.txt": "x"})
    after = {p.relative_to(tmp_path): p.read_bytes() for p in tmp_path.rglob("*") if p.is_file()}
    assert after == before
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".")] == []  # no temporary folder left


def test_the_working_folder_an_input_and_their_parents_are_refused(tmp_path, monkeypatch):
    work = tmp_path / "work"
    (work / "inner").mkdir(parents=True)
    model = tmp_path / "models" / "model.onnx"
    model.parent.mkdir()
    model.write_bytes(b"x")
    monkeypatch.chdir(work / "inner")
    for folder in (work / "inner", work, Path(".")):
        with pytest.raises(OutputError, match="working folder"):
            claim_folder(folder, "export")
    for folder in (model, model.parent):
        with pytest.raises(OutputError, match="input"):
            claim_folder(folder, "export", inputs=(model,))
    with pytest.raises(OutputError, match="input"):
        claim_file(model, inputs=(model,))
    assert claim_folder(tmp_path / "new", "export", inputs=(model,)) == tmp_path / "new"


def test_a_failure_or_interrupt_leaves_the_old_output_as_it_was(tmp_path):
    out = tmp_path / "out"
    _write("export", out, {"model.c": "old"})
    for exc in (RuntimeError("boom"), KeyboardInterrupt()):
        with pytest.raises(type(exc)):
            with atomic_folder(out, "export") as tmp:
                (tmp / "model.c").write_text("new")
                raise exc
        assert (out / "model.c").read_text() == "old"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out"]


def test_a_file_arriving_while_the_work_runs_stops_the_replacement(tmp_path):
    out = tmp_path / "out"
    _write("export", out, {"model.c": "old"})
    with pytest.raises(OutputError, match="did not write"):
        with atomic_folder(out, "export") as tmp:
            (tmp / "model.c").write_text("new")
            (out / "user.txt").write_text("mine")
    assert (out / "user.txt").read_text() == "mine" and (out / "model.c").read_text() == "old"


def test_an_outsized_or_garbled_marker_is_no_marker(tmp_path):
    (tmp_path / MARKER).write_text("{" * 10)
    assert read_marker(tmp_path) is None
    (tmp_path / MARKER).write_text(json.dumps({"kind": "report", "files": ["x"] * 300_000}))
    assert read_marker(tmp_path) is None


# -- every command with -o / --out goes through it -----------------------------------------------------------------

def _invoke(*args):
    return CliRunner().invoke(main, [str(a) for a in args])


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory):
    runs = tmp_path_factory.mktemp("runs")
    result = _invoke("search", "-p", "sequencer-fpga", "--space", "mlp", "--trials", 2, "--no-early-stopping",
                     "--runs-dir", runs, "--name", "r", "--no-report", "--workers", 1)
    assert result.exit_code == 0, result.output
    return runs / "r"


def _snapshot(folder: Path) -> dict:
    return {p.relative_to(folder).as_posix(): p.read_bytes() for p in folder.rglob("*") if p.is_file()}


def test_report_out_never_deletes_a_users_folder_the_run_or_the_working_folder(run_dir, tmp_path, monkeypatch):
    mine = tmp_path / "mine"
    mine.mkdir()
    (mine / "thesis.tex").write_text("years of work")
    before = _snapshot(run_dir)
    for out, message in ((mine, "did not write"), (run_dir, "input"), (run_dir.parent, "input")):
        result = _invoke("report", run_dir, "--out", out)
        assert result.exit_code == 2 and message in result.output and "Traceback" not in result.output, out
    monkeypatch.chdir(mine)
    result = _invoke("report", run_dir, "--out", ".")
    assert result.exit_code == 2 and "working folder" in result.output
    assert (mine / "thesis.tex").read_text() == "years of work" and _snapshot(run_dir) == before
    ok = _invoke("report", run_dir, "--out", tmp_path / "rep")
    assert ok.exit_code == 0 and read_marker(tmp_path / "rep")["kind"] == "report"
    again = _invoke("report", run_dir, "--out", tmp_path / "rep")
    assert again.exit_code == 0, again.output


def test_export_and_compress_outputs_are_owned(run_dir, tmp_path, monkeypatch):
    app = tmp_path / "app"
    (app / "src").mkdir(parents=True)
    (app / "index.html").write_text("<html>")
    (app / "manifest.json").write_text("{}")  # a web app's manifest, not edgeopt's
    (app / "report.json").write_text("{}")
    checkpoint = next(run_dir.glob("trials/*/checkpoint.pt"))
    before = _snapshot(app)
    for args in (["export", checkpoint, "-p", "sequencer-fpga", "--data", "reads", "-o", app],
                 ["compress", checkpoint, "-p", "sequencer-fpga", "--pipeline", "examples/pipelines/int8.yaml",
                  "-o", app],
                 ["export", checkpoint, "-p", "sequencer-fpga", "--data", "reads", "-o", checkpoint.parent]):
        result = _invoke(*args)
        assert result.exit_code == 2 and ("did not write" in result.output or "input" in result.output), args
        assert "Traceback" not in result.output
    monkeypatch.chdir(app)
    result = _invoke("export", checkpoint, "-p", "sequencer-fpga", "--data", "reads", "-o", ".")
    assert result.exit_code == 2 and "working folder" in result.output
    assert _snapshot(app) == before


def test_calibrate_never_writes_over_its_inputs_or_a_strangers_file(tmp_path):
    profile = tmp_path / "my.yaml"
    profile.write_text("name: my\nextends: stm32f746\n")
    measurements = tmp_path / "m.csv"
    measurements.write_text("model,latency\nx.onnx,1ms\n")
    notes = tmp_path / "notes.yaml"
    notes.write_text("mine: true\n")
    for args, message in ((["-p", profile, "--measurements", measurements, "-o", profile], "input"),
                          (["-p", profile, "--measurements", measurements, "-o", measurements], "input"),
                          (["-p", profile, "--measurements", measurements, "-o", notes], "not a profile")):
        result = _invoke("calibrate", *args)
        assert result.exit_code == 2 and message in result.output and "Traceback" not in result.output, args
    assert profile.read_text() == "name: my\nextends: stm32f746\n"
    assert measurements.read_text() == "model,latency\nx.onnx,1ms\n" and notes.read_text() == "mine: true\n"


def test_check_never_writes_junit_or_a_baseline_over_the_model(tmp_path):
    model = tmp_path / "m.onnx"
    model.write_bytes(Path("examples/kws_dscnn.onnx").read_bytes())
    for args in (["--junit", model], ["--baseline", model, "--update-baseline"]):
        result = _invoke("check", model, "-p", "stm32f746", *args)
        assert result.exit_code == 2 and "input" in result.output, args
    assert model.read_bytes() == Path("examples/kws_dscnn.onnx").read_bytes()


def test_no_marker_is_ever_written_outside_the_output(tmp_path):
    out = tmp_path / "deep" / "out"
    _write("report", out, {"a.txt": "1"})
    assert sorted(os.listdir(tmp_path / "deep")) == ["out"]


def test_export_data_of_the_wrong_shape_is_one_error_and_nothing_is_written(run_dir, tmp_path):
    checkpoint = next(run_dir.glob("trials/*/checkpoint.pt"))
    named = _invoke("export", checkpoint, "-p", "sequencer-fpga", "--data", "reads", "-o", tmp_path / "c", "--name",
                    "a*/b")
    assert named.exit_code == 2 and "--name" in named.output and "quantize" not in named.output  # before quantizing
    result = _invoke("export", checkpoint, "-p", "sequencer-fpga", "--data", "shapes", "-o", tmp_path / "c")
    assert result.exit_code == 2 and "shape" in result.output and "Traceback" not in result.output
    assert not (tmp_path / "c").exists()


@pytest.mark.parametrize("manifest", ['{"name": "model"', '{"name": "x\\"); system(\\"y", "format": "c", '
                                      '"layers": 1, "output_size": 2, "profile": "p"}', "[]"])
def test_check_on_a_truncated_or_foreign_manifest_is_exit_2(tmp_path, manifest):
    (tmp_path / "e").mkdir()
    (tmp_path / "e" / "manifest.json").write_text(manifest)
    result = _invoke("check", tmp_path / "e", "-p", "stm32f746")
    assert result.exit_code == 2 and "manifest" in result.output and "Traceback" not in result.output


def test_outputs_written_before_markers_are_replaced_only_when_they_hold_nothing_else(tmp_path):
    """A report or export folder of an edgeopt without markers: re-running over it works; with a user's file in it,
    or a manifest edgeopt did not write, it is refused."""
    old_report = tmp_path / "report"
    old_report.mkdir()
    for name in ("report.json", "report.html", "trials-stm32f746.csv", "tradeoff-stm32f746.png", "progress.png"):
        (old_report / name).write_text("old")
    _write("report", old_report, {"report.json": "new"})
    assert read_marker(old_report)["kind"] == "report"
    old_export = tmp_path / "export"
    old_export.mkdir()
    files = ["model.h", "model.c", "manifest.json", "CMakeLists.txt", "model.mk", "source.onnx"]
    for name in files:
        (old_export / name).write_text("old")
    (old_export / "manifest.json").write_text(json.dumps({"edgeopt_version": "0.1.0", "files": files}))
    _write("export", old_export, {"model.c": "new"})
    assert (old_export / "model.c").read_text() == "new"
    for kind, folder, extra in (("report", tmp_path / "r2", "notes.txt"), ("export", tmp_path / "e2", "main.c")):
        folder.mkdir()
        (folder / ("report.json" if kind == "report" else "manifest.json")).write_text(
            json.dumps({"edgeopt_version": "0.1.0", "files": ["manifest.json"]}))
        (folder / extra).write_text("mine")
        with pytest.raises(OutputError):
            _write(kind, folder, {"x": "y"})
        assert (folder / extra).read_text() == "mine"
    (tmp_path / "app").mkdir()
    (tmp_path / "app" / "manifest.json").write_text(json.dumps({"name": "my web app", "files": ["index.html"]}))
    (tmp_path / "app" / "index.html").write_text("<html>")
    with pytest.raises(OutputError):
        _write("export", tmp_path / "app", {"x": "y"})
