"""`edgeopt profile MODEL --measure`: each layer's latency measured inside the model (onnxruntime's profiler) beside
its estimate, and the whole call."""

from __future__ import annotations

import json
from pathlib import Path

from click.testing import CliRunner

from edgeopt.cli import main


def test_profile_measure_puts_measured_latency_beside_the_estimate():
    model = str(Path(__file__).resolve().parents[2] / "examples" / "read_classifier.onnx")
    runner = CliRunner()
    result = runner.invoke(main, ["profile", model, "-p", "host-cpu", "--measure", "--json"])
    assert result.exit_code == 0, result.output
    data = json.loads(result.output)
    assert data["measured"]["source"] == "measured" and data["measured"]["call_s"] > 0
    assert data["provenance"]["latency_s"] == {"source": "estimated", "fit_error": None}
    weighted = [layer for layer in data["layers"] if layer["op"] in ("conv1d", "depthwise_conv1d", "dense")]
    assert weighted and all(layer["measured_latency_s"] > 0 for layer in weighted)  # every node, by its name
    shown = runner.invoke(main, ["profile", model, "-p", "host-cpu", "--measure"]).output
    assert "measured" in shown and "a call" in shown
    result = runner.invoke(main, ["profile", "examples/models.py:reads_teacher", "-p", "host-cpu", "--input-shape",
                                  "1,1,256", "--measure"])
    assert result.exit_code == 2 and "--measure times ONNX files" in result.output
