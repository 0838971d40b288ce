"""Does the exported C compute what was measured? The C built on the host against the integer reference (bit for
bit) and against onnxruntime on the same QDQ file (class and logits)."""

from __future__ import annotations

import os
from dataclasses import dataclass

import numpy as np

from edgeopt.export.host import run_on_host
from edgeopt.export.lower import lower_onnx
from edgeopt.export.runtime import onnx_logits
from edgeopt.intgrid.reference import run_program


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
    program = lower_onnx(onnx_path)
    q = program.quantize_input(x)
    c = run_on_host(export_dir, q)
    reference = run_program(program, q)
    ort = onnx_logits(onnx_path, np.asarray(x, np.float32)).astype(np.float64)
    ours = c.astype(np.float64) * program.output_scale
    step = max(float(ort.max() - ort.min()) / 255.0, np.finfo(np.float32).tiny)
    difference = np.abs(ours - ort) / step
    return Agreement(len(x), float(np.mean(np.all(c == reference, axis=1))),
                     float(np.mean(c.argmax(axis=1) == ort.argmax(axis=1))),
                     float(np.mean(np.all(difference <= 1.0, axis=1))), float(difference.max()), step)
