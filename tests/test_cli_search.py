import json
from pathlib import Path

from click.testing import CliRunner

from edgeopt.cli import main

# Small enough to train in a second, strong enough to find the double-peak motif within a few epochs.
LEARNABLE = """\
family: cnn1d
architecture:
  blocks: 2
  channels: [6, 8]
  kernel_size: 7
  stride: 2
training:
  lr: {float: [0.01, 0.03], log: true}
  epochs: 6
"""


def invoke(*args):
    return CliRunner().invoke(main, [str(a) for a in args])


def test_search_then_report_then_resume(tmp_path):
    space = tmp_path / "tiny.yaml"
    space.write_text(LEARNABLE)
    runs = tmp_path / "runs"
    result = invoke("search", "--profile", "sequencer-fpga", "--profile", "stm32f746", "--space", space,
                    "--trials", 3, "--no-early-stopping", "--runs-dir", runs, "--name", "demo")
    assert result.exit_code == 0, result.output
    assert "Pareto front on sequencer-fpga" in result.output and "logistic" in result.output
    report_dir = runs / "demo" / "report"
    for name in ("report.html", "report.json", "trials-sequencer-fpga.csv", "trials-stm32f746.csv",
                 "tradeoff-sequencer-fpga.png", "tradeoff-stm32f746.png", "pr-curves.png", "progress.png"):
        assert (report_dir / name).is_file(), name
    html = (report_dir / "report.html").read_text()
    assert "data:image/png;base64," in html and "Best under a size budget" in html
    data = json.loads((report_dir / "report.json").read_text())
    assert [p["profile"] for p in data["profiles"]] == ["sequencer-fpga", "stm32f746"]
    front = data["profiles"][0]["front"]
    assert front and all(row["test_f1"] is not None for row in front)
    assert data["profiles"][0]["baseline"]["trial"] == -1
    assert all((report_dir / name).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" for name in ("pr-curves.png",
                                                                                         "progress.png"))
    assert "src=\"http" not in html and "<script" not in html  # self-contained
    # One point per finished rung of a trial that fits the first profile; the value can fall when a longer-trained
    # model scores lower (its latest checkpoint is the one that exists), but stays within the reference box.
    hv = [value for _, value in data["hypervolume"]]
    rungs = sum(row["epochs"] > 0 for row in data["trials"]["sequencer-fpga"] if row["fits"])
    assert len(hv) >= rungs and all(0 <= value <= 1 for value in hv)
    budgets = data["profiles"][0]["budgets"]
    assert [b["label"] for b in budgets] == ["profile limit", "1/2 of limit", "1/4 of limit", "1/8 of limit"]
    assert all(b["best"] is None or b["best"]["weight_bytes"] <= b["weight_bytes"] for b in budgets)
    csv_rows = (report_dir / "trials-sequencer-fpga.csv").read_text().strip().splitlines()
    assert len(csv_rows) == 1 + len(data["trials"]["sequencer-fpga"])

    again = invoke("report", runs / "demo", "--json")
    assert again.exit_code == 0
    assert json.loads(again.output)["name"] == "demo"

    resumed = invoke("search", "--resume", runs / "demo", "--trials", 4, "--json", "--no-report")
    assert resumed.exit_code == 0, resumed.output
    trained = [r for r in json.loads(resumed.output)["trials"]["sequencer-fpga"] if r["state"] != "infeasible"]
    assert len(trained) == 4


def test_search_bad_input_exits_2(tmp_path):
    bad_space = tmp_path / "bad.yaml"
    bad_space.write_text("family: rnn\n")
    cases = [
        (["search", "-p", "sequencer-fpga", "--space", bad_space], "unknown family 'rnn'"),
        (["search", "-p", "sequencer-fpga", "--data", tmp_path / "absent.npz"], "no such data file"),
        (["search", "-p", "no-such-board"], "unknown profile"),
        (["search"], "give at least one --profile"),
        (["search", "-p", "sequencer-fpga", "--time", "soon"], "cannot read 'soon'"),
        (["report", tmp_path / "nothing"], "no search here"),
        (["search", "--resume", tmp_path / "nothing"], "no search here"),
        (["search", "-p", "sequencer-fpga", "--device", "tpu", "--runs-dir", tmp_path / "runs"],
         "device 'tpu': choose from auto, cpu, cuda, cuda:N"),
        (["search", "-p", "sequencer-fpga", "--device", "cuda:99", "--runs-dir", tmp_path / "runs"],
         "device 'cuda:99'"),
    ]
    import numpy as np

    np.savez(tmp_path / "flat.npz", x_train=np.zeros((20, 5, 4, 4)), y_train=np.array([0, 1] * 10))
    cases.append((["search", "-p", "sequencer-fpga", "--data", tmp_path / "flat.npz", "--runs-dir", tmp_path],
                  "do not suit family cnn1d"))
    for args, fragment in cases:
        result = invoke(*args)
        assert result.exit_code == 2, (args, result.output)
        assert fragment in result.output, (args, result.output)
        assert "Traceback" not in result.output
    assert not (tmp_path / "runs").exists()


