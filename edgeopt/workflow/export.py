"""A float model (a search trial's checkpoint, a .pt2 program) exported for a device: quantized post-training in the
profile's formats on a dataset (`compress` with one quantize step: its fallbacks, its measured ONNX), then lowered
to integer C (`deploy.export`)."""

from __future__ import annotations

import dataclasses
import json
import os
from collections.abc import Callable
from pathlib import Path

from edgeopt.compression.pipeline import Pipeline
from edgeopt.compression.quantize import QuantizeConfig
from edgeopt.data.normalize import Normalizer
from edgeopt.deploy.export import ExportRecord, export
from edgeopt.errors import ModelError
from edgeopt.models.source import load_source
from edgeopt.profiles.schema import HardwareProfile
from edgeopt.workflow.compress import CompressionResult, compress

FLOAT_SUFFIXES = (".pt", ".pth", ".ckpt", ".pt2")


def is_float_model(model: str | os.PathLike) -> bool:
    """A torch model edgeopt can load (a search checkpoint, a .pt2 program), as opposed to a quantized ONNX file."""
    return Path(model).suffix.lower() in FLOAT_SUFFIXES


def export_float(model: str | os.PathLike, profile: HardwareProfile, out_dir: str | os.PathLike, dataset,
                 work_dir: str | os.PathLike, *, format: str = "c", name: str = "model",
                 positive_class: int = 1,
                 progress: Callable[[str], None] | None = None) -> tuple[ExportRecord, CompressionResult]:
    """Quantize `model` for `profile` on `dataset` into `work_dir` (a compression output: model.onnx, report.json),
    then export that to `out_dir`. The record names `model` as its source."""
    source = load_source(model)
    normalizer = source.normalizer or _report_normalizer(Path(model))
    if source.sample_shape is not None and tuple(source.sample_shape) != dataset.sample_shape:
        raise ModelError(f"{model} takes samples of shape {tuple(source.sample_shape)}, but the data's are "
                         f"{dataset.sample_shape}")
    pipeline = Pipeline((QuantizeConfig(),), source="export: post-training quantization in the profile's formats")
    result = compress(source.module, profile, pipeline, dataset, work_dir, normalizer=normalizer,
                      positive_class=positive_class, origin=str(model), progress=progress)
    record = export(work_dir, profile, out_dir, format=format, name=name)
    return dataclasses.replace(record, model=str(model)), result


def _report_normalizer(model: Path) -> Normalizer | None:
    """A .pt2 from `edgeopt compress` has its input normalisation in the report.json beside it."""
    report = model.with_name("report.json")
    if not report.is_file():
        return None
    try:
        return Normalizer.from_dict(json.loads(report.read_text())["input_normalisation"])
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise ModelError(f"{report}: input_normalisation: not an edgeopt compression report "
                         f"({type(exc).__name__}: {exc})") from None
