"""A union of spaces: one search over several families, the family itself a choice; each trial built, costed,
packed, trained, reported and exported as its own family's."""

from __future__ import annotations

import dataclasses
import json
import warnings

import numpy as np
import optuna
import pytest
from click.testing import CliRunner
from hypothesis import given, settings as hsettings, strategies as st

from edgeopt.cli import main
from edgeopt.space import SpaceError, SpaceUnion, load_space
from edgeopt.space.fit import applicability, require_applicable
from edgeopt.space.union import space_from_json

CNN1D = ("family: cnn1d\narchitecture:\n  blocks: 1\n  channels: [4, 8]\n  kernel_size: 3\n"
         "training:\n  epochs: 2\n  min_steps: 1\n  batch_size: 64\n")
ROCKET = ("family: rocket\narchitecture:\n  features: [21, 42]\n  dilations: 3\n"
          "training:\n  epochs: 2\n  min_steps: 1\n  batch_size: 64\n")


def _union(tmp_path, text="name: both\nspaces: [c.yaml, r.yaml]\n", cnn1d=CNN1D, rocket=ROCKET):
    (tmp_path / "c.yaml").write_text(cnn1d)
    (tmp_path / "r.yaml").write_text(rocket)
    (tmp_path / "u.yaml").write_text(text)
    return tmp_path / "u.yaml"


def test_the_shipped_series_union_draws_both_families_each_with_its_own_choices():
    union = load_space("series")
    assert isinstance(union, SpaceUnion) and union.families == ("cnn1d", "rocket")
    rng = np.random.default_rng(0)
    drawn = [union.sample(rng) for _ in range(40)]
    assert {c["family"] for c in drawn} == {"cnn1d", "rocket"}
    for config in drawn:
        member = union.member(config)
        assert set(config) == {"family", *member.distributions}  # its member's keys, nothing of the other's
    assert union.size() == load_space("cnn1d").size() + load_space("rocket").size()
    assert space_from_json(json.loads(json.dumps(union.to_json()))) == union


@hsettings(max_examples=20, deadline=None)
@given(seed=st.integers(0, 2 ** 16))
def test_optuna_sees_each_members_choices_under_its_family_so_no_two_members_share_a_name(seed):
    union = load_space("series")
    study = optuna.create_study(sampler=optuna.samplers.RandomSampler(seed))
    trial = study.ask()
    config = union.suggest(trial)
    family = config["family"]
    assert all(name == "family" or name.startswith(f"{family}.") for name in trial.params)
    assert {name.partition(".")[2] for name in trial.params if name != "family"} <= set(config)


def test_a_single_family_space_is_its_own_member():
    space = load_space("cnn1d")
    assert space.members == (space,) and space.families == ("cnn1d",)
    assert space.member({"blocks": 1}) is space and space.member({"family": "cnn1d"}) is space
    with pytest.raises(SpaceError, match="rocket configuration is not of this cnn1d space"):
        space.member({"family": "rocket"})


def test_applicability_is_shared_by_the_members(tmp_path):
    # 3 steps: cnn1d kernels of 9 with two blocks and stride 4 do not apply; rocket's shortest dilation does
    union = load_space(_union(tmp_path, cnn1d=CNN1D.replace("kernel_size: 3", "kernel_size: 9\n  blocks: 3\n"
                                                            "  stride: 4").replace("  blocks: 1\n", "")))
    share = applicability(union, (1, 3))
    assert 0 < share.share < 1 and share.reasons
    assert require_applicable(union, (1, 3), "short") == share


@pytest.mark.parametrize("text, cnn1d, message", [
    ("spaces: [c.yaml, r.yaml]\nextra: 1\n", CNN1D, "unknown key"),
    ("spaces: c.yaml\n", CNN1D, "expected a list of space names"),
    ("spaces: [c.yaml]\n", CNN1D, "a union holds 2 to 8 spaces, got 1"),
    ("spaces: [c.yaml, c.yaml]\n", CNN1D, "two spaces of one family"),
    ("spaces: [c.yaml, mlp]\n", CNN1D, "a union takes cnn1d, cnn2d and rocket"),
    ("spaces: [u.yaml, r.yaml]\n", CNN1D, "is this file"),
    ("spaces: [series, r.yaml]\n", CNN1D, "is itself a union"),
    ("spaces: [c.yaml, r.yaml]\n", CNN1D.replace("epochs: 2", "epochs: 5"), "differ in epochs"),
    ("spaces: [c.yaml, r.yaml]\n", CNN1D.replace("min_steps: 1", "min_steps: 9"), "differ in budget rules"),
    ("spaces: [c.yaml, nowhere.yaml]\n", CNN1D, "nowhere.yaml: no such file"),
    ("spaces: [c.yaml, r.yaml]\n", CNN1D.replace("channels", "chanels"), "c.yaml:4: architecture.chanels"),
    ("spaces: [c.yaml, 3]\n", CNN1D, "expected a list of space names"),
    ("spaces: [c.yaml, .]\n", CNN1D, "cannot read"),
    ("spaces: [" + ", ".join(["c.yaml", "r.yaml"] * 4 + ["c.yaml"]) + "]\n", CNN1D, "2 to 8 spaces, got 9"),
])
def test_a_bad_union_is_one_error_naming_the_file_and_field(tmp_path, text, cnn1d, message):
    path = _union(tmp_path, text, cnn1d=cnn1d)
    with pytest.raises(SpaceError, match=message.replace(".", r"\.")):
        load_space(path)
    result = CliRunner().invoke(main, ["space", "show", str(path)])
    assert result.exit_code == 2 and "Traceback" not in result.output and message in result.output


