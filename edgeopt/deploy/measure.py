"""A compressed model deployed as ONNX and measured there: the file written (QDQ when quantized), its metrics in
onnxruntime on the validation and test splits, its size and host latency. Figures of the artifact itself, never of
the PyTorch simulation."""

from __future__ import annotations

import dataclasses
import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from edgeopt.deploy.onnx import export_onnx
from edgeopt.deploy.runtime import file_bytes, host_latency_s, onnx_metrics


@dataclass(frozen=True)
class OnnxDeployment:
    """The ONNX file and what onnxruntime measured on it (metrics: accuracy, precision, recall, f1, ...)."""

    path: str
    size_bytes: int
    host_latency_s: float  # median of single-sample calls, one thread, onnxruntime's fused kernels
    val: dict
    test: dict | None

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)


def deploy_onnx(model, sample_shape: tuple[int, ...], path: str | os.PathLike, x_val: np.ndarray, y_val: np.ndarray,
                x_test: np.ndarray | None = None, y_test: np.ndarray | None = None, *, plan=None,
                positive_class: int = 1) -> OnnxDeployment:
    """Write `model` to `path` (QDQ with a quantization `plan`) and measure the file on normalised inputs."""
    onnx_path = export_onnx(model, sample_shape, path, plan)
    val = onnx_metrics(onnx_path, x_val, y_val, positive_class).to_dict()
    test = onnx_metrics(onnx_path, x_test, y_test, positive_class).to_dict() if x_test is not None else None
    return OnnxDeployment(str(Path(onnx_path)), file_bytes(onnx_path), host_latency_s(onnx_path, x_val[0]), val, test)