def test_space_show_json():
    result = invoke("space", "show", "cnn1d", "-p", "sequencer-fpga", "--samples", 10, "--json")
    assert result.exit_code == 0, result.output
    data = json.loads(result.output)
    assert data["family"] == "cnn1d" and data["configurations"] is None
    assert 0 <= data["fit_share"]["sequencer-fpga"] <= 1 and len(data["examples"]) == 5
    table = invoke("space", "show", str(Path(__file__).resolve().parents[1] / "searchspace" / "mlp.yaml"),
                   "--samples", 5)
    assert table.exit_code == 0 and "configurations" in table.output


def test_ctrl_c_says_how_to_resume(tmp_path, monkeypatch):
    import edgeopt.search.run as run

    def interrupted(settings, progress=None):
        raise KeyboardInterrupt

    monkeypatch.setattr(run, "run_search", interrupted)
    result = invoke("search", "-p", "sequencer-fpga", "--runs-dir", tmp_path, "--name", "cut")
    assert result.exit_code == 130
    assert f"continue with: edgeopt search --resume {tmp_path / 'cut'}" in result.output


def test_search_with_a_teacher_and_compressing_the_front(tmp_path):
    import torch

    from models import ReadsTeacher, as_if_trained

    space = tmp_path / "tiny.yaml"
    space.write_text(LEARNABLE)
    torch.save(as_if_trained(ReadsTeacher()).state_dict(), tmp_path / "teacher.pt")
    pipeline = tmp_path / "int8.yaml"
    pipeline.write_text("max_drop: 0.2\nsteps:\n  - quantize: {qat_epochs: 0}\n")
    runs = tmp_path / "runs"
    result = invoke("search", "--profile", "stm32f746", "--space", space, "--trials", 2, "--no-early-stopping",
                    "--runs-dir", runs, "--name", "taught", "--teacher", "examples/models.py:reads_teacher",
                    "--teacher-weights", tmp_path / "teacher.pt", "--compress", pipeline, "--json")
    assert result.exit_code == 0, result.output
    data = json.loads(result.output)
    assert data["settings"]["teacher"].endswith("models.py:reads_teacher")
    assert Path(data["settings"]["teacher_weights"]).is_absolute()
    rows = data["compressed"]["stm32f746"]
    assert [r["trial"] for r in rows] == [row["trial"] for row in data["profiles"][0]["front"]]
    for r in rows:
        assert r["after"]["weight_format"] == "int8" and r["after"]["weight_bytes"] < r["before"]["weight_bytes"] * 1.5
        assert (Path(r["output"]) / "model.onnx").is_file()
    html = (runs / "taught" / "report" / "report.html").read_text()
    assert "Front before and after compression" in html
    again = invoke("report", runs / "taught")
    assert again.exit_code == 0 and "before -> after compression" in again.output


def test_search_teacher_with_other_classes_is_refused(tmp_path):
    (tmp_path / "t.py").write_text("import torch\ndef make():\n    return torch.nn.Sequential(torch.nn.Flatten(), "
                                   "torch.nn.Linear(256, 5))\n")
    import torch

    torch.save(torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(256, 5)).state_dict(), tmp_path / "w.pt")
    result = invoke("search", "-p", "stm32f746", "--trials", 1, "--runs-dir", tmp_path / "runs",
                    "--teacher", f"{tmp_path / 't.py'}:make", "--teacher-weights", tmp_path / "w.pt")
    assert result.exit_code == 2 and "data has 2 classes" in result.output, result.output
