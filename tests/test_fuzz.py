"""Fuzz-style properties of every input edgeopt reads: whatever the bytes, a result or one EdgeoptError, never another
exception; names never leave the folder they belong in."""

import io
import warnings
import zipfile
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from edgeopt.errors import EdgeoptError
from edgeopt.search.settings import check_run_name

FUZZ = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])

NAMES = st.text(st.characters(codec="utf-8", exclude_categories=("Cs",)), max_size=20) | st.sampled_from(
    ["..", ".", "../x", "a/b", "/abs", "..\\x", "x\0y", "ok-name_1.2", "~", " "])


@given(NAMES)
def test_a_run_name_is_refused_or_stays_one_folder_inside_the_runs_folder(name):
    runs = Path("/srv/runs")
    try:
        check_run_name(name)
    except EdgeoptError:
        return
    resolved = (runs / name).resolve()
    assert resolved.parent == runs and resolved.name == name


SCALARS = st.none() | st.booleans() | st.integers(-10**30, 10**30) | st.floats(allow_nan=True) | st.text(max_size=12)
KEYS = st.sampled_from(["name", "extends", "memory", "weights", "size", "compute", "clock", "formats", "budgets",
                        "max_params", "family", "architecture", "training", "steps", "prune", "quantize", "x"])
DOCS = st.recursive(SCALARS, lambda inner: st.lists(inner, max_size=4) | st.dictionaries(KEYS, inner, max_size=5),
                    max_leaves=20)


def _yaml(doc) -> str:
    import yaml

    return yaml.safe_dump(doc, allow_unicode=True)


@FUZZ
@given(DOCS | st.text(max_size=80))
def test_any_yaml_document_is_a_profile_a_space_a_pipeline_or_one_error(tmp_path, doc):
    from edgeopt.compression.pipeline import load_pipeline
    from edgeopt.profiles.loader import load_profile
    from edgeopt.space.spec import load_space

    path = tmp_path / "doc.yaml"
    path.write_text(doc if isinstance(doc, str) else _yaml(doc), encoding="utf-8")
    for load in (load_profile, load_space, load_pipeline):
        try:
            load(path)
        except EdgeoptError:
            pass


ARRAYS = st.sampled_from([
    np.zeros((6, 1, 8), np.float32), np.ones((3, 2)), np.array([0, 1, 0, 1, 0, 1]), np.array([0.5, 1.0]),
    np.array(["a", "b"]), np.zeros((0, 4)), np.full((4, 1, 3), np.nan), np.array([1 + 2j, 3j]),
    np.array([[0, 10**9]] * 3), np.zeros((5,), np.bool_), np.arange(12).reshape(6, 2), np.array(7)])


@FUZZ
@given(st.dictionaries(st.sampled_from(["x_train", "y_train", "x_val", "y_val", "x_test", "y_test", "extra"]),
                       ARRAYS, max_size=7))
def test_any_npz_is_a_dataset_or_one_error(tmp_path, arrays):
    from edgeopt.data import DataWarning, load_dataset

    path = tmp_path / "d.npz"
    np.savez(path, **arrays)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", DataWarning)  # the unknown array "extra"
            dataset = load_dataset(path)
    except EdgeoptError:
        return
    assert dataset.num_classes >= 2 and len(dataset.y_val) > 0


@FUZZ
@given(st.binary(max_size=300), st.sampled_from(["archive_format", "models/model.json", "data/weights/weight_0",
                                                 "serialized_state_dict.json", "x/../y", "data/sample_inputs/m.pt"]))
def test_any_program_archive_loads_or_is_one_error_without_unpickling(tmp_path, payload, member):
    from edgeopt.models.source import load_source

    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr(f"m/{member}", payload)
        if member != "archive_format":
            archive.writestr("m/archive_format", b"pt2")
    path = tmp_path / "m.pt2"
    path.write_bytes(buffer.getvalue())
    with pytest.raises(EdgeoptError):
        load_source(str(path))
