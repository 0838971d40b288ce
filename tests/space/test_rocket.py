"""The rocket family: generated kernels (never stored or trained), thresholds fitted from data, PPV features, a
trained head; costed as a device stores and runs it."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from edgeopt.cost.estimate import estimate_graph
from edgeopt.data.examples import example_dataset
from edgeopt.data.normalize import Normalizer
from edgeopt.graph.kernels import COMBOS, generated_kernels, kernel_weights
from edgeopt.profiles.loader import load_profile
from edgeopt.space.families import FAMILIES
from edgeopt.space.rocket import dilations
from edgeopt.space.spec import load_space
from edgeopt.train.loop import DeviceData, TrialSpec, load_trained, train_trial

torch = pytest.importorskip("torch")
CONFIG = {"features": 60, "dilations": 4, "normalization": "series", "lr": 0.02, "weight_decay": 0.0,
          "batch_size": 32, "optimizer": "adam", "epochs": 2}


def test_the_84_kernels_and_their_dilations():
    assert len(COMBOS) == 84 and len(set(COMBOS)) == 84
    assert all(sum(kernel_weights(k)) == 0 and sorted(set(kernel_weights(k))) == [-1.0, 2.0] for k in range(84))
    assert dilations(1344, 6) == (1, 2, 7, 21, 60, 167) and dilations(9, 6) == (1,) and dilations(29, 8) == (1, 2, 3)


def test_features_are_generated_thresholds_fitted_and_only_the_head_trains(tmp_path):
    data = example_dataset("reads", n_samples=600)
    space = load_space("rocket")
    model = space.build(CONFIG, data.sample_shape, 2, seed=0)
    trained = [name for name, p in model.named_parameters() if p.requires_grad]
    assert trained == ["head.weight", "head.bias"]
    convs = list(model.convs)
    assert sum(c.out_channels for c in convs) == 60 and all(not c.bias.requires_grad for c in convs)
    for conv in convs:  # every output: one channel, one of the 84 kernels; a buffer, not a parameter
        assert "weight" in dict(conv.named_buffers()) and generated_kernels(conv.weight.numpy()) is not None
    normalizer = Normalizer.fit(data.x_train, per_series=True)
    device_data = DeviceData(data, normalizer)
    results = []
    for name in ("a", "b"):
        spec = TrialSpec(0, space.to_json(), CONFIG, data.sample_shape, 2, 5, str(tmp_path / f"{name}.pt"),
                         normalizer=normalizer.to_dict())
        results.append(train_trial(spec, device_data, 2))
        trained_model = load_trained(spec)
        thresholds = torch.cat([-c.bias for c in trained_model.convs])
        assert torch.all(thresholds != 0)  # fitted from the data before the first epoch, kept by the checkpoint
    assert np.array_equal(results[0].probs, results[1].probs)  # the trial's seed draws the series: reproducible
    assert results[0].metrics.accuracy > 0.5
    weights = [c.weight.clone() for c in convs]
    assert all(torch.equal(w, c.weight) for w, c in zip(weights, load_trained(spec).convs))


def test_the_cost_counts_thresholds_and_index_words_not_kernels_nor_the_positions_compared():
    space = load_space("rocket")
    config = dict(CONFIG, features=306, dilations=6)
    graph = space.graph(config, (1, 1344), 11)
    assert graph.params == 306 + 306 + 306 * 11 + 11  # thresholds, index words, the head
    est = estimate_graph(graph, load_profile("stm32f746"))
    assert est.fits and est.peak_activation_bytes < 5_000  # counts, not 306 x 1344 compares, are kept
    assert est.total.macs >= 306 * 1344 * 9
    fpga = estimate_graph(graph, load_profile("sequencer-fpga"))
    assert not fpga.fits and any("latency" in v.message for v in fpga.violations)  # 3.7M adds: not in 20 us
    assert FAMILIES["rocket"].check(dict(config, features=999), (1, 20)) is not None  # more than 84 x 1 x 2 triples


def test_a_rocket_search_trains_alone_and_records_its_trials(tmp_path):
    from edgeopt.runner.coordinator import run_search
    from edgeopt.search.settings import SearchSettings

    space = tmp_path / "rocket.yaml"
    space.write_text("family: rocket\narchitecture:\n  features: [21, 42]\n  dilations: 3\n"
                     "training:\n  epochs: 2\n  min_steps: 1\n  batch_size: 64\n")
    settings = SearchSettings(name="r", space=str(space), profiles=("stm32f746",), data="reads", trials=3,
                              runs_dir=str(tmp_path / "runs"), workers=2)
    store = run_search(dataclasses.replace(settings, early_stopping=False))
    trials = [t for t in store.trials() if t.rungs]
    assert len(trials) == 3 and all(t.last.metrics["accuracy"] > 0 for t in trials)
    assert all(t.costs["stm32f746"]["fits"] for t in trials)
