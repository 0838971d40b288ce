"""Each node's latency inside a model, measured with onnxruntime's profiler: what `edgeopt profile --measure` puts
beside the cost model's per-layer estimate.

onnxruntime runs with its basic graph optimizations only (constant folding, no fusion), so every node keeps its name
and maps onto one estimated layer; the whole call is timed the same way, in a session without the profiler. The
profiler's node times have microsecond resolution and carry its own cost: on models of tens of microseconds they sum
to more than the call. Fused kernels (the deployed runtime's default) are faster still: `runtime.host_latency_s`."""

from __future__ import annotations

import json
import os
import statistics
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from edgeopt.calibration.microbench import input_shape
from edgeopt.deploy.runtime import session as runtime_session
from edgeopt.errors import EdgeoptError


@dataclass(frozen=True)
class NodeTimes:
    """Median per-node and per-call latencies over `runs` single-sample calls."""

    node_s: dict[str, float]  # ONNX node name -> median seconds inside the call
    call_s: float  # the whole call, as the caller sees it
    runs: int
    runtime: str

    def to_dict(self) -> dict:
        return {"node_s": self.node_s, "call_s": self.call_s, "runs": self.runs, "runtime": self.runtime}


def node_latencies_s(path: str | os.PathLike, runs: int = 100, warmup: int = 10) -> NodeTimes:
    """Per-node and per-call medians of the ONNX file at `path` in onnxruntime (one thread, no fusion)."""
    import onnxruntime as ort

    shape = input_shape(path)
    sample = np.random.default_rng(0).standard_normal(shape).astype(np.float32)
    with tempfile.TemporaryDirectory(prefix="edgeopt-profile-") as tmp:
        options = ort.SessionOptions()
        options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_BASIC
        options.intra_op_num_threads = options.inter_op_num_threads = 1
        options.log_severity_level = 3
        options.enable_profiling = True
        options.profile_file_prefix = str(Path(tmp) / "profile")
        try:
            session = ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
            feed = {session.get_inputs()[0].name: sample}
            for _ in range(warmup + runs):
                session.run(None, feed)
            events = json.loads(Path(session.end_profiling()).read_text())
            plain = runtime_session(path)  # the call timed without the profiler's own cost
            calls = []
            for _ in range(warmup + runs):
                start = time.perf_counter()
                plain.run(None, feed)
                calls.append(time.perf_counter() - start)
        except Exception as exc:  # onnxruntime's own errors: a model it cannot load or run on one input
            raise EdgeoptError(f"{path}: onnxruntime cannot run it on one input of shape {shape}: "
                               f"{type(exc).__name__}: {str(exc).strip()[:200]}") from None
    durations: dict[str, list[float]] = {}
    for event in events:
        name = event.get("name", "")
        if event.get("cat") == "Node" and name.endswith("_kernel_time"):
            durations.setdefault(name[:-len("_kernel_time")], []).append(event["dur"] * 1e-6)
    # the profile covers the warm-up calls too: the medians are over the last `runs` of each node
    node_s = {name: statistics.median(times[-runs:]) for name, times in durations.items()}
    return NodeTimes(node_s, statistics.median(calls[warmup:]), runs,
                     f"onnxruntime {ort.__version__}, 1 thread, no fusion")
