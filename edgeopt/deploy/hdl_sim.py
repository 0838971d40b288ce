"""Run a generated Verilog engine in an HDL simulator (Icarus Verilog or Verilator, Debian packages) on integer
inputs: its logits and the clocks each inference took, read back from its testbench's files."""

from __future__ import annotations

import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from edgeopt.deploy.tool_run import run_tool
from edgeopt.deploy.verilog import VerilogFiles
from edgeopt.errors import EdgeoptError

SIMULATORS = ("iverilog", "verilator")
TOOLS = {"iverilog": ("iverilog", "vvp"), "verilator": ("verilator", "g++", "make")}  # --binary builds C++
TIMEOUT_S = 3600


@dataclass(frozen=True)
class Simulated:
    simulator: str
    logits: np.ndarray  # (samples, outputs) int32, as the engine streamed them out
    cycles: np.ndarray  # clocks from start to done, per sample

    @property
    def cycles_per_inference(self) -> int:
        return int(np.max(self.cycles)) if len(self.cycles) else 0


def missing_tools(simulator: str) -> list[str]:
    """The programs `simulator` needs that are not on PATH."""
    return [tool for tool in TOOLS[simulator] if shutil.which(tool) is None]


def simulate(files: VerilogFiles, name: str, inputs: np.ndarray, simulator: str = "iverilog") -> Simulated:
    """Run the engine `name` of `files` on integer `inputs` (samples, *input shape) in `simulator`."""
    with tempfile.TemporaryDirectory(prefix="edgeopt-hdl-") as work:
        folder = Path(work)
        files.write(folder, name)
        return simulate_export(folder, name, inputs, simulator)


def simulate_export(export_dir: str | Path, name: str, inputs: np.ndarray, simulator: str = "iverilog") -> Simulated:
    """Run the engine an export folder holds (`name`.v, its testbench and ROM images, as written) on integer
    `inputs` in `simulator`; the folder is only read (the simulation runs in a copy)."""
    if simulator not in SIMULATORS:
        raise EdgeoptError(f"unknown simulator {simulator!r}; choose from {', '.join(SIMULATORS)}")
    missing = missing_tools(simulator)
    if missing:
        raise EdgeoptError(f"simulating the Verilog needs {', '.join(missing)} (Debian: apt-get install "
                           f"{'iverilog' if simulator == 'iverilog' else 'verilator g++ make'})")
    x = np.asarray(inputs).reshape(len(inputs), -1)
    source = Path(export_dir)
    with tempfile.TemporaryDirectory(prefix="edgeopt-hdl-") as work:
        folder = Path(work)
        for file in (f"{name}.v", f"{name}_tb.v", *(p.name for p in source.glob(f"{name}_*.hex"))):
            if not (source / file).is_file():
                raise EdgeoptError(f"{source / file}: no such file; not a Verilog export of {name!r}")
            shutil.copyfile(source / file, folder / file)
        (folder / f"{name}_inputs.hex").write_text("".join(f"{int(v) & 0xFFFF:04x}\n" for v in x.reshape(-1)))
        samples = f"-DSAMPLES={len(x)}"
        if simulator == "iverilog":
            run_tool(["iverilog", "-g2005", samples, "-o", "sim.vvp", f"{name}_tb.v", f"{name}.v"], folder, TIMEOUT_S)
            run_tool(["vvp", "-n", "sim.vvp"], folder, TIMEOUT_S)
        else:
            run_tool(["verilator", "--binary", "--timing", "-Wno-fatal", "-Wno-lint", "-Wno-style", samples,
                      "--top-module", f"{name}_tb", "-Mdir", "obj", f"{name}_tb.v", f"{name}.v"], folder, TIMEOUT_S)
            run_tool([str(folder / "obj" / f"V{name}_tb")], folder, TIMEOUT_S)
        words = np.array([int(w, 16) for w in (folder / f"{name}_outputs.hex").read_text().split()], np.int64)
        cycles = np.array([int(c) for c in (folder / f"{name}_cycles.txt").read_text().split()], np.int64)
    if cycles.size != len(x) or words.size % max(len(x), 1):
        raise EdgeoptError(f"{simulator}: the testbench wrote {words.size} logits and {cycles.size} cycle counts for "
                           f"{len(x)} samples")
    logits = np.where(words >= 2 ** 31, words - 2 ** 32, words).reshape(len(x), -1).astype(np.int32)
    return Simulated(simulator, logits, cycles)


__all__ = ["SIMULATORS", "Simulated", "missing_tools", "simulate", "simulate_export"]
