"""compress(): run a pipeline step by step, check every step against the tolerance, export the result to ONNX and
measure that file in onnxruntime; write everything to OUT atomically."""

from __future__ import annotations

import copy
import dataclasses
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from edgeopt.atomic import atomic_folder
from edgeopt.compress.context import CompressContext
from edgeopt.compress.distill import renormalized
from edgeopt.compress.pipeline import Pipeline
from edgeopt.compress.quantize import CompressError, QuantizeConfig, check_formats
from edgeopt.compress.registry import apply_step, step_name
from edgeopt.data.dataset import Dataset
from edgeopt.data.normalize import Normalizer
from edgeopt.errors import ModelError
from edgeopt.profiles.schema import HardwareProfile

GAP_FLAG = 0.005  # deployed vs simulated metric difference worth a warning (half a point)


@dataclass(frozen=True)
class StepRecord:
    """One row of the before/after table: the model after `step`, costed on the profile and scored on validation."""

    step: str
    accepted: bool
    weight_format: str  # fp32, int8, int8+int16 (mixed), ...
    params: int
    weight_bytes: float
    peak_activation_bytes: float
    latency_s: float
    energy_j: float
    fits: bool
    violations: tuple[str, ...]
    metrics: dict  # validation accuracy, precision, recall, f1
    seconds: float
    note: str = ""
    details: dict = field(default_factory=dict)
    test_metrics: dict | None = None  # the same on the test split, for the report only (decisions use validation)


@dataclass(frozen=True)
class Deployed:
    """The exported ONNX file, measured in onnxruntime, with the PyTorch simulation beside it."""

    path: str
    size_bytes: int
    host_latency_s: float
    val: dict
    test: dict | None
    simulated_val: dict
    simulated_test: dict | None
    gap: float  # |deployed - simulated| validation metric
    gap_flagged: bool


@dataclass(frozen=True)
class CompressionResult:
    profile: str
    model: str
    metric: str
    max_drop: float | None
    reference_score: float
    pipeline: list
    steps: tuple[StepRecord, ...]
    status: str  # completed | stopped
    reason: str
    deployed: Deployed
    budgets: tuple[dict, ...]  # every limit of the profile against the final model
    seed: int

    @property
    def fits(self) -> bool:
        return self.steps[-1].fits if self.steps else False

    def to_dict(self) -> dict:
        return dataclasses.asdict(self) | {"fits": self.fits}


def compress(model, profile: HardwareProfile, pipeline: Pipeline, dataset: Dataset, out_dir: str | Path, *,
             normalizer: Normalizer | None = None, teacher=None, teacher_normalizer: Normalizer | None = None,
             positive_class: int = 1, seed: int = 0,
             origin: str = "model", progress: Callable[[str], None] | None = None) -> CompressionResult:
    """Compress `model` for `profile` with `pipeline` (see `auto_pipeline` for --auto), export and measure it,
    and write model.onnx, model.pt2, report.json, steps.png and report.html to `out_dir` (replaced whole).

    Inputs are normalised with `normalizer` (None: used raw); a `teacher` (default: `model` itself) gets its inputs
    in its own `teacher_normalizer` statistics (None: raw)."""
    import torch

    say = progress or (lambda text: None)
    out_dir = Path(out_dir)
    _check_out_dir(out_dir)
    for config in pipeline.steps:  # a format the device lacks is refused before any training
        if isinstance(config, QuantizeConfig):
            check_formats(config, profile)
    normalizer = normalizer or Normalizer.identity(dataset.x_train)
    from edgeopt.train.loop import DeviceData

    torch.manual_seed(seed)
    data = DeviceData(dataset, normalizer)
    check_model(model, dataset, normalizer)
    if teacher is not None:
        teacher = renormalized(teacher, normalizer, teacher_normalizer or Normalizer.identity(dataset.x_train))
        check_model(teacher, dataset, normalizer, "teacher")
    ctx = CompressContext(profile, data, dataset.sample_shape, dataset.num_classes,
                          positive_class=positive_class, seed=seed,
                          teacher=teacher if teacher is not None else model)
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
    return _finish(current, plan, ctx, pipeline, records, status, reason, dataset, normalizer, out_dir, origin,
                   seed, say)


