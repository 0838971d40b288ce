"""`export_model` (`edgeopt export`): a quantized model, or a float one (a search trial's checkpoint, a .pt2 program)
quantized post-training in the profile's formats on a dataset first (`compress` with one quantize step: its
fallbacks, its measured ONNX), lowered to integer C (`deploy.export`) and, with a dataset, run on it (host build,
optionally the emulated board) before the export replaces anything."""

from __future__ import annotations

import dataclasses
import json
import os
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from edgeopt.compression.pipeline import Pipeline
from edgeopt.compression.quantize import QuantizeConfig
from edgeopt.data.dataset import Dataset
from edgeopt.data.loading import load_dataset
from edgeopt.data.normalize import Normalizer
from edgeopt.atomic import claim_file, claim_folder
from edgeopt.calibration.board_rows import append_rows, check_appendable, emulated_rows
from edgeopt.deploy.export import ExportError, ExportRecord, check_engine_options, export
from edgeopt.deploy.hdl_sim import SIMULATORS, missing_tools
from edgeopt.deploy.verilog import verilog_name
from edgeopt.deploy.tvm_export import require_tvm
from edgeopt.deploy.verify import Deployment, deploy_on
from edgeopt.errors import EdgeoptError, ModelError
from edgeopt.graph.from_onnx import load_onnx
from edgeopt.models.reference import RUN, resolve_model
from edgeopt.escape import c_name
from edgeopt.models.source import load_source
from edgeopt.profiles.loader import load_profile
from edgeopt.profiles.schema import HardwareProfile
from edgeopt.workflow.compress import CompressionResult, compress
from edgeopt.workflow.search_compress import read_front_summary

@dataclass(frozen=True)
class ExportRun:
    """What `export_model` wrote and measured: the export, its run on the data (None without data), and the
    post-training quantization a float model went through (None for a quantized one)."""

    record: ExportRecord
    deployment: Deployment | None = None
    quantized: CompressionResult | None = None

    def to_dict(self) -> dict:
        summary = None if self.quantized is None else {
            "status": self.quantized.status, "reason": self.quantized.reason,
            "weight_format": self.quantized.steps[-1].weight_format, "onnx_val": self.quantized.deployed.val,
            "onnx_test": self.quantized.deployed.test}
        return self.record.to_dict() | {"deployment": self.deployment.to_dict() if self.deployment else None,
                                        "quantization": summary}


def export_model(model: str | os.PathLike, profile: HardwareProfile | str | os.PathLike,
                 out_dir: str | os.PathLike, *, format: str = "c", name: str = "model",
                 data: Dataset | str | os.PathLike | None = None, label_column: str | None = None,
                 emulate: str | None = None, measurements_out: str | os.PathLike | None = None,
                 positive_class: int = 1, progress: Callable[[str], None] | None = None,
                 simulate: str | None = None, lanes: int | None = None, synth: str | None = None) -> ExportRun:
    """Export `model` (as `edgeopt export` takes it: a QDQ model.onnx, a compression output folder, a float trial
    checkpoint or .pt2 program, quantized on `data` first, or a search run folder whose fronts were compressed: its
    compressed model for `profile` that scores best on validation) for `profile` (loaded if named) into `out_dir`
    (claimed first: an earlier export is replaced, anything else refused). With `data` (a Dataset, a data file or a
    bundled example's name), the C runs its test split on the host (with `emulate`, on QEMU's board) inside the new
    export before it replaces `out_dir`: a failure leaves `out_dir` as it was. `measurements_out` gets the emulated
    latency rows (see `calibrate --measurements`). A Verilog export runs on `data` in an HDL simulator (`simulate`:
    iverilog, the default, or verilator); `lanes` and `synth` are `export`'s."""
    if not isinstance(profile, HardwareProfile):
        profile = load_profile(profile)
    data_path = None if data is None or isinstance(data, Dataset) else data
    ref = resolve_model(model)
    if ref.kind == RUN:  # the most accurate quantized model of the run's compressed front for the profile
        model = _best_quantized(read_front_summary(model), profile.name, progress)
        ref = resolve_model(model)
    dataset = load_dataset(data_path, label_column=label_column) if data_path is not None else data
    float_model = ref.is_float
    if format == "verilog" and emulate:
        raise ExportError("--emulate runs the C on a Cortex-M; a Verilog export runs in an HDL simulator (--simulate)")
    check_engine_options(format, lanes, synth)  # before minutes of quantizing
    if simulate is not None and format != "verilog":
        raise ExportError("--simulate runs a Verilog export in an HDL simulator; give --format verilog")
    if simulate is not None and simulate not in SIMULATORS:
        raise ExportError(f"--simulate {simulate!r}: choose from {', '.join(SIMULATORS)}")
    if simulate is not None and dataset is None:
        raise ExportError("--simulate runs the test split of --data; give --data")
    if format == "verilog" and dataset is not None:
        simulate = simulate or "iverilog"
        missing = missing_tools(simulate)
        if missing:  # before minutes of quantizing
            raise ExportError(f"--data runs the Verilog in {simulate}, which needs {', '.join(missing)} (Debian: "
                              f"apt-get install {simulate})")
    if emulate and dataset is None:
        raise ExportError("--emulate runs the test split of --data; give --data")
    if measurements_out and not emulate:
        raise ExportError("--measurements-out records the emulated run; give --emulate")
    if float_model and dataset is None:
        raise ExportError(f"{model} is a float model: it is quantized before export, calibrated on a dataset; give "
                          "--data")
    if dataset is not None and format == "tvm" and not float_model:
        raise ExportError("--data runs the C or Verilog export; give --format c or verilog")
    if format == "tvm":
        require_tvm()  # before minutes of quantizing
    try:
        c_name(name)  # before minutes of quantizing, as export() checks it
        if format == "verilog":
            verilog_name(name)
    except EdgeoptError as exc:
        raise ExportError(f"--name: {exc}") from None
    inputs = tuple(item for item in (model, data_path, profile.path) if item)
    claim_folder(out_dir, "export", inputs)
    if measurements_out:
        if not profile.compute.clock_hz:
            raise EdgeoptError(f"{profile.name} gives no compute.clock: emulated instructions cannot be turned into "
                               "seconds for --measurements-out")
        claim_file(measurements_out, (*inputs, out_dir))
        check_appendable(measurements_out)
    found: dict[str, Deployment] = {}

    def run_on_data(folder: Path, record: ExportRecord) -> None:
        if dataset is None or format == "tvm":
            return
        if tuple(dataset.sample_shape) != tuple(record.input_shape):
            raise ExportError(f"{model} takes samples of shape {tuple(record.input_shape)}, but the data's are "
                              f"{tuple(dataset.sample_shape)}")
        if progress:
            progress(f"running the Verilog in {simulate}" if simulate else
                     f"running the C on the data ({emulate or 'host'})")
        found["deployment"] = deploy_on(quantized_dir, folder, dataset, cpu=emulate, positive_class=positive_class,
                                        simulator=simulate)

    quantized = None
    with tempfile.TemporaryDirectory(prefix="edgeopt-export-") as work:
        if float_model:
            quantized_dir = Path(work) / "quantized"
            record, quantized = export_float(model, profile, out_dir, dataset, quantized_dir, format=format,
                                             name=name, positive_class=positive_class, progress=progress,
                                             inputs=inputs, verify=run_on_data, lanes=lanes, synth=synth)
        else:
            quantized_dir = Path(model)
            record = export(model, profile, out_dir, format=format, name=name, inputs=inputs, verify=run_on_data,
                            lanes=lanes, synth=synth)
    deployment = found.get("deployment")
    if deployment is not None and float_model:  # the quantization's report is gone with its temporary folder
        deployment = dataclasses.replace(deployment, normalisation=f"{model} (its training statistics)")
    if measurements_out:
        append_rows(measurements_out, emulated_rows(out_dir, deployment.emulated, profile.compute.clock_hz))
    return ExportRun(record, deployment, quantized)


