"""What a Verilog export folder's engine is, checked against the model it was made from: its lanes and clocks, and
its cells on an FPGA family (recorded by `export --synth` for this very engine, else synthesized now). An engine
that is not the one edgeopt generates from the folder's source.onnx is refused: the gate measures what ships."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from edgeopt.deploy.host import read_manifest
from edgeopt.deploy.lower import lower_onnx
from edgeopt.deploy.synth import FabricUse, engine_digest, synthesize
from edgeopt.deploy.verilog import ENGINE_GENERATION, MAX_LANES, engine_cycles, verilog_files
from edgeopt.errors import EdgeoptError
from edgeopt.profiles.schema import FABRIC_FAMILIES


@dataclass(frozen=True)
class EngineFacts:
    name: str
    lanes: int
    clocks: int  # per inference, counted from the loop nest (simulation counts the same)
    fabric: FabricUse | None
    fabric_how: str  # "recorded by export --synth" or "synthesized now"


def export_format(folder: str | os.PathLike) -> str | None:
    """The format an export folder's manifest states."""
    return read_manifest(folder, ("name",)).get("format")


def engine_facts(folder: str | os.PathLike, family: str | None) -> EngineFacts:
    """The engine of a Verilog export `folder`, its clocks and (with `family`) its cells."""
    folder = Path(folder)
    manifest = read_manifest(folder, ("name", "lanes"), format="verilog")
    name, lanes = manifest["name"], manifest["lanes"]
    if not 1 <= lanes <= MAX_LANES:
        raise EdgeoptError(f"{folder / 'manifest.json'}: lanes: {lanes} is not what edgeopt export writes")
    program = lower_onnx(folder / "source.onnx")
    engine = folder / f"{name}.v"
    expected = verilog_files(program, name, lanes)
    try:
        same = engine.read_text() == expected.engine and all(
            (folder / file).read_text() == text for file, text in expected.roms.items())
    except (OSError, UnicodeDecodeError):
        same = False
    if not same:
        generation = manifest.get("engine_generation")
        if generation != ENGINE_GENERATION:
            made = (f"generation {generation}" if isinstance(generation, int) and not isinstance(generation, bool)
                    and 0 < generation < ENGINE_GENERATION else "an earlier generation")
            raise EdgeoptError(f"{engine}: made by an earlier edgeopt's engine generator ({made}; this one makes "
                               f"generation {ENGINE_GENERATION}): export again")
        raise EdgeoptError(f"{engine}: not the engine edgeopt generates from {folder / 'source.onnx'} with {lanes} "
                           "lanes (edited, or its ROM images changed); export again")
    fabric, how = None, ""
    if family is not None:
        fabric, how = _recorded(manifest.get("fabric"), family, engine_digest(folder, name)), "recorded by export"
        if fabric is None:
            fabric, how = synthesize(folder, name, family), "synthesized now"
    return EngineFacts(name, lanes, engine_cycles(program, lanes), fabric, how)


def _recorded(data, family: str, digest: str) -> FabricUse | None:
    """The manifest's cells where they are this engine's on `family` and well formed, else None."""
    if not isinstance(data, dict) or data.get("family") != family or data.get("engine_sha256") != digest:
        return None
    counts = ("luts", "lut_ram", "ffs", "dsps")
    if not all(isinstance(data.get(k), int) and not isinstance(data.get(k), bool) and 0 <= data[k] < 1 << 32
               for k in counts) or not isinstance(data.get("brams"), (int, float)) or not 0 <= data["brams"] < 1 << 32:
        return None
    if family not in FABRIC_FAMILIES or not isinstance(data.get("tool"), str):
        return None
    fmax = data.get("fmax_hz")
    if fmax is not None and (not isinstance(fmax, (int, float)) or isinstance(fmax, bool) or not 0 < fmax < 1e10):
        return None
    place_route = data.get("place_route")
    return FabricUse(family, data["luts"], data["lut_ram"], data["ffs"], data["dsps"], data["brams"],
                     data["tool"][:120], digest, float(data.get("synth_s") or 0.0), fmax_hz=fmax,
                     place_route=place_route[:120] if isinstance(place_route, str) else None)


__all__ = ["EngineFacts", "engine_facts", "export_format"]