def _estimate(model, ctx: CompressContext, plan=None):
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

    est = _estimate(model, ctx, plan)
    formats = sorted(set(plan.formats().values())) if plan is not None else ["fp32"]
    return StepRecord(step, accepted, "+".join(formats), int(est.total.params), est.total.weight_bytes,
                      est.peak_activation_bytes, est.total.latency_s, est.total.energy_j, est.fits,
                      tuple(v.message for v in est.violations),
                      _quality(metrics), round(seconds, 3), note, details or {},
                      _quality(evaluate(model, *test, ctx.positive_class)) if test is not None else None)


def _quality(metrics) -> dict:
    return {k: metrics.get(k) for k in ("accuracy", "precision", "recall", "f1")}


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


def _check_out_dir(out_dir: Path) -> None:
    if out_dir.exists() and (not out_dir.is_dir() or (any(out_dir.iterdir()) and
                                                       not (out_dir / "report.json").is_file())):
        raise CompressError(f"{out_dir}: exists and is not an edgeopt compression output; give a new or empty "
                            "folder (an earlier output is replaced whole)")


def _finish(model, plan, ctx, pipeline, records, status, reason, dataset, normalizer, out_dir, origin, seed, say):
    from edgeopt.compress.fakequant import detach
    from edgeopt.cost.estimate import limit_checks
    from edgeopt.deploy.onnx import export_onnx
    from edgeopt.deploy.runtime import file_bytes, host_latency_s, onnx_metrics
    from edgeopt.report.compress_files import write_compression_files
    from edgeopt.train.loop import evaluate

    with atomic_folder(out_dir) as tmp:
        say("export: ONNX" + (" (QDQ)" if plan is not None else ""))
        onnx_path = export_onnx(model, ctx.sample_shape, tmp / "model.onnx", plan)
        _save_program(detach(copy.deepcopy(model)), ctx, tmp / "model.pt2")
        x_val = normalizer.apply(dataset.x_val)
        deployed_val = onnx_metrics(onnx_path, x_val, dataset.y_val, ctx.positive_class)
        simulated_val = ctx.metrics(model)
        deployed_test = simulated_test = None
        if dataset.x_test is not None:
            import torch

            x_test = normalizer.apply(dataset.x_test)
            deployed_test = onnx_metrics(onnx_path, x_test, dataset.y_test, ctx.positive_class).to_dict()
            simulated_test = evaluate(model, torch.from_numpy(x_test), torch.from_numpy(dataset.y_test),
                                      ctx.positive_class).to_dict()
        say("measure: host latency")
        gap = abs(deployed_val.get(ctx.metric) - simulated_val.get(ctx.metric))
        deployed = Deployed("model.onnx", file_bytes(onnx_path), host_latency_s(onnx_path, x_val[0]),
                            deployed_val.to_dict(), deployed_test, simulated_val.to_dict(), simulated_test, gap,
                            gap > GAP_FLAG)
        final_est = _estimate(model, ctx, plan)
        budgets = tuple({"what": c.what, "label": c.label, "limit": c.limit, "actual": c.actual, "passed": c.passed,
                         "over_by": (c.actual - c.limit) if c.limit is not None and not c.passed else 0.0}
                        for c in limit_checks(final_est, ctx.profile) if c.limit is not None)
        if status == "completed" and not records[-1].fits:
            failing = [f"{b['label']} {b['actual']:.6g} > {b['limit']:.6g}" for b in budgets if not b["passed"]]
            reason = "the model still does not fit: " + "; ".join(failing or list(records[-1].violations))
        result = CompressionResult(ctx.profile.name, origin, ctx.metric, ctx.max_drop, ctx.reference_score,
                                   pipeline.describe(), tuple(records), status, reason, deployed, budgets, seed)
        write_compression_files(result, tmp, normalizer)
    return dataclasses.replace(result, deployed=dataclasses.replace(deployed, path=str(out_dir / "model.onnx")))


def _save_program(model, ctx: CompressContext, path: Path) -> None:
    """The final float model as a torch.export program (dynamic batch), so it can be compressed again or loaded."""
    import contextlib
    import io

    import torch

    quiet = io.StringIO()
    with contextlib.redirect_stdout(quiet), contextlib.redirect_stderr(quiet):
        program = torch.export.export(model.eval(), (torch.zeros((2, *ctx.sample_shape)),),
                                      dynamic_shapes=({0: torch.export.Dim("batch")},))
        torch.export.save(program, str(path))