def export_float(model: str | os.PathLike, profile: HardwareProfile, out_dir: str | os.PathLike, dataset,
                 work_dir: str | os.PathLike, *, format: str = "c", name: str = "model",
                 positive_class: int = 1, progress: Callable[[str], None] | None = None, inputs=(),
                 verify=None, lanes: int | None = None, synth: str | None = None) -> tuple[ExportRecord,
                                                                                          CompressionResult]:
    """Quantize `model` for `profile` on `dataset` into `work_dir` (a compression output: model.onnx, report.json),
    then export that to `out_dir` (`inputs`, `verify`: as `export` takes them). The record names `model` as its
    source."""
    source = load_source(model)
    normalizer = source.normalizer or _report_normalizer(Path(model))
    if source.sample_shape is not None and tuple(source.sample_shape) != dataset.sample_shape:
        raise ModelError(f"{model} takes samples of shape {tuple(source.sample_shape)}, but the data's are "
                         f"{dataset.sample_shape}")
    pipeline = Pipeline((QuantizeConfig(),), source="export: post-training quantization in the profile's formats")
    result = compress(source.module, profile, pipeline, dataset, work_dir, normalizer=normalizer,
                      positive_class=positive_class, origin=str(model), progress=progress)
    record = export(work_dir, profile, out_dir, format=format, name=name, inputs=inputs, lanes=lanes, synth=synth,
                    verify=None if verify is None else lambda folder, made: verify(folder, dataclasses.replace(
                        made, model=str(model))))
    return dataclasses.replace(record, model=str(model)), result


def _best_quantized(summary, profile: str, progress: Callable[[str], None] | None) -> str:
    """The output of the compressed front member for `profile` that scores best on validation among those whose
    pipeline quantized them (a pipeline that stopped before quantizing kept a float model, which no device runs)."""
    members = sorted(summary.profiles.get(profile, ()), key=lambda m: m.score(summary.metric), reverse=True)
    if not members:
        return summary.best(profile).output  # its error: no compressed front for the profile
    for rank, member in enumerate(members):
        if _quantized(Path(member.output) / "model.onnx"):
            if rank and progress:
                best = members[0]
                progress(f"trial {best.trial} scores best but its pipeline kept a float model "
                         f"({str(best.after.get('reason') or best.after.get('status'))[:160]}); exporting trial "
                         f"{member.trial}, the best quantized one")
            return member.output
    raise ExportError(f"no compressed model for {profile} is quantized (each pipeline stopped before quantizing: "
                      f"{str(members[0].after.get('reason'))[:160]}); export a trial's checkpoint.pt with --data to "
                      "quantize it post-training, or compress with a larger max_drop")


def _quantized(path: Path) -> bool:
    """Whether an ONNX file holds a quantized (QDQ) model (one ModelError naming it if it is not ONNX)."""
    return any(node.op_type == "DequantizeLinear" for node in load_onnx(path).graph.node)


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
