"""Does the export compute what was measured? The C built on the host (or the Verilog engine in an HDL simulator)
against the integer reference (bit for bit) and against onnxruntime on the same QDQ file (class and logits)."""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from edgeopt.deploy.emulate import EmulatedRun, run_emulated
from edgeopt.deploy.hdl_sim import simulate_export
from edgeopt.deploy.host import run_on_host
from edgeopt.deploy.lower import lower_onnx
from edgeopt.deploy.runtime import onnx_logits
from edgeopt.errors import EdgeoptError
from edgeopt.figures import quality
from edgeopt.intgrid.reference import run_program
from edgeopt.metrics import classification_metrics


@dataclass(frozen=True)
class Agreement:
    """Measured on `samples` inputs. `step`: one int8 step of onnxruntime's logits range, the grain an int8 output
    would have (the C's int32 logits are finer than float32 rounding, so a step of their own grid says nothing)."""

    samples: int
    bit_exact_share: float  # samples whose C logits equal the integer reference's exactly
    class_agreement: float  # samples whose C argmax equals onnxruntime's
    within_step_share: float  # samples whose every logit is within one step of onnxruntime's
    max_difference_steps: float
    step: float

    def to_dict(self) -> dict:
        return dict(self.__dict__)


def verify_c(export_dir: str | os.PathLike, onnx_path: str | os.PathLike, x: np.ndarray) -> Agreement:
    """Run the C export in `export_dir` (built with the host's cc) on float samples `x`, normalised as the model
    expects, and compare with the integer reference and onnxruntime on `onnx_path`."""
    return _host_run(export_dir, onnx_path, x)[2]


def _host_run(export_dir, onnx_path, x: np.ndarray) -> tuple[np.ndarray, np.ndarray, Agreement]:
    """(the int8 inputs, the host build's int32 logits, their agreement with the reference and onnxruntime)."""
    program = lower_onnx(onnx_path)
    q = program.quantize_input(x)
    c = run_on_host(export_dir, q)
    return q, c, _agreement(program, q, c, onnx_path, x)


def _agreement(program, q: np.ndarray, c: np.ndarray, onnx_path, x: np.ndarray) -> Agreement:
    """Of an export's int32 logits `c` on the integer inputs `q` (of float samples `x`): the reference's and
    onnxruntime's."""
    reference = run_program(program, q)
    ort = onnx_logits(onnx_path, np.asarray(x, np.float32)).astype(np.float64)
    ours = c.astype(np.float64) * program.output_scale
    step = max(float(ort.max() - ort.min()) / 255.0, np.finfo(np.float32).tiny)
    difference = np.abs(ours - ort) / step
    return Agreement(len(x), float(np.mean(np.all(c == reference, axis=1))),
                           float(np.mean(c.argmax(axis=1) == ort.argmax(axis=1))),
                           float(np.mean(np.all(difference <= 1.0, axis=1))), float(difference.max()), step)


@dataclass(frozen=True)
class Deployment:
    """The exported C run where it will run: on the host (against the reference and onnxruntime) and, with a `cpu`,
    on the emulated Cortex-M, whose logits give the deployed precision and recall."""

    split: str
    normalisation: str  # where the inputs' normalisation came from
    agreement: Agreement
    device: str  # host, or the emulated cpu whose outputs the metrics come from
    metrics: dict  # accuracy, precision, recall, f1 from the C's own logits
    instructions_mean: float | None  # per inference on the emulated cpu (an estimate, QEMU -icount)
    emulated_equals_host: float | None  # share of samples with identical logits
    emulated: EmulatedRun | None = field(default=None, compare=False, repr=False)  # the run itself (per layer)
    clocks_per_inference: int | None = None  # an HDL simulation's: the most clocks one inference kept it busy

    def to_dict(self) -> dict:
        layers = None
        if self.emulated is not None and self.emulated.layer_instructions is not None:
            layers = np.median(self.emulated.layer_instructions, axis=0).tolist()
        return {"split": self.split, "normalisation": self.normalisation, "agreement": self.agreement.to_dict(),
                "device": self.device,
                "metrics": self.metrics, "instructions_mean": self.instructions_mean,
                "layer_instructions_median": layers,
                "instructions_source": "estimated (QEMU -icount)" if self.instructions_mean is not None else None,
                "emulated_equals_host": self.emulated_equals_host,
                "clocks_per_inference": self.clocks_per_inference,
                "clocks_source": "measured (HDL simulation)" if self.clocks_per_inference is not None else None}


