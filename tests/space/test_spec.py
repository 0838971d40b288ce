import json
import textwrap

import numpy as np
import pytest
import torch

from edgeopt.space import FAMILIES, SpaceError, load_space
from edgeopt.space.distributions import Choice, FloatRange, IntRange
from edgeopt.space.families import TRAINING_DEFAULTS
from edgeopt.space.spec import SearchSpace

SHAPES = {"mlp": (1, 64), "cnn1d": (1, 64), "cnn2d": (1, 12, 12), "rocket": (2, 64)}


@pytest.mark.parametrize("name", ["mlp", "cnn1d", "cnn2d", "rocket"])
def test_shipped_spaces_load_sample_and_build(name):
    space = load_space(name)
    assert space.family == name
    rng = np.random.default_rng(0)
    built = 0
    for _ in range(12):
        config = space.sample(rng)
        assert set(config) == set(FAMILIES[name].defaults) | set(TRAINING_DEFAULTS)
        assert config["lr_schedule"] == "cosine"
        if FAMILIES[name].check(config, SHAPES[name]) is not None:  # refused before building (tests/space/test_fit)
            continue
        model = space.build(config, SHAPES[name], 3)
        out = model.eval()(torch.zeros(2, *SHAPES[name]))
        assert out.shape == (2, 3)
        built += 1
    assert built >= 4


def test_distributions_round_trip_through_json():
    space = load_space("cnn1d")
    again = SearchSpace.from_json(json.loads(json.dumps(space.to_json())))
    assert again == space
    rng_a, rng_b = np.random.default_rng(7), np.random.default_rng(7)
    assert space.sample(rng_a) == again.sample(rng_b)


def test_a_config_rebuilds_the_same_module():
    space = load_space("cnn2d")
    config = space.sample(np.random.default_rng(3))
    a, b = space.build(config, (1, 12, 12), 4, seed=5), space.build(config, (1, 12, 12), 4, seed=5)
    assert str(a) == str(b)
    for (name, pa), (_, pb) in zip(a.state_dict().items(), b.state_dict().items()):
        assert torch.equal(pa, pb), name
    c = space.build(config, (1, 12, 12), 4, seed=6)
    assert any(not torch.equal(x, y) for x, y in zip(a.state_dict().values(), c.state_dict().values()))


def test_parsing_choices_ranges_and_fixed(tmp_path):
    path = tmp_path / "s.yaml"
    path.write_text(textwrap.dedent("""\
        family: mlp
        architecture:
          depth: {int: [1, 4], step: 1}
          width: [8, 16]
          dropout: 0.1
        training:
          lr: {float: [1.0e-4, 1.0e-1], log: true}
          batch_size: {int: [16, 128], log: true}
        """))
    space = load_space(path)
    assert space.architecture["depth"] == IntRange(1, 4)
    assert space.architecture["width"] == Choice((8, 16))
    assert space.training["lr"] == FloatRange(1e-4, 1e-1, log=True)
    assert space.architecture["activation"].value == "relu"  # default
    assert space.size() == float("inf")
    rng = np.random.default_rng(0)
    assert all(16 <= space.sample(rng)["batch_size"] <= 128 for _ in range(50))


