"""`compress()`: a compression pipeline (`compression.run_pipeline`), its result deployed as ONNX and measured there
(`deploy.measure`), the budgets checked on it, and the output folder written whole (model.onnx, model.pt2,
report.json, steps.csv, steps.png, report.html)."""

from __future__ import annotations

import copy
import dataclasses
from collections.abc import Callable
from dataclasses import dataclass
import os
from pathlib import Path

from edgeopt.atomic import atomic_folder, claim_folder
from edgeopt.compression.fakequant import detach
from edgeopt.compression.pipeline import Pipeline, auto_pipeline, load_pipeline
from edgeopt.compression.run import Compressed, StepRecord, check_model, estimate_stored, run_pipeline
from edgeopt.cost.estimate import limit_checks
from edgeopt.data.dataset import Dataset
from edgeopt.data.examples import example_for_shape
from edgeopt.data.loading import load_dataset
from edgeopt.data.normalize import Normalizer
from edgeopt.deploy.measure import deploy_onnx
from edgeopt.errors import ModelError
from edgeopt.models.exported import save_program
from edgeopt.models.source import SourceModel, load_source
from edgeopt.profiles.loader import load_profile
from edgeopt.profiles.schema import HardwareProfile
from edgeopt.report.compress_files import write_compression_files

GAP_FLAG = 0.005  # deployed vs simulated metric difference worth a warning (half a point)


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
        return dataclasses.asdict(self) | {"steps": [s.to_dict() for s in self.steps], "fits": self.fits}


def compress(model, profile: HardwareProfile | str | os.PathLike, pipeline: Pipeline | str | os.PathLike | None,
             dataset: Dataset | str | os.PathLike | None, out_dir: str | os.PathLike, *,
             weights: str | os.PathLike | None = None, label_column: str | None = None,
             normalizer: Normalizer | None = None, teacher=None, teacher_weights: str | os.PathLike | None = None,
             teacher_normalizer: Normalizer | None = None, max_drop: float | None = None, metric: str | None = None,
             positive_class: int = 1, seed: int = 0, origin: str | None = None,
             progress: Callable[[str], None] | None = None, inputs=()) -> CompressionResult:
    """Compress `model` for `profile` with `pipeline`, export and measure it, and write model.onnx, model.pt2,
    report.json, steps.png and report.html to `out_dir` (an earlier compression output there is replaced whole,
    anything else refused; `inputs`: files it must not be or hold). Takes what `edgeopt compress` takes:

    - `model`: an nn.Module (inputs normalised with `normalizer`; None: used raw), or a MODEL argument (a search
      checkpoint, a .pt2 program, `module:factory` with `weights`), loaded weights-only with its normalisation;
    - `profile`: a HardwareProfile, a shipped name or a YAML file;
    - `pipeline`: a Pipeline or a pipeline YAML (`max_drop` and `metric` override its own), or None: chosen from
      the profile's budgets (`auto_pipeline`, as --auto);
    - `dataset`: a Dataset, a data file (`label_column` for a CSV), or None: the bundled example for the model's
      input shape;
    - `teacher` (default: `model` itself): an nn.Module (normalised with `teacher_normalizer`) or a MODEL argument."""
    named = [item for item in (model, pipeline, dataset, weights, teacher, teacher_weights)
             if isinstance(item, (str, os.PathLike))]
    inputs = (*inputs, *named)
    out_dir = claim_folder(Path(out_dir), "compression", inputs)  # before minutes of pruning, not after
    target = profile if isinstance(profile, HardwareProfile) else load_profile(profile)
    plan = load_pipeline(pipeline) if isinstance(pipeline, (str, os.PathLike)) else pipeline
    if plan is not None and (max_drop is not None or metric is not None):
        plan = dataclasses.replace(plan, max_drop=plan.max_drop if max_drop is None else max_drop,
                                   metric=metric or plan.metric)
    source = _source(model, weights, normalizer)
    data = dataset if isinstance(dataset, Dataset) else load_dataset(
        dataset, label_column=label_column, example=example_for_shape(source.sample_shape))
    if source.sample_shape is not None and tuple(source.sample_shape) != data.sample_shape:
        raise ModelError(f"{source.origin} takes samples of shape {tuple(source.sample_shape)}, but the data's are "
                         f"{data.sample_shape}")
    guide = _source(teacher, teacher_weights, teacher_normalizer) if teacher is not None else None
    if plan is None:
        check_model(source.module, data, source.normalizer)  # before the auto pipeline costs it on the data's shape
        plan = auto_pipeline(source.module, target, data.sample_shape,
                             max_drop=0.01 if max_drop is None else max_drop, metric=metric or "f1")
    return _compress(source, target, plan, data, out_dir, guide, positive_class=positive_class, seed=seed,
                     origin=origin or (os.fspath(model) if isinstance(model, (str, os.PathLike)) else "model"),
                     progress=progress, inputs=inputs)


