"""Compression benchmarks (issue 4), side by side in one run; prints Markdown for BENCHMARKS.md.

    .venv/bin/python benchmarks/compression.py --part ptq     # int8 PTQ: edgeopt vs onnxruntime vs torchao PT2E
    .venv/bin/python benchmarks/compression.py --part fpga    # ~100k-parameter teacher -> sequencer-fpga
    .venv/bin/python benchmarks/compression.py --part prune   # 50% channels: ONNX size and host latency

One CPU thread throughout (tiny models run fastest on one). torchao is optional (`pip install -e .[bench]`); without
it that column says so.
"""

from __future__ import annotations

import argparse
import contextlib
import io
import platform
import sys
import tempfile
import time
import warnings
from datetime import date
from pathlib import Path

import numpy as np
import torch
from torch import nn

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "examples"))

from models import ReadsTeacher  # noqa: E402

from edgeopt.compression import (  # noqa: E402
    ChannelPruneConfig,
    CompressContext,
    DistillConfig,
    Int8Config,
    Pipeline,
    compress,
    prune,
    quantize,
)
from edgeopt.data.examples import example_dataset  # noqa: E402
from edgeopt.data.normalize import Normalizer  # noqa: E402
from edgeopt.deploy.onnx import export_onnx  # noqa: E402
from edgeopt.deploy.runtime import file_bytes, host_latency_s, onnx_metrics  # noqa: E402
from edgeopt.profiles.loader import load_profile  # noqa: E402
from edgeopt.train.fit import FitSettings, fit  # noqa: E402
from edgeopt.train.loop import DeviceData, evaluate  # noqa: E402
from edgeopt.metrics import classification_metrics  # noqa: E402

CALIBRATION_SAMPLES = 512


def reads_cnn() -> nn.Module:
    """A search-sized 1-D CNN (~2k parameters) like the fronts `edgeopt search` finds for the sequencer FPGA."""
    return nn.Sequential(nn.Conv1d(1, 8, 9, 2, 4, bias=False), nn.BatchNorm1d(8), nn.ReLU(), nn.MaxPool1d(2),
                         nn.Conv1d(8, 16, 9, 1, 4, bias=False), nn.BatchNorm1d(16), nn.ReLU(), nn.MaxPool1d(2),
                         nn.AdaptiveAvgPool1d(1), nn.Flatten(), nn.Linear(16, 2))


def shapes_cnn() -> nn.Module:
    """A small 2-D CNN for the bundled 16x16 `shapes` images (4 classes)."""
    return nn.Sequential(nn.Conv2d(1, 16, 3, padding=1, bias=False), nn.BatchNorm2d(16), nn.ReLU(), nn.MaxPool2d(2),
                         nn.Conv2d(16, 32, 3, padding=1, bias=False), nn.BatchNorm2d(32), nn.ReLU(), nn.MaxPool2d(2),
                         nn.Conv2d(32, 32, 3, padding=1), nn.ReLU(), nn.AdaptiveAvgPool2d(1), nn.Flatten(),
                         nn.Linear(32, 4))


def trained(factory, dataset, normalizer, epochs, seed=0, lr=3e-3):
    """A model from `factory` (initialised under `seed`) trained for `epochs`, and its data on the device."""
    torch.manual_seed(seed)
    model = factory()
    data = DeviceData(dataset, normalizer)
    fit(model, data.x_train, data.y_train, FitSettings(epochs, lr=lr, weight_decay=1e-4, seed=seed))
    return model.eval(), data


def f1_of_logits(logits: np.ndarray, y: np.ndarray) -> float:
    probs = np.exp(logits - logits.max(1, keepdims=True))
    return classification_metrics(y, probs / probs.sum(1, keepdims=True)).f1


# -- int8 post-training quantization ----------------------------------------------------------------------------------


