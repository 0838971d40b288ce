"""Pipelines from YAML through the step registry: typed configs, clear errors naming file, line and the valid names."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

from edgeopt.compression import (
    ChannelPruneConfig,
    CompressError,
    DistillConfig,
    QuantizeConfig,
    load_pipeline,
)

ROOT = Path(__file__).resolve().parents[2]


def _write(tmp_path, text: str) -> Path:
    path = tmp_path / "pipeline.yaml"
    path.write_text(textwrap.dedent(text))
    return path


def test_shipped_example_pipelines_load():
    for path in sorted((ROOT / "examples" / "pipelines").glob("*.yaml")):
        pipeline = load_pipeline(path)
        assert pipeline.steps and pipeline.metric == "f1"


def test_yaml_resolves_to_typed_configs_with_units(tmp_path):
    pipeline = load_pipeline(_write(tmp_path, """\
        metric: recall
        max_drop: 0.02
        steps:
          - prune: {target: {weight_bytes: 4KiB, latency: 20us}, steps: 3}
          - distill: {temperature: 2, alpha: 0.5, epochs: 5, lr: 1e-3}
          - quantize
        """))
    prune, distill, quantize = pipeline.steps
    assert prune == ChannelPruneConfig(target={"weight_bytes": 4096.0, "latency_s": 20e-6}, steps=3)
    assert distill == DistillConfig(temperature=2.0, alpha=0.5, epochs=5, lr=1e-3)
    assert quantize == QuantizeConfig()
    assert (pipeline.metric, pipeline.max_drop, pipeline.names) == ("recall", 0.02, ("prune", "distill", "quantize"))


@pytest.mark.parametrize("body, message", [
    ("steps:\n  - shrink: {}\n", r"pipeline.yaml:2: unknown step 'shrink'; valid steps: prune, magnitude_prune, "
                                 r"distill, quantize"),
    ("steps:\n  - prune: {ratios: 0.5}\n", r"pipeline.yaml:2: prune: unknown option 'ratios'; valid options: ratio, "),
    ("steps:\n  - prune: {target: {params: 4 apples}}\n", r"prune.target.params"),
    ("steps:\n  - quantize: {}\n  - prune: {ratio: 0.5}\n", "quantize must be the last step"),
    ("steps: []\n", "non-empty list"),
    ("steps:\n  - quantize: {qat_epochs: two}\n", "qat_epochs: 'two' is not a number"),
    ("steps:\n  - distill: {batch_size: 0}\n", "distill: batch_size: 0 is below 1"),
    ("steps:\n  - distill: {lr: -0.001}\n", "distill: lr: -0.001 is below"),
    ("steps:\n  - distill: {lr: .nan}\n", "distill.lr: nan is not a finite number"),
    ("steps:\n  - prune: {finetune_epochs: " + "9" * 300 + "}\n", "prune.finetune_epochs: .* is too large"),
    ("steps:\n  - quantize: {batch_size: 2.5}\n", "quantize.batch_size: 2.5 is not a whole number"),
    ("steps:\n  - magnitude_prune: {lr: 1e400}\n", "magnitude_prune.lr: inf is not a finite number"),
    ("steps:\n  - quantize: {}\nmax_drop: lots\n", "max_drop: 'lots' is not a number"),
    ("steps:\n  - quantize: {}\nmax_drop: .nan\n", "max_drop: nan is not a finite number"),
    ("steps:\n  - quantize: {}\nmax_drop: " + "9" * 300 + "\n", "max_drop: .* is too large"),
    ("steps:\n  - quantize: {}\nmetric: auc\n", "metric 'auc' is not one of precision, recall, f1, accuracy"),
    ("steps:\n  - quantize: {}\nteacher: x\n", "unknown key 'teacher'"),
    ("steps:\n  - distill: {alpha: 3}\n", "pipeline.yaml:2: distill: alpha: 3.0 is above 1"),
])
def test_bad_pipelines_name_the_file_line_and_what_is_allowed(tmp_path, body, message):
    with pytest.raises(CompressError, match=message):
        load_pipeline(_write(tmp_path, body))


def test_missing_file_and_bad_yaml(tmp_path):
    with pytest.raises(CompressError, match="no such file"):
        load_pipeline(tmp_path / "nope.yaml")
    with pytest.raises(CompressError, match="invalid YAML"):
        load_pipeline(_write(tmp_path, "steps: [\n"))