def test_a_member_that_fits_none_of_the_profiles_is_a_warning_and_the_search_goes_on(tmp_path):
    from edgeopt.profiles.loader import load_profile
    from edgeopt.space.fit import SpaceWarning, require_fitting

    union = load_space("series")
    fpga, mcu = load_profile("sequencer-fpga"), load_profile("stm32f746")
    with pytest.warns(SpaceWarning, match=r"no rocket configuration fits sequencer-fpga.*latency"):
        assert require_fitting(union, (1, 256), 2, [fpga]) == {"sequencer-fpga": True}
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # rocket fits the MCU: nothing to say
        assert require_fitting(union, (1, 256), 2, [fpga, mcu]) == {"sequencer-fpga": True, "stm32f746": True}


def test_a_malformed_stored_union_is_one_error():
    with pytest.raises(SpaceError, match="stored search space is malformed"):
        space_from_json({"name": "x", "spaces": [{"family": "cnn1d"}]})
    with pytest.raises(SpaceError, match="a union holds 2 to 8"):
        space_from_json({"name": "x", "spaces": []})
    for forged in ({"family": "mlp"}, {"family": "<b>x</b>"}, {}):
        with pytest.raises(SpaceError, match="is none of cnn1d, rocket"):
            load_space("series").member(forged)


def test_space_show_surveys_a_union():
    result = CliRunner().invoke(main, ["space", "show", "series", "--samples", "12", "--json"])
    assert result.exit_code == 0, result.output
    survey = json.loads(result.output)
    assert survey["family"] == "cnn1d+rocket" and {e["config"]["family"] for e in survey["examples"]} <= {
        "cnn1d", "rocket"}


def test_a_union_search_trains_reports_and_exports_each_trial_as_its_family(tmp_path):
    torch = pytest.importorskip("torch")
    from edgeopt.report.search_report import build_report
    from edgeopt.runner.coordinator import run_search
    from edgeopt.search.run_record import SearchRun
    from edgeopt.search.settings import SearchSettings
    from edgeopt.space.rocket_model import Rocket
    from edgeopt.train.loop import TrialSpec, load_trained

    settings = SearchSettings(name="u", space=str(_union(tmp_path)), profiles=("stm32f746",), data="reads",
                              trials=8, runs_dir=str(tmp_path / "runs"), workers=2, sampler="random")
    store = run_search(dataclasses.replace(settings, early_stopping=False))
    run = SearchRun.from_store(store)
    assert isinstance(run.space, SpaceUnion)
    trained = [t for t in store.trials() if t.rungs]
    assert {t.config["family"] for t in trained} == {"cnn1d", "rocket"}
    for trial in trained:  # the checkpoint holds the member's space alone: it loads as its family's model
        checkpoint = torch.load(store.checkpoint_path(trial), weights_only=True)
        assert checkpoint["trial"]["space"]["family"] == trial.config["family"]
        spec = TrialSpec(trial.number, checkpoint["trial"]["space"], trial.config, run.dataset.sample_shape,
                         run.dataset.num_classes, 0, str(store.checkpoint_path(trial)), study=store.uid)
        assert isinstance(load_trained(spec), Rocket) == (trial.config["family"] == "rocket")
    report = build_report(store, baselines=())
    rows = report.trials["stm32f746"]
    assert {r.family for r in rows} == {"cnn1d", "rocket"}
    for r in rows:
        assert r.name == f"{r.family} trial {r.trial}" and r.label == f"{r.trial} ({r.family})"
        assert r.to_dict()["family"] == r.family
