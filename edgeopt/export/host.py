"""Compile a C export with the host's C compiler and run it on int8 samples: the check that the C computes what
the integer reference does."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import tempfile
from pathlib import Path

import numpy as np

from edgeopt.errors import EdgeoptError

CFLAGS = ("-std=c99", "-Wall", "-Wextra", "-Werror", "-O2")

HARNESS = r"""
#include <stdio.h>
#include <stdlib.h>
#include "NAME.h"

/* reads int8 samples from argv[1], writes int32 logits to argv[2] */
int main(int argc, char **argv) {
    static uint8_t arena[UPPER_ARENA_BYTES] __attribute__((aligned(4)));
    int8_t input[UPPER_INPUT_SIZE];
    int32_t logits[UPPER_OUTPUT_SIZE];
    FILE *in, *out;
    if (argc != 3) return 2;
    in = fopen(argv[1], "rb");
    out = fopen(argv[2], "wb");
    if (!in || !out) return 2;
    while (fread(input, 1, sizeof input, in) == sizeof input) {
        NAME_run(input, logits, arena);
        if (fwrite(logits, sizeof logits[0], UPPER_OUTPUT_SIZE, out) != UPPER_OUTPUT_SIZE) return 3;
    }
    fclose(in);
    return fclose(out) == 0 ? 0 : 3;
}
"""


def compiler() -> str | None:
    return os.environ.get("CC") or shutil.which("cc") or shutil.which("gcc") or shutil.which("clang")


def run_on_host(export_dir: str | os.PathLike, x: np.ndarray, flags: tuple[str, ...] = CFLAGS) -> np.ndarray:
    """int32 logits (N, outputs) of the exported C on int8 samples `x` (N, ...), built with `flags`."""
    export_dir = Path(export_dir)
    manifest = json.loads((export_dir / "manifest.json").read_text())
    name = manifest["name"]
    cc = compiler()
    if cc is None:
        raise EdgeoptError("no C compiler found (set CC, or install cc/gcc/clang)")
    with tempfile.TemporaryDirectory(prefix="edgeopt-host-") as tmp:
        tmp = Path(tmp)
        (tmp / "main.c").write_text(HARNESS.replace("UPPER", name.upper()).replace("NAME", name))
        binary = tmp / "run"
        build = subprocess.run([cc, *flags, "-I", str(export_dir), str(export_dir / f"{name}.c"), str(tmp / "main.c"),
                                "-o", str(binary)], capture_output=True, text=True)
        if build.returncode != 0:
            raise EdgeoptError(f"{cc} could not build {export_dir / (name + '.c')}:\n{build.stderr[-2000:]}")
        samples = np.ascontiguousarray(np.asarray(x, np.int8).reshape(len(x), -1))
        (tmp / "in.bin").write_bytes(samples.tobytes())
        result = subprocess.run([str(binary), str(tmp / "in.bin"), str(tmp / "out.bin")], capture_output=True)
        if result.returncode != 0:
            raise EdgeoptError(f"the host build of {export_dir} exited with {result.returncode}")
        return np.frombuffer((tmp / "out.bin").read_bytes(), np.int32).reshape(len(x), manifest["output_size"])
