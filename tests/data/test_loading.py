import numpy as np
import pytest

from edgeopt.data import DataError, Normalizer, example_dataset, load_dataset
from edgeopt.data.splits import stratified_split


def test_bundled_examples_are_deterministic_and_imbalanced():
    a, b = example_dataset("reads", seed=0), example_dataset("reads", seed=0)
    assert np.array_equal(a.x_train, b.x_train) and np.array_equal(a.y_test, b.y_test)
    assert a.sample_shape == (1, 256) and a.num_classes == 2
    share = a.y_train.mean()
    assert 0.15 < share < 0.35
    shapes = example_dataset("shapes")
    assert shapes.sample_shape == (1, 16, 16) and shapes.num_classes == 4


def test_stratified_split_keeps_class_shares():
    y = np.array([0] * 80 + [1] * 20)
    kept, held = stratified_split(y, 0.25, seed=1)
    assert len(set(kept) & set(held)) == 0 and len(kept) + len(held) == 100
    assert (y[held] == 1).sum() == 5 and (y[held] == 0).sum() == 20
    again = stratified_split(y, 0.25, seed=1)
    assert np.array_equal(again[1], held)


def test_npz_with_and_without_validation(tmp_path):
    rng = np.random.default_rng(0)
    x, y = rng.normal(size=(50, 3, 8)), rng.integers(0, 3, 50)
    np.savez(tmp_path / "d.npz", x_train=x, y_train=y)
    d = load_dataset(tmp_path / "d.npz")
    assert len(d.y_train) + len(d.y_val) == 50 and d.num_classes == 3 and d.x_test is None
    np.savez(tmp_path / "e.npz", x_train=x, y_train=y, x_val=x[:5], y_val=y[:5], x_test=x[:7], y_test=y[:7])
    e = load_dataset(tmp_path / "e.npz")
    assert len(e.y_val) == 5 and len(e.y_test) == 7


def test_csv_and_npy_pairs(tmp_path):
    (tmp_path / "t.csv").write_text("a,b,label\n1,2,0\n3,4,1\n5,6,0\n7,8,1\n9,1,0\n2,2,1\n")
    d = load_dataset(tmp_path / "t.csv")
    assert d.sample_shape == (2,) and d.num_classes == 2
    with pytest.raises(DataError, match="no label column 'kind'; columns: a, b, label"):
        load_dataset(tmp_path / "t.csv", label_column="kind")
    np.save(tmp_path / "reads_x.npy", np.zeros((10, 4)))
    np.save(tmp_path / "reads_y.npy", np.array([0, 1] * 5))
    assert load_dataset(tmp_path / "reads_x.npy").num_classes == 2
    np.save(tmp_path / "lonely_x.npy", np.zeros((10, 4)))
    with pytest.raises(DataError, match="lonely_y.npy not found"):
        load_dataset(tmp_path / "lonely_x.npy")


@pytest.mark.parametrize("x, y, message", [
    (np.zeros((10, 4)), np.zeros(9), "x_train has 10 samples but y_train has 9"),
    (np.full((10, 4), np.nan), np.array([0, 1] * 5), "NaN or infinite values in 10 samples"),
    (np.zeros((10, 4)), np.zeros(10), "single class"),
    (np.zeros((10, 4)), np.array([0, 2] * 5), "classes [1] never occur"),
    (np.zeros((10, 4)), np.array([-1, 1] * 5), "labels must be 0..1"),
    (np.zeros((10, 4)), np.array([0.5, 1] * 5), "whole-number class labels"),
    (np.zeros(10), np.array([0, 1] * 5), "expected (samples, features...)"),
])
def test_bad_data_is_refused_before_training(tmp_path, x, y, message):
    np.savez(tmp_path / "bad.npz", x_train=x, y_train=y)
    with pytest.raises(DataError) as info:
        load_dataset(tmp_path / "bad.npz")
    assert message in str(info.value) and "bad.npz" in str(info.value)


def test_other_bad_files(tmp_path):
    with pytest.raises(DataError, match="no such data file"):
        load_dataset(tmp_path / "absent.npz")
    (tmp_path / "x.parquet").write_text("?")
    with pytest.raises(DataError, match="unsupported data file"):
        load_dataset(tmp_path / "x.parquet")
    (tmp_path / "broken.npz").write_text("not a zip")
    with pytest.raises(DataError, match="cannot read as .npz"):
        load_dataset(tmp_path / "broken.npz")
    np.savez(tmp_path / "odd.npz", x_train=np.zeros((4, 2)), y_train=np.array([0, 1, 0, 1]), z=np.zeros(3))
    with pytest.raises(DataError, match=r"unknown arrays \['z'\]"):
        load_dataset(tmp_path / "odd.npz")


def test_normalizer_uses_training_statistics_per_channel():
    x = np.stack([np.full((5, 7), 3.0), np.arange(35, dtype=float).reshape(5, 7)], axis=1)
    norm = Normalizer.fit(x)
    assert norm.mean[0] == 3.0 and norm.std[0] == 1.0  # constant channel: std clamped to 1
    z = norm.apply(x)
    assert abs(z[:, 1].mean()) < 1e-6 and abs(z[:, 1].std() - 1) < 1e-5
    assert Normalizer.from_dict(norm.to_dict()) == norm
