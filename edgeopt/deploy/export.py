"""`export(model, profile, out_dir, format="c"|"tvm"|"verilog")`: a quantized model as C source (or Apache TVM builds,
or a Verilog engine for an FPGA) for a device build, with a manifest (hashes, sizes, scales, ops) and build fragments;
returns the same facts as an ExportRecord."""

from __future__ import annotations

import dataclasses
import hashlib
import json
import os
import shutil
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from edgeopt.atomic import atomic_folder, claim_folder
from edgeopt.errors import EdgeoptError, ModelError
from edgeopt.models.reference import COMPRESSION, ONNX, resolve_model
from edgeopt.escape import c_name
from edgeopt.deploy.c_source import c_sources
from edgeopt.deploy.host import MANIFEST
from edgeopt.deploy.lower import lower_onnx
from edgeopt.deploy.tvm_export import require_tvm, write_tvm
from edgeopt.deploy.synth import FabricUse, synthesize, yosys_missing
from edgeopt.cost.engine import profile_lanes
from edgeopt.deploy.verilog import (ENGINE_GENERATION, activation_format, choose_lanes, engine_cycles, verilog_files,
                                    verilog_name)
from edgeopt.profiles.schema import FABRIC_FAMILIES, HardwareProfile
from edgeopt.version import __version__

FORMATS = ("c", "tvm", "verilog")
SOURCE = "source.onnx"


class ExportError(EdgeoptError):
    """An export that cannot be made as asked (format, name, output folder)."""


# how a manifest's ops name the global poolings ("global_average" as before max joined them)
GLOBAL_NAMES = {"avg": "average", "max": "max", "avgmax": "average_max", "ppv": "positive_share"}


@dataclass(frozen=True, kw_only=True)
class ExportRecord:
    """What an export wrote and what it costs; figures say where they come from (`estimated` by the cost model,
    `counted` from the generated C's own arrays and arena plan). A TVM export runs the QDQ graph on float inputs:
    its grid and counted figures are None."""

    format: str
    out_dir: str
    name: str
    files: tuple[str, ...]
    model: str
    model_sha256: str
    profile: str
    profile_sha256: str
    edgeopt_version: str
    input_shape: tuple[int, ...]
    input_scale: float | None
    input_zero_point: int | None
    input_bits: int | None  # 8 or 16: the C's input (and activation) type
    output_size: int
    output_scale: float | None
    ops: tuple[str, ...]
    layers: int
    counted_weight_bytes: int | None  # const data of the C: int8 weights, int32 biases, per-channel requantization
    counted_arena_bytes: int | None  # the caller's arena: intermediate activations
    counted_ram_bytes: int | None  # arena + the input + the int32 logits (what the cost model's peak counts)
    estimated_weight_bytes: float
    estimated_peak_activation_bytes: float
    arena_buffers: tuple[dict, ...] | None = None  # C: each intermediate buffer's offset and bytes in the arena
    layer_names: tuple[str, ...] | None = None  # C: the ONNX node each layer came from, in the order the run hook
    # (<NAME>_LAYER_DONE(index)) counts them
    clock_cycles: int | None = None  # verilog: clocks the engine is busy per inference (counted from its loop nest)
    latency_s: float | None = None  # verilog: those clocks at the profile's clock
    lanes: int | None = None  # verilog: the engine's multiply-accumulates a clock
    engine_generation: int | None = None  # verilog: the design of the engine (`deploy.verilog.ENGINE_GENERATION`)
    fabric: FabricUse | None = None  # verilog with synthesis: the engine's cells on an FPGA family (measured)

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)


