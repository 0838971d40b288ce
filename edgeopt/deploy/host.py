"""Compile a C export with the host's C compiler and run it on integer samples: the check that the C computes what
the integer reference does."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import tempfile
from pathlib import Path

import numpy as np

from edgeopt.deploy.tool_run import output_tail
from edgeopt.escape import c_name, fill_template
from edgeopt.errors import EdgeoptError
from edgeopt.models.reference import EXPORT_MANIFEST

CFLAGS = ("-std=c99", "-Wall", "-Wextra", "-Werror", "-O2")

HARNESS = r"""
#include <stdio.h>
#include <stdlib.h>
#include "NAME.h"

/* reads samples (the model's input type) from argv[1], writes int32 logits to argv[2] */
int main(int argc, char **argv) {
    static uint8_t arena[UPPER_ARENA_BYTES] __attribute__((aligned(4)));
    NAME_input_t input[UPPER_INPUT_SIZE];
    int32_t logits[UPPER_OUTPUT_SIZE];
    FILE *in, *out;
    if (argc != 3) return 2;
    in = fopen(argv[1], "rb");
    out = fopen(argv[2], "wb");
    if (!in || !out) return 2;
    while (fread(input, sizeof input[0], UPPER_INPUT_SIZE, in) == UPPER_INPUT_SIZE) {
        NAME_run(input, logits, arena);
        if (fwrite(logits, sizeof logits[0], UPPER_OUTPUT_SIZE, out) != UPPER_OUTPUT_SIZE) return 3;
    }
    fclose(in);
    return fclose(out) == 0 ? 0 : 3;
}
"""


MANIFEST = EXPORT_MANIFEST  # what `deploy.export` writes into an export folder


# the fields readers of a manifest use, with their kinds: a manifest is input (a truncated or foreign manifest.json
# is one error), and its name reaches compiler flags and generated C, so it is checked as --name is
_MANIFEST_FIELDS = {"name": str, "format": str, "profile": str, "layers": int, "output_size": int,
                    "counted_arena_bytes": int, "counted_ram_bytes": int, "input_bits": int, "layer_names": list,
                    "lanes": int, "clock_cycles": int}


def read_manifest(export_dir: str | os.PathLike, required: tuple[str, ...] = ("name", "output_size"),
                  format: str | None = None) -> dict:
    """An export folder's manifest (name, sizes, scales, input bits, ...), checked: an export of `format` (when
    given), the `required` fields present, every field a reader uses of its kind and bounded, the name a C name;
    else one EdgeoptError naming the file and the field."""
    path = Path(export_dir) / MANIFEST
    try:
        if path.stat().st_size > 64 << 20:
            raise EdgeoptError(f"{path}: {path.stat().st_size:,} bytes: not a manifest edgeopt wrote")
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, ValueError) as exc:
        raise EdgeoptError(f"{path}: not an edgeopt export manifest ({type(exc).__name__}: {str(exc)[:120]})") from None
    if not isinstance(data, dict):
        raise EdgeoptError(f"{path}: not an edgeopt export manifest (not a JSON object)")
    if format is not None and data.get("format") != format:
        raise EdgeoptError(f"{export_dir} is a {str(data.get('format'))[:20]} export; this needs a {format} export "
                           f"(edgeopt export --format {format})")
    for key, kind in _MANIFEST_FIELDS.items():
        value = data.get(key)
        if value is None:
            if key in required:
                raise EdgeoptError(f"{path}: {key}: missing; not a manifest edgeopt export wrote")
            continue
        wrong = not isinstance(value, kind) or isinstance(value, bool) or (kind is int and not 0 <= value <= 1 << 40) \
            or (kind is list and not all(isinstance(item, str) for item in value))
        if wrong:
            raise EdgeoptError(f"{path}: {key}: {str(value)[:60]!r} is not what edgeopt export writes; export again")
    try:
        c_name(data["name"])
    except EdgeoptError as exc:
        raise EdgeoptError(f"{path}: name: {exc}") from None
    return data


def input_dtype(manifest: dict) -> type:
    """The numpy type of a C export's input, from its manifest."""
    return np.int16 if manifest.get("input_bits") == 16 else np.int8


def compiler() -> str | None:
    return os.environ.get("CC") or shutil.which("cc") or shutil.which("gcc") or shutil.which("clang")


