"""A calibrated profile as YAML: `extends:` the original, every fitted figure marked `source: measured`, and a
`calibration:` block saying on what, where, when and how well. Same figures in, same bytes out."""

from __future__ import annotations

import json
from collections.abc import Mapping

from edgeopt.profiles.schema import Calibration


def calibrated_yaml(parent: str, name: str, *, op_efficiency: Mapping[str, float], op_overhead_s: Mapping[str, float],
                    layer_overhead_s: float, call_overhead_s: float, calibration: Calibration,
                    macs_per_cycle: Mapping[str, float] | None = None,
                    peak_macs_per_s: Mapping[str, float] | None = None,
                    bandwidth_bytes_per_s: Mapping[str, float] | None = None) -> str:
    """The YAML of a profile that extends `parent` (a shipped name, or a path relative to the file's folder). Peak
    rates are written in the form the parent gives them (per cycle at its clock, or as a peak); bandwidths per memory
    level (weights, activations)."""
    def figure(value: str) -> str:
        return f"{{value: {value}, source: measured}}"

    lines = [
        "# Written by `edgeopt calibrate`: latency figures fitted to measurements (source: measured); the rest is",
        f"# {parent}'s. Re-run the calibration rather than editing the figures by hand.",
        f"name: {json.dumps(name)}",
        f"extends: {json.dumps(parent)}",
    ]
    if bandwidth_bytes_per_s:
        lines.append("memory:")
        lines += [f"  {level}:\n    bandwidth: {figure(f'{bandwidth_bytes_per_s[level]:.4g}B/s')}"
                  for level in sorted(bandwidth_bytes_per_s)]
    lines += [
        "compute:",
        f"  layer_overhead: {figure(_time(layer_overhead_s))}",
        f"  call_overhead: {figure(_time(call_overhead_s))}",
    ]
    for title, values, text in (("macs_per_cycle", macs_per_cycle, lambda v: f"{v:.4g}"),
                                ("peak", peak_macs_per_s, lambda v: f"{v:.4g}MAC/s"),
                                ("op_overhead", op_overhead_s, _time),
                                ("op_efficiency", op_efficiency, lambda v: f"{v:.4g}")):
        if values:
            lines.append(f"  {title}:")
            lines += [f"    {key}: {figure(text(values[key]))}" for key in sorted(values)]
    lines += [
        "calibration:",
        f"  runtime: {json.dumps(calibration.runtime)}",
        f"  machine: {json.dumps(calibration.machine)}",
        f"  date: {json.dumps(calibration.date)}",
        f"  samples: {calibration.samples}",
        f"  fit_error: {calibration.fit_error:.4f}",
        f"  within_10pct: {calibration.within_10pct:.4f}",
    ]
    return "\n".join(lines) + "\n"


def _time(seconds: float) -> str:
    return f"{seconds * 1e6:.4g}us"
