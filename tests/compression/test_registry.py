"""The step registry: every step's config resolves to its verb, subclasses to their base's, others are refused."""

from __future__ import annotations

import pytest

from edgeopt.compression import Int4Config, Int8Config
from edgeopt.compression.quantize import CompressError
from edgeopt.compression.registry import STEPS, StepOutcome, apply_step, make_config, step_name


def test_every_step_name_resolves_to_its_config_and_back():
    for name, step in STEPS.items():
        assert step_name(make_config(name, {}, "test")) == name == step.name


def test_quantize_presets_are_quantize_steps():
    assert step_name(Int8Config()) == step_name(Int4Config()) == "quantize"


def test_anything_else_is_refused_naming_the_steps():
    with pytest.raises(CompressError, match="not a compression step; steps: prune, magnitude_prune, distill"):
        step_name(object())


def test_a_step_returns_one_outcome_record(trained, make_ctx):
    outcome = apply_step(Int8Config(qat_epochs=0), trained.module, make_ctx())
    assert isinstance(outcome, StepOutcome) and outcome.plan is not None
    assert outcome.details["method"] == "ptq" and outcome.note == "post-training quantization"
    outcome = apply_step(make_config("magnitude_prune", {"sparsity": 0.5, "finetune_epochs": 0}, "test"),
                         trained.module, make_ctx())
    assert outcome.plan is None and 0.4 < outcome.details["sparsity"] <= 0.6