def deploy_on(model: str | os.PathLike, export_dir: str | os.PathLike, dataset, *, cpu: str | None = None,
              positive_class: int = 1, simulator: str | None = None) -> Deployment:
    """The export in `export_dir` of `model` (a compression output folder or its model.onnx) run on `dataset`'s test
    split (validation when it has none), normalised as the compression's report.json says (as given without one):
    the C (on the host, and with `cpu` the emulated board), or with `simulator` the Verilog engine."""
    x, y, split, where = normalised_split(model, dataset)
    if simulator is not None:
        return check_simulation(export_dir, Path(export_dir) / "source.onnx", x, y, simulator,
                                positive_class=positive_class, split=split, normalisation=where)
    return check_deployment(export_dir, Path(export_dir) / "source.onnx", x, y, cpu=cpu,
                            positive_class=positive_class, split=split, normalisation=where)


def normalised_split(model: str | os.PathLike, dataset) -> tuple[np.ndarray, np.ndarray, str, str]:
    """(samples normalised as `model`'s report.json says, labels, which split, where the normalisation came from)."""
    from edgeopt.data.normalize import Normalizer

    x, y, split = (dataset.x_test, dataset.y_test, "test") if dataset.x_test is not None else \
        (dataset.x_val, dataset.y_val, "validation")
    model = Path(model)
    report = model / "report.json" if model.is_dir() else model.with_name("report.json")
    normalizer, where = Normalizer.identity(dataset.x_train), "none: no report.json beside the model, inputs as given"
    if report.is_file():
        try:
            normalizer = Normalizer.from_dict(json.loads(report.read_text())["input_normalisation"])
        except (OSError, ValueError, KeyError, TypeError) as exc:
            raise EdgeoptError(f"{report}: input_normalisation: not an edgeopt compression report "
                               f"({type(exc).__name__}: {exc})") from None
        where = str(report)
    try:
        x = normalizer.apply(x)
    except (ValueError, TypeError) as exc:  # statistics of other data (another shape), or not numbers
        raise EdgeoptError(f"{report}: input_normalisation does not fit the data's samples of shape "
                           f"{tuple(x.shape[1:])}: {exc}") from None
    return x, y, split, where


def check_simulation(export_dir: str | os.PathLike, onnx_path: str | os.PathLike, x: np.ndarray, y: np.ndarray,
                     simulator: str, *, positive_class: int = 1, split: str = "test",
                     normalisation: str = "as given") -> Deployment:
    """The Verilog engine in `export_dir` run in `simulator` on float samples `x` (normalised as the model expects)
    with labels `y`: its logits against the reference and onnxruntime, the metrics of its own outputs, its clocks."""
    from edgeopt.deploy.host import read_manifest

    program = lower_onnx(onnx_path)
    q = program.quantize_input(x)
    run = simulate_export(export_dir, read_manifest(export_dir, format="verilog")["name"], q, simulator)
    onehot = np.eye(run.logits.shape[1])[run.logits.argmax(axis=1)]
    metrics = classification_metrics(np.asarray(y), onehot, positive_class=positive_class).to_dict()
    return Deployment(split, normalisation, _agreement(program, q, run.logits, onnx_path, x), simulator,
                      quality(metrics), None, None, clocks_per_inference=run.cycles_per_inference)


def check_deployment(export_dir: str | os.PathLike, onnx_path: str | os.PathLike, x: np.ndarray, y: np.ndarray, *,
                     cpu: str | None = None, positive_class: int = 1, split: str = "test",
                     normalisation: str = "as given") -> Deployment:
    """The C in `export_dir` on float samples `x` (normalised as the model expects) with labels `y`; with `cpu`, the
    metrics are those of the emulated device's outputs."""
    q, logits, agreement = _host_run(export_dir, onnx_path, x)  # lowered, quantized and built once
    instructions = equal = run = None
    device = "host"
    if cpu is not None:
        run = run_emulated(export_dir, q, cpu)
        equal = float(np.mean(np.all(run.logits == logits, axis=1)))
        logits, instructions, device = run.logits, float(run.instructions.mean()), cpu
    onehot = np.eye(logits.shape[1])[logits.argmax(axis=1)]  # metrics of the argmax: the scale does not matter
    metrics = classification_metrics(np.asarray(y), onehot, positive_class=positive_class).to_dict()
    return Deployment(split, normalisation, agreement, device, quality(metrics), instructions, equal, run)
