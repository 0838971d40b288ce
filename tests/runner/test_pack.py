"""A packed trial trains as the same trial alone would: same seed, same data order, same optimizer arithmetic."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from edgeopt.data.examples import example_dataset
from edgeopt.data.normalize import Normalizer
from edgeopt.runner.pack import PADDED, Pack, pack_key
from edgeopt.runner.pack_train import train_pack
from edgeopt.space.spec import load_space
from edgeopt.train.loop import DeviceData, RungResult, TrainingError, TrialSpec, train_trial

torch = pytest.importorskip("torch")

# One structure per family; widths, kernels, optimizer kind, learning rate, decay, schedule and class weighting vary.
BASE = {
    "mlp": {"depth": 2, "activation": "tanh", "dropout": 0.0, "batch_size": 128, "epochs": 9},
    "cnn1d": {"blocks": 2, "stride": 2, "pooling": "max", "separable": True, "activation": "relu", "dropout": 0.0,
              "batch_size": 128, "epochs": 9},
    "cnn2d": {"blocks": 2, "stride": 2, "activation": "hardswish", "dropout": 0.0, "batch_size": 128, "epochs": 9},
}
VARIANTS = {
    "mlp": [{"width": 8}, {"width": 32}, {"width": 16}],
    "cnn1d": [{"channels": 4, "channel_growth": 1.5, "kernel_size": 3},
              {"channels": 8, "channel_growth": 1.0, "kernel_size": 7},
              {"channels": 6, "channel_growth": 2.0, "kernel_size": 5}],
    "cnn2d": [{"channels": 4, "expansion": 2, "kernel_size": 3}, {"channels": 8, "expansion": 4, "kernel_size": 5},
              {"channels": 4, "expansion": 6, "kernel_size": 5}],
}
TRAINING = [{"optimizer": "adam", "lr": 0.01, "weight_decay": 1e-4, "lr_schedule": "cosine", "class_weight": "none"},
            {"optimizer": "adamw", "lr": 0.003, "weight_decay": 1e-3, "lr_schedule": "constant",
             "class_weight": "balanced"},
            {"optimizer": "adam", "lr": 0.02, "weight_decay": 1e-6, "lr_schedule": "cosine", "class_weight": "none"}]


def _data(family: str, n: int = 384, dtype=None):
    dataset = example_dataset("shapes" if family == "cnn2d" else "reads", seed=0)
    dataset = dataclasses.replace(dataset, x_train=dataset.x_train[:n], y_train=dataset.y_train[:n],
                                  x_val=dataset.x_val[:200], y_val=dataset.y_val[:200])
    data = DeviceData(dataset, Normalizer.fit(dataset.x_train, per_feature=family == "mlp"))
    if dtype is not None:
        data.x_train, data.x_eval = data.x_train.to(dtype), data.x_eval.to(dtype)
    return dataset, data


def _specs(family, dataset, folder, configs):
    space = load_space(family).to_json()
    return [TrialSpec(i, space, config, dataset.sample_shape, dataset.num_classes, 100 + i,
                      str(folder / f"{i}.pt")) for i, config in enumerate(configs)]


def _configs(family, optimizer=None):
    out = []
    for variant, training in zip(VARIANTS[family], TRAINING):
        config = {**BASE[family], **variant, **training}
        if optimizer:
            config["optimizer"] = optimizer
        out.append(config)
    return out


@pytest.mark.parametrize("family", ["mlp", "cnn1d", "cnn2d"])
@pytest.mark.parametrize("optimizer", [None, "sgd"])
def test_a_packed_trial_equals_the_trial_trained_alone_in_double_precision(tmp_path, family, optimizer):
    """In float64 rounding is out of the way: what is left would be a difference in the method (padding, masks,
    optimizer arithmetic, data order, batch norm statistics). Tolerance: 1e-8 on probabilities and losses after one
    epoch (over more epochs a batch-normed cnn2d amplifies double rounding to 1e-6: training is chaotic)."""
    if family == "cnn2d" and optimizer == "sgd":
        pytest.skip("the sgd arithmetic is family-independent; covered by mlp and cnn1d")
    previous = torch.get_default_dtype()
    torch.set_default_dtype(torch.float64)
    try:
        dataset, data = _data(family, dtype=torch.float64)
        configs = _configs(family, optimizer)
        assert len({pack_key(family, c) for c in configs}) == 1
        alone = [train_trial(s, data, 1) for s in _specs(family, dataset, tmp_path / "alone", configs)]
        packed = train_pack(_specs(family, dataset, tmp_path / "packed", configs), data, 1)
    finally:
        torch.set_default_dtype(previous)
    for a, p in zip(alone, packed):
        assert isinstance(p, RungResult) and p.epochs == a.epochs == 1
        assert np.abs(a.probs - p.probs).max() < 1e-8
        assert abs(a.train_loss - p.train_loss) < 1e-8 and abs(a.metrics.loss - p.metrics.loss) < 1e-8


@pytest.mark.parametrize("structure", [{"downsample": 2, "dilation": 2, "global_pool": "avgmax"},
                                       {"downsample": 4, "dilation": 3, "global_pool": "max", "separable": False}])
def test_packs_hold_fixed_front_ends_dilated_blocks_and_every_global_pooling(tmp_path, structure):
    """The weightless downsampling front end stays fixed (the same in every member, never trained), dilated kernels of
    several sizes share one padded convolution, and max or avg+max global pooling batches: a pack still equals its
    trials trained alone, in double precision."""
    previous = torch.get_default_dtype()
    torch.set_default_dtype(torch.float64)
    try:
        dataset, data = _data("cnn1d", dtype=torch.float64)
        configs = [{**c, **structure} for c in _configs("cnn1d")]
        alone = [train_trial(s, data, 1) for s in _specs("cnn1d", dataset, tmp_path / "alone", configs)]
        packed = train_pack(_specs("cnn1d", dataset, tmp_path / "packed", configs), data, 1)
    finally:
        torch.set_default_dtype(previous)
    for a, p in zip(alone, packed):
        assert isinstance(p, RungResult)
        assert np.abs(a.probs - p.probs).max() < 1e-8
    front = torch.load(tmp_path / "packed" / "0.pt", weights_only=True)["model"]["0.weight"]
    factor = structure["downsample"]
    assert front.shape[-1] == factor and torch.all(front == 1.0 / factor)  # trained, yet unchanged


@pytest.mark.parametrize("family", ["mlp", "cnn1d"])
def test_float32_packs_agree_with_alone_within_rounding_and_resume_either_way(tmp_path, family):
    """float32: one rung agrees within 1e-4 on probabilities (sums run in another order); checkpoints are
    interchangeable, so a trial packed at rung 0 resumes alone at rung 1 (and the reverse) from the same state."""
    dataset, data = _data(family)
    configs = _configs(family)
    alone = [train_trial(s, data, 1) for s in _specs(family, dataset, tmp_path / "a", configs)]
    packed = train_pack(_specs(family, dataset, tmp_path / "p", configs), data, 1)
    for a, p in zip(alone, packed):
        assert np.abs(a.probs - p.probs).max() < 1e-4
    for spec_a, spec_p in zip(_specs(family, dataset, tmp_path / "a", configs),
                              _specs(family, dataset, tmp_path / "p", configs)):
        a_state = torch.load(spec_a.checkpoint, weights_only=True)
        p_state = torch.load(spec_p.checkpoint, weights_only=True)
        assert a_state["model"].keys() == p_state["model"].keys() and p_state["epoch"] == 1
        for name, tensor in a_state["model"].items():
            assert p_state["model"][name].shape == tensor.shape
            assert torch.allclose(p_state["model"][name].double(), tensor.double(), atol=1e-4)
    resumed = [train_trial(s, data, 2) for s in _specs(family, dataset, tmp_path / "p", configs)]
    assert all(r.epochs == 2 for r in resumed)
    repacked = train_pack(_specs(family, dataset, tmp_path / "a", configs), data, 2)
    for r, q in zip(resumed, repacked):
        assert np.abs(r.probs - q.probs).max() < 1e-3


def test_padded_weights_stay_exactly_zero_and_masks_cover_each_trials_own_shape(tmp_path):
    dataset, data = _data("cnn1d", n=256)
    specs = _specs("cnn1d", dataset, tmp_path, _configs("cnn1d"))
    pack = Pack(specs, data)
    before = pack.flat.detach().clone()
    for k, member in enumerate(pack.members):
        own = sum(p.numel() for p in member.model.parameters())
        assert int(pack.flat_mask[k].sum()) == own  # exactly the trial's own weights are live
    pack.base.train()
    x = data.x_train[torch.stack([torch.arange(64)] * len(specs))]
    logits = pack.logits(x)
    loss = torch.nn.functional.cross_entropy(logits.flatten(0, 1), data.y_train[:64].repeat(len(specs)))
    loss.backward()
    padded = pack.flat_mask == 0
    assert torch.all(pack.flat.grad[padded] == 0)
    pack.step(torch.full((len(specs),), 0.01, dtype=torch.float64), torch.ones(len(specs), dtype=torch.bool))
    assert torch.all((pack.flat.detach() * padded)[padded] == before[padded])
    assert torch.all(pack.state[0][padded] == 0) and torch.all(pack.state[1][padded] == 0)


def test_a_trial_whose_loss_goes_nan_leaves_the_pack_and_the_others_are_unaffected(tmp_path):
    dataset, data = _data("mlp")
    configs = _configs("mlp")
    # Adam moves every weight by about lr per step: 1e30 overflows the logits within two steps.
    configs[1] = {**configs[1], "lr": 1e30, "optimizer": "adam", "lr_schedule": "constant"}
    packed = train_pack(_specs("mlp", dataset, tmp_path / "p", configs), data, 2)
    assert isinstance(packed[1], TrainingError) and "trial 1: loss became" in str(packed[1])
    specs = _specs("mlp", dataset, tmp_path / "a", configs)
    alone = [train_trial(specs[0], data, 2), train_trial(specs[2], data, 2)]
    for a, p in zip(alone, [packed[0], packed[2]]):
        assert np.abs(a.probs - p.probs).max() < 1e-4
    assert not (tmp_path / "p" / "1.pt").exists()  # a failed trial leaves no checkpoint


@settings(max_examples=40, deadline=None)
@given(family=st.sampled_from(["mlp", "cnn1d", "cnn2d"]), seed=st.integers(0, 2**16))
def test_pack_keys_hold_exactly_the_configs_that_share_a_structure(family, seed):
    """Widths, kernels, learning rate, decay, dropout rate and Adam against AdamW never split a pack; configs with
    equal keys build modules with the same named parameters, so one padded module serves them all."""
    space = load_space(family)
    rng = np.random.default_rng(seed)
    config, drawn = space.sample(rng), space.sample(rng)
    varied = {**config, **{k: drawn[k] for k in (*PADDED[family], "lr", "weight_decay")}}
    varied["dropout"] = drawn["dropout"] if (drawn["dropout"] > 0) == (config["dropout"] > 0) else config["dropout"]
    if family == "cnn2d" and (drawn["expansion"] == 1) != (config["expansion"] == 1):
        varied["expansion"] = config["expansion"]  # expansion 1 has no expanding convolution: another structure
    if config["optimizer"] != "sgd" and drawn["optimizer"] != "sgd":
        varied["optimizer"] = drawn["optimizer"]
    assert pack_key(family, config) == pack_key(family, varied)
    shape = (3, 16, 16) if family == "cnn2d" else (2, 64)
    for other in (varied, drawn):
        if pack_key(family, other) == pack_key(family, config):
            assert [n for n, _ in space.build(config, shape, 3).named_parameters()] == \
                [n for n, _ in space.build(other, shape, 3).named_parameters()]


@settings(max_examples=200, deadline=None)
@given(sizes=st.lists(st.integers(1, 100_000), min_size=1, max_size=40), max_pack=st.integers(1, 32))
def test_members_keep_at_least_half_of_a_packs_arithmetic_useful(sizes, max_pack):
    from edgeopt.runner.pack import PACK_EFFICIENCY, choose_members

    items = list(range(len(sizes)))
    members = choose_members(items[0], items[1:], lambda i: sizes[i], max_pack)
    assert members[0] == 0 and len(set(members)) == len(members) <= max_pack
    chosen = [sizes[i] for i in members]
    assert len(members) == 1 or sum(chosen) / (len(chosen) * max(chosen)) >= PACK_EFFICIENCY
    equal = [i for i in items[1:] if sizes[i] == sizes[0]]
    assert len(members) >= min(max_pack, 1 + len(equal))  # trials of the first's own size always fit
