"""Before any training: which configurations apply to the data's shape, and whether any can fit a profile."""

import math
import textwrap
import warnings

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from edgeopt.profiles import load_profile
from edgeopt.space import SpaceError, load_space
from edgeopt.train.budget import space_budget
from edgeopt.space.fit import (
    SpaceWarning,
    applicability,
    applies,
    require_applicable,
    require_fitting,
    smallest_configs,
)


def _runs(space, config, shape) -> bool:
    try:
        with torch.no_grad():
            space.build(config, shape, 3).eval()(torch.zeros(2, *shape))
        return True
    except RuntimeError:
        return False


SHAPES = {"cnn1d": [(1, 1), (2, 2), (1, 3), (3, 5), (1, 8), (2, 24), (1, 40)],
          "cnn2d": [(1, 3, 3), (1, 4, 4), (1, 5, 7), (1, 8, 8), (3, 16, 16)]}


@pytest.mark.parametrize("family", ["cnn1d", "cnn2d"])
@settings(max_examples=50, deadline=None)
@given(seed=st.integers(0, 2**32 - 1), pick=st.integers(0, 100))
def test_a_config_applies_exactly_when_its_module_takes_the_samples(family, seed, pick):
    space = load_space(family)
    shape = SHAPES[family][pick % len(SHAPES[family])]
    config = space.sample(np.random.default_rng(seed))
    reason = applies(space, config, shape)
    if reason is None:
        assert _runs(space, config, shape)
    elif "kernel" not in reason:  # a kernel longer than its input still runs (on padding), but means nothing
        assert not _runs(space, config, shape)


def test_the_share_that_applies_is_exact_and_names_why_the_others_do_not():
    space = load_space("cnn1d")
    assert applicability(space, (1, 1344)).share > 0.95  # PLAID's longest: only the most shrunk and dilated refused
    short = applicability(space, (12, 24))  # japanese-vowels-like: 24 steps
    assert 0 < short.share < applicability(space, (1, 256)).share < 1
    assert {why for why, _ in short.reasons} == {"a kernel longer than the series", "pooling takes the series below "
                                                 "length 1", "a dilated kernel longer than the series"}
    assert {why for why, _ in applicability(space, (1, 3)).reasons} >= {"pooling takes the series below length 1",
                                                                       "a kernel longer than the series"}
    counts = dict(short.reasons)
    # over blocks x kernel x stride x pooling x downsample x dilation
    assert short.share == pytest.approx(1 - sum(counts.values()) / (3 * 4 * 3 * 2 * 4 * 2))
    assert applicability(load_space("mlp"), (1, 2)).share == 1.0


def test_a_space_where_nothing_applies_is_one_clear_error():
    with pytest.raises(SpaceError, match=r"cnn1d: no architecture of family cnn1d applies to tiny's samples of shape "
                                         r"1x1: .* in every configuration"):
        require_applicable(load_space("cnn1d"), (1, 1), "tiny")


def test_smallest_configs_take_every_size_choice_at_its_least():
    space = load_space("cnn1d")
    configs = smallest_configs(space)
    assert {c["channels"] for c in configs} == {2} and {c["blocks"] for c in configs} == {1}
    assert {c["kernel_size"] for c in configs} == {3}
    assert {c["stride"] for c in configs} == {1, 2, 4} and {c["separable"] for c in configs} == {False, True}
    assert {c["dilation"] for c in configs} == {1} and {c["normalization"] for c in configs} == {"channel"}
    assert len(configs) == math.prod(len(space.architecture[k].values) for k in (
        "stride", "pooling", "separable", "activation", "downsample", "global_pool"))


def test_no_configuration_that_fits_is_said_before_training_with_the_smallest_cost():
    fpga, stm = load_profile("sequencer-fpga"), load_profile("stm32f746")
    with pytest.raises(SpaceError, match=r"cnn2d: no configuration fits any profile: sequencer-fpga: its smallest "
                                         r"configuration \(.*\) has [\d,]+ params .* breaks: .*conv2d"):
        require_fitting(load_space("cnn2d"), (1, 8, 8), 10, [fpga])
    with pytest.warns(SpaceWarning, match="no configuration fits sequencer-fpga"):
        fits = require_fitting(load_space("cnn2d"), (1, 8, 8), 10, [fpga, stm])
    assert fits == {"sequencer-fpga": False, "stm32f746": True}


@pytest.mark.parametrize("space, shape, classes", [("mlp", (1, 8, 8), 10), ("mlp", (30,), 2), ("cnn1d", (12, 29), 9),
                                                   ("cnn1d", (6, 100), 4), ("cnn1d", (1, 361), 10)])
def test_shipped_spaces_reach_the_smallest_shipped_profile_for_their_inputs(space, shape, classes):
    with warnings.catch_warnings():
        warnings.simplefilter("error", SpaceWarning)
        assert require_fitting(load_space(space), shape, classes, [load_profile("sequencer-fpga")]) == {
            "sequencer-fpga": True}


def test_budget_rules_are_one_value_each(tmp_path):
    path = tmp_path / "s.yaml"
    path.write_text(textwrap.dedent("""\
        family: mlp
        training:
          min_steps: 400
          max_batch_share: 0.5
        """))
    space = load_space(path)
    assert dict(space.budget_rules) == {"min_steps": 400, "max_batch_share": 0.5}
    assert space_budget(space, 40).min_steps == 400
    assert type(space).from_json(space.to_json()).budget_rules == space.budget_rules
    path.write_text("family: mlp\ntraining:\n  min_steps: [100, 200]\n")
    with pytest.raises(SpaceError, match=r"s.yaml:3: training.min_steps: min_steps is one value for the whole search"):
        load_space(path)
    path.write_text("family: mlp\ntraining:\n  max_batch_share: 2\n")
    with pytest.raises(SpaceError, match="above 1"):
        load_space(path)