def _build(export_dir: Path, name: str, program: str, tmp: Path, flags: tuple[str, ...]) -> Path:
    """Compile the export (its symbols prefixed `name`) with `program` (HARNESS or TIMING) in `tmp`; the binary."""
    cc = compiler()
    if cc is None:
        raise EdgeoptError("no C compiler found (set CC, or install cc/gcc/clang)")
    (tmp / "main.c").write_text(fill_template(program, name))
    build = subprocess.run([cc, *flags, "-I", str(export_dir), str(export_dir / f"{name}.c"), str(tmp / "main.c"),
                            "-o", str(tmp / "main")], capture_output=True, text=True)
    if build.returncode != 0:
        raise EdgeoptError(f"{cc} could not build {export_dir / (name + '.c')}: " + output_tail(build.stderr))
    return tmp / "main"


def run_on_host(export_dir: str | os.PathLike, x: np.ndarray, flags: tuple[str, ...] = CFLAGS) -> np.ndarray:
    """int32 logits (N, outputs) of the exported C on integer samples `x` (N, ...) of its input type, built with
    `flags`."""
    export_dir = Path(export_dir)
    manifest = read_manifest(export_dir)
    with tempfile.TemporaryDirectory(prefix="edgeopt-host-") as tmp:
        tmp = Path(tmp)
        binary = _build(export_dir, manifest["name"], HARNESS, tmp, flags)
        samples = np.ascontiguousarray(np.asarray(x, input_dtype(manifest)).reshape(len(x), -1))
        (tmp / "in.bin").write_bytes(samples.tobytes())
        result = subprocess.run([str(binary), str(tmp / "in.bin"), str(tmp / "out.bin")], capture_output=True)
        if result.returncode != 0:
            raise EdgeoptError(f"the host build of {export_dir} exited with {result.returncode}")
        return np.frombuffer((tmp / "out.bin").read_bytes(), np.int32).reshape(len(x), manifest["output_size"])


TIMING = r"""
#define _POSIX_C_SOURCE 199309L
#include <stdio.h>
#include <stdlib.h>
#include <time.h>
#include "NAME.h"

static int cmp(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

/* the median wall time of one inference on the sample in argv[1], over argv[2] runs after argv[3] warm-up runs */
int main(int argc, char **argv) {
    static uint8_t arena[UPPER_ARENA_BYTES] __attribute__((aligned(4)));
    static NAME_input_t input[UPPER_INPUT_SIZE];
    static int32_t logits[UPPER_OUTPUT_SIZE];
    static double times[100000];
    int runs, warmup, i;
    FILE *in;
    if (argc != 4) return 2;
    runs = atoi(argv[2]);
    warmup = atoi(argv[3]);
    in = fopen(argv[1], "rb");
    if (!in || runs < 1 || runs > 100000) return 2;
    if (fread(input, sizeof input[0], UPPER_INPUT_SIZE, in) != UPPER_INPUT_SIZE) return 2;
    for (i = 0; i < warmup; i++) NAME_run(input, logits, arena);
    for (i = 0; i < runs; i++) {
        struct timespec a, b;
        clock_gettime(CLOCK_MONOTONIC, &a);
        NAME_run(input, logits, arena);
        clock_gettime(CLOCK_MONOTONIC, &b);
        times[i] = (double)(b.tv_sec - a.tv_sec) + 1e-9 * (double)(b.tv_nsec - a.tv_nsec);
    }
    qsort(times, runs, sizeof times[0], cmp);
    printf("%.9e %ld\n", times[runs / 2], (long)logits[0]);
    return 0;
}
"""


def host_latency_s(export_dir: str | os.PathLike, sample: np.ndarray, runs: int = 300, warmup: int = 30,
                   flags: tuple[str, ...] = CFLAGS) -> float:
    """Median wall time of one inference of the C export on this machine (built with `flags`) on `sample`."""
    export_dir = Path(export_dir)
    manifest = read_manifest(export_dir)
    with tempfile.TemporaryDirectory(prefix="edgeopt-time-") as tmp:
        tmp = Path(tmp)
        binary = _build(export_dir, manifest["name"], TIMING, tmp, flags)
        (tmp / "in.bin").write_bytes(np.asarray(sample, input_dtype(manifest)).tobytes())
        out = subprocess.run([str(binary), str(tmp / "in.bin"), str(runs), str(warmup)], capture_output=True,
                             text=True, check=True).stdout
        return float(out.split()[0])