def _source(model, weights, normalizer: Normalizer | None) -> SourceModel:
    """A MODEL argument loaded weights-only, or a module as given, with the normalisation its inputs need."""
    if isinstance(model, (str, os.PathLike)):
        return load_source(model, weights)
    return SourceModel(model, "model", normalizer)


def _compress(source: SourceModel, profile: HardwareProfile, pipeline: Pipeline, dataset: Dataset, out_dir: Path,
              teacher: SourceModel | None, *, positive_class: int, seed: int, origin: str,
              progress: Callable[[str], None] | None, inputs) -> CompressionResult:
    say = progress or (lambda text: None)
    normalizer = source.normalizer or Normalizer.identity(dataset.x_train)
    done = run_pipeline(source, profile, pipeline, dataset, teacher=teacher, positive_class=positive_class, seed=seed,
                        progress=say)
    with atomic_folder(out_dir, "compression", inputs) as tmp:
        result = _deploy(done, pipeline, dataset, normalizer, tmp, origin, seed, say)
        write_compression_files(result, tmp, normalizer)
    return dataclasses.replace(result, deployed=dataclasses.replace(result.deployed,
                                                                     path=str(out_dir / "model.onnx")))


def _deploy(done: Compressed, pipeline: Pipeline, dataset: Dataset, normalizer: Normalizer, folder: Path,
            origin: str, seed: int, say) -> CompressionResult:
    import torch

    from edgeopt.train.loop import evaluate

    ctx, model = done.ctx, done.model
    say("export: ONNX" + (" (QDQ)" if done.plan is not None else ""))
    x_val = normalizer.apply(dataset.x_val)
    x_test = normalizer.apply(dataset.x_test) if dataset.x_test is not None else None
    say("measure: onnxruntime metrics and host latency")
    onnx = deploy_onnx(model, ctx.sample_shape, folder / "model.onnx", x_val, dataset.y_val, x_test, dataset.y_test,
                       plan=done.plan, positive_class=ctx.positive_class)
    save_program(detach(copy.deepcopy(model)), ctx.sample_shape, folder / "model.pt2")
    simulated_val = ctx.metrics(model)
    simulated_test = evaluate(model, torch.from_numpy(x_test), torch.from_numpy(dataset.y_test),
                              ctx.positive_class).to_dict() if x_test is not None else None
    gap = abs(onnx.val[ctx.metric] - simulated_val.get(ctx.metric))
    deployed = Deployed("model.onnx", onnx.size_bytes, onnx.host_latency_s, onnx.val, onnx.test,
                        simulated_val.to_dict(), simulated_test, gap, gap > GAP_FLAG)
    budgets = tuple({"what": c.what, "label": c.label, "limit": c.limit, "actual": c.actual, "passed": c.passed,
                     "over_by": (c.actual - c.limit) if c.limit is not None and not c.passed else 0.0}
                    for c in limit_checks(estimate_stored(model, ctx, done.plan), ctx.profile)
                    if c.limit is not None)
    reason = done.reason
    if done.status == "completed" and not done.steps[-1].fits:
        failing = [f"{b['label']} {b['actual']:.6g} > {b['limit']:.6g}" for b in budgets if not b["passed"]]
        reason = "the model still does not fit: " + "; ".join(failing or list(done.steps[-1].violations))
    return CompressionResult(ctx.profile.name, origin, ctx.metric, ctx.max_drop, ctx.reference_score,
                             pipeline.describe(), done.steps, done.status, reason, deployed, budgets, seed)
