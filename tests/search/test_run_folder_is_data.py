"""A run folder is data: nothing stored in a study is imported or run on resume or report, stored settings are
checked as strictly as the command line, and a checkpoint is loaded only as its own trial's."""

from __future__ import annotations

import shutil

import optuna
import pytest
from click.testing import CliRunner

from edgeopt.cli import main
from edgeopt.search.settings import SearchSettings, SettingsError
from edgeopt.search.store import ATTR
from test_cli_search import LEARNABLE


def _invoke(*args):
    return CliRunner().invoke(main, [str(a) for a in args])


@pytest.fixture(scope="module")
def finished(tmp_path_factory):
    runs = tmp_path_factory.mktemp("runs")
    space = runs / "tiny.yaml"
    space.write_text(LEARNABLE)
    result = _invoke("search", "-p", "sequencer-fpga", "--space", space, "--trials", 3, "--no-early-stopping",
                     "--runs-dir", runs, "--name", "r", "--no-report", "--workers", 1)
    assert result.exit_code == 0, result.output
    return runs / "r"


@pytest.fixture()
def run(finished, tmp_path):
    copy = tmp_path / "r"
    shutil.copytree(finished, copy)
    return copy


def _edit_settings(run, **changes) -> None:
    storage = f"sqlite:///{run / 'study.db'}"
    (name,) = optuna.study.get_all_study_names(storage)
    study = optuna.load_study(study_name=name, storage=storage)
    study.set_user_attr(ATTR + "settings", study.user_attrs[ATTR + "settings"] | changes)


def test_a_teacher_written_into_the_study_is_never_imported(run, tmp_path):
    evil = tmp_path / "evil.py"
    marker = tmp_path / "ran"
    evil.write_text(f"import pathlib\npathlib.Path({str(marker)!r}).write_text('x')\nraise SystemExit(0)\n"
                    "def f():\n    pass\n")
    _edit_settings(run, teacher=f"{evil}:f")
    resumed = _invoke("search", "--resume", run, "--trials", 4, "--no-report")
    assert resumed.exit_code == 2 and "--teacher" in resumed.output and "Traceback" not in resumed.output
    report = _invoke("report", run, "--json")  # the report names the teacher; it never loads it
    assert report.exit_code == 0, report.output
    assert not marker.exists()


def test_a_teacher_given_again_must_be_the_one_the_run_recorded(run, tmp_path):
    _edit_settings(run, teacher="examples/models.py:reads_teacher")
    other = _invoke("search", "--resume", run, "--trials", 4, "--no-report", "--teacher", "elsewhere.py:g")
    assert other.exit_code == 2 and "keeps its teacher" in other.output


@pytest.mark.parametrize("field, value", [("eta", "three"), ("min_epochs", -1), ("seed", 10 ** 300),
                                          ("metric", "vibes"), ("profiles", []), ("early_stopping", "false"),
                                          ("distill_alpha", float("nan"))])
def test_edited_settings_are_one_error_naming_the_field(run, field, value):
    _edit_settings(run, **{field: value})
    for args in (["search", "--resume", run, "--trials", 4, "--no-report"], ["report", run, "--json"]):
        result = _invoke(*args)
        assert result.exit_code == 2 and field in result.output and "Traceback" not in result.output, \
            (args, result.output)


def test_settings_are_checked_where_they_are_made():
    for changes, field in (({"trials": 0}, "trials"), ({"workers": 10 ** 9}, "workers"),
                           ({"address": "auto"}, "address"), ({"name": "../x"}, "--name"),
                           ({"time_s": 0.0}, "time_s"), ({"teacher_weights": "w.pt"}, "teacher_weights")):
        with pytest.raises(Exception, match=field):
            SearchSettings(**changes)
    with pytest.raises(SettingsError):
        SearchSettings(profiles=("a", 3))


def test_a_checkpoint_swapped_between_trials_is_refused_naming_the_file(run, tmp_path):
    paths = sorted(run.glob("trials/*/checkpoint.pt"))
    contents = [path.read_bytes() for path in paths]
    for path, content in zip(paths, contents[1:] + contents[:1]):  # every trial holds another's: the front too
        path.write_bytes(content)
    first = paths[0]
    report = _invoke("report", run, "--out", tmp_path / "rep")
    assert report.exit_code == 2 and "checkpoint.pt" in report.output and "not trial" in report.output
    assert not (tmp_path / "rep").exists()
    compressed = _invoke("compress", first, "-p", "sequencer-fpga", "--pipeline", "examples/pipelines/int8.yaml",
                         "-o", tmp_path / "c")
    assert compressed.exit_code == 2 and "not trial" in compressed.output and not (tmp_path / "c").exists()


def test_a_truncated_checkpoint_is_one_error_under_report(run):
    for checkpoint in run.glob("trials/*/checkpoint.pt"):
        checkpoint.write_bytes(checkpoint.read_bytes()[:200])
    report = _invoke("report", run, "--json")
    assert report.exit_code == 2 and str(checkpoint.name) in report.output and "Traceback" not in report.output


def test_storage_urls_never_print_a_password_and_opening_creates_nothing(tmp_path):
    (tmp_path / "r").mkdir()
    secret = _invoke("report", tmp_path / "r", "--storage", "postgresql://u:hunter2@127.0.0.1:1/db")
    assert secret.exit_code == 2 and "hunter2" not in secret.output and "u:***@" in secret.output
    new = _invoke("report", tmp_path / "r", "--storage", f"sqlite:///{tmp_path / 'new.db'}")
    assert new.exit_code == 2 and not (tmp_path / "new.db").exists()
    (tmp_path / "r" / "study.db").write_text("garbage")
    corrupt = _invoke("report", tmp_path / "r")
    assert corrupt.exit_code == 2 and "None" not in corrupt.output and len(corrupt.output.strip().splitlines()) == 1


def _without(monkeypatch, module: str) -> None:
    """`import module` raises ImportError for the rest of the test, as where its extra is not installed."""
    import builtins

    real = builtins.__import__

    def refusing(name, *args, **kwargs):
        if name == module:
            raise ImportError(name)
        return real(name, *args, **kwargs)

    monkeypatch.setattr(builtins, "__import__", refusing)


def test_a_dashboard_without_its_extra_says_so_before_serving(run, monkeypatch):
    _without(monkeypatch, "optuna_dashboard")
    result = _invoke("dashboard", run)
    assert result.exit_code == 2 and "edgeopt[dashboard]" in result.output and "serving" not in result.output


def test_ray_missing_is_one_error_before_a_study_is_made(tmp_path, monkeypatch):
    _without(monkeypatch, "ray")
    result = _invoke("search", "-p", "stm32f746", "--backend", "ray", "--runs-dir", tmp_path, "--name", "r")
    assert result.exit_code == 2 and "edgeopt[ray]" in result.output
    assert not (tmp_path / "r").exists()
    local = _invoke("search", "-p", "stm32f746", "--address", "auto", "--runs-dir", tmp_path, "--name", "r")
    assert local.exit_code == 2 and "--backend ray" in local.output and not (tmp_path / "r").exists()