def export(model: str | os.PathLike, profile: HardwareProfile | str | os.PathLike, out_dir: str | os.PathLike, *,
           format: str = "c", name: str = "model", inputs=(),
           verify: Callable[[Path, ExportRecord], None] | None = None, lanes: int | None = None,
           synth: str | None = None) -> ExportRecord:
    """Write `model` (a QDQ ONNX file, or a compression output folder holding one) for `profile` into `out_dir`:
    an earlier export there is replaced whole, anything else refused (`atomic.claim_folder`; `inputs`: more files
    the folder must not be or hold); nothing half-written on an error. `verify(folder, record)` runs on the
    finished export before it replaces `out_dir`: what it raises leaves `out_dir` as it was. Verilog: `lanes`
    multiply-accumulates a clock (default: the fewest meeting the profile's latency budget); `synth` (a part
    family) synthesizes the engine with yosys and records its cells."""
    from edgeopt.cost.estimate import estimate
    from edgeopt.profiles.loader import load_profile

    if format not in FORMATS:
        raise ExportError(f"unknown export format {format!r}; choose from {', '.join(FORMATS)}")
    check_engine_options(format, lanes, synth)  # before any work
    if format == "tvm":
        require_tvm()  # before any work
    try:
        name = c_name(name)
        if format == "verilog":
            verilog_name(name)
    except EdgeoptError as exc:
        raise ExportError(f"--name: {exc}") from None
    source = _model_file(model)
    inputs = (model, source, *inputs)
    out_dir = claim_folder(out_dir, "export", inputs)
    if not isinstance(profile, HardwareProfile):
        profile = load_profile(profile)
    program = lower_onnx(source) if format in ("c", "verilog") else None
    est = estimate(source, profile)
    model_sha = hashlib.sha256(source.read_bytes()).hexdigest()
    figures = {k: v for k, v in profile.to_dict().items() if k != "path"}  # the same device wherever its file is
    profile_sha = hashlib.sha256(json.dumps(figures, sort_keys=True, default=str).encode()).hexdigest()
    common = {"out_dir": str(out_dir), "name": name, "model": str(source), "model_sha256": model_sha,
              "profile": profile.name, "profile_sha256": profile_sha, "edgeopt_version": __version__,
              "estimated_weight_bytes": est.total.weight_bytes,
              "estimated_peak_activation_bytes": est.peak_activation_bytes}
    with atomic_folder(out_dir, "export", inputs) as tmp:
        shutil.copyfile(source, tmp / SOURCE)  # what it was made from: `edgeopt check` estimates it
        if format == "verilog":
            record = _write_verilog(tmp, program, name, common, profile, lanes)
            if synth is not None:
                record = dataclasses.replace(record, fabric=synthesize(tmp, name, synth))
        elif program is not None:
            header, body, arena = c_sources(program, name, f"model sha256 {model_sha[:16]}, edgeopt {__version__}")
            ops = _ops(program)
            files = (f"{name}.h", f"{name}.c", MANIFEST, "CMakeLists.txt", f"{name}.mk", SOURCE)
            record = ExportRecord(
                format="c", **common, files=files, input_shape=tuple(program.input_shape),
                input_scale=program.input_scale, input_zero_point=program.input_zero_point,
                input_bits=program.input_bits, output_size=program.output_size, output_scale=program.output_scale,
                ops=ops, layers=len(program.layers), counted_weight_bytes=program.weight_bytes,
                counted_arena_bytes=arena.arena_bytes,
                counted_ram_bytes=arena.arena_bytes + program.input_size * program.input_bits // 8
                + 4 * program.output_size,
                arena_buffers=arena.describe(program), layer_names=tuple(layer.name for layer in program.layers))
            (tmp / f"{name}.h").write_text(header)
            (tmp / f"{name}.c").write_text(body)
            (tmp / "CMakeLists.txt").write_text(_cmake(name))
            (tmp / f"{name}.mk").write_text(_make(name))
        else:
            files = (*write_tvm(source, tmp), MANIFEST, SOURCE)
            layers = [layer for layer in est.layers if layer.cost.params]
            sample_shape, outputs = _io_shape(source)
            record = ExportRecord(
                format="tvm", **common, files=files, input_shape=sample_shape, input_scale=None,
                input_zero_point=None, input_bits=None, output_size=outputs, output_scale=None,
                ops=tuple(sorted({layer.op.value for layer in est.layers})), layers=len(layers),
                counted_weight_bytes=None, counted_arena_bytes=None, counted_ram_bytes=None)
        manifest = record.to_dict() | {"out_dir": None, "model": source.name}  # portable: no absolute paths
        (tmp / MANIFEST).write_text(json.dumps(manifest, indent=2, sort_keys=True) + "\n")
        if verify is not None:
            verify(tmp, record)
    return record


def check_engine_options(format: str, lanes: int | None, synth: str | None) -> None:
    """`lanes` and `synth` belong to a Verilog export, `synth` names a known family and yosys is installed."""
    if format != "verilog" and (lanes is not None or synth is not None):
        raise ExportError(f"{'--lanes' if lanes is not None else '--synth'} belongs to the Verilog engine; give "
                          "--format verilog")
    if synth is not None and synth not in FABRIC_FAMILIES:
        raise ExportError(f"--synth {synth!r}: choose from {', '.join(FABRIC_FAMILIES)}")
    if synth is not None and yosys_missing():
        raise ExportError("--synth runs yosys, which is not installed (Debian: apt-get install yosys)")


