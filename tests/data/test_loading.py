import numpy as np
import pytest

from edgeopt.data import DataError, DataWarning, Normalizer, example_dataset, load_dataset
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
    (np.full((10, 4), np.nan), np.array([0, 1] * 5), "NaN at sample 0, position [0] (10 samples have NaN)"),
    (np.where(np.eye(10, 4) > 0, np.inf, 0.0), np.array([0, 1] * 5), "infinite value at sample 0, position [0]"),
    (np.zeros((10, 4)), np.zeros(10), "single class"),
    (np.zeros((10, 4)), np.array([0, 2] * 5), "classes [1] (at least) never occur"),
    (np.zeros((10, 4)), np.array([-1, 1] * 5), "labels must be 0..C-1; found -1 in y_train"),
    (np.zeros((10, 4)), np.array([0, 10**9] * 5), "2 classes up to 1000000000, and classes [1, 2, 3, 4, 5] (at least)"),
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


def test_unknown_arrays_are_ignored_with_one_warning(tmp_path):
    np.savez(tmp_path / "odd.npz", x_train=np.zeros((4, 2)), y_train=np.array([0, 1, 0, 1]),
             classes=np.array(["no", "yes"]), z=np.zeros(3))
    with pytest.warns(DataWarning) as record:
        d = load_dataset(tmp_path / "odd.npz")
    assert len(record) == 1 and "ignoring arrays classes, z" in str(record[0].message)
    assert d.num_classes == 2


def _padded_series(lengths, channels=3, steps=12, seed=0):
    rng = np.random.default_rng(seed)
    x = rng.normal(5.0, 2.0, (len(lengths), channels, steps))
    for i, length in enumerate(lengths):
        x[i, :, length:] = np.nan
    return x


def test_varying_length_series_padded_with_trailing_nan_load_and_normalise_to_zero_padding(tmp_path):
    lengths = [12, 7, 3, 12, 9, 5, 12, 8]
    x = _padded_series(lengths)
    np.savez(tmp_path / "v.npz", x_train=x, y_train=np.array([0, 1] * 4), x_test=x[:4], y_test=np.array([0, 1] * 2))
    d = load_dataset(tmp_path / "v.npz")
    assert d.padded and d.summary()["padded"] is True
    norm = Normalizer.fit(x)
    real = x[:, 0][~np.isnan(x[:, 0])]
    assert norm.mean[0] == pytest.approx(real.mean(), rel=1e-6)  # statistics of the real steps only
    z = norm.apply(x)
    assert np.isfinite(z).all()
    assert (z[1, :, 7:] == 0).all() and (z[2, :, 3:] == 0).all()  # padding is the channel mean: 0
    assert not (z[1, :, :7] == 0).any()


@pytest.mark.parametrize("where, message", [
    ((2, 1, 1), "NaN at sample 2, channel 1, step 1, inside the series (it ends at step 3)"),
    ((4, 0, 8), "NaN at sample 4, channel 0, step 8, inside the series (it ends at step 9)"),
])
def test_nan_that_is_not_trailing_padding_is_refused_naming_split_sample_and_position(tmp_path, where, message):
    x = _padded_series([12, 7, 3, 12, 9, 5])
    x[where] = np.nan
    np.savez(tmp_path / "gap.npz", x_train=np.zeros((6, 3, 12)), y_train=np.array([0, 1] * 3), x_test=x,
             y_test=np.array([0, 1] * 3))
    with pytest.raises(DataError, match="x_test holds " + message.replace("(", r"\(").replace(")", r"\)")):
        load_dataset(tmp_path / "gap.npz")


def test_an_all_nan_series_and_nan_in_tabular_data_are_refused(tmp_path):
    x = _padded_series([12, 0, 5, 7])
    np.savez(tmp_path / "empty.npz", x_train=x, y_train=np.array([0, 1] * 2))
    with pytest.raises(DataError, match="x_train: sample 1 is all NaN"):
        load_dataset(tmp_path / "empty.npz")
    table = np.zeros((6, 4))
    table[3, 3] = np.nan  # a missing feature is not padding
    np.savez(tmp_path / "tab.npz", x_train=table, y_train=np.array([0, 1] * 3))
    with pytest.raises(DataError, match=r"x_train holds NaN at sample 3, position \[3\]"):
        load_dataset(tmp_path / "tab.npz")


