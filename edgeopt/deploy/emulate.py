"""A C export run on an emulated Cortex-M (QEMU's MPS2 boards, semihosting for I/O), with the linked image's flash and
RAM from `arm-none-eabi-size` and, under `-icount shift=0`, deterministic instruction counts per inference.

QEMU models no caches, wait states or pipeline: instruction counts estimate cycles; they are never a measurement."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from edgeopt.deploy.host import input_dtype, read_manifest
from edgeopt.deploy.tool_run import output_tail
from edgeopt.escape import fill_template
from edgeopt.errors import EdgeoptError

# cpu -> (QEMU board, its CPU clock in Hz: SysTick counts at it, and -icount shift=0 runs one instruction a nanosecond)
BOARDS = {"cortex-m4": ("mps2-an386", 25_000_000), "cortex-m7": ("mps2-an500", 25_000_000)}
TOOLS = ("arm-none-eabi-gcc", "arm-none-eabi-size", "qemu-system-arm")
CFLAGS = ("-std=c99", "-Wall", "-Wextra", "-Werror", "-O2", "-mthumb", "-ffunction-sections", "-fdata-sections")

LINKER_SCRIPT = """
MEMORY { CODE (rx) : ORIGIN = 0x00000000, LENGTH = 4M
         RAM (rwx) : ORIGIN = 0x20000000, LENGTH = 4M }
ENTRY(reset_handler)
SECTIONS {
  .text : { KEEP(*(.vectors)) *(.text*) . = ALIGN(4); } > CODE
  .rodata : { *(.rodata*) . = ALIGN(4); } > CODE
  .ARM.exidx : { *(.ARM.exidx*) } > CODE
  .data : { *(.data*) . = ALIGN(4); } > RAM
  .bss (NOLOAD) : { __bss_start__ = .; *(.bss*) *(COMMON) . = ALIGN(4); __bss_end__ = .; } > RAM
  end = .;
  __stack_top = ORIGIN(RAM) + LENGTH(RAM);
}
"""

STARTUP = r"""
#include <stdint.h>
extern int main(void);
extern uint32_t __bss_start__, __bss_end__, __stack_top;
void reset_handler(void);
void default_handler(void) { for (;;) {} }
__attribute__((section(".vectors"), used)) static void (*const vectors[16])(void) = {
    (void (*)(void))&__stack_top, reset_handler, default_handler, default_handler, default_handler, default_handler,
    default_handler, 0, 0, 0, 0, default_handler, default_handler, 0, default_handler, default_handler};
