"""--format tvm: Apache TVM builds of the QDQ file for the host and a Cortex-M4 (CI installs the extra: this never
skips there)."""

from __future__ import annotations

import json
import os
import sys

import numpy as np
import pytest

from edgeopt.deploy.export import export
from edgeopt.deploy.runtime import onnx_logits
from edgeopt.errors import EdgeoptError


@pytest.fixture(scope="module")
def tvm_export(qdq_models, tmp_path_factory):
    try:
        import tvm  # noqa: F401
    except ImportError:
        if os.environ.get("EDGEOPT_CI"):
            pytest.fail("CI installs edgeopt[tvm]")
        pytest.skip("needs the tvm extra")
    path, x_test = qdq_models["cnn1d"]
    out = tmp_path_factory.mktemp("tvm") / "out"
    return export(path, "stm32f746", out, format="tvm"), path, x_test


def test_the_host_build_computes_what_onnxruntime_does(tvm_export):
    from edgeopt.deploy.tvm_export import run_tvm, tvm_latency_s

    record, path, x_test = tvm_export
    x = x_test[:200]
    ours, theirs = run_tvm(record.out_dir, x), onnx_logits(path, x)
    assert np.mean(ours.argmax(1) == theirs.argmax(1)) >= 0.995
    step = float(theirs.max() - theirs.min()) / 255  # as verify_c measures the C: an int8 step of the logits
    within = np.all(np.abs(ours - theirs) <= step, axis=1)
    assert within.mean() >= 0.99, within.mean()  # an intermediate rounded the other way now and then
    assert tvm_latency_s(record.out_dir, x[0], runs=20, warmup=2) > 0


def test_the_cortex_m4_objects_and_the_manifest(tvm_export):
    from edgeopt.deploy.tvm_export import cross_objects

    record, _, _ = tvm_export
    assert record.format == "tvm" and "cortex-m4.tar" in record.files and record.counted_weight_bytes is None
    assert cross_objects(os.path.join(record.out_dir, "cortex-m4.tar"))
    manifest = json.loads(open(os.path.join(record.out_dir, "manifest.json")).read())
    assert manifest["format"] == "tvm" and manifest["estimated_weight_bytes"] > 0


def test_without_the_extra_one_clear_error_and_nothing_written(qdq_models, tmp_path, monkeypatch):
    monkeypatch.setitem(sys.modules, "tvm", None)  # import tvm fails as if not installed
    path, _ = qdq_models["mlp"]
    with pytest.raises(EdgeoptError, match=r"edgeopt\[tvm\]"):
        export(path, "stm32f746", tmp_path / "out", format="tvm")
    assert not (tmp_path / "out").exists()