def test_per_feature_normalizer_for_tabular_columns_of_unrelated_scales():
    rng = np.random.default_rng(1)
    x = np.stack([rng.normal(1000.0, 300.0, 50), rng.normal(0.01, 0.002, 50), np.full(50, 7.0)], axis=1)
    norm = Normalizer.fit(x, per_feature=True)
    z = norm.apply(x)
    assert np.allclose(z.mean(axis=0), 0, atol=1e-5) and np.allclose(z[:, :2].std(axis=0), 1, atol=1e-4)
    assert (z[:, 2] == 0).all()  # a constant column: std clamped to 1
    assert Normalizer.from_dict(norm.to_dict()) == norm
    assert Normalizer.from_dict({"mean": [0.0], "std": [1.0]}).per_feature is False  # stored before the option
    with pytest.raises(ValueError, match="3 features"):
        norm.apply(np.zeros((2, 4)))


def test_normalizer_uses_training_statistics_per_channel():
    x = np.stack([np.full((5, 7), 3.0), np.arange(35, dtype=float).reshape(5, 7)], axis=1)
    norm = Normalizer.fit(x)
    assert norm.mean[0] == 3.0 and norm.std[0] == 1.0  # constant channel: std clamped to 1
    z = norm.apply(x)
    assert abs(z[:, 1].mean()) < 1e-6 and abs(z[:, 1].std() - 1) < 1e-5
    assert Normalizer.from_dict(norm.to_dict()) == norm


@pytest.mark.parametrize("name", ["empty.npz", "empty.csv", "empty_x.npy"])
def test_empty_files_are_one_clear_error(tmp_path, name):
    (tmp_path / name).write_bytes(b"")
    (tmp_path / "empty_y.npy").write_bytes(b"")
    with pytest.raises(DataError, match=f"{name}: (cannot read|empty file)"):
        load_dataset(tmp_path / name)


def test_too_few_samples_to_hold_any_out_is_one_clear_error(tmp_path):
    np.savez(tmp_path / "two.npz", x_train=np.zeros((2, 1, 8)), y_train=np.array([0, 1]))
    with pytest.raises(DataError, match="2 training samples leave none for validation"):
        load_dataset(tmp_path / "two.npz")


def test_complex_values_are_refused_not_cast(tmp_path):
    np.savez(tmp_path / "c.npz", x_train=np.ones((6, 1, 4)) * (1 + 2j), y_train=np.array([0, 1] * 3))
    with pytest.raises(DataError, match="x_train holds complex128, not real numbers"):
        load_dataset(tmp_path / "c.npz")


@pytest.mark.parametrize("kind", ["npz", "npy"])
def test_an_array_header_declaring_more_than_the_file_holds_is_refused_before_allocating(tmp_path, kind):
    """A 600-byte file whose header declares 10^12 samples: one error, not a MemoryError."""
    from hostile_files import forged_arrays, forged_npz

    if kind == "npz":
        path = forged_npz(tmp_path / "forged.npz")
    else:
        x, y = forged_arrays()
        path = tmp_path / "forged_x.npy"
        path.write_bytes(x)
        (tmp_path / "forged_y.npy").write_bytes(y)
    assert path.stat().st_size < 1000
    with pytest.raises(DataError, match="declares shape"):
        load_dataset(str(path))


def test_a_csv_with_a_byte_order_mark_reads_its_first_column_by_name(tmp_path):
    """Spreadsheets save UTF-8 CSVs with a BOM; it is not part of the first column's name."""
    rows = "".join(f"{i % 2},{i},{i * 2}\n" for i in range(40))
    (tmp_path / "bom.csv").write_bytes(b"\xef\xbb\xbf" + f"label,a,b\n{rows}".encode())
    dataset = load_dataset(tmp_path / "bom.csv", label_column="label")
    assert dataset.sample_shape == (2,) and dataset.num_classes == 2