void _init(void) {}
void _fini(void) {}
void exit(int);
void reset_handler(void) {
    uint32_t *p;
    for (p = &__bss_start__; p < &__bss_end__; p++) *p = 0;
    exit(main());
}
"""

HARNESS = r"""
#include <stdio.h>
#include <stdint.h>
#include "NAME.h"
#include "samples.h"
#include "hook.h"
extern void initialise_monitor_handles(void);
#define SYST_CSR (*(volatile uint32_t *)0xE000E010)
#define SYST_RVR (*(volatile uint32_t *)0xE000E014)
#define SYST_CVR (*(volatile uint32_t *)0xE000E018)
static uint8_t arena[UPPER_ARENA_BYTES] __attribute__((aligned(4)));
static int32_t logits[UPPER_OUTPUT_SIZE];
static uint32_t marks[LAYERS];
void edgeopt_layer_done(int index) { marks[index] = SYST_CVR; }
int main(void) {
    int s, k;
    initialise_monitor_handles();
    SYST_RVR = 0xFFFFFF;
    for (s = 0; s < SAMPLES; s++) {
        uint32_t ticks;
        SYST_CSR = 0; SYST_CVR = 0; SYST_CSR = 5;  /* processor clock, counting down from the reload value */
        NAME_run(samples[s], logits, arena);
        ticks = 0xFFFFFF - SYST_CVR;
        SYST_CSR = 0;
        printf("%lu", (unsigned long)ticks);
        for (k = 0; k < LAYERS; k++) printf(" %lu", (unsigned long)(0xFFFFFF - marks[k]));
        for (k = 0; k < UPPER_OUTPUT_SIZE; k++) printf(" %ld", (long)logits[k]);
        printf("\n");
    }
    return 0;
}
"""


@dataclass(frozen=True)
class Sizes:
    """Bytes by section, from `arm-none-eabi-size -A`."""

    text: int
    rodata: int
    data: int
    bss: int

    @property
    def flash_bytes(self) -> int:
        return self.text + self.rodata + self.data

    @property
    def static_ram_bytes(self) -> int:
        return self.data + self.bss


@dataclass(frozen=True)
class EmulatedRun:
    cpu: str
    board: str
    logits: np.ndarray  # int32 (N, outputs)
    instructions: np.ndarray  # per inference, estimated (SysTick under -icount shift=0, +-1 tick of the CPU clock)
    model: Sizes  # the model's own object file: kernels (text) and constants (rodata)
    image: Sizes  # the linked harness image: the model, its arena, the test samples, newlib, startup
    layer_instructions: np.ndarray | None = None  # (N, layers): each layer's share, timed by the run's layer hook


def missing_tools() -> list[str]:
    return [tool for tool in TOOLS if shutil.which(tool) is None]


def section_sizes(path: str | os.PathLike) -> Sizes:
    out = subprocess.run(["arm-none-eabi-size", "-A", str(path)], capture_output=True, text=True, check=True).stdout
    sizes = {"text": 0, "rodata": 0, "data": 0, "bss": 0}
    for line in out.splitlines():
        match = re.match(r"^\.(text|rodata|data|bss)(\S*)\s+(\d+)", line)
        if match:
            sizes[match.group(1)] += int(match.group(3))
    return Sizes(**sizes)


@dataclass(frozen=True)
class ImageSizes:
    """A linked image's sections by where they land: flash holds every allocated section with contents (code,
    constants in any section the linker script names, and the initial values of writable data); RAM every allocated
    writable section (data, bss, any `.noinit` or heap reserve)."""

    flash: tuple[tuple[str, int], ...]  # (section, bytes)
    ram: tuple[tuple[str, int], ...]

    @property
    def flash_bytes(self) -> int:
        return sum(size for _, size in self.flash)

    @property
    def static_ram_bytes(self) -> int:
        return sum(size for _, size in self.ram)


_OBJDUMP_SECTION = re.compile(r"^\s*\d+\s+(\S+)\s+([0-9a-fA-F]+)\s+[0-9a-fA-F]+\s+[0-9a-fA-F]+\s+[0-9a-fA-F]+")


def image_sizes(path: str | os.PathLike) -> ImageSizes:
    """Flash and RAM of a linked ARM image (ELF), every section counted by its flags (`arm-none-eabi-objdump -h`),
    whatever it is called: 600 KB of weights in a `.model_weights` section is flash."""
    if shutil.which("arm-none-eabi-objdump") is None:
        raise EdgeoptError("measuring an image's flash and RAM needs arm-none-eabi-objdump (Debian: gcc-arm-none-eabi)")
    result = subprocess.run(["arm-none-eabi-objdump", "-h", str(path)], capture_output=True, text=True)
    if result.returncode != 0:
        raise EdgeoptError(f"{path}: arm-none-eabi-objdump cannot read it: {result.stderr.strip()[:300]}")
    flash, ram = [], []
    lines = result.stdout.splitlines()
    for line, flags_line in zip(lines, lines[1:]):
        match = _OBJDUMP_SECTION.match(line)
        if not match:
            continue
        flags = {flag.strip() for flag in flags_line.split(",")}
        if "ALLOC" not in flags:
            continue  # debug information, comments, attributes: not on the device
        name, size = match.group(1), int(match.group(2), 16)
        if not size:
            continue
        if "LOAD" in flags and "CONTENTS" in flags:
            flash.append((name, size))
        if "READONLY" not in flags:
            ram.append((name, size))
    return ImageSizes(tuple(flash), tuple(ram))


def run_emulated(export_dir: str | os.PathLike, x: np.ndarray, cpu: str = "cortex-m4",
                 timeout_s: float = 600.0) -> EmulatedRun:
    """The C export in `export_dir` cross-compiled for `cpu`, run on the emulated board over integer samples `x`
    (the model's input type)."""
    if cpu not in BOARDS:
        raise EdgeoptError(f"unknown cpu {cpu!r}; the emulator runs {', '.join(BOARDS)}")
    missing = missing_tools()
    if missing:
        raise EdgeoptError(f"the Cortex-M emulation needs {', '.join(missing)} (Debian: gcc-arm-none-eabi, "
                           "libnewlib-arm-none-eabi, qemu-system-arm)")
    export_dir = Path(export_dir)
    manifest = read_manifest(export_dir, ("name", "output_size", "layers"))
    name = manifest["name"]
    board, clock_hz = BOARDS[cpu]
    dtype = input_dtype(manifest)
    samples = np.ascontiguousarray(np.asarray(x, dtype).reshape(len(x), -1))
    flags = [*CFLAGS, f"-mcpu={cpu}", "-I", str(export_dir)]
    with tempfile.TemporaryDirectory(prefix="edgeopt-qemu-") as tmp:
        tmp = Path(tmp)
        (tmp / "link.ld").write_text(LINKER_SCRIPT)
        (tmp / "startup.c").write_text(STARTUP)
        layers = int(manifest["layers"])
        (tmp / "main.c").write_text(fill_template(HARNESS.replace("LAYERS", str(layers)), name))
        (tmp / "hook.h").write_text("void edgeopt_layer_done(int index);\n")
        rows = ",\n".join("{" + ",".join(map(str, row)) + "}" for row in samples)
        (tmp / "samples.h").write_text(f"#define SAMPLES {len(samples)}\nstatic const {name}_input_t samples[SAMPLES]"
                                       f"[{samples.shape[1]}] = {{\n{rows}\n}};\n")
        hook = ["-include", str(tmp / "hook.h"), f"-D{name.upper()}_LAYER_DONE(index)=edgeopt_layer_done(index)"]
        _call(["arm-none-eabi-gcc", *flags, *hook, "-c", str(export_dir / f"{name}.c"), "-o", str(tmp / "model.o")])
        _call(["arm-none-eabi-gcc", *flags, "-I", str(tmp), "--specs=rdimon.specs", "-nostartfiles",
               "-Wl,--gc-sections", "-T", str(tmp / "link.ld"), str(tmp / "startup.c"), str(tmp / "main.c"),
               str(tmp / "model.o"), "-o", str(tmp / "app.elf")])
        run = subprocess.run(["qemu-system-arm", "-M", board, "-nographic", "-icount", "shift=0",
                              "-semihosting-config", "enable=on,target=native", "-kernel", str(tmp / "app.elf")],
                             capture_output=True, text=True, timeout=timeout_s)
        if run.returncode != 0:
            raise EdgeoptError(f"qemu-system-arm -M {board} exited with {run.returncode}: {run.stderr[-1000:]}")
        lines = [line.split() for line in run.stdout.splitlines() if line.strip()]
        if len(lines) != len(samples):
            raise EdgeoptError(f"the emulated {cpu} printed {len(lines)} results for {len(samples)} samples")
        values = np.array(lines, np.int64)
        per_tick = 1_000_000_000 // clock_hz
        done = values[:, 1:1 + layers]  # ticks when each layer finished
        return EmulatedRun(cpu, board, values[:, 1 + layers:].astype(np.int32), values[:, 0] * per_tick,
                           section_sizes(tmp / "model.o"), section_sizes(tmp / "app.elf"),
                           np.diff(done, axis=1, prepend=0) * per_tick if "layer_names" in manifest else None)


def _call(argv: list[str]) -> None:
    result = subprocess.run(argv, capture_output=True, text=True)
    if result.returncode != 0:
        raise EdgeoptError(f"{argv[0]} failed (exit {result.returncode}): " + output_tail(result.stderr))


@dataclass(frozen=True)
class ExportSizes:
    """Flash and RAM of a C export, measured from its object file built for `cpu` (`arm-none-eabi-size`) plus the
    caller's buffers the manifest states (arena, input, int32 logits)."""

    cpu: str
    code_bytes: int  # the kernels (.text)
    constant_bytes: int  # weights, biases, requantization, layer table (.rodata)
    arena_bytes: int
    io_bytes: int

    @property
    def flash_bytes(self) -> int:
        return self.code_bytes + self.constant_bytes

    @property
    def ram_bytes(self) -> int:
        return self.arena_bytes + self.io_bytes


def export_sizes(export_dir: str | os.PathLike, cpu: str = "cortex-m4") -> ExportSizes:
    """Measure an export folder's flash and RAM for `cpu` with the Cortex-M toolchain."""
    if shutil.which("arm-none-eabi-gcc") is None or shutil.which("arm-none-eabi-size") is None:
        raise EdgeoptError("measuring an export's flash and RAM needs arm-none-eabi-gcc and arm-none-eabi-size "
                           "(Debian: gcc-arm-none-eabi)")
    export_dir = Path(export_dir)
    manifest = read_manifest(export_dir, ("name", "counted_arena_bytes", "counted_ram_bytes"), format="c")
    with tempfile.TemporaryDirectory(prefix="edgeopt-size-") as tmp:
        obj = Path(tmp) / "model.o"
        _call(["arm-none-eabi-gcc", *CFLAGS, f"-mcpu={cpu}", "-I", str(export_dir), "-c",
               str(export_dir / f"{manifest['name']}.c"), "-o", str(obj)])
        sizes = section_sizes(obj)
    return ExportSizes(cpu, sizes.text, sizes.rodata + sizes.data, manifest["counted_arena_bytes"] + sizes.data
                       + sizes.bss, manifest["counted_ram_bytes"] - manifest["counted_arena_bytes"])
