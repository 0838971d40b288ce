"""`edgeopt calibrate --runtime yosys`: the Verilog engine of the board microbenchmarks (and given models) at several
lane counts, synthesized by yosys for the profile's part family; the fabric model's LUT and flip-flop coefficients
fitted to the cells, written as a profile that extends the original (`fabric.luts`, `fabric.ffs`, `fabric.fit`)."""

from __future__ import annotations

import json
import os
import tempfile
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import date
from pathlib import Path

from edgeopt.calibration.board_micro import BoardMicro, board_micro_onnx, fabric_suite
from edgeopt.calibration.calibrate import _machine, _parent_ref, _write_checked, claim_calibrated
from edgeopt.calibration.fabric_fit import FabricFit, FabricMeasurement, fit_fabric
from edgeopt.cost.engine import estimate_engine, profile_lanes
from edgeopt.cost.fabric import TERMS, engine_terms, fabric_inputs
from edgeopt.deploy.export import export
from edgeopt.deploy.lower import lower_onnx
from edgeopt.deploy.synth import yosys_missing
from edgeopt.deploy.verilog import unsupported
from edgeopt.errors import EdgeoptError
from edgeopt.graph.build import build_graph
from edgeopt.profiles.loader import load_profile
from edgeopt.profiles.schema import HardwareProfile

LANES = (1, 4, 16)  # lane counts each model is synthesized at (those above the profile's limit are left out)


@dataclass(frozen=True)
class FabricCalibration:
    """What `calibrate_fabric` wrote and the fit behind it."""

    profile: str
    out: str
    family: str
    tool: str
    measurements: tuple[FabricMeasurement, ...]
    fit: FabricFit

    def to_dict(self) -> dict:
        rows = [m.to_dict() | {"predicted_luts": round(pl), "predicted_ffs": round(pf)}
                for m, pl, pf in zip(self.measurements, self.fit.predicted_luts, self.fit.predicted_ffs)]
        return {"profile": self.profile, "out": self.out, "runtime": "yosys", "family": self.family,
                "tool": self.tool, "luts": self.fit.luts, "ffs": self.fit.ffs,
                "luts_fit_error": self.fit.luts_fit_error, "ffs_fit_error": self.fit.ffs_fit_error,
                "luts_within_10pct": self.fit.luts_within_10pct, "ffs_within_10pct": self.fit.ffs_within_10pct,
                "dsps_exact": all(m.use.dsps == m.estimated_dsps for m in self.measurements),
                "brams_exact": all(m.use.brams == m.estimated_brams for m in self.measurements),
                "source": "measured", "measurements": rows}


def measure_fabric(models: Sequence[Path], profile: HardwareProfile, lanes: Sequence[int], work: Path,
                   progress: Callable[[str], None] | None = None) -> list[FabricMeasurement]:
    """Each QDQ model exported to Verilog at each lane count the profile allows and synthesized for its family."""
    say = progress or (lambda text: None)
    family = profile.fabric.family
    most = profile_lanes(profile, profile.activation_format)
    out = []
    for model in models:
        graph = build_graph(model)
        input_elements, input_bits = fabric_inputs(graph, profile)
        engines = {}  # lanes past the widest block of channels build the same engine: synthesized once
        for count in sorted({min(n, most) for n in lanes}):
            engine = estimate_engine(graph, profile, count)
            engines.setdefault(engine.lanes, engine)
        for count, engine in engines.items():
            say(f"synthesizing {model.stem} at {count} lane{'s' if count > 1 else ''} ({family})")
            folder = work / f"{model.stem}-{count}"
            record = export(model, profile, folder, format="verilog", lanes=count, synth=family)
            terms, memories = engine_terms(engine, input_elements, input_bits)
            out.append(FabricMeasurement(str(model) if model.parent != work else model.stem, count, terms,
                                         memories.blocks(family), engine.dsps, record.fabric))
    return out