@pytest.mark.parametrize("text, fragments", [
    ("family: transformer\n", [":1:", "family", "unknown family 'transformer'", "mlp, cnn1d, cnn2d, rocket"]),
    ("family: mlp\narchitecture:\n  widht: [4]\n", [":3:", "architecture.widht", "did you mean 'width'"]),
    ("family: mlp\narchitecture:\n  width: []\n", [":3:", "architecture.width", "empty choice"]),
    ("family: mlp\narchitecture:\n  depth: {int: [5, 2]}\n", ["architecture.depth.int", "min 5 > max 2"]),
    ("family: mlp\ntraining:\n  optimizer: [adam, lion]\n", ["training.optimizer.1", "'lion'", "adam, adamw, sgd"]),
    ("family: mlp\ntraining:\n  lr_schedule: linear\n", [":3:", "training.lr_schedule", "'linear'",
                                                       "cosine, constant"]),
    ("family: mlp\ntraining:\n  weight_decay: {float: [0.0, 1.0], log: true}\n", ["training.weight_decay.log",
                                                                             "low > 0"]),
    ("family: mlp\narchitecture:\n  depth: {float: [1, 3]}\n", ["architecture.depth", "whole numbers"]),
    ("family: mlp\narchitecture:\n  depth: 2.5\n", ["architecture.depth", "not a whole number"]),
    ("family: mlp\narchitecture:\n  depth: {int: [1, 4], step: 0}\n", ["architecture.depth.step", "below 1"]),
    ("family: mlp\narchitecture:\n  depth: {int: [1, 4], step: -1}\n", ["architecture.depth.step", "below 1"]),
    ("family: mlp\narchitecture:\n  depth: {int: [1, 4], step: two}\n", ["architecture.depth.step",
                                                                         "not a number"]),
    ("family: mlp\ntraining:\n  lr: {float: [1.0e-4, 1e400]}\n", ["training.lr.float", "not a finite number"]),
    ("family: mlp\ntraining:\n  lr: {float: [.nan, 0.1]}\n", ["training.lr.float", "not a finite number"]),
    ("family: mlp\ntraining:\n  lr: {float: [1.0e-4, 0.1], log: \"false\"}\n", ["training.lr.log",
                                                                                 "true or false"]),
    ("family: cnn1d\narchitecture:\n  channels: 1000000000\n", ["architecture.channels", "above 65536"]),
    ("family: mlp\narchitecture:\n  width: " + "9" * 300 + "\n", ["architecture.width", "too large"]),
    ("family: mlp\nsearch: {}\n", [":2:", "search", "unknown key"]),
    # issue 28's keys: cnn1d's only, each bounded or from its list
    ("family: mlp\narchitecture:\n  dilation: [1, 2]\n", ["architecture.dilation", "unknown key"]),
    ("family: cnn1d\narchitecture:\n  downsample: 0\n", ["architecture.downsample", "below 1"]),
    ("family: cnn1d\narchitecture:\n  dilation: [1, 100]\n", ["architecture.dilation.1", "above 64"]),
    ("family: cnn1d\narchitecture:\n  global_pool: median\n", ["architecture.global_pool", "'median'",
                                                                "avg, max, avgmax"]),
    ("family: cnn1d\narchitecture:\n  normalization: [series, robust]\n", ["architecture.normalization.1",
                                                                            "channel, series"]),
    ("family: rocket\narchitecture:\n  features: 0\n", ["architecture.features", "below 1"]),
    ("family: rocket\narchitecture:\n  dilations: [4, 64]\n", ["architecture.dilations.1", "above 32"]),
    ("family: rocket\narchitecture:\n  channels: 4\n", ["architecture.channels", "unknown key",
                                                         "features, dilations, normalization"]),
    ("family: mlp\ntraining:\n  augment: [none, cutout]\n", ["training.augment.1", "'cutout'",
                                                              "none, jitter, scale, shift, mixup"]),
    ("family: [mlp\n", ["invalid YAML"]),
])
def test_bad_spaces_name_file_line_and_field(tmp_path, text, fragments):
    path = tmp_path / "bad.yaml"
    path.write_text(text)
    with pytest.raises(SpaceError) as info:
        load_space(path)
    message = str(info.value)
    assert str(path) in message
    for fragment in fragments:
        assert fragment in message, message


def test_survey_counts_fitting_share():
    from edgeopt import load_profile
    from edgeopt.space.survey import survey

    space = load_space("cnn1d")
    result = survey(space, (1, 256), 2, [load_profile("sequencer-fpga"), load_profile("stm32f746")], samples=20)
    assert 0 < result.fit_share["sequencer-fpga"] <= result.fit_share["stm32f746"] <= 1
    assert len(result.examples) == 5
    assert all(set(e["costs"]) == {"sequencer-fpga", "stm32f746"} for e in result.examples)


def test_exponents_yaml_reads_as_text_are_numbers(tmp_path):
    path = tmp_path / "s.yaml"
    path.write_text("family: mlp\ntraining:\n  lr: {float: [1e-4, 1.0e1]}\n  weight_decay: 1e-5\n")
    space = load_space(path)
    assert space.training["lr"] == FloatRange(1e-4, 10.0)
    assert space.training["weight_decay"].value == 1e-5