def ort_quantize_static(model, sample_shape, calibration: np.ndarray, folder: Path) -> Path:
    """onnxruntime's own static int8 (QDQ, per-channel weights, MinMax) on the float export of the same model."""
    import onnx
    from onnxruntime.quantization import CalibrationDataReader, QuantFormat, QuantType, quantize_static

    float_path = export_onnx(model, sample_shape, folder / "float.onnx")
    name = onnx.load(float_path).graph.input[0].name

    class Reader(CalibrationDataReader):
        def __init__(self):
            self.batches = iter([{name: calibration[i:i + 1]} for i in range(len(calibration))])

        def get_next(self):
            return next(self.batches, None)

    out = folder / "ort-int8.onnx"
    with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(io.StringIO()):
        quantize_static(str(float_path), str(out), Reader(), quant_format=QuantFormat.QDQ, per_channel=True,
                        activation_type=QuantType.QInt8, weight_type=QuantType.QInt8)
    return out


def torchao_pt2e(model, calibration: torch.Tensor):
    try:
        with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(io.StringIO()):
            from torchao.quantization.pt2e.quantize_pt2e import convert_pt2e, prepare_pt2e
            from torchao.quantization.pt2e.quantizer.x86_inductor_quantizer import (
                X86InductorQuantizer,
                get_default_x86_inductor_quantization_config,
            )
    except ImportError:
        return None
    batch = torch.export.Dim("batch", min=1)
    program = torch.export.export(model, (calibration[:4],), dynamic_shapes=({0: batch},)).module()
    prepared = prepare_pt2e(program, X86InductorQuantizer().set_global(get_default_x86_inductor_quantization_config()))
    with torch.no_grad():
        for i in range(0, len(calibration), 64):
            prepared(calibration[i:i + 64])
    return convert_pt2e(prepared)


def _pair(values) -> str:
    return f"{values[0]:.4f} / {values[1]:.4f}"


def _drop(reference, values) -> str:
    """F1 lost, in points (positive: worse than float), validation / test."""
    return f"{(reference[0] - values[0]) * 100:+.2f} / {(reference[1] - values[1]) * 100:+.2f}"


def part_ptq(reads_samples: int, calibration_method: str) -> list[str]:
    lines = ["| model | params | float F1 (val / test) | edgeopt int8 QDQ (ONNX) | drop, points | onnxruntime "
             "quantize_static | drop | torchao PT2E (x86) | drop |", "|---|---|---|---|---|---|---|---|---|"]
    reads, shapes = example_dataset("reads", n_samples=reads_samples), example_dataset("shapes")
    cases = [("reads: search-sized 1-D CNN", reads_cnn, reads, 20), ("reads: ReadsTeacher", ReadsTeacher, reads, 20),
             ("shapes: 2-D CNN", shapes_cnn, shapes, 15)]
    profile = load_profile("stm32f746")  # int8 weights per channel, int8 activations
    for label, factory, dataset, epochs in cases:
        normalizer = Normalizer.fit(dataset.x_train)
        model, data = trained(factory, dataset, normalizer, epochs)
        x_val, x_test = normalizer.apply(dataset.x_val), normalizer.apply(dataset.x_test)
        calibration = normalizer.apply(dataset.x_train[:CALIBRATION_SAMPLES])
        ref = [evaluate(model, torch.from_numpy(x), torch.from_numpy(y)).f1
               for x, y in ((x_val, dataset.y_val), (x_test, dataset.y_test))]
        ctx = CompressContext(profile, data, dataset.sample_shape, dataset.num_classes)
        q = quantize(model, Int8Config(calibration=calibration_method, calibration_samples=CALIBRATION_SAMPLES,
                                       mixed_precision=False, qat_epochs=0), ctx)
        with tempfile.TemporaryDirectory() as tmp:
            ours_path = export_onnx(q.model, dataset.sample_shape, Path(tmp) / "ours.onnx", q.plan)
            ours = [onnx_metrics(ours_path, x, y).f1 for x, y in ((x_val, dataset.y_val), (x_test, dataset.y_test))]
            ort_path = ort_quantize_static(model, dataset.sample_shape, calibration, Path(tmp))
            ort = [onnx_metrics(ort_path, x, y).f1 for x, y in ((x_val, dataset.y_val), (x_test, dataset.y_test))]
        pt2e = torchao_pt2e(model, torch.from_numpy(calibration))
        if pt2e is not None:
            with torch.no_grad():
                tao = [f1_of_logits(torch.cat([pt2e(torch.from_numpy(x[i:i + 64])) for i in range(0, len(x), 64)])
                                    .numpy(), y) for x, y in ((x_val, dataset.y_val), (x_test, dataset.y_test))]
        params = sum(p.numel() for p in model.parameters())

        lines.append(f"| {label} | {params:,} | {_pair(ref)} | {_pair(ours)} | {_drop(ref, ours)} | {_pair(ort)} | "
                     f"{_drop(ref, ort)} | " + (f"{_pair(tao)} | {_drop(ref, tao)} |" if pt2e is not None else
                                                "not installed | – |"))
        print(lines[-1], flush=True)
    return lines


