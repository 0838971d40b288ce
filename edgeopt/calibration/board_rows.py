"""A C export's emulated run as rows of a measurements file for `edgeopt calibrate --measurements`: the whole call
and each layer, each layer named by the layers of the exported model (source.onnx) that it runs.

Instruction counts become seconds at the profile's clock, one instruction a cycle: QEMU models no pipeline, caches
or wait states, so the rows are an emulator's estimate standing in for a board's stopwatch, and say so."""

from __future__ import annotations

import csv
import hashlib
import os
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from edgeopt.deploy.emulate import EmulatedRun
from edgeopt.deploy.export import SOURCE
from edgeopt.deploy.host import read_manifest
from edgeopt.errors import EdgeoptError
from edgeopt.escape import csv_cell
from edgeopt.graph.build import build_graph

# model_sha256: the file a row timed, so a row whose export folder was replaced since (-o reused) is not read as
# timing the new model
COLUMNS = ("model", "layer", "latency_s", "source", "model_sha256")


def layer_groups(model_layers: Sequence[str], c_layers: Sequence[str]) -> list[list[str]]:
    """Per C layer, the model's layers it runs: from its own node up to the next C layer's (the input's
    quantization before the first goes with the first; activations, pooling and requantization with their
    layer)."""
    starts = {name: i for i, name in enumerate(c_layers)}
    missing = [name for name in c_layers if name not in set(model_layers)]
    if missing:
        raise EdgeoptError(f"the C layers {', '.join(missing)} are not layers of the exported model")
    groups: list[list[str]] = [[] for _ in c_layers]
    current = 0
    for name in model_layers:
        current = starts.get(name, current)
        groups[current].append(name)
    return groups


def _whole_call_row(export_dir: str | os.PathLike, run: EmulatedRun, clock_hz: float) -> dict:
    """The row (model, layer empty, latency_s, source) of `run`'s whole call: the median over its samples, at
    `clock_hz` (positive)."""
    model = Path(export_dir) / SOURCE
    return {"model": str(model), "layer": "", "latency_s": _seconds(run.instructions, clock_hz),
            "source": f"qemu {run.board} ({run.cpu}) -icount: instructions at {clock_hz / 1e6:g} MHz, one a cycle",
            "model_sha256": hashlib.sha256(model.read_bytes()).hexdigest()}


def emulated_rows(export_dir: str | os.PathLike, run: EmulatedRun, clock_hz: float) -> list[dict]:
    """Rows (model, layer, latency_s, source) of `run` of the export in `export_dir`: the whole call first (layer
    empty), then each layer (its model layers joined with '+'), each the median over the run's samples."""
    export_dir = Path(export_dir)
    manifest = read_manifest(export_dir, ("name", "profile", "layer_names"))
    if run.layer_instructions is None or not manifest.get("layer_names"):
        raise EdgeoptError(f"{export_dir}: this export has no per-layer hook; export it again to time its layers")
    if not clock_hz:
        raise EdgeoptError(f"the profile {manifest['profile']} gives no clock: instructions cannot become seconds")
    whole = _whole_call_row(export_dir, run, clock_hz)
    groups = layer_groups([layer.name for layer in build_graph(whole["model"]).layers], manifest["layer_names"])
    return [whole] + [whole | {"layer": "+".join(group), "latency_s": _seconds(run.layer_instructions[:, i], clock_hz)}
                      for i, group in enumerate(groups)]


def _seconds(instructions: np.ndarray, clock_hz: float) -> float:
    return float(np.median(instructions)) / clock_hz


def check_appendable(path: str | os.PathLike) -> None:
    """An error unless rows can be appended to `path`: a new file, or one this module wrote (same header)."""
    path = Path(path)
    if not path.exists():
        return
    try:
        with path.open(newline="", encoding="utf-8-sig") as handle:
            header = next(csv.reader(handle), [])
    except (OSError, UnicodeDecodeError, csv.Error) as exc:
        raise EdgeoptError(f"{path}: cannot read as CSV: {exc}") from None
    if header != list(COLUMNS):
        raise EdgeoptError(f"{path}: its header is {', '.join(header) or 'empty'}, not {', '.join(COLUMNS)}: "
                           "rows would not line up; give a new file")


def append_rows(path: str | os.PathLike, rows: list[dict]) -> None:
    """Append `rows` to the measurements CSV at `path` (created with a header), each model path relative to it."""
    path = Path(path)
    check_appendable(path)
    relative = [row | {"model": os.path.relpath(Path(row["model"]).resolve(), path.resolve().parent)}
                for row in rows]
    new = not path.exists()
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("a", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=COLUMNS)
        if new:
            writer.writeheader()
        writer.writerows({**{key: csv_cell(value) for key, value in row.items()}, "latency_s": repr(row["latency_s"])}
                         for row in relative)