def _ops(program) -> tuple[str, ...]:
    return tuple(sorted({layer.kind for layer in program.layers}
                        | {f"{layer.pool.kind}pool" for layer in program.layers if layer.pool}
                        | {f"global_{GLOBAL_NAMES[layer.global_pool]}" for layer in program.layers
                           if layer.global_pool}
                        | {layer.nonlinear.kind for layer in program.layers if layer.nonlinear}
                        | {"residual_add" for layer in program.layers if layer.residual}
                        | {"concat" for layer in program.layers if layer.target is not None}))


def _write_verilog(folder: Path, program, name: str, common: dict, profile: HardwareProfile,
                   lanes: int | None) -> ExportRecord:
    """The engine, its ROM images and its testbench into `folder`; the record (clocks counted, ROM and RAM bytes as
    generated)."""
    clock = profile.compute.clock_hz
    most = profile_lanes(profile, activation_format(program))
    try:
        lanes = choose_lanes(program, most, clock, profile.budgets.max_latency_s, lanes)
    except ModelError as exc:
        raise ExportError(f"{profile.name}: {exc}") from None
    files = verilog_files(program, name, lanes)  # what it cannot run: one ModelError, before anything is written
    written = files.write(folder, name)
    cycles = engine_cycles(program, lanes)
    return ExportRecord(
        format="verilog", **common, files=(*written, MANIFEST, SOURCE),
        input_shape=tuple(program.input_shape), input_scale=program.input_scale,
        input_zero_point=program.input_zero_point, input_bits=program.input_bits, output_size=program.output_size,
        output_scale=program.output_scale, ops=_ops(program), layers=len(program.layers),
        counted_weight_bytes=files.rom_bytes, counted_arena_bytes=2 * (files.act_words - program.input_size),
        counted_ram_bytes=2 * files.act_words, layer_names=tuple(layer.name for layer in program.layers),
        clock_cycles=cycles, latency_s=cycles / clock if clock else None, lanes=files.lanes,
        engine_generation=ENGINE_GENERATION)


def _io_shape(source: Path) -> tuple[tuple[int, ...], int]:
    """(the sample shape, the number of outputs) of the ONNX file, batch left out."""
    import onnx

    graph = onnx.load(str(source)).graph
    dims = [[d.dim_value or 1 for d in t.type.tensor_type.shape.dim[1:]] for t in (graph.input[0], graph.output[0])]
    return tuple(dims[0]), int(np.prod(dims[1]))


def _model_file(model: str | os.PathLike) -> Path:
    """The QDQ ONNX file `model` is or holds (a compression output folder's model.onnx)."""
    if not Path(model).exists():
        raise ExportError(f"{model}: no such file; give a QDQ model.onnx or a compression output folder")
    try:
        ref = resolve_model(model)
    except ModelError as exc:
        raise ExportError(f"{exc}; the export reads a QDQ model.onnx or a compression output folder") from None
    if ref.kind not in (ONNX, COMPRESSION):
        raise ExportError(f"{model}: the C export reads a quantized ONNX file (model.onnx of `edgeopt compress`) or "
                          "its folder")
    if not ref.onnx_file.is_file():
        raise ExportError(f"{ref.onnx_file}: no such file; give a QDQ model.onnx or a compression output folder")
    return ref.onnx_file


def _cmake(name: str) -> str:
    return f"""# generated by edgeopt: add_subdirectory() this folder, then link {name} into the firmware target
add_library({name} STATIC {name}.c)
target_include_directories({name} PUBLIC ${{CMAKE_CURRENT_LIST_DIR}})
set_target_properties({name} PROPERTIES C_STANDARD 99 C_STANDARD_REQUIRED ON)
"""


def _make(name: str) -> str:
    upper = name.upper()
    return f"""# generated by edgeopt: include this file; add $({upper}_SRCS) to the sources, $({upper}_INC) to CFLAGS
{upper}_EXPORT_DIR := $(patsubst %/,%,$(dir $(lastword $(MAKEFILE_LIST))))
{upper}_SRCS := $({upper}_EXPORT_DIR)/{name}.c
{upper}_INC := -I$({upper}_EXPORT_DIR)
"""