def calibrate_fabric(profile: HardwareProfile | str | os.PathLike, out: str | os.PathLike, *,
                     models: Sequence[str | os.PathLike] = (), micros: Sequence[BoardMicro] | None = None,
                     lanes: Sequence[int] = LANES, progress: Callable[[str], None] | None = None
                     ) -> FabricCalibration:
    """Fit `profile`'s fabric model to yosys's synthesis of the microbenchmarks (`micros`, by default the board
    suite and cnn1d architectures on series of 60) and `models` (int8 QDQ ONNX) at `lanes`, and write the calibrated
    profile to `out`."""
    say = progress or (lambda text: None)
    if not isinstance(profile, HardwareProfile):
        profile = load_profile(profile)
    if profile.fabric is None:
        raise EdgeoptError(f"{profile.name} has no fabric: --runtime yosys calibrates an FPGA profile's engine model")
    if yosys_missing():
        raise EdgeoptError("--runtime yosys needs yosys (Debian: apt-get install yosys)")
    out = claim_calibrated(out, (profile.path, *models))
    given = [Path(m).resolve() for m in dict.fromkeys(models)]
    for path in given:
        if not path.is_file() or path.suffix != ".onnx":
            raise EdgeoptError(f"--models: {path} is not an ONNX file")
        try:
            problem = unsupported(lower_onnx(path))
        except EdgeoptError as exc:
            raise EdgeoptError(f"--models: {path}: the Verilog export takes an int8 QDQ model: {exc}") from None
        if problem is not None:
            raise EdgeoptError(f"--models: {path}: {problem}")
    with tempfile.TemporaryDirectory(prefix="edgeopt-calibrate-") as tmp:
        work = Path(tmp)
        files = []
        for micro in fabric_suite() if micros is None else micros:
            say(f"building {micro.name} ({profile.activation_format} activations)")
            path = board_micro_onnx(micro, profile, work)[0]
            try:  # random weights may give a requantization scale out of range
                problem = unsupported(lower_onnx(path))
            except EdgeoptError as exc:
                problem = str(exc).removeprefix(f"{path}: ")
            if problem is None:
                files.append(path)
            else:
                say(f"left out {micro.name}: {problem}")
        rows = measure_fabric([*files, *given], profile, lanes, work, say)
    say("fit")
    fit = fit_fabric(rows)
    tool = rows[0].use.tool
    text = fabric_yaml(_parent_ref(profile, out), f"{profile.name}-calibrated", fit, tool, len(rows))
    _write_checked(out, text)
    return FabricCalibration(profile.name, str(out), profile.fabric.family, tool, tuple(rows), fit)


def fabric_yaml(parent: str, name: str, fit: FabricFit, tool: str, samples: int) -> str:
    """The calibrated profile: `extends:` the original; the fitted coefficients (source: measured) and the fit."""
    lines = ["# Written by `edgeopt calibrate`: the fabric model fitted to synthesis (source: measured); the rest is",
             f"# {parent}'s. Re-run the calibration rather than editing the figures by hand.",
             f"name: {json.dumps(name)}", f"extends: {json.dumps(parent)}", "fabric:"]
    for what, values in (("luts", fit.luts), ("ffs", fit.ffs)):
        lines.append(f"  {what}:")
        lines += [f"    {term}: {{value: {values[term]:.4g}, source: measured}}" for term in TERMS]
    lines += ["  fit:", f"    tool: {json.dumps(tool)}", f"    machine: {json.dumps(_machine())}",
              f"    date: {json.dumps(date.today().isoformat())}", f"    samples: {samples}",
              f"    luts_fit_error: {fit.luts_fit_error:.4f}", f"    ffs_fit_error: {fit.ffs_fit_error:.4f}",
              f"    luts_within_10pct: {fit.luts_within_10pct:.4f}",
              f"    ffs_within_10pct: {fit.ffs_within_10pct:.4f}"]
    return "\n".join(lines) + "\n"


__all__ = ["FabricCalibration", "LANES", "calibrate_fabric", "fabric_yaml", "measure_fabric"]
