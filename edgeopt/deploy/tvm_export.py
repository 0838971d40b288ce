"""`--format tvm`: the QDQ ONNX file compiled by Apache TVM (Relax) for the host (a shared library, timed here) and
for a Cortex-M target triple (object files for a firmware build to link). An optional extra: `edgeopt[tvm]`.

TVM's MetaSchedule tuner crashes in the 0.27 wheel and it has no microTVM/AOT: the builds are untuned defaults, and
the Cortex-M objects need TVM's runtime beside them (the C export is the self-contained route)."""

from __future__ import annotations

import os
import statistics
import tarfile
import time
from pathlib import Path

import numpy as np

from edgeopt.errors import EdgeoptError

HOST_LIBRARY = "host.so"
CROSS_TARGETS = {"cortex-m4": {"kind": "llvm", "mtriple": "thumbv7em-none-eabi", "mcpu": "cortex-m4",
                               "mfloat-abi": "soft"},
                 "cortex-m7": {"kind": "llvm", "mtriple": "thumbv7em-none-eabi", "mcpu": "cortex-m7",
                               "mfloat-abi": "soft"}}


def require_tvm():
    """The tvm module, or one clear error naming the extra."""
    try:
        import tvm
    except ImportError:
        raise EdgeoptError("--format tvm needs Apache TVM: pip install 'edgeopt[tvm]' (package apache-tvm)") from None
    return tvm


def _compiled(source: Path, target: dict):
    import onnx

    tvm = require_tvm()
    from tvm import relax
    from tvm.relax.frontend.onnx import from_onnx

    model = onnx.load(str(source))
    shape = [d.dim_value or 1 for d in model.graph.input[0].type.tensor_type.shape.dim]  # batch 1
    try:
        mod = from_onnx(model, shape_dict={model.graph.input[0].name: shape})
        mod = relax.transform.LegalizeOps()(relax.transform.DecomposeOpsForInference()(mod))
        return relax.build(mod, tvm.target.Target(target))
    except Exception as exc:  # TVM's own message names the op it could not import or build
        raise EdgeoptError(f"{source}: TVM could not compile it for {target}: {type(exc).__name__}: "
                           f"{str(exc).strip().splitlines()[-1][:300]}") from None


def write_tvm(source: str | os.PathLike, folder: str | os.PathLike,
              cpus: tuple[str, ...] = ("cortex-m4",)) -> list[str]:
    """Compile `source` into `folder`: host.so and <cpu>.tar (object files) per cpu; the file names written."""
    source, folder = Path(source), Path(folder)
    files = [HOST_LIBRARY]
    _compiled(source, {"kind": "llvm"}).export_library(str(folder / HOST_LIBRARY))
    for cpu in cpus:
        _compiled(source, CROSS_TARGETS[cpu]).export_library(str(folder / f"{cpu}.tar"))
        files.append(f"{cpu}.tar")
    return files


def cross_objects(archive: str | os.PathLike) -> list[str]:
    with tarfile.open(archive) as tar:
        return sorted(name for name in tar.getnames() if name.endswith(".o"))


def _machine(folder: Path):
    tvm = require_tvm()
    from tvm import relax

    return tvm, relax.VirtualMachine(tvm.runtime.load_module(str(folder / HOST_LIBRARY)), tvm.cpu())


def run_tvm(folder: str | os.PathLike, x: np.ndarray) -> np.ndarray:
    """Float logits of the host build on float samples `x` (one at a time: the library was built for batch 1)."""
    tvm, vm = _machine(Path(folder))
    outputs = [vm["main"](tvm.runtime.tensor(np.ascontiguousarray(sample[None], np.float32))).numpy()
               for sample in np.asarray(x)]
    return np.concatenate(outputs)


def tvm_latency_s(folder: str | os.PathLike, sample: np.ndarray, runs: int = 300, warmup: int = 30) -> float:
    """Median wall time of one call of the host build on `sample`."""
    tvm, vm = _machine(Path(folder))
    x = tvm.runtime.tensor(np.ascontiguousarray(sample[None], np.float32))
    for _ in range(warmup):
        vm["main"](x)
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        vm["main"](x)
        times.append(time.perf_counter() - start)
    return statistics.median(times)
