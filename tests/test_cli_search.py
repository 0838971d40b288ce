import json
import re
from pathlib import Path

from click.testing import CliRunner

from edgeopt.cli import main

# Small enough to train in a second, strong enough to find the double-peak motif within a few epochs.
# stride 4: at stride 2 the FPGA's engine takes 22 us on the reads, over the profile's 20 us
LEARNABLE = """\
family: cnn1d
architecture:
  blocks: 2
  channels: [6, 8]
  kernel_size: 7
  stride: 4
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
    baselines = data["profiles"][0]["baselines"]
    assert [b["tool"] for b in baselines] == ["logistic", "tree", "forest", "boosting", "fitted_tree"]
    assert data["profiles"][0]["baseline"] in baselines and all(b["trial"] < 0 for b in baselines)
    assert all(b["fitted"] and b["seconds"] >= 0 for b in baselines) and data["baseline_seconds"] > 0
    forest = next(b for b in baselines if b["tool"] == "forest")
    assert forest["trees"] == 200 and forest["nodes"] > forest["trees"] and forest["params"] == forest["nodes"]
    sized = next(b for b in baselines if b["tool"] == "fitted_tree")
    assert sized["fits"] and not forest["fits"]  # 200 trees hold more than the FPGA's 4,000 parameters
    rows = (report_dir / "baselines-sequencer-fpga.csv").read_text().splitlines()
    assert len(rows) == 6 and rows[0].startswith("trial,") and "tool_label" in rows[0]
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
        (["search", "-p", "sequencer-fpga", "--workers", "0", "--runs-dir", tmp_path / "runs"],
         "--workers '0': give auto or a count from 1"),
        (["search", "-p", "sequencer-fpga", "--gpus", "0,x", "--runs-dir", tmp_path / "runs"],
         "--gpus '0,x': give all, none, or GPU indices such as 0,2"),
        (["search", "-p", "sequencer-fpga", "--backend", "slurm", "--runs-dir", tmp_path / "runs"],
         "'slurm' is not one of 'local', 'ray'"),
        (["search", "-p", "stm32f746", "--objective", "luts", "--runs-dir", tmp_path / "runs"],
         "--objective luts: the FPGA engine's LUTs need a first profile with a fabric and a clock; stm32f746 has "
         "no fabric"),
    ]
    import numpy as np

    np.savez(tmp_path / "flat.npz", x_train=np.zeros((20, 5, 4, 4)), y_train=np.array([0, 1] * 10))
    cases.append((["search", "-p", "sequencer-fpga", "--data", tmp_path / "flat.npz", "--runs-dir", tmp_path],
                  "do not suit family cnn1d"))
    for name in ("../../x", str(tmp_path / "abs"), "..", ".", "a/b", ".hidden"):
        cases.append((["search", "-p", "sequencer-fpga", "--name", name, "--runs-dir", tmp_path / "runs"],
                      "a run name is one folder name inside --runs-dir"))
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
    import edgeopt.workflow.search as run

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
    # the run folder stands for its best compressed model on a profile, wherever the folder now lies
    moved = tmp_path / "moved"
    (runs / "taught").rename(moved)
    exported = invoke("export", moved, "--profile", "stm32f746", "-o", tmp_path / "best-c", "--json")
    assert exported.exit_code == 0, exported.output
    best = max(rows, key=lambda r: r["after"]["val"]["f1"])
    assert json.loads(exported.output)["model"] == str(moved / "compressed" / "stm32f746" /
                                                                 f"trial-{best['trial']:05d}" / "model.onnx")
    other = invoke("export", moved, "--profile", "sequencer-fpga", "-o", tmp_path / "none-c")
    assert other.exit_code == 2 and "no compressed front for profile 'sequencer-fpga'" in other.output


def test_search_teacher_with_other_classes_is_refused(tmp_path):
    (tmp_path / "t.py").write_text("import torch\ndef make():\n    return torch.nn.Sequential(torch.nn.Flatten(), "
                                   "torch.nn.Linear(256, 5))\n")
    import torch

    torch.save(torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(256, 5)).state_dict(), tmp_path / "w.pt")
    result = invoke("search", "-p", "stm32f746", "--trials", 1, "--runs-dir", tmp_path / "runs",
                    "--teacher", f"{tmp_path / 't.py'}:make", "--teacher-weights", tmp_path / "w.pt")
    assert result.exit_code == 2 and "data has 2 classes" in result.output, result.output


SHARED = Path(__file__).resolve().parents[2] / "shared" / "datasets"


def _series(path, n=80, channels=2, length=24, seed=0, learnable=True):
    import numpy as np

    rng = np.random.default_rng(seed)
    y = np.arange(n) % 2
    x = rng.normal(size=(n, channels, length)).astype(np.float32)
    if learnable:
        x[:, 0, :] += 1.5 * y[:, None]  # a level shift: global pooling sees it
    else:
        x[:] = 0.0  # every model can only answer one class
    np.savez(path, x_train=x, y_train=y, x_test=x[:20], y_test=y[:20])
    return path


def test_time_accepts_minutes_hours_and_both(tmp_path):
    space = tmp_path / "tiny.yaml"
    space.write_text(LEARNABLE)
    for budget in ("30m", "1h30m"):
        result = invoke("search", "-p", "sequencer-fpga", "--space", space, "--time", budget, "--trials", 1,
                        "--runs-dir", tmp_path / "runs", "--name", budget, "--no-report", "--json")
        assert result.exit_code == 0, result.output
    bad = invoke("search", "-p", "sequencer-fpga", "--time", "30x", "--runs-dir", tmp_path / "runs")
    assert bad.exit_code == 2 and "write it like 90s, 30m, 2h or 1h30m" in bad.output


def test_series_of_length_24_never_crash_a_cnn1d_search(tmp_path):
    data = _series(tmp_path / "short.npz")
    result = invoke("search", "-p", "sequencer-fpga", "--data", data, "--trials", 8, "--runs-dir", tmp_path,
                    "--name", "short", "--json", "--no-report")
    assert result.exit_code == 0, result.output
    report = json.loads(result.output)
    profile = report["profiles"][0]
    assert profile["inapplicable"] >= 1  # sampled, recorded with the reason, never built or trained
    assert len([r for r in report["trials"]["sequencer-fpga"] if r["state"] != "infeasible"]) == 8
    from edgeopt.search.store import open_store

    reasons = [t.error for t in open_store(tmp_path / "short").trials() if t.error]
    assert reasons and all(r.startswith("does not apply to the data: ") for r in reasons)


def test_data_nothing_applies_to_or_a_space_nothing_of_fits_is_one_error_before_training(tmp_path):
    import numpy as np

    np.savez(tmp_path / "dots.npz", x_train=np.zeros((20, 1, 1)), y_train=np.array([0, 1] * 10))
    digits = tmp_path / "digits.npz"
    np.savez(digits, x_train=np.zeros((20, 1, 8, 8)), y_train=np.array([0, 1] * 10))
    for args, fragment in (
            (["--data", tmp_path / "dots.npz"],
             "no architecture of family cnn1d applies to dots's samples of shape 1x1"),
            (["--data", digits, "--space", "cnn2d"], "cnn2d: no configuration fits any profile: sequencer-fpga: its "
                                                     "smallest configuration")):
        result = invoke("search", "-p", "sequencer-fpga", *args, "--runs-dir", tmp_path / "runs")
        assert result.exit_code == 2 and fragment in result.output, result.output
        assert "Traceback" not in result.output
    assert not (tmp_path / "runs").exists()


def test_constant_predictors_are_never_presented_as_a_result(tmp_path):
    data = _series(tmp_path / "flat.npz", length=32, learnable=False)
    result = invoke("search", "-p", "sequencer-fpga", "--data", data, "--trials", 4, "--no-early-stopping",
                    "--runs-dir", tmp_path, "--name", "flat")
    assert result.exit_code == 0, result.output
    assert "no trained model beats a constant predictor" in " ".join(result.output.split())
    report = json.loads((tmp_path / "flat" / "report" / "report.json").read_text())
    profile = report["profiles"][0]
    assert profile["front"] == [] and profile["recommended"] is None
    assert all(b["best"] is None for b in profile["budgets"])
    html = (tmp_path / "flat" / "report" / "report.html").read_text()
    assert "no trained model beats a constant predictor" in html


def test_the_html_report_writes_sizes_as_people_read_them_and_marks_the_recommended_model(tmp_path):
    data = _series(tmp_path / "easy.npz", length=32)
    result = invoke("search", "-p", "sequencer-fpga", "--data", data, "--trials", 3, "--runs-dir", tmp_path,
                    "--name", "easy")
    assert result.exit_code == 0, result.output
    html = (tmp_path / "easy" / "report" / "report.html").read_text()
    assert "★ recommended" in html and 'class="recommended"' in html
    assert "weight B" not in html and " B</td>" in html and re.search(" [nu]s</td>", html)  # units, not 70.000
    assert "cross-validation" in html  # 64 training samples: a 16-sample validation split is too small to rank by
    assert "<th>beats the lab&#x27;s tools</th>" in html or "<th>beats the lab's tools</th>" in html
    assert "beats the lab's tools" in " ".join(result.output.split())
    verdict = result.output.strip().splitlines()[-2]  # the line before "report: ...", whole however long
    assert verdict.startswith("sequencer-fpga: recommended trial ")
    assert re.search(r"; error [-+]\d+%|; error same", verdict) and " vs " in verdict, verdict
    data = json.loads((tmp_path / "easy" / "report" / "report.json").read_text())
    assert data["settings"]["selection"] == {"method": "cv", "folds": 5}
    assert data["settings"]["training_budget"]["epoch_scale"] > 1
    front = data["profiles"][0]["front"]
    assert front and all(0 <= row["fold_spread"]["f1"][1] <= 0.5 for row in front)  # mean and spread over folds
    assert " ± " in html


def test_space_show_reports_the_share_that_applies_to_the_data(tmp_path):
    data = _series(tmp_path / "short.npz")
    result = invoke("space", "show", "cnn1d", "--data", data, "--samples", 5, "--json")
    assert result.exit_code == 0, result.output
    survey = json.loads(result.output)
    assert survey["sample_shape"] == [2, 24] and 0 < survey["applicable_share"] < 1
    assert survey["not_applicable"][0]["reason"] == "a kernel longer than the series"
    table = invoke("space", "show", "cnn1d", "--data", data, "--samples", 5)
    assert table.exit_code == 0 and f"apply to samples of shape 2x24: {survey['applicable_share']:.1%}" in table.output


def test_unknown_arrays_in_an_npz_are_one_warning_line(tmp_path):
    import numpy as np

    path = tmp_path / "named.npz"
    x = np.random.default_rng(0).normal(size=(40, 1, 16)).astype(np.float32)
    np.savez(path, x_train=x, y_train=np.arange(40) % 2, classes=np.array(["a", "b"]))
    result = invoke("space", "show", "cnn1d", "--data", path, "--samples", 2)
    assert result.exit_code == 0, result.output
    assert result.output.count("warning: ") == 1 and "ignoring arrays classes" in result.output


def _shared(name):
    import pytest

    path = SHARED / name
    if not path.is_file():
        pytest.skip(f"{path} is not here (the suite's real datasets live in ../shared/datasets)")
    return path


def test_a_search_on_a_real_multichannel_dataset_beats_both_references(tmp_path):
    # basic_motions: 40 training samples, 6 channels, 4 classes; references 1-NN 0.575, logistic 0.725
    result = invoke("search", "-p", "sequencer-fpga", "--data", _shared("basic_motions.npz"), "--trials", 6,
                    "--runs-dir", tmp_path, "--name", "bm", "--json", "--no-report")
    assert result.exit_code == 0, result.output
    recommended = json.loads(result.output)["profiles"][0]["recommended"]
    assert recommended["params"] <= 4000 and recommended["test_accuracy"] >= 0.8


def test_varying_length_real_series_load_and_train(tmp_path):
    for name in ("japanese_vowels.npz", "pickup_gesture_z.npz"):
        result = invoke("search", "-p", "sequencer-fpga", "--data", _shared(name), "--trials", 1,
                        "--no-early-stopping", "--runs-dir", tmp_path, "--name", name, "--json", "--no-report")
        assert result.exit_code == 0, result.output
        report = json.loads(result.output)
        assert report["dataset"]["padded"] is True
        trained = [r for r in report["trials"]["sequencer-fpga"] if r["state"] != "infeasible"]
        assert len(trained) == 1 and trained[0]["accuracy"] is not None


def test_the_csv_path_with_its_label_column(tmp_path):
    result = invoke("search", "-p", "sequencer-fpga", "--space", "mlp", "--data", _shared("breast_cancer.csv"),
                    "--label", "malignant", "--trials", 2, "--no-early-stopping", "--runs-dir", tmp_path,
                    "--name", "bc", "--json", "--no-report")
    assert result.exit_code == 0, result.output
    report = json.loads(result.output)
    assert report["dataset"]["train"] + report["dataset"]["val"] == 569
    assert report["profiles"][0]["recommended"]["f1"] > 0.8  # malignant is the positive class


def test_a_run_folder_works_from_any_folder_after_being_moved_and_renamed(tmp_path, monkeypatch):
    import shutil

    space = tmp_path / "tiny.yaml"
    space.write_text(LEARNABLE)
    first = tmp_path / "first"
    first.mkdir()
    monkeypatch.chdir(first)
    result = invoke("search", "-p", "sequencer-fpga", "--space", space, "--trials", 3, "--name", "r1", "--no-report")
    assert result.exit_code == 0, result.output
    moved = tmp_path / "elsewhere" / "renamed"
    moved.parent.mkdir()
    shutil.move(first / "runs" / "r1", moved)
    other = tmp_path / "other"
    other.mkdir()
    monkeypatch.chdir(other)
    report = invoke("report", moved, "--json")
    assert report.exit_code == 0, report.output
    front = json.loads(report.output)["profiles"][0]["front"]
    assert front and all(row["test_f1"] is not None for row in front)  # the checkpoints were found
    monkeypatch.chdir(moved)  # --resume . from inside the run folder
    resumed = invoke("search", "--resume", ".", "--trials", 5, "--json", "--no-report")
    monkeypatch.chdir(other)
    assert resumed.exit_code == 0, resumed.output
    assert not (other / "runs").exists() and not (first / "runs" / "r1").exists()
    assert len(list((moved / "trials").glob("*/checkpoint.pt"))) == 5
    from edgeopt.search.store import open_store

    store = open_store(moved)
    assert store.study.study_name == "r1" and len(store.storage.get_all_studies()) == 1  # nothing stray created


def test_opening_a_run_never_creates_a_study(tmp_path):
    (tmp_path / "empty").mkdir()
    (tmp_path / "empty" / "study.db").write_bytes(b"")
    for args in (["report", tmp_path / "empty"], ["search", "--resume", tmp_path / "empty"]):
        result = invoke(*args)
        assert result.exit_code == 2 and "empty (0 bytes)" in result.output, result.output
    assert (tmp_path / "empty" / "study.db").stat().st_size == 0


def test_a_new_study_never_takes_an_old_studys_checkpoints(tmp_path):
    space = tmp_path / "tiny.yaml"
    space.write_text(LEARNABLE)
    args = ["search", "-p", "sequencer-fpga", "--space", space, "--trials", 2, "--runs-dir", tmp_path, "--name", "s",
            "--no-report"]
    assert invoke(*args).exit_code == 0
    import torch

    from edgeopt.search.store import open_store

    before = open_store(tmp_path / "s").trials()
    assert len(before[0].rungs) > 1  # its checkpoint holds more epochs than a first rung trains
    (tmp_path / "s" / "study.db").unlink()  # lost; the trials/ folder with its checkpoints remains
    assert invoke(*args).exit_code == 0
    store = open_store(tmp_path / "s")
    after = store.trials()
    assert after[0].config == before[0].config  # the same seed draws the same first config...
    assert after[0].rungs[0].metrics == before[0].rungs[0].metrics  # ...and trains it from scratch, as before
    state = torch.load(store.checkpoint_path(after[0]), weights_only=True)
    assert state["trial"]["study"] == store.uid != None  # noqa: E711


def test_a_second_search_in_a_running_folder_is_refused_and_a_killed_ones_lock_is_gone(tmp_path):
    import os
    import signal
    import subprocess
    import sys
    import time

    space = tmp_path / "tiny.yaml"
    space.write_text(LEARNABLE)
    command = [sys.executable, "-m", "edgeopt.cli", "search", "-p", "sequencer-fpga", "--space", str(space),
               "--runs-dir", str(tmp_path), "--name", "busy", "--no-report"]
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[1])}
    first = subprocess.Popen([*command, "--time", "120s"], env=env, stdout=subprocess.DEVNULL,
                             stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 60
        while not (tmp_path / "busy" / "trials").exists():  # the first is training
            assert time.monotonic() < deadline and first.poll() is None
            time.sleep(0.2)
        second = invoke("search", "--resume", tmp_path / "busy", "--trials", 2)
        assert second.exit_code == 2, second.output
        assert "another edgeopt search is running in this run folder (pid " in second.output
    finally:
        first.send_signal(signal.SIGKILL)
        first.wait()
    resumed = invoke("search", "--resume", tmp_path / "busy", "--trials", 1, "--no-report")  # the lock died with it
    assert resumed.exit_code == 0, resumed.output


def test_empty_or_tiny_data_files_exit_2_with_one_line(tmp_path):
    import numpy as np

    (tmp_path / "empty.npz").write_bytes(b"")
    (tmp_path / "empty.csv").write_bytes(b"")
    np.savez(tmp_path / "two.npz", x_train=np.zeros((2, 1, 8)), y_train=np.array([0, 1]))
    for name in ("empty.npz", "empty.csv", "two.npz"):
        result = invoke("search", "-p", "sequencer-fpga", "--data", tmp_path / name, "--runs-dir", tmp_path / "r")
        assert result.exit_code == 2, result.output
        assert result.output.count("error: ") == 1 and "Aborted" not in result.output


def test_resuming_after_the_data_file_was_edited_in_place_is_refused(tmp_path):
    import numpy as np

    data = _series(tmp_path / "d.npz", length=64)
    space = tmp_path / "tiny.yaml"
    space.write_text(LEARNABLE)
    first = invoke("search", "-p", "sequencer-fpga", "--space", space, "--data", data, "--trials", 1,
                   "--runs-dir", tmp_path, "--name", "d", "--no-report")
    assert first.exit_code == 0, first.output
    arrays = dict(np.load(data))
    arrays["x_train"][0, 0, 0] += 1.0  # same shapes, same counts: only the content says it changed
    np.savez(data, **arrays)
    resumed = invoke("search", "--resume", tmp_path / "d", "--trials", 2)
    assert resumed.exit_code == 2 and "the data file changed since this run started" in resumed.output


def test_a_full_disk_is_said_as_such_with_how_to_continue(tmp_path):
    import os
    import subprocess

    import pytest

    disk = tmp_path / "disk"
    disk.mkdir()
    if os.geteuid() != 0 or subprocess.run(["mount", "-t", "tmpfs", "-o", "size=2M", "tmpfs", str(disk)],
                                           capture_output=True).returncode != 0:
        pytest.skip("needs root and tmpfs to make a small disk")
    try:
        (disk / "fill").write_bytes(b"\0" * (1700 * 1024))  # room for the study, not for its checkpoints
        result = invoke("search", "-p", "sequencer-fpga", "--trials", 20, "--runs-dir", disk, "--name", "f",
                        "--no-report")
        assert result.exit_code == 2, result.output
        assert "the disk is full" in result.output and f"edgeopt search --resume {disk / 'f'}" in result.output
        assert "Traceback" not in result.output
    finally:
        subprocess.run(["umount", "-l", str(disk)], capture_output=True)  # -l: the study file may still be open


def test_the_report_says_where_latency_and_energy_come_from(tmp_path):
    """On a calibrated profile every row's latency is `calibrated` with the profile's fit error, energy `estimated`:
    in the JSON, the CSV and the HTML."""
    space = tmp_path / "tiny.yaml"
    space.write_text(LEARNABLE)
    profile = tmp_path / "board-calibrated.yaml"
    profile.write_text('name: board-calibrated\nextends: stm32f746\ncompute:\n  call_overhead: {value: 40us, '
                       'source: measured}\ncalibration:\n  runtime: "board measurements"\n  machine: "bench"\n'
                       '  date: "2026-11-30"\n  samples: 61\n  fit_error: 0.0712\n  within_10pct: 0.8\n')
    runs = tmp_path / "runs"
    result = invoke("search", "--profile", profile, "--space", space, "--trials", 2, "--no-early-stopping",
                    "--runs-dir", runs, "--name", "cal")
    assert result.exit_code == 0, result.output
    report = runs / "cal" / "report"
    data = json.loads((report / "report.json").read_text())
    rows = data["trials"]["board-calibrated"]
    assert rows and all(r["provenance"]["latency_s"] == {"source": "calibrated", "fit_error": 0.0712} for r in rows)
    assert all(r["provenance"]["energy_j"]["source"] == "estimated" for r in rows)
    tools = {b["tool"]: b for b in data["profiles"][0]["baselines"]}
    assert tools["logistic"]["provenance"]["latency_s"]["source"] == "calibrated"  # a dense layer: the cost model
    assert tools["tree"]["provenance"]["latency_s"]["source"] == "estimated"  # node visits: not what was fitted
    header = (report / "trials-board-calibrated.csv").read_text().splitlines()[0].split(",")
    assert {"latency_s_source", "energy_j_source", "macs"} <= set(header)
    assert "latency (calibrated (fit error 7.1%))" in (report / "report.html").read_text()


def test_a_search_for_an_fpga_minimises_the_engines_luts(tmp_path):
    """`--objective luts`: every trial's costs on the FPGA profile carry the engine's clocks and cells (LUTs and
    flip-flops estimated, DSP slices and block RAMs counted), in the report's JSON and CSV."""
    space = tmp_path / "tiny.yaml"
    space.write_text(LEARNABLE)
    runs = tmp_path / "runs"
    result = invoke("search", "--profile", "sequencer-fpga", "--space", space, "--trials", 2, "--no-early-stopping",
                    "--objective", "luts", "--runs-dir", runs, "--name", "fpga")
    assert result.exit_code == 0, result.output
    report = runs / "fpga" / "report"
    rows = json.loads((report / "report.json").read_text())["trials"]["sequencer-fpga"]
    assert rows and all(r["luts"] > 0 and r["dsps"] >= 2 and r["clock_cycles"] > 0 for r in rows)
    assert all(r["provenance"]["luts"]["source"] == "estimated" for r in rows)
    header = (report / "trials-sequencer-fpga.csv").read_text().splitlines()[0].split(",")
    assert {"luts", "ffs", "dsps", "brams", "clock_cycles"} <= set(header)
