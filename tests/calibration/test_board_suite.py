"""`edgeopt calibrate --write-suite DIR`: the board microbenchmarks as one C file for a board edgeopt cannot reach.
Here the "board" is QEMU's Cortex-M4 with SysTick as the cycle counter (one instruction a nanosecond under -icount):
the suite compiles with the export's strict flags, prints a measurements CSV that calibrates a profile as it is, and
times each model as the emulator's own harness does."""

from __future__ import annotations

import csv
import json
import subprocess

import numpy as np
import pytest
from click.testing import CliRunner
from toolchain import require_tools

from edgeopt.cli import main
from edgeopt.calibration.board_micro import board_suite
from edgeopt.deploy.emulate import CFLAGS, LINKER_SCRIPT, STARTUP, missing_tools, run_emulated
from edgeopt.deploy.lower import lower_onnx

SYST = "(*(volatile unsigned *)0xE000E0{:02X}u)"  # SysTick registers: control 0x10, reload 0x14, current 0x18
QEMU_BOARD = [  # SysTick at the MPS2 board's 25 MHz, counting down from its 24-bit reload value
    "-DEDGEOPT_CLOCK_HZ=25000000u",
    f"-DEDGEOPT_CYCLES()=(0xFFFFFFu - {SYST.format(0x18)})",
    f"-DEDGEOPT_CYCLES_START()=({SYST.format(0x10)} = 0u, {SYST.format(0x14)} = 0xFFFFFFu, "
    f"{SYST.format(0x18)} = 0u, {SYST.format(0x10)} = 5u)",
]
MAIN = """extern void initialise_monitor_handles(void);
int edgeopt_suite_run(void);
int main(void) { initialise_monitor_handles(); return edgeopt_suite_run(); }
"""


def run_suite_on_qemu(suite_dir, tmp_path) -> str:
    """The suite linked into a bare image for the emulated M4 (the emulator's start-up and semihosting); its output."""
    (tmp_path / "link.ld").write_text(LINKER_SCRIPT)
    (tmp_path / "startup.c").write_text(STARTUP)
    (tmp_path / "main.c").write_text(MAIN)
    build = subprocess.run(["arm-none-eabi-gcc", *CFLAGS, "-mcpu=cortex-m4", "-I", str(suite_dir), *QEMU_BOARD,
                            "--specs=rdimon.specs", "-nostartfiles", "-Wl,--gc-sections", "-T",
                            str(tmp_path / "link.ld"), str(tmp_path / "startup.c"), str(tmp_path / "main.c"),
                            str(suite_dir / "edgeopt_suite.c"),
                            "-o", str(tmp_path / "suite.elf")], capture_output=True, text=True)
    assert build.returncode == 0, build.stderr[-3000:]
    run = subprocess.run(["qemu-system-arm", "-M", "mps2-an386", "-nographic", "-icount", "shift=0",
                          "-semihosting-config", "enable=on,target=native", "-kernel", str(tmp_path / "suite.elf")],
                         capture_output=True, text=True, timeout=600)
    assert run.returncode == 0, run.stderr[-1000:]
    return run.stdout


def test_the_suite_runs_on_a_board_and_what_it_prints_calibrates(tmp_path):
    require_tools(missing_tools())
    suite = tmp_path / "suite"
    written = CliRunner().invoke(main, ["calibrate", "-p", "stm32f746", "--write-suite", str(suite), "--json"])
    assert written.exit_code == 0, written.output
    assert json.loads(written.output)["suite"] == str(suite / "edgeopt_suite.c")
    names = [micro.name for micro in board_suite()]
    assert sorted(p.name for p in suite.iterdir() if p.is_dir()) == sorted(names)
    assert (suite / names[0] / f"{names[0]}.c").is_file()  # each under its own C name: all link into one image

    default = subprocess.run(["arm-none-eabi-gcc", *CFLAGS, "-mcpu=cortex-m7", "-c", str(suite / "edgeopt_suite.c"),
                              "-o", str(tmp_path / "dwt.o")], capture_output=True, text=True)
    assert default.returncode == 0, default.stderr[-3000:]  # the default counter (the DWT's) on a real M7 part

    printed = run_suite_on_qemu(suite, tmp_path)
    rows = list(csv.DictReader(printed.splitlines()))
    calls = {row["model"]: row["latency"] for row in rows if not row["layer"]}
    assert sorted(calls) == sorted(f"{name}/source.onnx" for name in names)
    (suite / "measurements.csv").write_text(printed)
    out = tmp_path / "board.yaml"
    fitted = CliRunner().invoke(main, ["calibrate", "-p", "stm32f746", "--measurements",
                                       str(suite / "measurements.csv"), "-o", str(out), "--json"])
    assert fitted.exit_code == 0, fitted.output
    calibration = json.loads(fitted.output)["calibration"]
    assert calibration["samples"] == len(rows) > len(names)  # whole calls and their layers
    assert calibration["fit_error"] < 0.05

    # the suite times a model as the emulator's own harness does (its input values and SysTick's 40-instruction
    # steps aside)
    first = suite / names[0]
    x = lower_onnx(first / "source.onnx").quantize_input(
        np.random.default_rng(0).standard_normal((2, *board_suite()[0].sample_shape)))
    instructions = float(run_emulated(first, x, "cortex-m4").instructions.min())
    assert float(calls[f"{names[0]}/source.onnx"].removesuffix("ns")) == pytest.approx(instructions, rel=0.02)


@pytest.mark.parametrize("args, message", [
    (["-p", "stm32f746", "--write-suite", "{dir}", "-o", "{dir}/x.yaml"], "calibrates nothing"),
    (["-p", "mythic-m1076", "--write-suite", "{dir}"], "gives no compute.clock"),
    (["-p", "stm32f746", "--write-suite", "{mine}"], "edgeopt did not write"),
    (["-p", "stm32f746"], "Missing option '-o'"),
])
def test_a_suite_it_cannot_write_is_one_error(tmp_path, args, message):
    mine = tmp_path / "mine"
    mine.mkdir()
    (mine / "notes.txt").write_text("mine")
    result = CliRunner().invoke(main, ["calibrate", *[a.format(dir=tmp_path / "s", mine=mine) for a in args]])
    assert result.exit_code == 2 and message in result.output, result.output
    assert "Traceback" not in result.output and not (tmp_path / "s").exists()
    assert [p.name for p in mine.iterdir()] == ["notes.txt"]  # a user's folder is left as it was