# -- teacher -> sequencer FPGA ----------------------------------------------------------------------------------------


def part_fpga(samples: int) -> list[str]:
    dataset = example_dataset("reads", n_samples=samples)
    normalizer = Normalizer.identity(dataset.x_train)
    start = time.perf_counter()
    teacher, _ = trained(ReadsTeacher, dataset, normalizer, 20)
    print(f"teacher trained in {time.perf_counter() - start:.0f} s", flush=True)
    profile = load_profile("sequencer-fpga")
    lines = ["| stage | weights stored | params | weight bytes | fits sequencer-fpga | val F1 | test F1 | "
             "test F1 vs teacher, points | seconds |", "|---|---|---|---|---|---|---|---|---|"]
    prune_only = Pipeline((ChannelPruneConfig(steps=6, finetune_epochs=5, distill=False),), "f1", 0.01)
    full = Pipeline((ChannelPruneConfig(steps=6, finetune_epochs=5, distill=True), DistillConfig(epochs=30),
                     Int8Config()), "f1", 0.01)
    results = {}
    with tempfile.TemporaryDirectory() as tmp:
        for name, pipeline in (("prune only", prune_only), ("full", full)):
            start = time.perf_counter()
            results[name] = compress(teacher, profile, pipeline, dataset, Path(tmp) / name.replace(" ", "-"),
                                     normalizer=normalizer, seed=0)
            print(f"{name}: {time.perf_counter() - start:.0f} s, {results[name].status} {results[name].reason}",
                  flush=True)
    base = results["full"].steps[0]
    rows = [("teacher (fp32)", base), ("prune only (fine-tuned on labels)", results["prune only"].steps[-1])]
    labels = {"prune": "prune, fine-tuned against the teacher", "distill": "+ distill",
              "quantize": "+ int8 (PyTorch simulation)"}
    rows += [(labels[s.step], s) for s in results["full"].steps[1:]]
    for label, s in rows:
        test_f1 = s.test_metrics["f1"]
        lines.append(f"| {label} | {s.weight_format} | {s.cost.params:,} | {s.cost.weight_bytes:,.0f} | "
                     f"{'yes' if s.fits else 'no'} | {s.metrics['f1']:.4f} | {test_f1:.4f} | "
                     f"{(test_f1 - base.test_metrics['f1']) * 100:+.2f} | {s.seconds:.0f} |")
    d = results["full"].deployed
    last = results["full"].steps[-1]
    lines.append(f"| **deployed {last.weight_format} ONNX (onnxruntime)** | {last.weight_format} | "
                 f"{last.cost.params:,} | "
                 f"{last.cost.weight_bytes:,.0f} | {'yes' if last.fits else 'no'} | {d.val['f1']:.4f} | "
                 f"{d.test['f1']:.4f} | {(d.test['f1'] - base.test_metrics['f1']) * 100:+.2f} | – |")
    lines.append("")
    lines.append(f"Pipeline {results['full'].status}{': ' + results['full'].reason if results['full'].reason else ''}.")
    ratio = base.cost.weight_bytes / last.cost.weight_bytes
    lines.append(f"Weight bytes, teacher (fp32) / deployed: {ratio:.0f}x; teacher "
                 f"stored int8 ({base.cost.params:,} bytes + scales) / deployed: "
                 f"{base.cost.params / last.cost.weight_bytes:.1f}x. model.onnx {d.size_bytes:,} bytes, host latency "
                 f"{d.host_latency_s * 1e6:.1f} us.")
    return lines


