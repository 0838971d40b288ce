"""run_pipeline(): a pipeline's steps, each checked against the tolerance and recorded (costed on the profile as the
model is stored after it, scored on validation and test). What the result is deployed as, and measured on, is
`deploy`'s job; `workflow.compress` joins the two and writes the output folder."""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from edgeopt.compression.context import CompressContext
from edgeopt.compression.distill import renormalized
from edgeopt.compression.pipeline import Pipeline
from edgeopt.compression.quantize import QuantizeConfig, check_formats
from edgeopt.compression.registry import apply_step, step_name
from edgeopt.data.dataset import Dataset
from edgeopt.data.normalize import Normalizer
from edgeopt.errors import ModelError
from edgeopt.figures import CostFigures, quality
from edgeopt.models.source import SourceModel
from edgeopt.profiles.schema import HardwareProfile

@dataclass(frozen=True)
class StepRecord:
    """One row of the before/after table: the model after `step`, costed on the profile and scored on validation."""

    step: str
    accepted: bool
    weight_format: str  # fp32, int8, int8+int16 (mixed), ...
    cost: CostFigures  # on the profile, as stored after the step (latency and energy say where they come from)
    violations: tuple[str, ...]
    metrics: dict  # validation accuracy, precision, recall, f1
    seconds: float
    note: str = ""
    details: dict = field(default_factory=dict)
    test_metrics: dict | None = None  # the same on the test split, for the report only (decisions use validation)

    @property
    def fits(self) -> bool:
        return self.cost.fits

    def to_dict(self) -> dict:
        """Flat JSON: the step, its format, its cost figures (with provenance), then the rest."""
        return {"step": self.step, "accepted": self.accepted, "weight_format": self.weight_format,
                **self.cost.to_dict(), "violations": list(self.violations), "metrics": self.metrics,
                "seconds": self.seconds, "note": self.note, "details": self.details,
                "test_metrics": self.test_metrics}


@dataclass(frozen=True)
class Compressed:
    """The model after the accepted steps (with its quantization plan, if quantized), every step's record, and
    whether the pipeline ran to its end."""

    model: object
    plan: object  # QuantPlan | None
    ctx: CompressContext
    steps: tuple[StepRecord, ...]
    status: str  # completed | stopped
    reason: str


def run_pipeline(source: SourceModel, profile: HardwareProfile, pipeline: Pipeline, dataset: Dataset, *,
                 teacher: SourceModel | None = None, positive_class: int = 1, seed: int = 0,
                 progress: Callable[[str], None] | None = None) -> Compressed:
    """Apply `pipeline` to `source`'s model for `profile`, step by step, stopping at the first step past the
    tolerance. Inputs are normalised as the model's normalizer says (None: used raw); a `teacher` (default: the model
    itself) gets its inputs in its own statistics."""
    model = source.module
    import torch

    say = progress or (lambda text: None)
    for config in pipeline.steps:  # a format the device lacks is refused before any training
        if isinstance(config, QuantizeConfig):
            check_formats(config, profile)
    normalizer = source.normalizer or Normalizer.identity(dataset.x_train)
    from edgeopt.train.loop import DeviceData

    torch.manual_seed(seed)
    data = DeviceData(dataset, normalizer)
    check_model(model, dataset, normalizer)
    guide = model
    if teacher is not None:
        guide = renormalized(teacher.module, normalizer, teacher.normalizer or Normalizer.identity(dataset.x_train))
        check_model(guide, dataset, normalizer, "teacher")
    ctx = CompressContext(profile, data, dataset.sample_shape, dataset.num_classes,
                          positive_class=positive_class, seed=seed, teacher=guide)
    reference = ctx.metrics(model)
    ctx = dataclasses.replace(ctx, metric=pipeline.metric, max_drop=pipeline.max_drop,
                              reference_score=reference.get(pipeline.metric))
    test = _test_tensors(dataset, normalizer)
    records = [_record("input", model, None, reference, ctx, 0.0, True, test=test)]
    plan, status, reason = None, "completed", ""
    current = model
    for config in pipeline.steps:
        name = step_name(config)
        say(f"{name}: running")
        start = time.perf_counter()
        outcome = apply_step(config, current, ctx)
        out, out_plan, note, details = outcome.model, outcome.plan, outcome.note, outcome.details
        metrics = ctx.metrics(out)
        ok = ctx.within_tolerance(metrics.get(ctx.metric))
        records.append(_record(name, out, out_plan, metrics, ctx, time.perf_counter() - start, ok, note, details,
                               test))
        say(f"{name}: {ctx.metric} {metrics.get(ctx.metric):.4f}" + ("" if ok else " (past the tolerance)"))
        if not ok:
            status = "stopped"
            reason = (f"{name} lost more than {pipeline.max_drop:g} {ctx.metric} ({reference.get(ctx.metric):.4f} -> "
                      f"{metrics.get(ctx.metric):.4f}) even after its fallbacks; kept the model before it")
            break
        current, plan = out, out_plan
        if note and name == "prune" and details.get("reverted"):
            status, reason = "stopped", note
            break
    return Compressed(current, plan, ctx, tuple(records), status, reason)


def estimate_stored(model, ctx: CompressContext, plan=None):
    """The model costed as it is stored now: each layer in its plan's format once quantized, fp32 before (a float
    model does not fit an int8-only device)."""
    from edgeopt.cost.estimate import estimate_graph
    from edgeopt.graph.build import build_graph

    graph = build_graph(model, ctx.input_shape)
    formats = plan.formats() if plan is not None else {}
    layers = tuple(dataclasses.replace(layer, weight_format=formats.get(layer.name, layer.weight_format if plan
                                                                          is not None else "fp32"))
                   if layer.params else layer for layer in graph.layers)
    return estimate_graph(dataclasses.replace(graph, layers=layers), ctx.profile)


def _test_tensors(dataset: Dataset, normalizer: Normalizer):
    import torch

    if dataset.x_test is None:
        return None
    return torch.from_numpy(normalizer.apply(dataset.x_test)), torch.from_numpy(dataset.y_test)


def _record(step, model, plan, metrics, ctx, seconds, accepted, note="", details=None, test=None) -> StepRecord:
    from edgeopt.train.loop import evaluate

    est = estimate_stored(model, ctx, plan)
    formats = sorted(set(plan.formats().values())) if plan is not None else ["fp32"]
    return StepRecord(step, accepted, "+".join(formats), est.figures(), tuple(v.message for v in est.violations),
                      quality(metrics), round(seconds, 3), note, details or {},
                      quality(evaluate(model, *test, ctx.positive_class)) if test is not None else None)


def check_model(model, dataset: Dataset, normalizer: Normalizer | None = None, role: str = "model") -> None:
    """A clear error unless `model` takes the dataset's samples and predicts one logit per class."""
    import torch

    normalizer = normalizer or Normalizer.identity(dataset.x_train)
    try:
        with torch.no_grad():
            model.eval()
            out = model(torch.from_numpy(normalizer.apply(dataset.x_train[:2])))
    except Exception as exc:  # the user's model rejects the data's shape
        raise ModelError(f"the {role} does not accept the data's samples of shape {dataset.sample_shape}: "
                         f"{type(exc).__name__}: {str(exc).strip().splitlines()[0][:200]}") from None
    if not hasattr(out, "shape") or out.dim() != 2 or out.shape[1] != dataset.num_classes:
        shape = tuple(out.shape) if hasattr(out, "shape") else type(out).__name__
        raise ModelError(f"the {role} outputs {shape} for a batch of 2, but the data has {dataset.num_classes} "
                         f"classes: expected (2, {dataset.num_classes})")
