"""Early stopping within a trial: the weights of its best validation epoch are what it is scored and deployed with;
training resumes from its latest; a cross-validation refit keeps the folds' median epoch; test data is never read."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from edgeopt.data.examples import example_dataset
from edgeopt.data.normalize import Normalizer
from edgeopt.models.source import load_source
from edgeopt.space.spec import load_space
from edgeopt.train.cv import FoldedData, Selection, train_cv
from edgeopt.train.loop import DeviceData, TrialSpec, evaluate, load_trained, predict, train_trial

torch = pytest.importorskip("torch")
CONFIG = {"blocks": 1, "channels": 4, "channel_growth": 1.0, "kernel_size": 5, "stride": 2, "pooling": "max",
          "separable": False, "activation": "relu", "dropout": 0.0, "lr": 0.05, "weight_decay": 0.0, "batch_size": 16,
          "optimizer": "adam", "epochs": 6, "lr_schedule": "constant", "early_stop": True}


def _data(n: int = 160, noise_seed: int = 0):
    data = example_dataset("reads", n_samples=n)
    rng = np.random.default_rng(noise_seed)  # a test split nobody may read: its values change nothing
    return dataclasses.replace(data, x_test=rng.normal(size=data.x_test.shape).astype(np.float32))


def _spec(data, path, config=CONFIG):
    return TrialSpec(0, load_space("cnn1d").to_json(), config, data.sample_shape, 2, 3, str(path),
                     normalizer=Normalizer.fit(data.x_train).to_dict())


def test_the_kept_epoch_is_the_best_on_validation_and_training_resumes_from_the_latest(tmp_path):
    data = _data()
    device_data = DeviceData(data, Normalizer.fit(data.x_train))
    spec = _spec(data, tmp_path / "t.pt")
    first = train_trial(spec, device_data, 2)
    result = train_trial(spec, device_data, 6)
    state = torch.load(spec.checkpoint, weights_only=True)
    kept = state["kept"]
    assert 1 <= kept["epoch"] <= 6 and result.kept_epoch == kept["epoch"] and first.kept_epoch <= 2
    # the kept loss is the least of every epoch's: retrain alone, epoch by epoch, to see each one's
    losses = []
    for epochs in range(1, 7):
        plain = _spec(data, tmp_path / f"p{epochs}.pt", dict(CONFIG, early_stop=False))
        for done in range(1, epochs + 1):
            train_trial(plain, device_data, done)
        losses.append(predict(load_trained(plain), device_data.x_eval, device_data.y_eval)[1])
    assert kept["loss"] == pytest.approx(min(losses), rel=1e-5) and kept["epoch"] == 1 + int(np.argmin(losses))
    deployed = load_trained(spec)
    again = evaluate(deployed, device_data.x_eval, device_data.y_eval)
    assert again.accuracy == result.metrics.accuracy and abs(again.loss - result.metrics.loss) < 1e-6
    assert all(torch.equal(a, b) for a, b in zip(load_source(spec.checkpoint).module.state_dict().values(),
                                                  deployed.state_dict().values()))
    if kept["epoch"] < 6:  # the checkpoint goes on from the latest weights, not the kept ones
        assert any(not torch.equal(state["model"][k], kept["model"][k]) for k in kept["model"])


def test_a_cross_validation_refit_keeps_the_folds_median_epoch_and_never_reads_the_test_split(tmp_path):
    runs = []
    for noise in (0, 1):
        data = _data(noise_seed=noise)
        folded = FoldedData(data, Normalizer.fit(data.x_train), Selection("cv", 3), seed=0)
        spec = _spec(data, tmp_path / f"cv{noise}" / "t.pt")
        runs.append((train_cv(spec, folded, 4), spec))
    (result, spec), (other, _) = runs
    folds = [torch.load(tmp_path / "cv0" / f"t.fold{k}.pt", weights_only=True)["kept"]["epoch"] for k in range(3)]
    refit = torch.load(spec.checkpoint, weights_only=True)
    assert refit["kept"]["epoch"] == int(np.median(folds))
    assert np.array_equal(result.probs, other.probs)  # another test split: the same training, the same scores


def test_kept_weights_that_do_not_fit_the_model_are_one_error_naming_the_file(tmp_path):
    from edgeopt.errors import ModelError
    from edgeopt.train.loop import TrainingError

    data = _data()
    spec = _spec(data, tmp_path / "t.pt")
    train_trial(spec, DeviceData(data, Normalizer.fit(data.x_train)), 1)
    state = torch.load(spec.checkpoint, weights_only=True)
    state["kept"]["model"] = {name: torch.zeros(3) for name in state["kept"]["model"]}
    torch.save(state, spec.checkpoint)
    with pytest.raises(TrainingError, match=r"t\.pt: the weights do not fit trial 0's model"):
        load_trained(spec)
    with pytest.raises(ModelError, match=r"t\.pt: the checkpoint's weights do not rebuild its model"):
        load_source(spec.checkpoint)
