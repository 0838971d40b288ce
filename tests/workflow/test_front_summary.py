"""The compressed-front summary a run folder holds is input: read into a typed record, refused whole when it is not
what `search --compress` wrote, and never followed outside the run folder."""

from __future__ import annotations

import json

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from edgeopt.search.settings import SettingsError
from edgeopt.workflow.search_compress import FrontSummary, read_front_summary


def _row(trial, f1, output="/elsewhere/entirely"):
    return {"trial": trial, "before": {"weight_bytes": 100, "val": {"f1": 0.9}, "test": None},
            "after": {"weight_bytes": 30, "val": {"f1": f1}, "test": None}, "output": output}


def _write(run, data):
    (run / "compressed").mkdir(parents=True, exist_ok=True)
    (run / "compressed" / "summary.json").write_text(data if isinstance(data, str) else json.dumps(data))


def test_no_summary_is_an_empty_record(tmp_path):
    summary = read_front_summary(tmp_path)
    assert summary == FrontSummary() and summary.as_report() == {}


def test_the_best_member_is_the_most_accurate_after_compression_and_lies_in_the_run_folder(tmp_path):
    _write(tmp_path, {"pipeline": "quantize", "metric": "recall",
                      "profiles": {"stm32f746": [_row(3, 0.5) | {"after": {"val": {"recall": 0.7, "f1": 0.1}}},
                                                 _row(8, 0.9) | {"after": {"val": {"recall": 0.6, "f1": 0.9}}}]}})
    summary = read_front_summary(tmp_path)
    best = summary.best("stm32f746")
    assert best.trial == 3  # by the run's metric, recall, not f1
    assert best.output == str(tmp_path / "compressed" / "stm32f746" / "trial-00003")  # not the recorded path
    with pytest.raises(SettingsError, match="no compressed front for profile 'esp32-s3'"):
        summary.best("esp32-s3")


@pytest.mark.parametrize("data, problem", [
    ("{not json", "not a summary"),
    ([1, 2], "not a summary"),
    ({"profiles": {"../../etc": [_row(1, 0.5)]}}, "no profile name"),
    ({"profiles": {"stm32f746": [_row(-1, 0.5)]}}, "no trial number"),
    ({"profiles": {"stm32f746": [_row(True, 0.5)]}}, "no trial number"),
    ({"profiles": {"stm32f746": [_row(1, 0.5) | {"after": "x"}]}}, "mappings"),
    ({"profiles": {"stm32f746": [{"trial": 1}]}}, "not a summary"),
    ({"metric": "loss", "profiles": {}}, "metric 'loss'"),
])
def test_a_summary_edgeopt_did_not_write_is_one_error_naming_the_file(tmp_path, data, problem):
    _write(tmp_path, data)
    with pytest.raises(SettingsError) as caught:
        read_front_summary(tmp_path)
    assert "summary.json" in str(caught.value) and problem in str(caught.value)


@settings(max_examples=40, deadline=None)
@given(st.lists(st.tuples(st.integers(0, 10**6), st.one_of(st.none(), st.floats(0, 1))), min_size=1, max_size=6,
                unique_by=lambda t: t[0]))
def test_best_ranks_by_the_metric_and_unmeasured_members_last(tmp_path_factory, members):
    run = tmp_path_factory.mktemp("run")
    _write(run, {"profiles": {"p": [_row(trial, f1) for trial, f1 in members]}})
    best = read_front_summary(run).best("p")
    scores = [f1 for _, f1 in members if f1 is not None]
    if scores:
        assert dict(members)[best.trial] == max(scores)
    assert best.output.endswith(f"trial-{best.trial:05d}")