# -- structured pruning: size and speed of the exported model ---------------------------------------------------------


def part_prune(runs: int) -> list[str]:
    lines = ["| model | params before / after | ONNX bytes before / after | host latency us before / after "
             "(median of runs) | speed-up |", "|---|---|---|---|---|"]
    cases = [("ReadsTeacher (1-D)", ReadsTeacher, example_dataset("reads")),
             ("shapes 2-D CNN", shapes_cnn, example_dataset("shapes"))]
    for label, factory, dataset in cases:
        normalizer = Normalizer.fit(dataset.x_train)
        model, data = trained(factory, dataset, normalizer, 3)
        ctx = CompressContext(load_profile("host-cpu"), data, dataset.sample_shape, dataset.num_classes)
        pruned = prune(model, ChannelPruneConfig(ratio=0.5, steps=1, finetune_epochs=1), ctx).model
        sample = normalizer.apply(dataset.x_val[:1])[0]
        with tempfile.TemporaryDirectory() as tmp:
            paths = [export_onnx(m, dataset.sample_shape, Path(tmp) / f"{i}.onnx") for i, m in enumerate((model,
                                                                                                       pruned))]
            # Interleave the measurements so drifts in machine load hit both alike.
            latencies = [[], []]
            for _ in range(5):
                for i, path in enumerate(paths):
                    latencies[i].append(host_latency_s(path, sample, runs=runs // 5))
            before, after = (float(np.median(v)) for v in latencies)
            sizes = [file_bytes(p) for p in paths]
        params = [sum(p.numel() for p in m.parameters()) for m in (model, pruned)]
        lines.append(f"| {label} | {params[0]:,} / {params[1]:,} | {sizes[0]:,} / {sizes[1]:,} | "
                     f"{before * 1e6:.1f} / {after * 1e6:.1f} | {before / after:.2f}x |")
        print(lines[-1], flush=True)
    return lines


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--part", choices=["ptq", "fpga", "prune", "all"], default="all")
    parser.add_argument("--fpga-samples", type=int, default=12000, help="reads samples generated for the FPGA part")
    parser.add_argument("--latency-runs", type=int, default=3000)
    parser.add_argument("--reads-samples", type=int, default=4000, help="reads samples for the PTQ part (default: "
                                                                          "the bundled size)")
    parser.add_argument("--calibration", choices=["minmax", "percentile", "mse"], default="percentile")
    args = parser.parse_args()
    torch.set_num_threads(1)
    warnings.filterwarnings("ignore")
    out = [f"{date.today()}, {platform.processor() or platform.machine()}, Python {platform.python_version()}, "
           f"torch {torch.__version__}, 1 thread; `{' '.join(['benchmarks/compression.py', *sys.argv[1:]])}`", ""]
    if args.part in ("ptq", "all"):
        out += [f"### int8 post-training quantization (same models, same 512 calibration samples; reads: "
                f"{args.reads_samples:,} samples; edgeopt calibration: {args.calibration})", "",
                *part_ptq(args.reads_samples, args.calibration), ""]
    if args.part in ("fpga", "all"):
        out += [f"### ~100k-parameter teacher -> sequencer-fpga (bundled reads, {args.fpga_samples:,} samples)", "",
                *part_fpga(args.fpga_samples), ""]
    if args.part in ("prune", "all"):
        out += ["### Structured pruning, 50% of channels: exported ONNX size and host latency", "",
                *part_prune(args.latency_runs), ""]
    print("\n".join(out))


if __name__ == "__main__":
    main()
