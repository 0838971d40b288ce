"""The deployed artifact, measured: metrics and host latency of an ONNX file in onnxruntime."""

from __future__ import annotations

import os
import statistics
import time
from pathlib import Path

import numpy as np

from edgeopt.metrics import Metrics, classification_metrics


def session(path: str | os.PathLike, threads: int = 1, *, exact: bool = True,
            optimized_to: str | os.PathLike | None = None):
    """An onnxruntime session on the CPU. `exact`: the graph is run as written, each QDQ pair rounding on the integer
    grid the device uses. Without it onnxruntime fuses QDQ into its own int8 kernels, which on x86 CPUs without VNNI
    multiply through VPMADDUBSW and saturate at int16 (the logits of a per-channel int8 cnn1d moved by 2.2 on an AVX2
    EPYC): an artefact of the host, not of the model, so metrics never use it; host latency does, as deployed.
    `optimized_to`: where onnxruntime saves the graph it runs (its fusions and layouts)."""
    import onnxruntime as ort

    options = ort.SessionOptions()
    if optimized_to is not None:
        options.optimized_model_filepath = str(optimized_to)
    if exact:
        options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_BASIC  # folds, never fuses QDQ
    options.intra_op_num_threads = threads
    options.inter_op_num_threads = 1
    options.log_severity_level = 3
    return ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])


def onnx_logits(path: str | os.PathLike, x: np.ndarray, batch: int = 256) -> np.ndarray:
    sess = session(path)
    name = sess.get_inputs()[0].name
    return np.concatenate([sess.run(None, {name: x[i:i + batch].astype(np.float32)})[0]
                           for i in range(0, len(x), batch)])


def onnx_metrics(path: str | os.PathLike, x: np.ndarray, y: np.ndarray, positive_class: int = 1) -> Metrics:
    """Metrics of the ONNX model on normalised inputs `x` and labels `y`."""
    logits = onnx_logits(path, x).astype(np.float64)
    probs = np.exp(logits - logits.max(axis=1, keepdims=True))
    probs /= probs.sum(axis=1, keepdims=True)
    loss = float(-np.mean(np.log(np.clip(probs[np.arange(len(y)), y], 1e-12, None))))
    return classification_metrics(y, probs, positive_class=positive_class, loss=loss)


def host_latency_s(path: str | os.PathLike, sample: np.ndarray, runs: int = 300, warmup: int = 30) -> float:
    """Median wall time of one single-sample inference on one CPU thread, with onnxruntime's fused kernels."""
    sess = session(path, exact=False)
    name = sess.get_inputs()[0].name
    feed = {name: sample[None].astype(np.float32)}
    for _ in range(warmup):
        sess.run(None, feed)
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        sess.run(None, feed)
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def file_bytes(path: str | os.PathLike) -> int:
    return Path(path).stat().st_size
